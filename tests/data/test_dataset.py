"""load_dataset: the registry entry point."""
import numpy as np
import pytest

from harness.data import DomainShift, load_dataset
from harness.errors import DatasetError


def test_digits_dataset_end_to_end():
    ds = load_dataset("digits", classes=(3, 5, 8), train=60, test=30, seed=4, input_shape=(28, 28, 1))
    assert ds.train_x.shape == (60, 28, 28, 1) and ds.test_x.shape == (30, 28, 28, 1)
    assert ds.train_x.dtype == np.float32 and 0.0 <= ds.train_x.min() and ds.train_x.max() <= 1.0
    assert set(ds.train_y.tolist()) == {0, 1, 2} and ds.class_names == ("3", "5", "8")
    assert ds.num_classes == 3 and ds.input_shape == (28, 28, 1)
    assert not ds.train_x.flags.writeable  # the value is immutable
    again = load_dataset("digits", classes=(3, 5, 8), train=60, test=30, seed=4, input_shape=(28, 28, 1))
    assert ds.digest() == again.digest()
    assert ds.digest() != load_dataset("digits", classes=(3, 5, 8), train=60, test=30, seed=5,
                                       input_shape=(28, 28, 1)).digest()


def test_shift_applies_to_both_splits():
    base = load_dataset("digits", classes=(0, 1), train=20, test=20)
    shifted = load_dataset("digits", classes=(0, 1), train=20, test=20, shift={"kind": "brightness", "strength": 1.0})
    assert shifted.spec.shift == DomainShift.preset("brightness", 1.0)
    for a, b in ((base.train_x, shifted.train_x), (base.test_x, shifted.test_x)):
        np.testing.assert_allclose(b, np.clip(a + 0.3, 0, 1), atol=1e-6)
    assert shifted.spec.to_dict()["shift"]["brightness"] == pytest.approx(0.3)


def test_fashion_mnist_classes_0_to_4():
    pytest.importorskip("gzip")
    try:
        ds = load_dataset("fashion_mnist", classes=range(5), train=500, test=100, input_shape=(32, 32, 1))
    except DatasetError as e:  # pragma: no cover - bootstrap installs the package
        pytest.skip(str(e))
    assert ds.train_x.shape == (500, 32, 32, 1)
    assert np.all(np.bincount(ds.train_y) == 100)
    assert ds.class_names[4] == "coat"


def test_errors_name_the_fix():
    with pytest.raises(DatasetError, match="use one of"):
        load_dataset("cifar10")
    with pytest.raises(DatasetError, match="no classes"):
        load_dataset("digits", classes=(10,))
    with pytest.raises(DatasetError, match=r"\(H, W, C\)"):
        load_dataset("digits", input_shape=(8, 8))
