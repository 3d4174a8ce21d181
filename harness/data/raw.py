"""The raw form every loader returns: integer images with their official train/test split."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RawImages:
    """Images as stored by the source, (N, H, W, C) integers in [0, ``max_value``], labels int64.

    Kept as integers until after class selection and subsetting, so that a 5k-sample dataset
    never materializes 60k float images.
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...]
    max_value: int
