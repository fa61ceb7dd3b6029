"""The reference code's random streams for the Figure-1 teacher–student task (docs/theory.md §5.1).

The paper draws every cell through torch's CPU generator, in float32, in this order:

1. ``torch.manual_seed(seed)``;
2. the teacher: ``nn.Linear(d, 3)`` and ``nn.Linear(3, 1)`` (no bias) are constructed, their
   default init consuming the stream, then directions ``randn(3, d)`` normalised to the sphere and
   readouts ``sign(randn(3))``;
3. the student: ``nn.Linear(d, m)`` and ``nn.Linear(m, 1)`` constructed, then directions
   ``u = randn(m/2, d)`` normalised and signs ``s = sign(randn(m/2))``; rows ``u·τ·α_ref`` and
   readouts ``s·τ/α_ref`` (float32 operations, in that order), the pairs repeated with the
   readout negated by concatenation: W = [U; U], a = [s; −s] (the reference's ``repeat(2)``
   followed by negating the second half), so f(x; θ0) = 0;
4. training inputs ``randn(n, d)`` normalised, labels the teacher's float32 outputs;
5. the test set: ``torch.manual_seed(test_seed)``, ``randn(n_test, d)`` normalised, labelled by
   the teacher.

Figure 1a's notebook draws its one teacher from a stream of its own (``teacher_seed``, 15 there):
step 2 follows ``torch.manual_seed(teacher_seed)``, and each seed's stream (100 there) begins
with the student of step 3. Its notebook has no test set; richlazy's is step 5's.

Here α_ref = √((√(4 + (δ/τ²)²) − δ/τ²)/2) = 1/α of docs/theory.md §5.1, computed in float64 with
the reference's own formula. Everything is promoted to float64 at the end.

Draws before the student's scaling do not depend on (τ, δ), and the test inputs depend only on
``test_seed``, so :func:`reference_cells` draws once per seed and scales per cell. The draws use a
private ``torch.Generator`` (the global one is left alone); nn.Linear's init is replayed by
``kaiming_uniform_``, which consumes the stream as the constructor does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from richlazy._validate import finite_array, positive_array
from richlazy.data.tasks import Dataset
from richlazy.nets.two_layer import TwoLayerNets

TEACHER_WIDTH = 3
_F32 = torch.float32


@dataclass(frozen=True, eq=False)
class ReferenceCell:
    """One (seed, τ, δ) cell as the reference draws it, in float64.

    Attributes:
        teacher_w: teacher directions (3, d), unit rows; teacher_a: readouts ±1, (3,).
        W: student first layer (m, d); a: student readouts (m,).
        X, y: training inputs (n, d) and labels (n,); X_test, y_test: (n_test, d), (n_test,).
    """

    teacher_w: np.ndarray
    teacher_a: np.ndarray
    W: np.ndarray
    a: np.ndarray
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True, eq=False)
class ReferenceGrid:
    """S seeds × K cells in the batched engine's layout (``richlazy.nets.two_layer``), float64.

    Attributes:
        seeds: (S,); taus, deltas: the cells, (K,).
        teacher_w: (S, 3, d); teacher_a: (S, 3).
        W: (S, K, m, d); a: (S, K, m).
        X: (S, n, d); y: (S, n).
        X_test: (S, n_test, d), a read-only broadcast view of one draw (the test inputs depend
            only on ``test_seed``); y_test: (S, n_test).
    """

    seeds: np.ndarray
    taus: np.ndarray
    deltas: np.ndarray
    teacher_w: np.ndarray
    teacher_a: np.ndarray
    W: np.ndarray
    a: np.ndarray
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    def nets(
        self, *, leak: float = 0.0, dtype: torch.dtype = torch.float64, device: str = "cpu"
    ) -> TwoLayerNets:
        """The students as a batch for ``richlazy.train.train``: W (S, K, m, d), a (S, K, m)."""
        return TwoLayerNets(
            W=torch.tensor(self.W, dtype=dtype, device=device),
            a=torch.tensor(self.a, dtype=dtype, device=device),
            leak=leak,
        )

    def data(
        self, *, dtype: torch.dtype = torch.float64, device: str = "cpu"
    ) -> tuple[torch.Tensor, ...]:
        """X (S, n, d), y (S, n), X_test (S, n_test, d), y_test (S, n_test) as tensors; X_test is
        one copy of the test inputs expanded over the seeds (no extra memory)."""
        S = len(self.seeds)
        X_test = torch.tensor(self.X_test[0], dtype=dtype, device=device).expand(S, -1, -1)
        X, y, y_test = (
            torch.tensor(v, dtype=dtype, device=device) for v in (self.X, self.y, self.y_test)
        )
        return X, y, X_test, y_test


def alpha_ref(tau: float, delta: float) -> float:
    """The reference's layer ratio √((√(4 + (δ/τ²)²) − δ/τ²)/2) = 1/α (docs/theory.md §5.1).

    Evaluated as the reference does, float64 scalars in this order (it cancels for δ/τ² ≫ 1,
    which :func:`reference_cell` refuses where the weights stop being finite).

    Raises:
        ValueError: τ not finite and > 0, or δ not finite.
    """
    tau = np.float64(positive_array("tau", tau))
    delta = np.float64(finite_array("delta", delta, ndim=0))
    return float(np.sqrt((np.sqrt(4 + (delta / tau**2) ** 2) - delta / tau**2) / 2))


def reference_cell(
    seed: int,
    tau: float,
    delta: float,
    *,
    d: int,
    n: int,
    m: int = 50,
    n_test: int = 10_000,
    test_seed: int = 201,
    teacher_seed: int | None = None,
) -> ReferenceCell:
    """The teacher, student and data of one cell, drawn as the paper's code draws them
    (docs/theory.md §5.1; the sequence is in this module's docstring).

    Args:
        teacher_seed: None draws the teacher from ``seed``'s stream, as the Figure-1b grid runs
            do; a seed draws it from a stream of its own, as Figure 1a's notebook does (15).

    Raises:
        ValueError: naming the argument: a seed (or teacher_seed) that is not an integer in
            [0, 2⁶⁴), τ not finite and > 0, δ not finite, m not even and ≥ 2, d, n or n_test < 1,
            or (τ, δ) whose weights overflow float32 (δ/τ² so large that the reference's α_ref
            cancels to 0).
    """
    grid = reference_cells(
        [seed],
        tau,
        delta,
        d=d,
        n=n,
        m=m,
        n_test=n_test,
        test_seed=test_seed,
        teacher_seed=teacher_seed,
    )
    return ReferenceCell(
        grid.teacher_w[0],
        grid.teacher_a[0],
        grid.W[0, 0],
        grid.a[0, 0],
        grid.X[0],
        grid.y[0],
        np.array(grid.X_test[0]),
        grid.y_test[0],
    )


def reference_cells(
    seeds,
    taus,
    deltas,
    *,
    d: int,
    n: int,
    m: int = 50,
    n_test: int = 10_000,
    test_seed: int = 201,
    teacher_seed: int | None = None,
) -> ReferenceGrid:
    """Every cell (τ_k, δ_k) of every seed, each equal to its :func:`reference_cell`.

    Args:
        seeds: the seeds, (S,) or a single int.
        taus, deltas: the cells; they are broadcast together and flattened in C order, so a grid
            is ``*np.meshgrid(taus, deltas, indexing="ij")`` (the order of ``initial_cells``).
        teacher_seed: as :func:`reference_cell`; one teacher then serves every seed.

    Raises:
        ValueError: as :func:`reference_cell`.
    """
    seeds = [_seed("seeds", s) for s in np.asarray(seeds, dtype=object).ravel()]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    test_seed = _seed("test_seed", test_seed)
    if teacher_seed is not None:
        teacher_seed = _seed("teacher_seed", teacher_seed)
    for name, value, least in (("d", d, 1), ("n", n, 1), ("n_test", n_test, 1), ("m", m, 2)):
        if not _is_int(value) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    if m % 2:
        raise ValueError(f"m must be even (neurons come in pairs (u, +s), (u, −s)), got {m}")
    taus, deltas = _cells(taus, deltas)  # (K,), (K,)
    alphas = [alpha_ref(t, dl) for t, dl in zip(taus, deltas, strict=True)]
    tau32 = torch.tensor(taus, dtype=_F32)[:, None, None]  # (K, 1, 1)
    alpha32 = torch.tensor(alphas, dtype=_F32)[:, None, None]  # (K, 1, 1)
    scales = torch.cat([tau32 * alpha32, tau32 / alpha32]).flatten()  # (2K,) weight scales
    if not (torch.isfinite(scales).all() and (scales > 0).all()):
        bad = ~(torch.isfinite(scales) & (scales > 0)).view(2, -1).all(0).numpy()  # (K,)
        raise ValueError(
            "delta / tau**2 is too large (or tau too extreme) for float32 weights by the "
            f"reference's α_ref formula: cells (tau, delta) "
            f"{np.column_stack([taus[bad], deltas[bad]]).tolist()}"
        )

    g = torch.Generator()
    X_test = _sphere(g.manual_seed(test_seed), n_test, d)  # (n_test, d) float32
    if teacher_seed is not None:  # Figure 1a: one teacher from a stream of its own
        shared_teacher = _network(g.manual_seed(teacher_seed), d, TEACHER_WIDTH, TEACHER_WIDTH)
    parts = {k: [] for k in ("teacher_w", "teacher_a", "W", "a", "X", "y", "y_test")}
    for seed in seeds:
        g.manual_seed(seed)
        if teacher_seed is None:  # the grid runs: the teacher opens the seed's stream
            teacher_w, teacher_a = _network(g, d, TEACHER_WIDTH, TEACHER_WIDTH)  # (3, d), (3,)
        else:
            teacher_w, teacher_a = shared_teacher
        U, s = _network(g, d, m, m // 2)  # (m/2, d), (m/2,)
        X = _sphere(g, n, d)  # (n, d)
        # The reference's float32 operations, per cell: u·τ·α_ref and s·τ/α_ref.
        W_half = U[None] * tau32 * alpha32  # (K, m/2, d)
        a_half = s[None] * tau32[..., 0] / alpha32[..., 0]  # (K, m/2)
        values = {
            "teacher_w": teacher_w,
            "teacher_a": teacher_a,
            "W": torch.cat([W_half, W_half], 1),  # (K, m, d): [U; U]
            "a": torch.cat([a_half, -a_half], 1),  # (K, m): [+s; −s]
            "X": X,
            "y": _teacher(teacher_w, teacher_a, X),  # (n,)
            "y_test": _teacher(teacher_w, teacher_a, X_test),  # (n_test,)
        }
        for key, value in values.items():
            parts[key].append(value.numpy().astype(np.float64))
    stacked = {key: np.stack(value) for key, value in parts.items()}  # leading axis S
    X_test64 = X_test.numpy().astype(np.float64)
    return ReferenceGrid(
        seeds=np.array(seeds),
        taus=taus,
        deltas=deltas,
        X_test=np.broadcast_to(X_test64, (len(seeds), *X_test64.shape)),
        **stacked,
    )


def reference_dataset(seed: int, taus, deltas, **sizes: int | None) -> Dataset:
    """One seed of a (τ, δ) grid as the reference draws it (docs/theory.md §5.1): the data, the
    teacher, and the initial student of every cell, τ-major (``np.meshgrid(taus, deltas,
    indexing="ij")``, the order of ``richlazy.sweeps.initial_cells``).

    Args:
        sizes: d, n, m, n_test, test_seed, teacher_seed as :func:`reference_cells` takes them.

    Raises:
        ValueError: as :func:`reference_cell`.
    """
    grid = reference_cells([seed], *np.meshgrid(taus, deltas, indexing="ij"), **sizes)
    return Dataset(
        X=grid.X[0],
        y=grid.y[0],
        X_test=np.array(grid.X_test[0]),
        y_test=grid.y_test[0],
        teacher=grid.teacher_a[0][:, None] * grid.teacher_w[0],  # (3, d): readout × direction
        teacher_readouts=grid.teacher_a[0],  # (3,)
        students=(grid.W[0], grid.a[0]),  # (K, m, d), (K, m)
    )


def _network(g: torch.Generator, d: int, width: int, draws: int):
    """What constructing nn.Linear(d, width) and nn.Linear(width, 1) consumes (their default
    kaiming-uniform init, no bias), then ``draws`` unit directions (draws, d) and their signs
    sign(randn(draws)), (draws,)."""
    for fan_out, fan_in in ((width, d), (1, width)):
        torch.nn.init.kaiming_uniform_(
            torch.empty(fan_out, fan_in, dtype=_F32), a=math.sqrt(5), generator=g
        )
    directions = _sphere(g, draws, d)  # (draws, d)
    return directions, torch.sign(torch.randn(draws, dtype=_F32, generator=g))  # (draws,)


def _sphere(g: torch.Generator, count: int, d: int) -> torch.Tensor:
    """randn(count, d) normalised row by row, as the reference writes it: (count, d) float32."""
    points = torch.randn(count, d, dtype=_F32, generator=g)
    return points / torch.norm(points, dim=1, keepdim=True)


def _teacher(w: torch.Tensor, a: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """The teacher's float32 outputs Σ_j a_j relu(w_j·x), as its nn.Linear layers compute: (n,)."""
    linear = torch.nn.functional.linear
    return linear(torch.relu(linear(X, w)), a[None])[:, 0]


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _seed(name: str, value) -> int:
    if not _is_int(value) or not 0 <= value < 2**64:
        raise ValueError(f"{name} must be an integer in [0, 2**64) (a torch seed), got {value!r}")
    return int(value)


def _cells(taus, deltas) -> tuple[np.ndarray, np.ndarray]:
    """τ and δ broadcast together and flattened: (K,), (K,); τ finite and > 0, δ finite."""
    taus, deltas = positive_array("tau", taus), finite_array("delta", deltas)
    try:
        taus, deltas = np.broadcast_arrays(taus, deltas)
    except ValueError:
        raise ValueError(
            f"taus {taus.shape} and deltas {deltas.shape} must broadcast together"
        ) from None
    if taus.size == 0:
        raise ValueError("taus and deltas must name at least one cell")
    return taus.ravel().copy(), deltas.ravel().copy()
