"""Smoothness scores of convolution filters (docs/section5-vision.md, "Filter scores").

Both scores look at each filter's *shape*, not its size or offset: a filter F (C, h, w) is first
mean-removed per channel, G_c = F_c − mean(F_c), and both scores are invariant to multiplying G
by any non-zero number.

- ``filter_total_variation``: TV(G) = Σ_c Σ_adjacent |G_c[p] − G_c[q]| / Σ_c Σ_p |G_c[p]|, the
  anisotropic total variation (horizontal and vertical neighbours) over the ℓ1 norm. An
  i.i.d. Gaussian 5×5 filter scores about 40·√2/25 ≈ 2.2 (40 neighbour pairs, 25 pixels,
  E|x − y| = √2 E|x|); a checkerboard about 3.2 (every difference is twice a value); a smooth
  filter scores less.
- ``filter_low_frequency``: the share of G's spectral energy Σ_c |Ĝ_c(u, v)|² (2-D DFT,
  frequencies u, v in cycles per pixel, ``numpy.fft.fftfreq``) at radial frequency
  0 < √(u² + v²) ≤ ``cutoff`` among all non-zero frequencies (the zero frequency is empty after
  mean removal). The default cutoff 0.3 keeps, for 5×5 filters, the eight frequencies with
  |u|, |v| ≤ 1/5 among the 24 non-zero ones, so white noise scores 1/3 in expectation, a
  checkerboard near 0 and a smooth blob or low-frequency Gabor near 1.

A filter that is constant in every channel has G = 0: no shape at all. Both scores are NaN for
it (0/0), rather than 0 (which would rank it the smoothest filter possible) or any other number;
aggregates over filters skip NaN.
"""

from __future__ import annotations

import numpy as np

__all__ = ["filter_low_frequency", "filter_total_variation", "mean_removed"]

# Mean-removed energy below this fraction of the filter's own energy counts as constant.
_CONSTANT = 1e-12


def mean_removed(filters) -> np.ndarray:
    """``filters`` as float64 (K, C, h, w), each channel minus its mean.

    Args:
        filters: (K, C, h, w) (a convolution's weight, ``conv.weight``) or (K, h, w) (one
            channel), a NumPy array or a torch tensor.

    Raises:
        ValueError: another number of dimensions, an empty filter, or non-finite values.
    """
    return _prepared(filters)[0]


def _prepared(filters) -> tuple[np.ndarray, np.ndarray]:
    """The mean-removed filters G (K, C, h, w) and whether each is constant (K,)."""
    if hasattr(filters, "detach"):
        filters = filters.detach().cpu().numpy()
    array = np.asarray(filters, dtype=np.float64)
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or 0 in array.shape:
        raise ValueError(
            f"filters must be a non-empty array (K, C, h, w) or (K, h, w), got shape {array.shape}"
        )
    if not np.isfinite(array).all():
        raise ValueError("filters must be finite")
    centred = array - array.mean(axis=(2, 3), keepdims=True)  # (K, C, h, w)
    energy = (centred**2).sum(axis=(1, 2, 3))  # (K,)
    scale = (array**2).sum(axis=(1, 2, 3))
    constant = energy <= _CONSTANT * np.maximum(scale, np.finfo(float).tiny)
    return centred, constant


def filter_total_variation(filters) -> np.ndarray:
    """The normalised total variation of each mean-removed filter (module docstring).

    Returns:
        (K,) float64: TV(G_k), NaN for a constant filter.
    """
    G, constant = _prepared(filters)  # (K, C, h, w), (K,)
    vertical = np.abs(np.diff(G, axis=2)).sum(axis=(1, 2, 3))  # (K,)
    horizontal = np.abs(np.diff(G, axis=3)).sum(axis=(1, 2, 3))  # (K,)
    size = np.abs(G).sum(axis=(1, 2, 3))  # (K,)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = (vertical + horizontal) / size
    return np.where(constant, np.nan, score)


def filter_low_frequency(filters, *, cutoff: float = 0.3) -> np.ndarray:
    """The share of each mean-removed filter's spectral energy at low spatial frequency.

    Args:
        filters: as :func:`mean_removed`.
        cutoff: the largest radial frequency counted as low, in cycles per pixel, in (0, √½);
            at least one non-zero frequency of the filter's grid must lie at or below it.

    Returns:
        (K,) float64 in [0, 1], NaN for a constant filter.

    Raises:
        ValueError: a cutoff out of range or below every non-zero frequency of the grid.
    """
    G, constant = _prepared(filters)  # (K, C, h, w), (K,)
    if not isinstance(cutoff, float | int) or not 0 < cutoff < np.sqrt(0.5):
        raise ValueError(f"cutoff must be a number in (0, 0.707) cycles per pixel, got {cutoff!r}")
    h, w = G.shape[2:]
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij"))  # (h, w)
    low = (radius > 0) & (radius <= cutoff + 1e-12)
    if not low.any():
        raise ValueError(
            f"cutoff {cutoff} is below every non-zero frequency of a {h}×{w} filter "
            f"(the lowest is {radius[radius > 0].min():.3g} cycles per pixel)"
        )
    power = (np.abs(np.fft.fft2(G)) ** 2).sum(axis=1)  # (K, h, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = power[:, low].sum(axis=1) / power[:, radius > 0].sum(axis=1)
    return np.where(constant, np.nan, share)
