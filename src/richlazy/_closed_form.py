"""Evaluation of the single-neuron closed form of docs/theory.md §2.1 at unit learning rates.

The formula is rearranged as

    a = (A + B e^{−Dt}) / N,    w∥ = (P + Q e^{−Dt}) / N,    w⊥ = e^{−κt/2} w0⊥ / N,
    N² = e^{−κt} + 2[A² dd(0,κ,t) + 2AB dd(D,κ,t) + B² dd(2D,κ,t)],

with w = w∥ β̂* + w⊥, u0 = w0·β̂*, ρ± = r±/D, σ = s/D and A = σu0 − a0ρ₋, B = a0ρ₊ − σu0,
P = r₊A/s, Q = r₋B/s (the §2.1 w-formula with its β* terms collected). Every exponential is
bounded for t ≥ 0.

Two evaluation paths share these coefficients. The direct path uses six exponentials per point
and runs in cache-sized blocks of rows, shared among the cores. Where N² would underflow
(trajectories that approach the saddle β = 0 and linger, e.g. exactly on the separatrix of
docs/theory.md §2.1, at large t) a row falls back to the log-domain path, which factors the scale
e^{ℓ*} of N² out of every quotient.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

# Points per block: about forty NumPy calls per block are amortized over 48k points, whose
# buffers (384 kB each, reused from block to block) stay within a core's 2 MB L2 cache. Of 12k,
# 24k, 48k and 96k, 48k was fastest on 1e4 x 1e3 points (0.19 s on one core, 0.11 s on two).
_BLOCK = 48_000
_UNDERFLOW_GUARD = 1e-200  # below this N² the direct path hands a row to the log path
_THREADED_FROM = 200_000  # points from which the blocks are shared among the cores


@dataclass(frozen=True)
class Coefficients:
    """Per-trajectory constants of the closed form; every array has shape (B, 1)."""

    a0: np.ndarray
    u0: np.ndarray
    A: np.ndarray
    B: np.ndarray
    P: np.ndarray
    Q: np.ndarray
    D: np.ndarray
    kappa: np.ndarray

    def rows(self, index: slice | np.ndarray) -> Coefficients:
        """The coefficients of a subset of trajectories."""
        return Coefficients(*(getattr(self, name)[index] for name in self.__dataclass_fields__))


def coefficients(a0: np.ndarray, u0: np.ndarray, delta: np.ndarray, s: np.ndarray) -> Coefficients:
    """Constants of the closed form from a0, u0 = w0·β̂*, δ and s = ‖β*‖, each of shape (B,).

    κ = δ + D and r± = (−δ ± D)/2 are formed without cancellation using r₊r₋ = −s² (§2.1); at
    D = 0 (δ = 0 and β* = 0) the D → 0 limits ρ± = ±½, σ = 0 are used.
    """
    D = np.hypot(delta, 2 * s)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        kappa = np.where(delta >= 0, delta + D, 4 * s**2 / (D - delta))
        rho_plus = np.where(delta >= 0, 2 * s**2 / ((D + delta) * D), (D - delta) / (2 * D))
        rho_minus = np.where(delta > 0, -(D + delta) / (2 * D), -2 * s**2 / ((D - delta) * D))
        sigma = s / D
        # r₊/s and r₋/s tie P and Q to A and B exactly, which keeps the limit
        # a∞² − ‖w∞‖² = δ to rounding even when A and P are both tiny.
        r_plus_over_s = np.where(delta >= 0, 2 * s / (D + delta), (D - delta) / (2 * s))
        r_minus_over_s = np.where(delta > 0, -(D + delta) / (2 * s), -2 * s / (D - delta))
    degenerate = D == 0
    rho_plus = np.where(degenerate, 0.5, rho_plus)
    rho_minus = np.where(degenerate, -0.5, rho_minus)
    sigma = np.where(degenerate, 0.0, sigma)
    kappa = np.where(degenerate, 0.0, kappa)
    A, B = sigma * u0 - a0 * rho_minus, a0 * rho_plus - sigma * u0
    P = np.where(s > 0, r_plus_over_s, 0.0) * A
    Q = np.where(s > 0, r_minus_over_s, 0.0) * B
    return Coefficients(*(x[:, None] for x in (a0, u0, A, B, P, Q, D, kappa)))


def evaluate(
    c: Coefficients, t: np.ndarray, beta_hat: np.ndarray, w_perp0: np.ndarray, a_scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """a_scale·a(t) and w(t) = w∥(t) β̂* + (e^{−κt/2}/N) w0⊥.

    Blocks of rows are shared among the cores (NumPy releases the GIL inside each pass).

    Args:
        c: coefficients of B trajectories.
        t: unit-rate times, shape (B, T) or (1, T).
        beta_hat: unit target directions β̂* (0 where β* = 0), shape (B, d).
        w_perp0: the part of w0 orthogonal to β*, shape (B, d).
        a_scale: factor applied to a (to undo a rate reduction), shape (B, 1).

    Returns:
        a of shape (B, T) and w of shape (B, T, d).
    """
    rows, times, dim = c.A.shape[0], t.shape[1], beta_hat.shape[1]
    a, w = np.empty((rows, times)), np.empty((rows, times, dim))
    constants = _DirectConstants.of(c, a_scale, t.max(axis=1, keepdims=True))

    def fill(index: slice | np.ndarray, par: np.ndarray, perp: np.ndarray, scratch) -> None:
        """w[index] from w∥ and the w⊥ factor, each (b, T)."""
        component = scratch("component", par.shape)  # (b, T)
        for k in range(dim):  # one strided component at a time
            np.multiply(par, beta_hat[index, k, None], out=component)
            component += np.multiply(perp, w_perp0[index, k, None], out=scratch("perp", par.shape))
            w[index, :, k] = component

    def run(blocks: list[slice]) -> None:
        scratch = _Scratch()
        for block in blocks:
            rows_t = t if t.shape[0] == 1 else t[block]
            par, perp, underflow = _direct(constants.rows(block), rows_t, scratch, a[block])
            fill(block, par, perp, scratch)
            if np.any(underflow):  # rows whose N² underflowed: redone in the log domain
                redo = np.flatnonzero(underflow) + block.start
                a_redo, par, perp = _log_domain(c.rows(redo), t if t.shape[0] == 1 else t[redo])
                a[redo] = a_redo * a_scale[redo]
                fill(redo, par, perp, scratch)

    step = max(1, _BLOCK // max(times, 1))
    blocks = [slice(start, min(start + step, rows)) for start in range(0, rows, step)]
    workers = min(len(blocks), threads()) if rows * times >= _THREADED_FROM else 1
    if workers == 1:
        run(blocks)
    else:
        with ThreadPoolExecutor(workers) as pool:  # blocks dealt out in turn
            list(pool.map(run, [blocks[i::workers] for i in range(workers)]))
    return a, w


def threads() -> int:
    """The cores this process may run on, at most OMP_NUM_THREADS where that is set (as NumPy's
    own BLAS threads do), so that many processes side by side do not oversubscribe the cores."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    limit = os.environ.get("OMP_NUM_THREADS", "")
    return max(1, min(cores, int(limit))) if limit.isdigit() else cores


@dataclass(frozen=True)
class _DirectConstants:
    """Per-trajectory constants of the direct path, each (B, 1): rates negated and coefficients
    pre-divided, so that every (b, T) pass is a multiply, an exponential or an add.

    N² = e^{−κt} + 2A²φ(κ) + 4AB e^{−min(κ,D)t}φ(|κ−D|) + 2B² e^{−min(κ,2D)t}φ(|κ−2D|), with
    φ(r, t) = (1 − e^{−rt})/r = expm1(−rt)·(−1/r), and φ(0, t) = t.
    """

    neg_decay_rate: np.ndarray
    neg_half_kappa: np.ndarray
    neg_rates: np.ndarray  # (B, 3): −κ, −|κ−D|, −|κ−2D|
    scales: np.ndarray  # (B, 3): −2A²/κ, −4AB/|κ−D|, −2B²/|κ−2D| (0 at a zero rate)
    at_zero_rate: np.ndarray  # (B, 3): 2A², 4AB, 2B² where that rate is 0 (to rounding)
    fast_d: np.ndarray  # κ > D: e^{−Dt} decays faster than e^{−κt}
    fast_2d: np.ndarray  # κ > 2D
    a_terms: tuple[np.ndarray, np.ndarray, np.ndarray]  # _pick's (c0, c1, switch) for a
    par_terms: tuple[np.ndarray, np.ndarray, np.ndarray]  # and for w∥

    @classmethod
    def of(cls, c: Coefficients, a_scale: np.ndarray, horizon: np.ndarray) -> _DirectConstants:
        """The constants for times up to ``horizon``, (B, 1) or (1, 1)."""
        rates = np.concatenate([c.kappa, np.abs(c.kappa - c.D), np.abs(c.kappa - 2 * c.D)], 1)
        weights = np.concatenate([2 * c.A * c.A, 4 * c.A * c.B, 2 * c.B * c.B], 1)
        # φ(r, t) = t(1 − rt/2 + …) equals t to rounding where rt ≤ 1e-17; treating such rates
        # as 0 also keeps weight/rate from overflowing at a subnormal rate.
        zero = rates * horizon <= 1e-17
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            scales = np.where(zero, 0.0, -weights / rates)
        A, B = c.A * a_scale, c.B * a_scale
        return cls(
            neg_decay_rate=-c.D,
            neg_half_kappa=-0.5 * c.kappa,
            neg_rates=-rates,
            scales=scales,
            at_zero_rate=np.where(zero, weights, 0.0),
            fast_d=c.kappa > c.D,
            fast_2d=c.kappa > 2 * c.D,
            a_terms=(A, B, _switch(A, B)),
            par_terms=(c.P, c.Q, _switch(c.P, c.Q)),
        )

    def rows(self, index: slice) -> _DirectConstants:
        def take(value):
            return tuple(v[index] for v in value) if isinstance(value, tuple) else value[index]

        return _DirectConstants(*(take(getattr(self, name)) for name in self.__dataclass_fields__))


def _switch(coef0: np.ndarray, coef1: np.ndarray) -> np.ndarray:
    """The decay x* = e^{−Dt} below which c0 + c1·x cancels less than (c0 + c1) − c1(1 − x).

    That is where max(|c0|, |c1|x) ≤ max(|c0 + c1|, |c1|(1 − x)): the left side grows with x
    and the right one shrinks, so the direct form is the better one exactly for x ≤ x*.
    """
    a, b, c = np.abs(coef0), np.abs(coef1), np.abs(coef0 + coef1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        first = np.where(a <= c, np.inf, 1 - a / b)  # a ≤ max(c, b(1 − x))
        second = np.maximum(c / b, 0.5)  # bx ≤ max(c, b(1 − x))
    return np.where(b > 0, np.minimum(first, second), np.inf)


class _Scratch:
    """One worker's work buffers, reused from block to block (fresh arrays of this size would
    each be mapped and page-faulted anew)."""

    def __init__(self):
        self._buffers: dict[str, np.ndarray] = {}

    def __call__(self, name: str, shape: tuple[int, int]) -> np.ndarray:
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < shape[0] * shape[1]:
            buffer = self._buffers[name] = np.empty(shape[0] * shape[1])
        return buffer[: shape[0] * shape[1]].reshape(shape)


def _pick(terms, decay, neg_growth, out, spare):
    """c0 + c1e^{−Dt}, or the equal (c0 + c1) + c1(e^{−Dt} − 1) where that cancels less, into
    ``out``; ``spare`` is a work buffer of the same shape."""
    coef0, coef1, switch = terms
    direct = np.multiply(coef1, decay, out=out)
    direct += coef0
    shifted = np.multiply(coef1, neg_growth, out=spare)
    shifted += coef0 + coef1
    np.copyto(direct, shifted, where=decay > switch)
    return direct


def _direct(
    k: _DirectConstants, t: np.ndarray, scratch: _Scratch, a: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Writes a (scaled) into ``a`` (b, T); returns w∥ and the w⊥ factor, each (b, T), which live
    in ``scratch`` until its next use, and the rows (b,) where N² underflowed."""
    shape = (k.neg_decay_rate.shape[0], t.shape[1])
    exponent = np.multiply(k.neg_decay_rate, t, out=scratch("neg_growth", shape))  # −Dt: (b, T)
    decay = _exp_of_negative(exponent, scratch("decay", shape))  # e^{−Dt}
    neg_growth = np.expm1(exponent, out=exponent)  # e^{−Dt} − 1
    half_kappa = np.multiply(k.neg_half_kappa, t, out=scratch("half_kappa", shape))
    _exp_of_negative(half_kappa, half_kappa)  # e^{−κt/2}
    e_kappa = np.multiply(half_kappa, half_kappa, out=scratch("norm2", shape))  # e^{−κt}
    # e^{−min(rate, κ)t} of the second and third φ terms, taken before norm2 overwrites e^{−κt}
    prefactor_d = scratch("prefactor_d", shape)
    np.copyto(prefactor_d, e_kappa)
    np.copyto(prefactor_d, decay, where=k.fast_d)
    prefactor_2d = scratch("prefactor_2d", shape)
    np.copyto(prefactor_2d, e_kappa)
    np.multiply(decay, decay, out=prefactor_2d, where=k.fast_2d)
    prefactors = (None, prefactor_d, prefactor_2d)
    norm2 = e_kappa  # accumulated in place from here on
    term = scratch("term", shape)
    for j, prefactor in enumerate(prefactors):
        np.multiply(k.neg_rates[:, j, None], t, out=term)
        np.expm1(term, out=term)
        term *= k.scales[:, j, None]  # weight·φ(rate, t)
        if np.any(k.at_zero_rate[:, j]):
            term += k.at_zero_rate[:, j, None] * t  # weight·t at rate 0
        if prefactor is not None:
            term *= prefactor
        norm2 += term
    underflow = ~(norm2.min(axis=1) > _UNDERFLOW_GUARD)  # NaN included; these rows are redone
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inverse = np.sqrt(norm2, out=norm2)
        np.divide(1.0, inverse, out=inverse)
    if np.any(underflow):
        inverse[underflow] = np.nan  # quiet placeholders until the log domain redoes the rows
    _pick(k.a_terms, decay, neg_growth, a, scratch("shifted", shape))
    a *= inverse
    par = _pick(k.par_terms, decay, neg_growth, term, scratch("shifted", shape))
    par *= inverse
    half_kappa *= inverse
    return par, half_kappa, underflow


def _exp_of_negative(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """e^x for x ≤ 0 of shape (b, T), decreasing along each row (times are sorted).

    NumPy's exp leaves its fast vector path for any argument below −708 (results subnormal or
    0), measured 4-16 ns per point instead of 0.6. Blocks that reach there take (e^{x/2})² with
    x/2 clamped at −700 instead: the same subnormal or zero values, at the fast path's cost.
    """
    if not np.any(x[:, -1] < -708.0):
        return np.exp(x, out=out)
    half = np.multiply(x, 0.5, out=out)
    np.maximum(half, -700.0, out=half)
    np.exp(half, out=half)
    return np.multiply(half, half, out=half)


def _decay_ratio(rate: np.ndarray, t: np.ndarray) -> np.ndarray:
    """φ(rate, t) = (1 − e^{−rate·t})/rate, equal to t at rate 0; rate (b, 1) ≥ 0."""
    ratio = np.expm1(-rate * t)
    ratio /= -np.where(rate > 0, rate, 1.0)
    still = rate[:, 0] == 0  # rows at rate 0 take the limit t
    if np.any(still):
        ratio[still] = np.broadcast_to(t, ratio.shape)[still]
    return ratio


def _log_abs(x: np.ndarray) -> np.ndarray:
    """log|x| with log 0 = −inf and no warning."""
    with np.errstate(divide="ignore"):
        return np.log(np.abs(x))


def _log_dd(p: np.ndarray, q: np.ndarray, t: np.ndarray) -> np.ndarray:
    """log dd(p, q, t) with dd = (e^{−pt} − e^{−qt})/(q − p) (docs/theory.md §2.1); p, q ≥ 0."""
    with np.errstate(divide="ignore"):
        return -np.minimum(p, q) * t + np.log(_decay_ratio(np.abs(q - p), t))


def _log_pick(coef0, coef1, log_decay, log_growth, log_shift):
    """(c0 + c1e^{−Dt})·e^{−log_shift} from log magnitudes, choosing the form as in _pick."""
    total = coef0 + coef1
    direct = (_log_abs(coef0), _log_abs(coef1) + log_decay)
    shifted = (_log_abs(total), _log_abs(coef1) + log_growth)
    use_direct = np.maximum(*direct) <= np.maximum(*shifted)
    first = np.where(use_direct, direct[0], shifted[0]) - log_shift
    second = np.where(use_direct, direct[1], shifted[1]) - log_shift
    sign_first = np.where(use_direct, np.sign(coef0), np.sign(total))
    sign_second = np.where(use_direct, 1.0, -1.0) * np.sign(coef1)
    return sign_first * np.exp(first) + sign_second * np.exp(second)


def _log_domain(c: Coefficients, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """a, w∥, w⊥ factor, each (b, T), with the scale ℓ* of N² factored out of every quotient."""
    log_e = -c.kappa * t
    log_aa = np.log(2.0) + 2 * _log_abs(c.A) + _log_dd(0 * c.D, c.kappa, t)
    log_ab = np.log(4.0) + _log_abs(c.A) + _log_abs(c.B) + _log_dd(c.D, c.kappa, t)
    log_bb = np.log(2.0) + 2 * _log_abs(c.B) + _log_dd(2 * c.D, c.kappa, t)
    # |cross term| ≤ sum of the square terms, so the largest of the others sets the scale ℓ*.
    log_scale = np.maximum(np.maximum(log_e, log_aa), log_bb)
    norm2 = (
        np.exp(log_e - log_scale)
        + np.exp(log_aa - log_scale)
        + np.exp(log_bb - log_scale)
        + np.sign(c.A * c.B) * np.exp(log_ab - log_scale)
    )
    scaled_norm = np.sqrt(norm2)  # N e^{−ℓ*/2}
    half = log_scale / 2
    log_decay = -c.D * t
    with np.errstate(divide="ignore"):
        log_growth = np.log(-np.expm1(-c.D * t))
    return (
        _log_pick(c.A, c.B, log_decay, log_growth, half) / scaled_norm,
        _log_pick(c.P, c.Q, log_decay, log_growth, half) / scaled_norm,
        np.exp(log_e / 2 - half) / scaled_norm,
    )
