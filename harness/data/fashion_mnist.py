"""Fashion-MNIST (60k train / 10k test, 28x28 grey, 10 classes) from Debian's
``dataset-fashion-mnist`` package (IDX files, gzip)."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .raw import RawImages

DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
ROOT_ENV = "MCUTRAIN_FASHION_MNIST"  # overrides the directory holding the four .gz files
CLASS_NAMES = ("t-shirt/top", "trouser", "pullover", "dress", "coat",
               "sandal", "shirt", "sneaker", "bag", "ankle boot")
_FILES = {"train_images": "train-images-idx3-ubyte.gz", "train_labels": "train-labels-idx1-ubyte.gz",
          "test_images": "t10k-images-idx3-ubyte.gz", "test_labels": "t10k-labels-idx1-ubyte.gz"}
_INSTALL = ("apt-get install dataset-fashion-mnist (or point the environment variable "
            f"{ROOT_ENV} at a directory holding {', '.join(_FILES.values())})")


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes with ``ndim`` dimensions."""
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DatasetError(f"Fashion-MNIST file {path} cannot be read ({e})", fix=_INSTALL) from e
    header = 4 + 4 * ndim
    magic = int.from_bytes(data[:4], "big") if len(data) >= 4 else -1
    if len(data) < header or magic != 0x0800 + ndim:
        raise DatasetError(f"Fashion-MNIST file {path} is not an IDX file of {ndim} dims "
                           f"(magic {magic:#x})", fix="reinstall: " + _INSTALL)
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=header)
    if arr.size != int(np.prod(dims)):
        raise DatasetError(f"Fashion-MNIST file {path} is truncated: {arr.size} bytes for shape {dims}",
                           fix="reinstall: " + _INSTALL)
    return arr.reshape(dims)


def fashion_mnist_root() -> Path:
    return Path(os.environ.get(ROOT_ENV, DEFAULT_ROOT))


def load_fashion_mnist(root: Path | None = None) -> RawImages:
    """Load the full Fashion-MNIST; raises DatasetError naming the package when missing."""
    root = Path(root) if root is not None else fashion_mnist_root()
    missing = [name for name in _FILES.values() if not (root / name).is_file()]
    if missing:
        raise DatasetError(f"Fashion-MNIST is not installed: {', '.join(missing)} missing in {root}",
                           fix=_INSTALL)
    tr_x = _read_idx(root / _FILES["train_images"], 3)
    tr_y = _read_idx(root / _FILES["train_labels"], 1)
    te_x = _read_idx(root / _FILES["test_images"], 3)
    te_y = _read_idx(root / _FILES["test_labels"], 1)
    if tr_x.shape[0] != tr_y.shape[0] or te_x.shape[0] != te_y.shape[0]:
        raise DatasetError(f"Fashion-MNIST in {root}: image and label counts differ",
                           fix="reinstall: " + _INSTALL)
    return RawImages(name="fashion_mnist", train_images=tr_x[..., None], train_labels=tr_y.astype(np.int64),
                     test_images=te_x[..., None], test_labels=te_y.astype(np.int64),
                     class_names=CLASS_NAMES, max_value=255)
