"""The paper's tasks (docs/theory.md §5.1): teacher–student on the sphere, and XOR in d = 2."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from richlazy import _validate as check


@dataclass(frozen=True)
class Dataset:
    """Training and test data of one task instance, as float64 NumPy arrays.

    Attributes:
        X, y: training inputs (n, d) and targets (n,).
        X_test, y_test: test inputs (n_test, d) and targets (n_test,).
        teacher: for teacher–student tasks, the teacher's unit directions (m0, d) times its
            readouts ±1; None otherwise.
        teacher_readouts: those readouts ±1, (m0,), so that the directions are
            ``teacher_readouts[:, None] * teacher``; None where ``teacher`` is.
        students: when the task also fixes the initial students (the reference's draws,
            ``richlazy.data.reference_dataset``): W (K, m, d) and a (K, m) of every (τ, δ) cell,
            τ-major; None lets the sweep draw them (docs/theory.md §5.1).
    """

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    teacher: np.ndarray | None = None
    teacher_readouts: np.ndarray | None = None
    students: tuple[np.ndarray, np.ndarray] | None = None


def student_directions(
    rng: np.random.Generator, width: int, d: int
) -> tuple[np.ndarray, np.ndarray]:
    """The paired student's draw (docs/theory.md §5.1): m/2 unit directions and their ±1 readout
    signs, shaped for one dataset, (1, m/2, d) and (1, m/2)."""
    width = check.positive_integer("width", width)
    if width % 2:
        raise ValueError(f"width must be even (neurons come in pairs), got {width}")
    directions = sphere(rng, width // 2, d)[None]
    signs = rng.choice([-1.0, 1.0], size=(1, width // 2))
    return directions, signs


def sphere(rng: np.random.Generator, count: int, d: int) -> np.ndarray:
    """``count`` points uniform on the unit sphere S^{d−1}: (count, d).

    Raises:
        TypeError: ``rng`` is not a numpy Generator; ValueError: count or d below 1.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    count, d = check.positive_integer("count", count), check.positive_integer("d", d)
    points = rng.normal(size=(count, d))
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def teacher_student(seed: int, *, d: int, n: int, n_test: int, teacher_width: int = 3) -> Dataset:
    """Labels from a ReLU teacher Σ_j s_j relu(u_jᵀx), u_j uniform on the sphere, s_j = ±1.

    Inputs are uniform on S^{d−1}, with no label noise (after Chizat, Oyallon & Bach 2019).
    Teacher, training inputs and test inputs come from independent streams of ``seed``.

    Raises:
        ValueError: a negative seed or non-positive sizes.
    """
    seed = check.integer("seed", seed, maximum=check.MAX_SEED)
    for name, value in (("d", d), ("n", n), ("n_test", n_test), ("teacher_width", teacher_width)):
        check.positive_integer(name, value)
    teacher_rng, train_rng, test_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    directions = sphere(teacher_rng, teacher_width, d)  # (m0, d)
    readouts = teacher_rng.choice([-1.0, 1.0], size=teacher_width)

    def label(X):
        return np.maximum(X @ directions.T, 0) @ readouts

    X, X_test = sphere(train_rng, n, d), sphere(test_rng, n_test, d)
    return Dataset(
        X, label(X), X_test, label(X_test), directions * readouts[:, None], readouts.copy()
    )


def xor() -> Dataset:
    """The XOR task of the paper's Figure 5: inputs (±1, ±1), label x1·x2 (test = train)."""
    X = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    y = X[:, 0] * X[:, 1]
    return Dataset(X, y, X.copy(), y.copy())
