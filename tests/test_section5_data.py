"""The Section 5 data: the Random Hierarchy Model's invariants by enumeration on small cases,
and the modular-arithmetic split (docs/section5-structure.md)."""

import itertools

import numpy as np
import pytest

from richlazy.data import modular_arithmetic, random_hierarchy

SMALL = [  # (v, n_c, m, L, s): every input of v^(s^L) can be enumerated
    (4, 2, 2, 2, 2),
    (3, 3, 3, 2, 2),
    (3, 2, 2, 1, 3),
    (2, 2, 2, 2, 2),
]


@pytest.mark.parametrize(("v", "n_c", "m", "L", "s"), SMALL)
def test_the_rhm_by_enumeration(v, n_c, m, L, s):
    rhm = random_hierarchy(v, n_c, m, L, s, seed=3)
    # rule uniqueness: at each level the m·parents strings are distinct
    for level, rules in enumerate(rhm.rules):
        assert rules.shape == (n_c if level == 0 else v, m, s)
        assert len({tuple(r) for r in rules.reshape(-1, s)}) == rules.shape[0] * m
        assert rules.min() >= 0 and rules.max() < v
    # P_max: the number of sequences of v^(s^L) that parse equals the formula
    every = np.array(list(itertools.product(range(v), repeat=s**L)))
    labels = rhm.parse(every)
    assert (labels >= 0).sum() == rhm.p_max == n_c * m ** ((s**L - 1) // (s - 1))
    # decoding every index gives each of those inputs once, with its label, classes balanced
    x, y = rhm.decode(np.arange(rhm.p_max))
    assert len({tuple(row) for row in x}) == rhm.p_max
    assert {tuple(row) for row in x} == {tuple(row) for row in every[labels >= 0]}
    np.testing.assert_array_equal(rhm.parse(x), y)
    np.testing.assert_array_equal(np.bincount(y, minlength=n_c), rhm.p_max // n_c)


def test_rhm_samples_are_disjoint_seeded_one_hot():
    rhm = random_hierarchy(4, 2, 2, 2, 2, seed=0)
    split = rhm.sample(10, 6, seed=1)
    assert split.x.shape == (10, 4, 4) and split.x_test.shape == (6, 4, 4)
    assert split.x.dtype == np.float32 and (split.x.sum(axis=1) == 1).all()
    train = {tuple(a.argmax(0)) for a in split.x}
    test = {tuple(a.argmax(0)) for a in split.x_test}
    assert len(train) == 10 and len(test) == 6 and not train & test
    again = rhm.sample(10, 6, seed=1)
    np.testing.assert_array_equal(split.x, again.x)
    assert not np.array_equal(split.x, rhm.sample(10, 6, seed=2).x)
    symbols = rhm.sample(10, 6, seed=1, encoding="symbols")
    np.testing.assert_array_equal(symbols.x, split.x.argmax(1))
    np.testing.assert_array_equal(rhm.parse(symbols.x), symbols.y)
    # the same seed gives the same rules; another seed other rules
    assert all(
        np.array_equal(a, b)
        for a, b in zip(rhm.rules, random_hierarchy(4, 2, 2, 2, 2, seed=0).rules, strict=True)
    )
    assert not all(
        np.array_equal(a, b)
        for a, b in zip(rhm.rules, random_hierarchy(4, 2, 2, 2, 2, seed=1).rules, strict=True)
    )
    with pytest.raises(ValueError, match=r"exceeds the 16 distinct inputs"):
        rhm.sample(10, 7, seed=0)


def test_a_large_rhm_decodes_what_it_parses():
    rhm = random_hierarchy(32, 32, 8, 4, 2, seed=0)  # P_max = 32·8^15 ≈ 1.1e15
    assert rhm.p_max == 32 * 8**15
    split = rhm.sample(500, 500, seed=0, encoding="symbols")
    both = np.concatenate([split.x, split.x_test])
    assert len({tuple(row) for row in both}) == 1000
    np.testing.assert_array_equal(rhm.parse(both), np.concatenate([split.y, split.y_test]))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((4, 9, 2, 2, 2), r"rules cannot be unique: the 9 classes need m·n_c = 18"),
        ((4, 2, 5, 2, 2), r"rules cannot be unique: the 4 symbols need m·v = 20"),
        ((8, 8, 8, 6, 2), r"P_max = .* overflows int64"),
        ((2, 2, 1, 13, 2), r"exceeds the longest input"),
        ((4, 2, 2, 2, 1), r"s must be an integer >= 2"),
        ((1, 2, 1, 2, 2), r"v must be an integer >= 2"),
        ((4, 1, 2, 2, 2), r"n_c must be an integer >= 2"),
    ],
)
def test_impossible_rhm_parameters_are_refused(args, message):
    with pytest.raises(ValueError, match=message):
        random_hierarchy(*args, seed=0)


def test_modular_arithmetic_splits_the_whole_table():
    split = modular_arithmetic(7, fraction=0.3, seed=0)
    assert split.x.shape == (15, 3) and split.x_test.shape == (34, 3)
    pairs = {tuple(r[:2]) for r in split.x} | {tuple(r[:2]) for r in split.x_test}
    assert len(pairs) == 49 and (split.x[:, 2] == 7).all()
    np.testing.assert_array_equal(split.y, (split.x[:, 0] + split.x[:, 1]) % 7)
    product = modular_arithmetic(7, fraction=0.3, seed=0, operation="multiply")
    np.testing.assert_array_equal(product.y_test, (product.x_test[:, 0] * product.x_test[:, 1]) % 7)
    np.testing.assert_array_equal(modular_arithmetic(7, seed=0).x, split.x)
    assert not np.array_equal(modular_arithmetic(7, seed=1).x, split.x)
    for bad, message in (
        (dict(p=1), r"p must be an integer"),
        (dict(p=7, fraction=0.0), r"fraction must be in \(0, 1\)"),
        (dict(p=7, fraction=1.0), r"fraction must be in \(0, 1\)"),
        (dict(p=7, fraction=0.001), r"leaves the training or the test set empty"),
        (dict(p=7, operation="divide"), r"operation must be one of add"),
    ):
        with pytest.raises(ValueError, match=message):
            modular_arithmetic(**bad)
