"""Modular arithmetic for grokking (Power et al. 2022; Nanda et al. 2023).

Recipes and conventions: docs/section5-structure.md.

Every pair (a, b) in [0, p)² is one example: the tokens ``a b =`` (``=`` is token p) and the
answer ``op(a, b) mod p``. A seeded permutation splits the p² pairs into a training set of
``round(fraction · p²)`` pairs and a test set of the rest, so the two are disjoint and together
the whole table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from richlazy import _validate as check

__all__ = ["OPERATIONS", "ModularSplit", "modular_arithmetic"]

#: The operations offered: name -> (a, b, p) -> answer in [0, p).
OPERATIONS = {
    "add": lambda a, b, p: (a + b) % p,
    "subtract": lambda a, b, p: (a - b) % p,
    "multiply": lambda a, b, p: (a * b) % p,
    "square_sum": lambda a, b, p: (a * a + b * b) % p,
}


@dataclass(frozen=True)
class ModularSplit:
    """A train/test split of one modular-arithmetic table, as int64 NumPy arrays.

    Attributes:
        x, y: training tokens (n, 3) (``a b =``, ``=`` being token p) and answers (n,).
        x_test, y_test: the other pairs, (p² − n, 3) and (p² − n,).
        p: the modulus; operation: its name in ``OPERATIONS``.
    """

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    p: int
    operation: str


def modular_arithmetic(
    p: int, *, fraction: float = 0.3, seed: int = 0, operation: str = "add"
) -> ModularSplit:
    """All p² pairs ``a ∘ b mod p``, split at random into ``fraction`` for training and the rest.

    Args:
        p: the modulus, ≥ 2 (Nanda et al.: 113).
        fraction: the share of the p² pairs used for training, in (0, 1) (Nanda et al.: 0.3);
            both sets get at least one pair.
        seed: the split's seed.
        operation: one of ``OPERATIONS`` ("add", "subtract", "multiply", "square_sum").

    Raises:
        ValueError: p < 2, fraction outside (0, 1) or leaving a set empty, an unknown operation.
    """
    p = check.integer("p", p, minimum=2, maximum=2**15)
    fraction = check.real_number("fraction", fraction)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1) (the training share), got {fraction}")
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}, got {operation!r}")
    seed = check.integer("seed", seed, maximum=check.MAX_SEED)
    n_train = round(fraction * p * p)
    if not 0 < n_train < p * p:
        raise ValueError(
            f"fraction={fraction} leaves the training or the test set empty for p={p} "
            f"({n_train} of {p * p} pairs)"
        )
    a, b = np.divmod(np.arange(p * p, dtype=np.int64), p)  # every pair, (p²,) each
    tokens = np.stack([a, b, np.full_like(a, p)], axis=1)  # (p², 3): a b =
    answers = OPERATIONS[operation](a, b, p).astype(np.int64)  # (p²,)
    order = np.random.default_rng(seed).permutation(p * p)
    train, test = order[:n_train], order[n_train:]
    return ModularSplit(tokens[train], answers[train], tokens[test], answers[test], p, operation)
