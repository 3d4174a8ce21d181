"""sklearn's bundled digits with a fixed split."""
import numpy as np

from harness.data.digits import load_digits


def test_digits_split_is_fixed_and_stratified():
    a, b = load_digits(), load_digits()
    assert a.train_images.shape[1:] == (8, 8, 1) and a.max_value == 16
    assert a.train_images.shape[0] + a.test_images.shape[0] == 1797
    assert a.test_images.shape[0] == 450  # 25%, per class rounded
    np.testing.assert_array_equal(a.test_labels, b.test_labels)
    assert np.all(np.bincount(a.test_labels) >= 44)
