"""Packing samples for the device: images to int8 with the model's input QParams
(docs/arithmetic.md §2, rounding half away from zero), labels to uint8, HWC row-major."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DatasetError
from ..model.qmath import quantize_tensor
from ..model.qmodel import QParams


@dataclass(frozen=True)
class PackedSamples:
    """int8 images (N, H, W, C) and uint8 labels (N,), as they are laid out in the data region."""

    x: np.ndarray
    labels: np.ndarray
    input: QParams

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def image_bytes(self) -> bytes:
        """All images back to back, each HWC row-major int8."""
        return np.ascontiguousarray(self.x).tobytes()

    def label_bytes(self) -> bytes:
        return np.ascontiguousarray(self.labels).tobytes()


def pack_images(images: np.ndarray, qp: QParams) -> np.ndarray:
    """float32 images (real values) -> int8 ``clamp(round_half_away(r / s) + z, -128, 127)``."""
    if images.ndim != 4:
        raise DatasetError(f"expected images (N, H, W, C), got shape {images.shape}",
                           fix="pass a batch of HWC images")
    return quantize_tensor(images, qp)


def pack_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise DatasetError(f"labels range {labels.min()}..{labels.max()} does not fit uint8",
                           fix="remap the classes to 0..k-1 with k <= 256 (select_classes does)")
    return labels.astype(np.uint8)


def pack_samples(images: np.ndarray, labels: np.ndarray, qp: QParams) -> PackedSamples:
    if images.shape[0] != np.asarray(labels).shape[0]:
        raise DatasetError(f"{images.shape[0]} images but {np.asarray(labels).shape[0]} labels",
                           fix="pack images and labels of the same split")
    return PackedSamples(x=pack_images(images, qp), labels=pack_labels(labels), input=qp)
