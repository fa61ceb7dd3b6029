"""The image loaders: bundled digits, MNIST idx and CIFAR-10 pickle files from a local directory."""

import gzip
import pickle
import struct

import numpy as np
import pytest

from richlazy.data import cifar10, digits, mnist
from richlazy.data.images import CIFAR10_FILES, MNIST_FILES


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
