"""Filter smoothness scores on hand-made filters (docs/section5-vision.md, "Filter scores")."""

import numpy as np
import pytest
import torch

from richlazy.nn.filters import (
    LAPLACIAN,
    filter_low_frequency,
    filter_smoothness,
    filter_total_variation,
    mean_removed,
)

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


# The paper's score ‖(w/‖w‖) ∗ Δ‖², values worked out by hand. With c the value of a unit-norm
# 5×5 filter's entries (c² = 1/25) and Δ's taps summing to −1:


def test_smoothness_of_a_constant_filter():
    # valid: the 3×3 positions where Δ fits each give −c: 9c² = 0.36; same (zero padding): the
    # 12 edge positions lose a row of taps summing to −1, giving 0, and the 4 corners lose taps
    # summing to −1.75, giving 0.75c: 9c² + 4·0.5625c² = 0.45
    constant = np.full((1, 1, 5, 5), 7.0)
    assert filter_smoothness(constant)[0, 0] == pytest.approx(0.36, rel=1e-14)
    assert filter_smoothness(constant, padding="same")[0, 0] == pytest.approx(0.45, rel=1e-14)


def test_smoothness_of_a_checkerboard():
    # the centre s, its 4 edge neighbours −s, its 4 corners s: 2s + 4·½s − 4·¼s = 3s at every
    # valid position, so 9·9c² = 3.24. With zero padding, a missing row (or column) of taps would
    # have added −¼s + ½s − ¼s = 0, so the 12 edge positions give 3s too; a corner misses a row
    # and a column, 5 taps that would have added −¼s + ½s − ¼s + ½s − ¼s = ¼s, so it gives
    # 2.75s: (21·9 + 4·2.75²)c² = 8.77
    checker = (-1.0) ** np.add.outer(np.arange(5), np.arange(5))
    assert filter_smoothness(checker[None, None])[0, 0] == pytest.approx(81 / 25, rel=1e-14)
    same = filter_smoothness(checker[None, None], padding="same")[0, 0]
    assert same == pytest.approx((21 * 9 + 4 * 2.75**2) / 25, rel=1e-14)


def test_smoothness_of_gaussian_bumps():
    # 3×3 bump g gᵀ with g = (e, 1, e), e = exp(−½) (σ = 1): one valid position, where
    # Σ Δ·w = 2 − 4·½e − 4·¼e² = 2 − 2e − e², and ‖w‖² = (1 + 2e²)²
    e = np.exp(-0.5)
    g = np.array([e, 1.0, e])
    small = filter_smoothness(np.outer(g, g)[None, None])[0, 0]
    assert small == pytest.approx((2 - 2 * e - e**2) ** 2 / (1 + 2 * e**2) ** 2, rel=1e-13)
    assert small == pytest.approx(0.0582870, rel=1e-6)
    # 5×5 bump g gᵀ, g_k = exp(−k²/2), k = −2 … 2: Δ = 3δ − ¼ bbᵀ with b = (1, 2, 1), so on the
    # valid positions Δ ∗ w = 3 u uᵀ − ¼ v vᵀ with u = g[1:-1] and v = g[:-2] + 2g[1:-1] + g[2:],
    # and ‖3uuᵀ − ¼vvᵀ‖² = 9‖u‖⁴ − 1.5 (u·v)² + ‖v‖⁴/16, over ‖w‖² = ‖g‖⁴
    np.testing.assert_array_equal(LAPLACIAN, 3 * np.eye(3)[1][:, None] * np.eye(3)[1]
                                  - np.outer([1, 2, 1], [1, 2, 1]) / 4)  # fmt: skip
    g = np.exp(-(np.arange(-2, 3) ** 2) / 2)
    u, v = g[1:-1], g[:-2] + 2 * g[1:-1] + g[2:]
    expected = (9 * (u @ u) ** 2 - 1.5 * (u @ v) ** 2 + (v @ v) ** 2 / 16) / (g @ g) ** 2
    bump = filter_smoothness(np.outer(g, g)[None, None])[0, 0]
    assert bump == pytest.approx(expected, rel=1e-13)
    assert bump == pytest.approx(0.157951, rel=1e-5)
    assert bump < 0.36 < 81 / 25  # smoother than the constant (whose border is an edge) and
    # the checkerboard


def test_smoothness_of_white_noise_is_the_taps_energy_per_valid_position():
    # i.i.d. entries: E[w_p w_q] = δ_pq/(hw) after normalisation, so the mean score is
    # Σ Δ² · (h − 2)(w − 2)/(hw) = 5.25 · 169/225 = 3.943 for 15×15 (the paper's α = 0.1
    # filters, near their initialization, score about 3.8); tolerance: 4 standard errors
    rng = np.random.default_rng(0)
    scores = filter_smoothness(rng.uniform(-1, 1, (64, 32, 15, 15)))  # (64, 32)
    assert scores.shape == (64, 32)
    assert (LAPLACIAN**2).sum() == 5.25
    error = 4 * scores.std() / np.sqrt(scores.size)
    assert abs(scores.mean() - 5.25 * 169 / 225) < error


def test_smoothness_is_scale_invariant_takes_tensors_and_is_nan_for_zero_filters():
    rng = np.random.default_rng(1)
    filters = rng.standard_normal((3, 2, 7, 5))  # (out, in, h, w)
    scores = filter_smoothness(filters)
    assert scores.shape == (3, 2)
    for factor in (1e300, 1e-300, -2.5):
        np.testing.assert_allclose(filter_smoothness(filters * factor), scores, rtol=1e-12)
    np.testing.assert_allclose(filter_smoothness(torch.tensor(filters)), scores, rtol=1e-15)
    filters[1, 0] = 0.0
    result = filter_smoothness(filters)
    assert np.isnan(result[1, 0]) and np.isfinite(np.delete(result.ravel(), 2)).all()


def test_smoothness_refuses_bad_filters_by_name():
    for shape in ((4, 3, 1, 1), (4, 3, 2, 5), (0, 3, 5, 5), (4, 3, 5, 0), (3, 5, 5)):
        with pytest.raises(
            ValueError, match=r"filters must be an array \(out, in, h, w\) with h, w ≥ 3"
        ):
            filter_smoothness(np.ones(shape))
    with pytest.raises(TypeError, match="filters must be real"):
        filter_smoothness(np.ones((1, 1, 5, 5)) * 1j)
    with pytest.raises(TypeError, match="filters must be real"):
        filter_smoothness(torch.ones(1, 1, 5, 5, dtype=torch.complex64))
    with pytest.raises(ValueError, match="filters must be finite"):
        filter_smoothness(np.full((1, 1, 5, 5), np.inf))
    with pytest.raises(ValueError, match="padding must be one of 'valid', 'same'; got 'full'"):
        filter_smoothness(np.ones((1, 1, 5, 5)), padding="full")


def test_shape_scores_are_the_same_for_filters_of_1e300_and_1e_minus_300():
    """Scaling by a power of two is exact, so there the scores agree bitwise; by 10^±300 the
    filter itself is rounded (relative 1e-16 per entry), so the scores agree to 1e-13."""
    rng = np.random.default_rng(0)
    filters = np.stack([_gabor(), rng.normal(size=(5, 5)), np.indices((5, 5)).sum(0) % 2])
    for score in (filter_total_variation, filter_low_frequency):
        plain = score(filters)
        assert np.isfinite(plain).all()
        for power in (2.0**1000, 2.0**-1000):
            assert np.array_equal(score(filters * power), plain)
        for scale in (1e300, 1e-300):
            np.testing.assert_allclose(score(filters * scale), plain, rtol=1e-13, atol=0)


def test_complex_and_1x1_filters_are_refused_by_name():
    for score in (filter_total_variation, filter_low_frequency, mean_removed, filter_smoothness):
        for complex_filters in (np.ones((2, 1, 3, 3)) * (1 + 1j),
                                torch.ones(2, 1, 3, 3, dtype=torch.complex64)):  # fmt: skip
            with pytest.raises(TypeError, match=r"filters must be real; got a complex"):
                score(complex_filters)
    for score in (filter_total_variation, filter_low_frequency, mean_removed):
        with pytest.raises(ValueError, match=r"filters must be at least 2 pixels .*1×1"):
            score(np.ones((2, 3, 1, 1)))
        with pytest.raises(TypeError, match=r"filters must be a real array, got dtype <U1"):
            score(np.array([[["a", "b"]]]))
    assert filter_total_variation(np.array([[[0.0, 1.0]]]))[0] == 1.0  # 1×2: |1| over |−½|+|½|
