"""The raw form every loader returns: samples with their train/test split, before any transform."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

SampleKind = Literal["image", "series"]


@dataclass(frozen=True)
class RawImages:
    """Samples as stored by the source, labels int64.

    ``kind`` ``image``: (N, H, W, C) integers in [0, ``max_value``] (or floats when
    ``max_value`` is None: real values, taken as they are). ``kind`` ``series``: (N, T, C)
    windows of T time steps of C channels, real values (``max_value`` None).

    Kept in the source's dtype until after class selection and subsetting, so that a
    5k-sample dataset never materializes 60k float images.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]
    max_value: float | None
    kind: SampleKind = "image"

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.train_images.shape[1:])

    def counts(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Samples per class (0..K-1) in the train and the test split."""
        k = len(self.class_names)
        return (tuple(np.bincount(self.train_labels, minlength=k).tolist()),
                tuple(np.bincount(self.test_labels, minlength=k).tolist()))
