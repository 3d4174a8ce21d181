"""Pretraining cache: key, hit, atomic files, unreadable entries."""
import dataclasses

import numpy as np
import pytest

from harness.data import load_dataset
from harness.model import cache, train, zoo


@pytest.fixture(scope="module")
def small():
    ds = load_dataset("digits", classes=(0, 1, 2), train=120, test=60, input_shape=(12, 12, 1))
    return zoo.small_cnn(ds.input_shape, 3, width=4), ds


CFG = train.TrainConfig(epochs=1, batch_size=32)


def test_miss_then_hit(tmp_path, small):
    g, ds = small
    r1, hit1 = cache.cached_train(g, ds, CFG, cache_dir=tmp_path)
    r2, hit2 = cache.cached_train(g, ds, CFG, cache_dir=tmp_path)
    assert (hit1, hit2) == (False, True)
    for k in r1.params:
        np.testing.assert_array_equal(r1.params[k], r2.params[k])
    assert r2.test_acc == r1.test_acc and r2.config == CFG
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz" and len(files[0].stem) == 64  # sha256


def test_key_depends_on_config_graph_and_data(small):
    g, ds = small
    k = cache.pretrain_key(g, ds, CFG)
    assert k == cache.pretrain_key(g, ds, CFG)
    assert k != cache.pretrain_key(g, ds, dataclasses.replace(CFG, lr=1e-2))
    assert k != cache.pretrain_key(zoo.small_cnn(ds.input_shape, 3, width=8), ds, CFG)
    other = load_dataset("digits", classes=(0, 1, 2), train=120, test=60, input_shape=(12, 12, 1), seed=1)
    assert k != cache.pretrain_key(g, other, CFG)


def test_unreadable_entry_is_retrained(tmp_path, small):
    g, ds = small
    path = tmp_path / f"{cache.pretrain_key(g, ds, CFG)}.npz"
    path.write_bytes(b"not an npz")
    _, hit = cache.cached_train(g, ds, CFG, cache_dir=tmp_path)
    assert not hit
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # replaced, no temp file left
    assert cache.cached_train(g, ds, CFG, cache_dir=tmp_path)[1]


def test_code_fingerprint_ignores_comments_and_docstrings():
    a = 'def f(x):\n    """doc"""\n    return x + 1  # one\n'
    b = 'def f(x):\n    # a comment\n    return x + 1\n'
    c = 'def f(x):\n    return x + 2\n'
    assert cache._code_fingerprint(a) == cache._code_fingerprint(b) != cache._code_fingerprint(c)
    assert len(cache.code_version()) == 64
