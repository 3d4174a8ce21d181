"""scikit-learn's bundled 8x8 handwritten digits (1,797 samples, 10 classes): no download,
for quick unit tests. It has no official split; a fixed stratified 75/25 split is used."""
from __future__ import annotations

import numpy as np

from ..errors import DatasetError
from .raw import RawImages

TEST_FRACTION = 0.25
_SPLIT_SEED = 20220  # fixed: the split is part of the dataset's definition, not of a run


def load_digits() -> RawImages:
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as e:  # pragma: no cover - sklearn is a dependency
        raise DatasetError("the digits dataset needs scikit-learn", fix="pip install scikit-learn") from e
    d = sk_load_digits()
    images = d.images.astype(np.uint8)[..., None]  # values 0..16
    labels = d.target.astype(np.int64)
    rng = np.random.default_rng(_SPLIT_SEED)
    test_mask = np.zeros(labels.shape[0], dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n_test = int(round(TEST_FRACTION * idx.size))
        test_mask[rng.permutation(idx)[:n_test]] = True
    return RawImages(name="digits", train_images=images[~test_mask], train_labels=labels[~test_mask],
                     test_images=images[test_mask], test_labels=labels[test_mask],
                     class_names=tuple(str(i) for i in range(10)), max_value=16)
