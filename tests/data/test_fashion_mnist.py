"""Fashion-MNIST from the Debian package."""
import numpy as np
import pytest

from harness.data import fashion_mnist
from harness.errors import DatasetError

installed = pytest.mark.skipif(not (fashion_mnist.DEFAULT_ROOT / "train-images-idx3-ubyte.gz").is_file(),
                               reason="apt-get install dataset-fashion-mnist")


@installed
def test_full_dataset():
    raw = fashion_mnist.load_fashion_mnist()
    assert raw.train_images.shape == (60_000, 28, 28, 1) and raw.test_images.shape == (10_000, 28, 28, 1)
    assert raw.train_images.dtype == np.uint8 and raw.max_value == 255
    # balanced: 6,000 / 1,000 per class
    assert np.all(np.bincount(raw.train_labels) == 6000) and np.all(np.bincount(raw.test_labels) == 1000)
    assert raw.class_names[0] == "t-shirt/top" and len(raw.class_names) == 10


def test_missing_names_the_package(tmp_path):
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist.load_fashion_mnist(tmp_path)


def test_corrupt_file_is_reported(tmp_path):
    import gzip
    for name in fashion_mnist._FILES.values():
        with gzip.open(tmp_path / name, "wb") as f:
            f.write(b"\x00\x00\x08\x01" + b"\x00" * 4)  # labels header everywhere
    with pytest.raises(DatasetError, match="not an IDX file"):
        fashion_mnist.load_fashion_mnist(tmp_path)


def test_env_var_overrides_root(tmp_path, monkeypatch):
    monkeypatch.setenv(fashion_mnist.ROOT_ENV, str(tmp_path))
    assert fashion_mnist.fashion_mnist_root() == tmp_path
    with pytest.raises(DatasetError, match=str(tmp_path)):
        fashion_mnist.load_fashion_mnist()
