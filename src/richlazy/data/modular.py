"""Modular arithmetic for grokking (Power et al. 2022; Nanda et al. 2023).

Recipes and conventions: docs/section5-structure.md.

Every pair (a, b) of the operation's table is one example: a ∈ [0, p) and b ∈ [0, p) (b ∈ [1, p)
for division), with the answer ``op(a, b) mod p``. Two token sequences are offered:

- ``"a b ="`` (Nanda et al.): (N, 3) tokens, ``=`` is token p;
- ``"a op b ="`` (Power et al.; danielmamay/grokking, the paper's Figure 6d code): (N, 4)
  tokens, ``=`` is token p and the operation's symbol token p + 1 (vocabulary p + 2).

A seeded permutation splits the table's pairs into a training set of ``round(fraction · size)``
pairs and a test set of the rest, so the two are disjoint and together the whole table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from richlazy import _validate as check

__all__ = ["OPERATIONS", "SEQUENCES", "ModularSplit", "modular_arithmetic"]


def _divide(a: np.ndarray, b: np.ndarray, p: int) -> np.ndarray:
    """a · b⁻¹ mod p (b ≠ 0, p prime): b⁻¹ = b^(p−2) by Fermat."""
    inverse = np.array([pow(k, p - 2, p) for k in range(p)], dtype=np.int64)  # (p,)
    return (a * inverse[b]) % p


#: The operations offered: name -> (a, b, p) -> answer in [0, p).
OPERATIONS = {
    "add": lambda a, b, p: (a + b) % p,
    "subtract": lambda a, b, p: (a - b) % p,
    "multiply": lambda a, b, p: (a * b) % p,
    "square_sum": lambda a, b, p: (a * a + b * b) % p,
    "divide": _divide,
}
#: The token sequences offered (module docstring).
SEQUENCES = ("a b =", "a op b =")


@dataclass(frozen=True)
class ModularSplit:
    """A train/test split of one modular-arithmetic table, as int64 NumPy arrays.

    Attributes:
        x, y: training tokens (n, 3) (``a b =``) or (n, 4) (``a op b =``) and answers (n,).
        x_test, y_test: the other pairs of the table.
        p: the modulus; operation: its name in ``OPERATIONS``.
    """

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    p: int
    operation: str


def modular_arithmetic(
    p: int,
    *,
    fraction: float = 0.3,
    seed: int = 0,
    operation: str = "add",
    sequence: str = "a b =",
) -> ModularSplit:
    """The table of ``a ∘ b mod p``, split at random into ``fraction`` for training and the rest.

    Args:
        p: the modulus, ≥ 2 (Nanda et al.: 113; the paper's Figure 6d: 97); prime for "divide".
        fraction: the share of the table used for training, in (0, 1) (Nanda et al.: 0.3; the
            paper: 0.5); both sets get at least one pair.
        seed: the split's seed.
        operation: one of ``OPERATIONS``: "add", "subtract" (a − b), "multiply", "square_sum"
            (a² + b²), "divide" (a · b⁻¹ over the p(p − 1) pairs with b ≠ 0: the reference
            code's "x/y", which shows (x·y mod p, y) and asks for x, is the same table).
        sequence: ``"a b ="`` (3 tokens) or ``"a op b ="`` (4 tokens; module docstring).

    Raises:
        ValueError: p < 2, p not prime for "divide", fraction outside (0, 1) or leaving a set
            empty, an unknown operation or sequence.
    """
    p = check.integer("p", p, minimum=2, maximum=2**15)
    fraction = check.real_number("fraction", fraction)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1) (the training share), got {fraction}")
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}, got {operation!r}")
    if sequence not in SEQUENCES:
        raise ValueError(f"sequence must be one of {', '.join(map(repr, SEQUENCES))}, got "
                         f"{sequence!r}")  # fmt: skip
    if operation == "divide" and any(p % k == 0 for k in range(2, int(p**0.5) + 1)):
        raise ValueError(f"p must be prime for operation 'divide' (b⁻¹ mod p), got {p}")
    seed = check.integer("seed", seed, maximum=check.MAX_SEED)
    a, b = np.divmod(np.arange(p * p, dtype=np.int64), p)  # every pair, (p²,) each
    if operation == "divide":
        a, b = a[b != 0], b[b != 0]  # (p(p − 1),) each
    size = a.size
    n_train = round(fraction * size)
    if not 0 < n_train < size:
        raise ValueError(
            f"fraction={fraction} leaves the training or the test set empty for p={p} "
            f"({n_train} of {size} pairs)"
        )
    equals = np.full_like(a, p)
    if sequence == "a b =":
        tokens = np.stack([a, b, equals], axis=1)  # (size, 3)
    else:
        tokens = np.stack([a, np.full_like(a, p + 1), b, equals], axis=1)  # (size, 4)
    answers = OPERATIONS[operation](a, b, p).astype(np.int64)  # (size,)
    order = np.random.default_rng(seed).permutation(size)
    train, test = order[:n_train], order[n_train:]
    return ModularSplit(tokens[train], answers[train], tokens[test], answers[test], p, operation)
