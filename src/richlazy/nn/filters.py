"""Smoothness scores of convolution filters (docs/section5-vision.md, "Filter scores").

The paper's score (docs/theory.md §6.4), one number per filter of one input channel:

- ``filter_smoothness``: ‖(w/‖w‖₂) ∗ Δ‖₂² with the 3×3 kernel :data:`LAPLACIAN`
  Δ = [[−¼, −½, −¼], [−½, 2, −½], [−¼, −½, −¼]], on the positions where Δ lies inside the
  filter ("valid", the default) or on the zero-padded filter ("same"). Lower is smoother.

Two further scores (this project's own, from before the paper's was known) look at each filter's
*shape*, not its size or offset: a filter F (C, h, w) is first mean-removed per channel,
G_c = F_c − mean(F_c), and both scores are invariant to multiplying G by any non-zero number.

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

Each filter is first divided by a power of two near its largest |entry| (an exact division), so
the scores are the same for filters of 1e300 or 1e-300 (no overflow, no underflow). Complex
filters are refused, as are 1×1 filters (no shape to score).

A filter that is constant in every channel has G = 0: no shape at all. Both scores are NaN for
it (0/0), rather than 0 (which would rank it the smoothest filter possible) or any other number;
aggregates over filters skip NaN.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "LAPLACIAN",
    "filter_low_frequency",
    "filter_smoothness",
    "filter_total_variation",
    "mean_removed",
]

#: The paper's 3×3 kernel Δ of ``filter_smoothness``. Its taps sum to −1: Δ = 3·δ − ¼·bbᵀ with
#: b = (1, 2, 1), i.e. three times the identity minus four times the binomial blur, so
#: w ∗ Δ = 3w − 4·blur(w): a smooth (blur-invariant) filter scores about ‖w‖² = 1 on the valid
#: positions, white noise Σ Δ² = 5.25 per valid position, a checkerboard 9.
LAPLACIAN = np.array([[-0.25, -0.5, -0.25], [-0.5, 2.0, -0.5], [-0.25, -0.5, -0.25]])
LAPLACIAN.flags.writeable = False
_PADDINGS = ("valid", "same")

# Mean-removed energy below this fraction of the filter's own energy counts as constant.
_CONSTANT = 1e-12


def mean_removed(filters) -> np.ndarray:
    """``filters`` as float64 (K, C, h, w), each channel minus its mean.

    Args:
        filters: (K, C, h, w) (a convolution's weight, ``conv.weight``) or (K, h, w) (one
            channel), a NumPy array or a torch tensor.

    Raises:
        TypeError: complex or non-numeric filters.
        ValueError: another number of dimensions, an empty or 1×1 filter, or non-finite values.
    """
    return _prepared(filters, scaled=False)[0]


def _real_array(filters) -> np.ndarray:
    """``filters`` (NumPy or torch) as a NumPy array of real numbers, complex ones refused."""
    if hasattr(filters, "detach"):
        if filters.is_complex():
            raise TypeError(f"filters must be real; got a complex tensor ({filters.dtype})")
        filters = filters.detach().cpu().to(torch.float64).numpy()
    array = np.asarray(filters)
    if np.iscomplexobj(array):
        raise TypeError("filters must be real; got a complex array")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"filters must be a real array, got dtype {array.dtype}")
    return array


def _prepared(filters, *, scaled: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The mean-removed filters G (K, C, h, w) and whether each is constant (K,); ``scaled``:
    each filter first divided by a power of two near its largest |entry| (the scores are scale
    invariant, and so filters of 1e±300 neither overflow nor underflow)."""
    array = _real_array(filters).astype(np.float64)
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or 0 in array.shape:
        raise ValueError(
            f"filters must be a non-empty array (K, C, h, w) or (K, h, w), got shape {array.shape}"
        )
    if array.shape[2] * array.shape[3] < 2:
        raise ValueError(
            f"filters must be at least 2 pixels (h·w ≥ 2): a 1×1 filter has no shape, got "
            f"shape {array.shape}"
        )
    if not np.isfinite(array).all():
        raise ValueError("filters must be finite")
    if scaled:
        peak = np.abs(array).max(axis=(1, 2, 3), keepdims=True)  # (K, 1, 1, 1)
        # A power of two near the peak: dividing by it is exact, so in-range filters score
        # bitwise as without it.
        array = array / np.ldexp(1.0, np.frexp(np.where(peak > 0, peak, 1.0))[1])
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


def filter_smoothness(filters, *, padding: str = "valid") -> np.ndarray:
    """The paper's smoothness of every filter: ‖(w/‖w‖₂) ∗ Δ‖₂² (docs/theory.md §6.4).

    Each (output channel, input channel) pair's h×w kernel w is normalised to unit Frobenius
    norm and convolved with :data:`LAPLACIAN` (symmetric, so convolution and correlation agree);
    the score is the sum of the squared outputs. Lower is smoother. Scale-invariant: the filter
    is first divided by its largest magnitude, so neither 1e300 nor 1e-300 filters overflow or
    underflow.

    Args:
        filters: (out, in, h, w) with h, w ≥ 3 (a convolution's ``weight``), a NumPy array or a
            torch tensor, real and finite.
        padding: ``"valid"`` (the default): Δ only where it lies inside the filter, (h − 2)(w − 2)
            outputs, no value assumed outside the filter; ``"same"``: the filter padded by one
            zero on every side, h·w outputs (the filter's border then counts as an edge).

    Returns:
        (out, in) float64; NaN for an all-zero filter (it has no direction to normalise).

    Raises:
        TypeError: complex filters.
        ValueError: not 4-D, empty, smaller than 3×3, non-finite values, or an unknown padding.
    """
    array = _real_array(filters)
    if array.ndim != 4 or 0 in array.shape or min(array.shape[2:]) < 3:
        raise ValueError(
            "filters must be an array (out, in, h, w) with h, w ≥ 3 (the 3×3 Laplacian must fit), "
            f"got shape {array.shape}"
        )
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError("filters must be finite")
    if padding not in _PADDINGS:
        raise ValueError(
            f"padding must be one of {', '.join(map(repr, _PADDINGS))}; got {padding!r}"
        )
    peak = np.abs(array).max(axis=(2, 3), keepdims=True)  # (out, in, 1, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = array / peak  # entries in [−1, 1]: the squares below neither overflow nor vanish
        unit = unit / np.sqrt((unit**2).sum(axis=(2, 3), keepdims=True))  # (out, in, h, w)
    if padding == "same":
        unit = np.pad(unit, ((0, 0), (0, 0), (1, 1), (1, 1)))
    h, w = unit.shape[2] - 2, unit.shape[3] - 2
    response = sum(
        LAPLACIAN[i, j] * unit[:, :, i : i + h, j : j + w] for i in range(3) for j in range(3)
    )  # (out, in, h, w): Δ at every position where it fits
    return (response**2).sum(axis=(2, 3))
