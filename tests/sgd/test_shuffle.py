"""harness/sgd/shuffle.py against the C kernels tt_uniform_below / tt_shuffle_u16 built for the
host with the kernels' strict flags (docs/arithmetic.md §10.1)."""
from __future__ import annotations

import ctypes as ct

import numpy as np
import pytest

from harness.model.rtmath import Xorshift32
from harness.sgd.shuffle import epoch_orders, shuffle_in_place, uniform_below

from ..runtime import tt_ctypes as tc

SEED = 0x9E3779B9


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    lib = tc.load(tc.build_library(tmp_path_factory.mktemp("tt_kernels")))
    lib.tt_uniform_below.restype = ct.c_uint32
    lib.tt_uniform_below.argtypes = [ct.POINTER(tc.Rng), ct.c_uint32]
    lib.tt_shuffle_u16.restype = None
    lib.tt_shuffle_u16.argtypes = [ct.c_void_p, ct.c_int32, ct.POINTER(tc.Rng)]
    return lib


@pytest.mark.parametrize("n", [1, 2, 3, 7, 300, 65535, 2**31 + 1, 2**32 - 1])
def test_uniform_below_equals_c(lib, n):
    """The same values and the same number of draws (the generator states agree after), over
    bounds where rejection is rare (small n) and frequent (n just above 2^31: half the draws)."""
    host, rng = Xorshift32(SEED), tc.Rng(SEED)
    got = [lib.tt_uniform_below(ct.byref(rng), n) for _ in range(200)]
    want = [uniform_below(host, n) for _ in range(200)]
    assert got == want and rng.state == host.state
    assert all(0 <= j < n for j in want)


def test_rejection_happens_where_it_must():
    """n = 2^31 + 1: the low word is rejected below 2^31 - 1, about half of all draws; every
    accepted j is below n, and more draws than values were used."""
    rng = Xorshift32(SEED)
    values = [uniform_below(rng, 2**31 + 1) for _ in range(1000)]
    plain = Xorshift32(SEED)
    for _ in range(1000):
        plain.next()
    assert rng.state != plain.state  # extra draws were taken
    assert max(values) <= 2**31


@pytest.mark.parametrize("n", [2, 5, 300, 1500])
def test_shuffle_equals_c_over_epochs(lib, n):
    rng = tc.Rng(SEED)
    order = np.arange(n, dtype=np.uint16)
    for want in epoch_orders(n, 3, SEED):
        lib.tt_shuffle_u16(order.ctypes.data, n, ct.byref(rng))
        assert order.tolist() == want.tolist()


def test_permutation_is_uniform_enough():
    """All 6 orders of 3 items appear about equally often (chi-square with 5 degrees of
    freedom below 20.5, p = 0.001) over 6000 shuffles of one stream."""
    rng = Xorshift32(SEED)
    counts: dict[tuple, int] = {}
    for _ in range(6000):
        a = np.arange(3)
        shuffle_in_place(a, rng)
        counts[tuple(a)] = counts.get(tuple(a), 0) + 1
    assert len(counts) == 6
    chi2 = sum((c - 1000) ** 2 / 1000 for c in counts.values())
    assert chi2 < 20.5, counts
