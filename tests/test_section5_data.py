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
        (dict(p=7, operation="power"), r"operation must be one of add"),
        (dict(p=8, operation="divide"), r"p must be prime for operation .divide."),
        (dict(p=7, sequence="a+b="), r"sequence must be one of .a b =."),
    ):
        with pytest.raises(ValueError, match=message):
            modular_arithmetic(**bad)


def test_the_4_token_sequence_and_the_reference_operations():
    p = 11
    split = modular_arithmetic(p, fraction=0.5, seed=0, operation="subtract", sequence="a op b =")
    assert split.x.shape == (60, 4) and split.x_test.shape == (61, 4)
    both = np.concatenate([split.x, split.x_test])
    assert (both[:, 1] == p + 1).all() and (both[:, 3] == p).all()
    assert len({(a, b) for a, _, b, _ in both}) == p * p
    np.testing.assert_array_equal(split.y, (split.x[:, 0] - split.x[:, 2]) % p)
    # division: the p(p − 1) pairs with b ≠ 0, and y·b ≡ a, the reference's "x/y" table
    divide = modular_arithmetic(p, fraction=0.5, seed=0, operation="divide", sequence="a op b =")
    x = np.concatenate([divide.x, divide.x_test])
    y = np.concatenate([divide.y, divide.y_test])
    assert len(x) == p * (p - 1) and (x[:, 2] != 0).all()
    assert len({(a, b) for a, _, b, _ in x}) == p * (p - 1)
    np.testing.assert_array_equal((y * x[:, 2]) % p, x[:, 0])
    assert sorted(y[x[:, 2] == 3]) == list(range(p))  # a ↦ a/3 is a bijection
    # the 3-token sequence holds the same pairs and answers as the 4-token one
    three = modular_arithmetic(p, fraction=0.5, seed=0, operation="divide")
    np.testing.assert_array_equal(three.x[:, :2], divide.x[:, [0, 2]])
    np.testing.assert_array_equal(three.y, divide.y)


@pytest.mark.parametrize(("operation", "size"), [("add", 97 * 97), ("divide", 97 * 96)])
def test_the_papers_grokking_split_sizes(operation, size):
    split = modular_arithmetic(97, fraction=0.5, seed=0, operation=operation, sequence="a op b =")
    assert len(split.y) == int(0.5 * size)  # the reference's int(fraction · size): 4704, 4656
    assert len(split.y) + len(split.y_test) == size


def test_the_papers_rhm_instance():
    """L = 3, n_c = 8, m = 4, s = 2, v = 8: P_max = 8·4⁷; the largest training size 2^−0.5 of
    P_max leaves room for the 20,000 disjoint test points; one-hot flattens to v·s^L = 64."""
    rhm = random_hierarchy(8, 8, 4, 3, 2, seed=5)
    assert rhm.p_max == 8 * 4**7 == 131_072
    n_train = int(2**-0.5 * rhm.p_max)  # 92,681
    split = rhm.sample(n_train, 20_000, seed=5, encoding="symbols")
    codes = lambda s: s @ 8 ** np.arange(8)  # noqa: E731  # an input's code in base v
    train, test = codes(split.x), codes(split.x_test)
    assert np.unique(train).size == n_train and np.unique(test).size == 20_000
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(rhm.parse(split.x_test), split.y_test)
    small = rhm.sample(int(2**-10 * rhm.p_max), 20_000, seed=5)
    assert small.x.shape == (128, 8, 8) and small.x.reshape(128, -1).sum(1).tolist() == [8] * 128
    # nested draws: one permutation per seed, so training sets grow by inclusion and the test
    # set is the same at every size (independent draws are not nested)
    big = rhm.sample(4096, 20_000, seed=5, encoding="symbols", nested=True)
    little = rhm.sample(128, 20_000, seed=5, encoding="symbols", nested=True)
    np.testing.assert_array_equal(little.x, big.x[:128])
    np.testing.assert_array_equal(little.x_test, big.x_test)
    assert np.intersect1d(codes(big.x), codes(big.x_test)).size == 0
    np.testing.assert_array_equal(rhm.parse(big.x), big.y)
    assert not np.array_equal(small.x.argmax(1), split.x[:128])
    with pytest.raises(ValueError, match=r"nested=True permutes all P_max"):
        random_hierarchy(32, 32, 8, 4, 2, seed=0).sample(10, 10, seed=0, nested=True)


def test_decode_and_parse_refuse_fractions_and_symbols_beyond_v_by_name():
    rhm = random_hierarchy(4, 4, 2, 2, 2, seed=0)
    symbols, labels = rhm.decode(np.arange(rhm.p_max))
    np.testing.assert_array_equal(rhm.parse(symbols), labels)
    for bad in (np.array([1.5]), np.array([np.nan]), np.array([True])):
        with pytest.raises(ValueError, match=r"indices must be integers, got dtype"):
            rhm.decode(bad)
    with pytest.raises(ValueError, match=r"symbols must be integers, got dtype float64"):
        rhm.parse(symbols + 0.5)
    with pytest.raises(ValueError, match=r"symbols must be \(N, 4\) integers below v = 4"):
        rhm.parse(np.full((1, 4), 9))
    assert rhm.parse(np.full((1, 4), -1)).tolist() == [-1]  # "none" stays allowed
