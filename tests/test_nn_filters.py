"""Filter smoothness scores on hand-made filters (docs/section5-vision.md, "Filter scores")."""

import numpy as np
import pytest
import torch

from richlazy.nn.filters import filter_low_frequency, filter_total_variation, mean_removed

GRID = np.arange(5) - 2.0


def _gabor(frequency=0.12, sigma=1.6, angle=0.3):
    y, x = np.meshgrid(GRID, GRID, indexing="ij")
    along = x * np.cos(angle) + y * np.sin(angle)
    return np.exp(-(x**2 + y**2) / (2 * sigma**2)) * np.cos(2 * np.pi * frequency * along)


def _filters():
    checker = (-1.0) ** np.add.outer(np.arange(5), np.arange(5))
    noise = np.random.default_rng(0).standard_normal((400, 5, 5))
    return _gabor()[None], noise, checker[None]


def test_scores_order_smooth_noise_checkerboard():
    gabor, noise, checker = _filters()
    tv = [float(np.mean(filter_total_variation(f))) for f in (gabor, noise, checker)]
    low = [float(np.mean(filter_low_frequency(f))) for f in (gabor, noise, checker)]
    assert tv[0] < tv[1] < tv[2]
    assert low[0] > low[1] > low[2]
    assert abs(tv[1] - 40 * np.sqrt(2) / 25) < 0.1  # white noise: 40 pairs, 25 pixels, √2
    assert abs(low[1] - 1 / 3) < 0.03  # 8 of the 24 non-zero frequencies are low
    assert abs(tv[2] - 80 / 24.96) < 1e-9  # every difference is 2, Σ|G| = 13·0.96 + 12·1.04


def test_scores_ignore_scale_and_offset_and_a_constant_filter_is_nan():
    gabor = _gabor()
    moved = torch.tensor(np.stack([gabor, -3.0 * gabor + 7.0]))[:, None]  # a torch conv weight
    for score in (filter_total_variation, filter_low_frequency):
        values = score(moved)
        assert values.shape == (2,) and values[0] == pytest.approx(values[1], rel=1e-12)
        constant = score(np.full((1, 2, 5, 5), 4.2))  # constant in both channels
        assert np.isnan(constant).all()
    np.testing.assert_allclose(mean_removed(moved).mean(axis=(2, 3)), 0, atol=1e-12)


def test_bad_filters_and_cutoffs_are_refused():
    with pytest.raises(ValueError, match="filters must be a non-empty array"):
        filter_total_variation(np.zeros((5, 5)))
    with pytest.raises(ValueError, match="filters must be finite"):
        filter_low_frequency(np.full((1, 5, 5), np.nan))
    with pytest.raises(ValueError, match="cutoff must be"):
        filter_low_frequency(np.ones((1, 5, 5)), cutoff=1.0)
    with pytest.raises(ValueError, match="below every non-zero frequency of a 3×3"):
        filter_low_frequency(np.ones((1, 3, 3)), cutoff=0.3)
