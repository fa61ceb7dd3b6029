"""The Random Hierarchy Model (Cagnetta, Petrini, Tomasini, Favero, Wyart, PRX 2024).

A label (one of n_c classes) is the root of a tree of depth L; every node's symbol is replaced by
one of m "synonymous" rules: a string of s symbols of a vocabulary of v. The leaves, s^L
symbols, are the input. Conventions (docs/section5-structure.md, checked against the public
reference generator pcsl-epfl/hierarchy-learning):

- The root level has n_c parents (the classes); every level below has v parents (each symbol of
  the vocabulary has its m rules, whether or not the level above uses it).
- Rules are unique: at each level the m·parents strings are distinct, drawn without replacement
  from the v^s strings, so that a string has at most one parent and the label is a function of
  the input. This needs m·n_c ≤ v^s and m ≤ v^(s−1).
- An input is fixed by its class and one rule choice per node: P_max = n_c·m^((s^L−1)/(s−1))
  inputs, all distinct. Index i ∈ [0, P_max) is the class i // (P_max / n_c) and, in base m, the
  choices of the nodes level by level, left to right, the root's choice the most significant
  digit. Samples are indices drawn without replacement, so a train and a test set cut from one
  draw are disjoint.
- Inputs are one-hot, channels first: (N, v, s^L), as the reference generator's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from richlazy import _validate as check

__all__ = ["HierarchySplit", "RandomHierarchy", "one_hot", "random_hierarchy"]

#: The longest input accepted (s^L symbols): beyond it inputs would not fit any model here.
MAX_INPUT_LENGTH = 4096
#: The largest P_max ``sample(..., nested=True)`` permutes whole.
MAX_NESTED = 2**27
_INT64 = 2**63 - 1


@dataclass(frozen=True)
class HierarchySplit:
    """Training and test data of one RHM instance.

    Attributes:
        x, y: training inputs (n, v, s^L) float32 one-hot (or (n, s^L) int64 symbols) and
            labels (n,) int64.
        x_test, y_test: the same for the test set, disjoint from the training set.
    """

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True, eq=False)
class RandomHierarchy:
    """One instance of the RHM: its sizes and its rules (build with :func:`random_hierarchy`).

    Attributes:
        v, n_c, m, L, s: vocabulary, classes, rules per symbol, depth, branching.
        rules: one int64 array per level, root first: ``rules[0]`` (n_c, m, s) and
            ``rules[l]`` (v, m, s) for l ≥ 1; ``rules[l][parent, k]`` is parent's k-th string.
    """

    v: int
    n_c: int
    m: int
    L: int
    s: int
    rules: tuple[np.ndarray, ...]

    @property
    def p_max(self) -> int:
        """The number of distinct inputs, n_c·m^((s^L−1)/(s−1))."""
        return _p_max(self.n_c, self.m, self.L, self.s)

    @property
    def input_length(self) -> int:
        return self.s**self.L

    def decode(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The inputs of sample indices in [0, P_max): symbols (N, s^L) int64, labels (N,)."""
        indices = _integers("indices", indices)  # (N,)
        if indices.ndim != 1 or (
            indices.size and (indices.min() < 0 or indices.max() >= self.p_max)
        ):
            raise ValueError(f"indices must be a 1-d array of integers in [0, {self.p_max})")
        per_class = self.p_max // self.n_c
        labels, rest = np.divmod(indices, per_class)  # (N,), (N,)
        nodes = (self.s**self.L - 1) // (self.s - 1)
        choices = np.empty((indices.size, nodes), dtype=np.int64)  # (N, nodes) base-m digits
        for k in range(nodes - 1, -1, -1):
            rest, choices[:, k] = np.divmod(rest, self.m)
        symbols = labels[:, None]  # (N, 1): the root
        start = 0
        for level, rules in enumerate(self.rules):
            width = self.s**level  # nodes at this level
            chosen = choices[:, start : start + width]  # (N, width)
            symbols = rules[symbols, chosen].reshape(indices.size, width * self.s)  # (N, s·width)
            start += width
        return symbols, labels

    def parse(self, symbols: np.ndarray) -> np.ndarray:
        """The label of each input (N, s^L) by applying the rules backwards; −1 where some
        string is no rule's (an input the RHM never produces)."""
        symbols = _integers("symbols", symbols)  # (N, s^L)
        if (
            symbols.ndim != 2
            or symbols.shape[1] != self.input_length
            or (symbols.size and symbols.max() >= self.v)
        ):
            raise ValueError(
                f"symbols must be (N, {self.input_length}) integers below v = {self.v} (−1 for "
                f"none), got shape {symbols.shape}"
            )
        for level in range(self.L - 1, -1, -1):
            parents = self.rules[level].shape[0]
            table = np.full(self.v**self.s, -1, dtype=np.int64)  # string code -> parent
            codes = _encode(self.rules[level], self.v)  # (parents, m)
            table[codes.ravel()] = np.repeat(np.arange(parents), self.m)
            strings = symbols.reshape(len(symbols), -1, self.s)  # (N, width, s)
            valid = (strings >= 0).all(axis=2)  # (N, width)
            parsed = table[_encode(np.where(strings >= 0, strings, 0), self.v)]  # (N, width)
            symbols = np.where(valid, parsed, -1)
        return symbols[:, 0]  # (N,)

    def sample(
        self, n_train: int, n_test: int, *, seed: int, encoding: str = "onehot",
        nested: bool = False,
    ) -> HierarchySplit:  # fmt: skip
        """``n_train + n_test`` distinct inputs drawn uniformly without replacement, the first
        ``n_train`` for training: the sets are disjoint.

        Args:
            encoding: "onehot" (float32 (N, v, s^L)) or "symbols" (int64 (N, s^L)).
            nested: draw from one seeded permutation of all P_max inputs, the training set its
                first ``n_train`` and the test set its last ``n_test``: for one seed, a smaller
                training set is part of every larger one and the test set is the same for every
                ``n_train`` (the reference code's training sets are nested too). Needs P_max ≤
                2^27 (the permutation is held in memory).

        Raises:
            ValueError: more samples than P_max, a count below 0 (n_train ≥ 1), a bad encoding,
                ``nested`` with P_max above 2^27.
        """
        n_train = check.positive_integer("n_train", n_train)
        n_test = check.integer("n_test", n_test)
        if encoding not in ("onehot", "symbols"):
            raise ValueError(f"encoding must be 'onehot' or 'symbols', got {encoding!r}")
        if n_train + n_test > self.p_max:
            raise ValueError(
                f"n_train + n_test = {n_train + n_test} exceeds the {self.p_max} distinct inputs "
                f"(P_max) of this RHM"
            )
        if nested:
            if self.p_max > MAX_NESTED:
                raise ValueError(f"nested=True permutes all P_max = {self.p_max} inputs; it "
                                 f"needs P_max ≤ {MAX_NESTED}")  # fmt: skip
            seed = check.integer("seed", seed, maximum=check.MAX_SEED)
            order = np.random.default_rng(seed).permutation(self.p_max)  # (P_max,)
            indices = np.concatenate([order[:n_train], order[self.p_max - n_test :]])
        else:
            indices = sample_indices(self.p_max, n_train + n_test, seed=seed)
        x, y = self.decode(indices)
        if encoding == "onehot":
            x = one_hot(x, self.v)
        return HierarchySplit(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def _integers(name: str, values) -> np.ndarray:
    """``values`` as int64, refusing fractions, NaN, bools and non-numbers by name."""
    array = np.asarray(values)
    if array.size and array.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers, got dtype {array.dtype}")
    return array.astype(np.int64)


def sample_indices(p_max: int, count: int, *, seed: int) -> np.ndarray:
    """``count`` distinct indices in [0, p_max), in random order (seeded)."""
    seed = check.integer("seed", seed, maximum=check.MAX_SEED)
    return np.random.default_rng(seed).choice(p_max, size=count, replace=False).astype(np.int64)


def one_hot(symbols: np.ndarray, v: int) -> np.ndarray:
    """Symbols (N, length) in [0, v) as float32 one-hot, channels first: (N, v, length).

    Raises:
        ValueError: v below 1, symbols not a 2-d integer array of values in [0, v).
    """
    v = check.positive_integer("v", v)
    symbols = np.asarray(symbols)
    if symbols.ndim != 2 or not np.issubdtype(symbols.dtype, np.integer):
        raise ValueError(f"symbols must be a 2-d integer array (N, length), got {symbols.dtype} "
                         f"of shape {symbols.shape}")  # fmt: skip
    if symbols.size and (symbols.min() < 0 or symbols.max() >= v):
        raise ValueError(f"symbols must be in [0, {v}), got values in "
                         f"[{symbols.min()}, {symbols.max()}]")  # fmt: skip
    eye = np.eye(v, dtype=np.float32)  # (v, v)
    return np.ascontiguousarray(eye[symbols].transpose(0, 2, 1))  # (N, v, length)


def random_hierarchy(v: int, n_c: int, m: int, L: int, s: int, *, seed: int) -> RandomHierarchy:
    """Draw the rules of an RHM (module docstring): unique strings at every level, seeded.

    Args:
        v: vocabulary size (≥ 2); n_c: classes (≥ 2); m: rules per symbol (≥ 1);
        L: depth (≥ 1); s: branching, symbols per rule (≥ 2).
        seed: the rules' seed.

    Raises:
        ValueError: a size out of range; rules that cannot be unique (m·n_c > v^s or
            m > v^(s−1)); P_max beyond int64; an input longer than 4096 symbols.
    """
    v = check.integer("v", v, minimum=2)
    n_c = check.integer("n_c", n_c, minimum=2)
    m = check.positive_integer("m", m)
    L = check.positive_integer("L", L)
    s = check.integer("s", s, minimum=2)
    seed = check.integer("seed", seed, maximum=check.MAX_SEED)
    if L * np.log2(s) > np.log2(MAX_INPUT_LENGTH) + 1e-9:
        raise ValueError(f"s^L = {s}^{L} exceeds the longest input accepted ({MAX_INPUT_LENGTH})")
    if s * np.log2(v) >= 62:
        raise ValueError(f"v^s = {v}^{s} strings are too many to draw rules from (int64)")
    strings = v**s
    if m * n_c > strings:
        raise ValueError(
            f"rules cannot be unique: the {n_c} classes need m·n_c = {m * n_c} distinct strings "
            f"but there are v^s = {strings}"
        )
    if m * v > strings:
        raise ValueError(
            f"rules cannot be unique: the {v} symbols need m·v = {m * v} distinct strings but "
            f"there are v^s = {strings} (need m ≤ v^(s−1) = {strings // v})"
        )
    p_max = _p_max(n_c, m, L, s)
    if p_max > _INT64:
        raise ValueError(
            f"P_max = n_c·m^((s^L−1)/(s−1)) = {float(p_max):.3g} overflows int64: choose a smaller "
            "m, L or s"
        )
    rng = np.random.default_rng(seed)
    rules = []
    for parents in [n_c] + [v] * (L - 1):
        codes = rng.choice(strings, size=parents * m, replace=False)  # distinct strings
        rules.append(_decode(codes, v, s).reshape(parents, m, s))  # (parents, m, s)
    return RandomHierarchy(v, n_c, m, L, s, tuple(rules))


def _p_max(n_c: int, m: int, L: int, s: int) -> int:
    return n_c * m ** ((s**L - 1) // (s - 1))  # Python ints: exact, no overflow


def _decode(codes: np.ndarray, v: int, s: int) -> np.ndarray:
    """String codes (K,) as s base-v digits, most significant first: (K, s)."""
    digits = np.empty((codes.size, s), dtype=np.int64)
    rest = codes.astype(np.int64)
    for j in range(s - 1, -1, -1):
        rest, digits[:, j] = np.divmod(rest, v)
    return digits


def _encode(strings: np.ndarray, v: int) -> np.ndarray:
    """Strings (..., s) of base-v digits as codes (...)."""
    codes = np.zeros(strings.shape[:-1], dtype=np.int64)
    for j in range(strings.shape[-1]):
        codes = codes * v + strings[..., j]
    return codes
