"""Packing images to int8 with the input QParams, labels to uint8."""
import numpy as np
import pytest

from harness.data import pack_images, pack_labels, pack_samples
from harness.errors import DatasetError
from harness.model.qmodel import QParams


def test_pixels_map_to_p_minus_128():
    qp = QParams(float(np.float32(1 / 255)), -128)
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    x = pack_images(pixels.astype(np.float32) / np.float32(255), qp)
    np.testing.assert_array_equal(x.astype(int), pixels.astype(int) - 128)


def test_rounding_and_clamping():
    qp = QParams(0.5, 3)
    x = pack_images(np.array([0.25, -0.25, 0.74, 100.0, -100.0], np.float32).reshape(1, 1, 5, 1), qp)
    np.testing.assert_array_equal(x.ravel(), [4, 2, 4, 127, -128])  # 0.5 -> 1 and -0.5 -> -1: away


def test_pack_samples():
    qp = QParams(float(np.float32(1 / 255)), -128)
    p = pack_samples(np.zeros((3, 2, 2, 1), np.float32), np.array([0, 1, 2]), qp)
    assert len(p) == 3 and p.labels.dtype == np.uint8 and p.x.dtype == np.int8
    assert p.image_bytes() == bytes([0x80]) * 12 and p.label_bytes() == b"\x00\x01\x02"
    with pytest.raises(DatasetError):
        pack_labels(np.array([300]))
    with pytest.raises(DatasetError):
        pack_samples(np.zeros((3, 2, 2, 1), np.float32), np.array([0, 1]), qp)
