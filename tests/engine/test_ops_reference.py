"""The reference backward of the new ops is the derivative of their forward.

The float path of harness/reference.py (float_forward / float_backward) on a float64 network
with every new op (max pool with overlapping padded windows, average pool with padding, an add
with ReLU, flatten, a hidden dense layer with ReLU6) gives the finite-difference gradient of
every weight; and the int8 path's pool gradient (``pool_grad_input``, the C kernels' order) is
the float rule on the same values, ties going to the first tap in window order.
"""
from __future__ import annotations

import numpy as np
import pytest

from harness import reference as R
from harness.model.graph import Add, Conv, Flatten, Graph, Linear, Pool
from harness.model.qmodel import QParams, QPool
from harness.sparse.scheme import SparseScheme

from ..test_reference import assert_fd


def ops_graph() -> Graph:
    return Graph("ops-ref", (9, 8, 2), (
        Conv("c0", "input", "t0", 2, 4, 3, padding=1, relu=True),          # 9x8x4
        Pool("p1", "t0", "t1", "max", 3, stride=2, pads=(0, 1, 1, 0)),     # 4x4x4
        Conv("c2", "t1", "t2", 4, 4, 3, padding=1),
        Add("a3", ("t2", "t1"), "t3", relu=True),
        Pool("p4", "t3", "t4", "avg", 2, stride=1, pads=(1, 0, 0, 1)),     # 4x4x4
        Flatten("f5", "t4", "t5"),
        Linear("d6", "t5", "t6", 64, 10, relu6=True),
        Linear("fc", "t6", "logits", 10, 3),
    ))


def test_float_network_with_the_new_ops_matches_finite_differences():
    g = ops_graph()
    rng = np.random.default_rng(7)
    params: dict[str, np.ndarray] = {}
    for op in g.ops:
        if isinstance(op, (Conv, Linear)):
            fan_in = int(np.prod(op.weight_shape[1:]))
            params[f"{op.name}.weight"] = rng.standard_normal(op.weight_shape) * (2.0 / np.sqrt(fan_in))
            params[f"{op.name}.bias"] = rng.standard_normal(op.weight_shape[0]) * 0.3
    x = rng.random((9, 8, 2))
    r = rng.standard_normal(3)
    model = R.FloatModel(g, params)
    trace = R.float_forward(model, x)
    # the activations bind somewhere and not everywhere (else their masks prove nothing)
    for name in ("c0", "a3", "d6"):
        assert 0 < trace.masks[name].mean() < 1, name
    rec: dict = {}
    R.float_backward(model, SparseScheme.full().resolve(g), trace, r, 0.0, rec)

    def loss_with(key, value):
        p = dict(params)
        p[key] = value
        return float(r @ R.float_forward(R.FloatModel(g, p), x).logits)

    for name in ("c0", "c2", "d6", "fc"):
        g_b, g_w = rec[name]
        for key, ana in ((f"{name}.bias", g_b), (f"{name}.weight", g_w)):
            assert_fd(ana, lambda v, key=key: loss_with(key, v), params[key], rng, n=12)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_int8_pool_gradient_is_the_real_rule_with_first_tap_ties(mode):
    rng = np.random.default_rng(8)
    op = Pool("p", "x", "y", mode, 3, stride=2, kernel_w=2, stride_w=1, pads=(1, 1, 0, 1))
    layer = QPool(op, QParams(0.1, 0), QParams(0.1, 0))
    x = rng.integers(-3, 3, (7, 6, 5)).astype(np.int8)  # many ties
    oh, ow = op.out_hw(7, 6)
    g = rng.standard_normal((oh, ow, 5)).astype(np.float32)
    got = R.pool_grad_input(g, x, layer)
    want = R.pool_grad_input_real(g, x.astype(np.float32), op)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    # the gradient is conserved: max routes each g once, avg splits it over the taps
    np.testing.assert_allclose(got.sum(), g.sum(), rtol=1e-5)
    if mode == "max":  # ties go to the first tap in window order: the top-left one of the first window
        win = x[0:2, 0:2, 0]  # output (0, 0): rows -1..1 (padding above), columns 0..1
        first = np.argmax(win.reshape(-1))
        one = np.zeros_like(g)
        one[0, 0, 0] = 1.0
        gx = R.pool_grad_input(one, x, layer)
        assert gx[first // 2, first % 2, 0] == 1.0 and gx.sum() == 1.0
