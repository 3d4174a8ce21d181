"""Class selection, subsets, fitting to the model input, domain shifts."""
import numpy as np
import pytest

from harness.data import transforms as T
from harness.errors import DatasetError


def test_select_classes_remaps_in_given_order():
    x = np.arange(10)[:, None]
    y = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    xs, ys = T.select_classes(x, y, [7, 2])
    np.testing.assert_array_equal(xs[:, 0], [2, 7])
    np.testing.assert_array_equal(ys, [1, 0])
    with pytest.raises(DatasetError):
        T.select_classes(x, y, [3, 3])
    with pytest.raises(DatasetError, match="do not occur"):
        T.select_classes(x, y, [11])


def test_subset_is_seeded_and_balanced():
    y = np.repeat(np.arange(4), 50)
    x = np.arange(200)
    a = T.take_subset(x, y, 40, np.random.default_rng(1))
    b = T.take_subset(x, y, 40, np.random.default_rng(1))
    c = T.take_subset(x, y, 40, np.random.default_rng(2))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    assert np.all(np.bincount(a[1]) == 10)
    assert len(set(a[0].tolist())) == 40
    np.testing.assert_array_equal(y[a[0]], a[1])
    with pytest.raises(DatasetError, match="only 200"):
        T.take_subset(x, y, 201, np.random.default_rng(0))


def test_fit_pads_small_growth_and_resizes_large():
    img = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    padded = T.fit_to_input(img, (32, 32, 1))
    assert padded.shape == (2, 32, 32, 1)
    np.testing.assert_array_equal(padded[:, 2:30, 2:30], img)
    assert padded[:, :2].max() == 0
    big = T.fit_to_input(img, (128, 128, 3))
    assert big.shape == (2, 128, 128, 3) and big.dtype == np.float32
    np.testing.assert_array_equal(big[..., 0], big[..., 2])
    assert 0.0 <= big.min() and big.max() <= 1.0
    # resizing a constant image keeps it constant
    const = np.full((1, 8, 8, 1), 0.25, np.float32)
    np.testing.assert_allclose(T.fit_to_input(const, (28, 28, 1)), 0.25, atol=1e-6)
    assert T.fit_to_input(np.ones((1, 4, 4, 3), np.float32), (4, 4, 1)).shape == (1, 4, 4, 1)


def test_rotation_is_counter_clockwise():
    img = np.zeros((1, 9, 9, 1), np.float32)
    img[0, 4, 7, 0] = 1.0  # right of the centre
    rot = T.rotate(img, 90.0)
    assert np.unravel_index(np.argmax(rot[0, ..., 0]), (9, 9)) == (1, 4)  # now above it


def test_shift_presets_and_determinism():
    img = np.random.default_rng(0).random((4, 16, 16, 1), dtype=np.float32) * 0.5
    assert T.DomainShift.preset("noise", 0.0).is_identity
    s = T.DomainShift.preset("sensor", 0.5, seed=3)
    assert (s.brightness, s.contrast, s.rotation_deg, s.noise_std) == pytest.approx((0.15, 0.7, 15.0, 0.075))
    a, b = s.apply(img, stream=0), s.apply(img, stream=0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, s.apply(img, stream=1))
    assert 0.0 <= a.min() and a.max() <= 1.0
    bright = T.DomainShift.preset("brightness", 1.0).apply(img)
    np.testing.assert_allclose(bright, np.clip(img + 0.3, 0, 1), atol=1e-6)
    low = T.DomainShift.preset("contrast", 1.0).apply(img)
    assert low.std() < img.std() * 0.45
    assert T.DomainShift.from_spec({"kind": "rotation", "strength": 1.0}).rotation_deg == 30.0
    assert T.DomainShift.from_spec({"noise_std": 0.1}).noise_std == 0.1
    with pytest.raises(DatasetError):
        T.DomainShift.preset("blur", 0.5)
    with pytest.raises(DatasetError):
        T.DomainShift.preset("noise", 2.0)
    with pytest.raises(DatasetError):
        T.DomainShift.from_spec({"kind": "noise"})
