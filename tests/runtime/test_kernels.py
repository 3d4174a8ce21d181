"""Host-native tests of harness/firmware_src/runtime/kernels against the numpy reference.

What is exact and what is a tolerance:
- int8 forward kernels (conv2d, depthwise, pointwise, add, average pool, int8 FC) and their
  1-bit masks: bit-exact with ``harness.model.qops`` (random shapes, strides, pads, zero points,
  activation ranges, multipliers with left and right shifts; split weights k = 0, 0 < k < C_in,
  k = C_in). The float classifier's logits: bit-exact with ``qops.linear_f32``.
- tt_expf, tt_logf, softmax cross-entropy, xorshift32, both roundings, FNV-1a: bit-exact with
  ``harness.model.rtmath``.
- Updates: bit-exact with ``harness.reference`` (``weight_delta``/``bias_delta`` +
  ``apply_int8``/``apply_int32``) given the kernel's own float32 gradient, QAS on/off, nearest
  and stochastic (same xorshift32 stream, same final state).
- Float backward (bias, weight and input gradients, FC): within the recursive-summation bound
  ``|c - exact| <= (n + 3) * 2**-24 * sum|terms|`` of the float64 formulas
  (``harness.reference.conv_grad_*``), n = terms per element; and bit-exact with a float32
  numpy replay of the summation order tt_kernels.h documents.
"""
from __future__ import annotations

import ctypes as ct
import dataclasses
import shutil
import subprocess
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pytest

from harness import reference as ref
from harness.model import qmath, qops, rtmath
from harness.model.graph import Add, Conv, GlobalAvgPool, Linear
from harness.model.qmodel import QAdd, QAvgPool, QConv, QLinear, QLinearFloat, QParams

from . import tt_ctypes as tc

F32 = np.float32
U = 2.0 ** -24  # float32 unit roundoff
ptr = tc.ptr
byref = ct.byref


@pytest.fixture(scope="session")
def lib(tmp_path_factory):
    return tc.load(tc.build_library(tmp_path_factory.mktemp("tt_kernels")))


def bits32(a) -> np.ndarray:
    return np.asarray(a, dtype=F32).view(np.uint32)


def assert_within_bound(c: np.ndarray, exact: np.ndarray, l1: np.ndarray, n_terms: int) -> None:
    """The recursive-summation error bound, with 3 more roundings for the scale products."""
    bound = (n_terms + 3) * U * l1 + 1e-37
    err = np.abs(c.astype(np.float64) - exact)
    worst = np.max(err / bound) if err.size else 0.0
    assert worst <= 1.0, f"float32 error {worst:.3g} x the bound (n={n_terms})"


# --- conv cases ----------------------------------------------------------------------------

@dataclass
class ConvCase:
    kind: str  # "conv" | "dw" | "pw"
    layer: QConv
    x: np.ndarray  # int8 (H, W, C_in)
    k: int
    params: tc.ConvParams
    x_scale: float
    w_lo: Optional[np.ndarray]
    w_hi: Optional[np.ndarray]

    @property
    def op(self) -> Conv:
        return self.layer.op

    @property
    def out_shape(self) -> tuple[int, int, int]:
        ho, wo = self.op.out_hw(self.x.shape[0], self.x.shape[1])
        return ho, wo, self.op.out_ch


def split_weights(w: np.ndarray, k: int, depthwise: bool):
    lo, hi = (w[:k], w[k:]) if depthwise else (w[..., :k], w[..., k:])
    return (np.ascontiguousarray(lo) if lo.size else None,
            np.ascontiguousarray(hi) if hi.size else None)


def conv_case(seed: int, kind: str, split: str, geom: Optional[tuple[int, int, int]] = None) -> ConvCase:
    """A random layer; ``geom`` = (kernel, stride, pad) fixes the geometry."""
    rng = np.random.default_rng(seed)
    if geom is not None:
        kk, s, p = geom
    elif kind == "pw":
        kk, s, p = 1, int(rng.integers(1, 3)), 0
    elif kind == "dw":
        kk, s = int(rng.choice([3, 5, 7])), int(rng.integers(1, 3))
        p = int(rng.integers(0, kk // 2 + 1))
    else:
        kk, s = int(rng.choice([1, 2, 3, 5])), int(rng.integers(1, 4))
        p = int(rng.integers(0, kk))
    h = int(rng.integers(max(1, kk - 2 * p), kk + 7))
    w = int(rng.integers(max(1, kk - 2 * p), kk + 7))
    cin = int(rng.integers(2, 10))
    cout = cin if kind == "dw" else int(rng.integers(1, 10))
    k = {"none": 0, "all": cin, "part": int(rng.integers(1, cin))}[split]
    zx, zy = (int(v) for v in rng.integers(-128, 128, 2))
    small = seed % 3 == 0  # tiny accumulators: multipliers > 1, left shifts
    if small:
        x = np.clip(zx + rng.integers(-3, 4, (h, w, cin)), -128, 127).astype(np.int8)
    else:
        x = rng.integers(-128, 128, (h, w, cin)).astype(np.int8)
    op = Conv("c", "x", "y", cin, cout, kk, s, p, groups=cin if kind == "dw" else 1)
    wq = rng.integers(-2, 3, op.weight_shape) if small else rng.integers(-127, 128, op.weight_shape)
    wq = wq.astype(np.int8)
    w_scale = rng.uniform(0.002, 0.05, cout).astype(F32)
    zeros = np.zeros(cout, np.int32)
    layer = QConv(op, QParams(0.02, zx), QParams(0.05, zy), wq, w_scale, zeros, zeros, zeros,
                  -128, 127)
    std = max(float(qops.conv_acc(x[None], layer).std()), 1.0)
    b = np.round(rng.normal(0.0, std, cout)).astype(np.int32)
    mult, shift = qmath.quantize_multiplier_array(rng.uniform(20.0, 120.0, cout) / std)
    if rng.random() < 0.5:
        amin, amax = -128, 127
    else:
        amin, amax = max(-128, zy), min(127, zy + int(rng.integers(10, 256)))
    layer = dataclasses.replace(layer, b=b, multiplier=mult, shift=shift, act_min=amin, act_max=amax)
    params = tc.ConvParams(h, w, cin, cout, kk, s, p, k, zx, zy, amin, amax, 0, 0, 0, kk, s, p, p, p)
    lo, hi = split_weights(wq, k, kind == "dw")
    return ConvCase(kind, layer, x, k, params, float(rng.uniform(0.005, 0.05)), lo, hi)


FORWARD = {"conv": "tt_conv2d_s8", "dw": "tt_dwconv2d_s8", "pw": "tt_pwconv_s8"}
GRAD_WEIGHT = {"conv": "tt_conv2d_grad_weight_f32", "dw": "tt_dwconv2d_grad_weight_f32",
               "pw": "tt_pwconv_grad_weight_f32"}
UPDATE_WEIGHT = {"conv": "tt_conv2d_update_weight_s8", "dw": "tt_dwconv2d_update_weight_s8",
                 "pw": "tt_pwconv_update_weight_s8"}
GRAD_INPUT = {"conv": "tt_conv2d_grad_input_f32", "dw": "tt_dwconv2d_grad_input_f32",
              "pw": "tt_pwconv_grad_input_f32"}


def mask_bytes(n: int) -> int:
    return (n + 7) // 8  # TT_MASK_BYTES


def run_forward(lib, case: ConvCase, with_bias: bool = True, with_mask: bool = True):
    q, _keep = tc.per_channel(case.layer.multiplier, case.layer.shift)
    y = np.empty(case.out_shape, np.int8)
    n = y.size
    mask = np.full(mask_bytes(n), 0xA5, np.uint8) if with_mask else None
    bias = case.layer.b if with_bias else None
    getattr(lib, FORWARD[case.kind])(byref(case.params), byref(q), ptr(case.x), ptr(case.w_lo),
                                     ptr(case.w_hi), ptr(bias), ptr(y), ptr(mask))
    return y, mask


# --- requantize -----------------------------------------------------------------------------

def test_requantize_matches_qmath(lib):
    rng = np.random.default_rng(1)
    edges = np.array([0, 1, -1, 2, -2, 3, -3, 1 << 20, -(1 << 20), qmath.INT32_MAX,
                      qmath.INT32_MIN, qmath.INT32_MIN + 1], np.int32)
    for shift in range(-31, 1):
        acc = np.concatenate([edges, rng.integers(qmath.INT32_MIN, qmath.INT32_MAX, 300,
                                                  dtype=np.int64).astype(np.int32)])
        for mult in (1 << 30, (1 << 31) - 1, int(rng.integers(1 << 30, 1 << 31)), 0):
            out = np.empty_like(acc)
            lib.tt_requantize_s32(ptr(acc), acc.size, mult, shift, ptr(out))
            np.testing.assert_array_equal(out, qmath.requantize(acc, mult, shift),
                                          err_msg=f"shift {shift} multiplier {mult}")
    for shift in range(1, 12):  # left shifts: accumulators that stay inside int32
        acc = rng.integers(-(1 << (30 - shift)), 1 << (30 - shift), 300).astype(np.int32)
        mult = int(rng.integers(1 << 30, 1 << 31))
        out = np.empty_like(acc)
        lib.tt_requantize_s32(ptr(acc), acc.size, mult, shift, ptr(out))
        np.testing.assert_array_equal(out, qmath.requantize(acc, mult, shift))
    acc = np.array([qmath.INT32_MIN], np.int32)  # the one saturating product
    out = np.empty_like(acc)
    lib.tt_requantize_s32(ptr(acc), 1, qmath.INT32_MIN, 0, ptr(out))
    assert out[0] == qmath.INT32_MAX


# --- int8 forward -----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("split", ["none", "part", "all"])
@pytest.mark.parametrize("kind", ["conv", "dw", "pw"])
def test_conv_forward_bit_exact(lib, kind, split, seed):
    case = conv_case(1000 * seed + 17, kind, split)
    y_ref, m_ref = qops.conv_s8(case.x[None], case.layer)
    y, mask = run_forward(lib, case)
    np.testing.assert_array_equal(y, y_ref[0])
    n = y.size
    got = np.unpackbits(mask, bitorder="little")
    np.testing.assert_array_equal(got[:n].astype(bool), m_ref[0].reshape(-1))
    untouched = np.unpackbits(np.full(mask.size, 0xA5, np.uint8), bitorder="little")[n:]
    np.testing.assert_array_equal(got[n:], untouched)  # bits past the tensor are left alone
    y2, _ = run_forward(lib, case, with_mask=False)  # NULL mask: same outputs
    np.testing.assert_array_equal(y2, y)


#: The geometries of MobileNetV2-like models ("same" padding), each at two input sizes.
TYPICAL = [("conv", (3, 2, 1)), ("conv", (3, 1, 1)), ("dw", (3, 1, 1)), ("dw", (3, 2, 1)),
           ("dw", (5, 1, 2)), ("dw", (5, 2, 2)), ("dw", (7, 1, 3)), ("dw", (7, 2, 3)),
           ("pw", (1, 1, 0))]


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("kind,geom", TYPICAL)
def test_conv_forward_typical_geometries(lib, kind, geom, seed):
    case = conv_case(seed + 3, kind, "part", geom)
    y_ref, m_ref = qops.conv_s8(case.x[None], case.layer)
    y, mask = run_forward(lib, case)
    np.testing.assert_array_equal(y, y_ref[0])
    np.testing.assert_array_equal(np.unpackbits(mask, bitorder="little")[:y.size].astype(bool),
                                  m_ref[0].reshape(-1))


@pytest.mark.parametrize("kind", ["conv", "dw", "pw"])
def test_conv_forward_null_bias_is_zero_bias(lib, kind):
    case = conv_case(5, kind, "part")
    layer = dataclasses.replace(case.layer, b=np.zeros_like(case.layer.b))
    y_ref, _ = qops.conv_s8(case.x[None], layer)
    y, _ = run_forward(lib, case, with_bias=False)
    np.testing.assert_array_equal(y, y_ref[0])


#: Row strips of typical layers: (kind, (kernel, stride, pad), strips).
STRIPS = [("conv", (3, 2, 1), 3), ("dw", (3, 1, 1), 4), ("dw", (3, 2, 1), 2), ("dw", (5, 1, 2), 3),
          ("dw", (5, 2, 2), 2), ("dw", (7, 1, 3), 4), ("dw", (7, 2, 3), 3), ("pw", (1, 1, 0), 3),
          ("pw", (1, 2, 0), 2)]


@pytest.mark.parametrize("kind,geom,strips", STRIPS)
def test_conv_forward_row_strips_from_tiles(lib, kind, geom, strips):
    """x_row0 / out_row0 / out_rows: each strip of output rows computed from a tile of just the
    input rows it reads equals those rows of the whole layer (outputs and mask bits) and
    writes nothing past its rows."""
    case = conv_case(31, kind, "part", geom)
    y_ref, m_ref = qops.conv_s8(case.x[None], case.layer)
    q, _keep = tc.per_channel(case.layer.multiplier, case.layer.shift)
    h_in = case.x.shape[0]
    kk, st, pad = geom
    out_h = case.out_shape[0]
    assert out_h >= strips
    row = case.out_shape[1] * case.out_shape[2]
    for i in range(strips):
        r0, r1 = out_h * i // strips, out_h * (i + 1) // strips
        lo, hi = max(0, r0 * st - pad), min(h_in, (r1 - 1) * st - pad + kk)
        tile = np.ascontiguousarray(case.x[lo:hi])
        params = tc.ConvParams(*[getattr(case.params, f) for f, _ in tc.ConvParams._fields_])
        params.x_row0, params.out_row0, params.out_rows = lo, r0, r1 - r0
        n = (r1 - r0) * row
        y = np.full(n + 16, 0x5A, np.int8)
        mask = np.full(mask_bytes(n) + 2, 0xA5, np.uint8)
        getattr(lib, FORWARD[kind])(byref(params), byref(q), ptr(tile), ptr(case.w_lo),
                                    ptr(case.w_hi), ptr(case.layer.b), ptr(y), ptr(mask))
        np.testing.assert_array_equal(y[:n], y_ref[0, r0:r1].reshape(-1), err_msg=f"strip {i}")
        assert (y[n:] == 0x5A).all()
        got = np.unpackbits(mask, bitorder="little")
        np.testing.assert_array_equal(got[:n].astype(bool), m_ref[0, r0:r1].reshape(-1))
        untouched = np.unpackbits(np.full(mask.size, 0xA5, np.uint8), bitorder="little")[n:]
        np.testing.assert_array_equal(got[n:], untouched)


def test_forward_cases_exercise_masks_and_shifts():
    """The random cases cover both mask values, ReLU6 ranges and left shifts."""
    shifts, bits = [], []
    for kind in FORWARD:
        for seed in range(6):
            case = conv_case(1000 * seed + 17, kind, "part")
            shifts.append(case.layer.shift)
            bits.append(qops.conv_s8(case.x[None], case.layer)[1].reshape(-1))
    assert np.concatenate(shifts).max() > 0 and np.concatenate(shifts).min() < 0
    allbits = np.concatenate(bits)
    assert allbits.any() and not allbits.all()


@pytest.mark.parametrize("seed", range(4))
def test_add_bit_exact(lib, seed):
    rng = np.random.default_rng(seed)
    s_a, s_b, s_y = (float(F32(v)) for v in rng.uniform(0.005, 0.1, 3))
    za, zb, zy = (int(v) for v in rng.integers(-128, 128, 3))
    big = 2 * max(s_a, s_b)
    ma, sa = qmath.quantize_multiplier(s_a / big)
    mb, sb = qmath.quantize_multiplier(s_b / big)
    mo, so = qmath.quantize_multiplier(big / ((1 << 20) * s_y))
    layer = QAdd(Add("add", ("a", "b"), "y"), QParams(s_a, za), QParams(s_b, zb), QParams(s_y, zy),
                 ma, sa, mb, sb, mo, so)
    a = rng.integers(-128, 128, (3, 5, 7)).astype(np.int8)
    b = rng.integers(-128, 128, (3, 5, 7)).astype(np.int8)
    p = tc.AddParams(za, zb, zy, ma, sa, mb, sb, mo, so)
    y = np.empty_like(a)
    lib.tt_add_s8(byref(p), ptr(a), ptr(b), ptr(y), a.size)
    np.testing.assert_array_equal(y, qops.add_s8(a[None], b[None], layer)[0])
    lib.tt_add_s8(byref(p), ptr(a), ptr(b), ptr(a), a.size)  # in place
    np.testing.assert_array_equal(a, y)


@pytest.mark.parametrize("seed", range(4))
def test_avgpool_bit_exact(lib, seed):
    rng = np.random.default_rng(seed)
    h, w, c = (int(v) for v in rng.integers(1, 9, 3))
    s_x, s_y = (float(F32(v)) for v in rng.uniform(0.005, 0.1, 2))
    zx, zy = (int(v) for v in rng.integers(-128, 128, 2))
    mult, shift = qmath.quantize_multiplier(s_x / (s_y * h * w))
    layer = QAvgPool(GlobalAvgPool("gap", "x", "y"), QParams(s_x, zx), QParams(s_y, zy), mult, shift)
    x = rng.integers(-128, 128, (h, w, c)).astype(np.int8)
    p = tc.AvgPoolParams(h, w, c, zx, zy, mult, shift)
    y = np.empty(c, np.int8)
    lib.tt_avgpool_s8(byref(p), ptr(x), ptr(y))
    np.testing.assert_array_equal(y, qops.avgpool_s8(x[None], layer)[0])


@pytest.mark.parametrize("seed", range(4))
def test_fc_s8_bit_exact(lib, seed):
    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(1, 40)), int(rng.integers(1, 12))
    zx, zy = (int(v) for v in rng.integers(-128, 128, 2))
    x = rng.integers(-128, 128, n_in).astype(np.int8)
    w = rng.integers(-127, 128, (n_out, n_in)).astype(np.int8)
    b = rng.integers(-20000, 20000, n_out).astype(np.int32)
    mult, shift = qmath.quantize_multiplier_array(rng.uniform(20, 80, n_out) / (74 * 74 * np.sqrt(n_in)))
    ws = np.ones(n_out, F32)
    layer = QLinear(Linear("fc", "x", "y", n_in, n_out), QParams(0.02, zx), QParams(0.1, zy), w, ws,
                    b, mult, shift)
    y_ref, m_ref = qops.linear_s8(x[None], layer)
    q, _keep = tc.per_channel(mult, shift)
    p = tc.FcParams(n_in, n_out, zx, zy, -128, 127)
    y = np.empty(n_out, np.int8)
    mask = np.zeros(mask_bytes(n_out), np.uint8)
    lib.tt_fc_s8(byref(p), byref(q), ptr(x), ptr(w), ptr(b), ptr(y), ptr(mask))
    np.testing.assert_array_equal(y, y_ref[0])
    np.testing.assert_array_equal(np.unpackbits(mask, bitorder="little")[:n_out].astype(bool), m_ref[0])


@pytest.mark.parametrize("seed", range(4))
def test_fc_f32_bit_exact(lib, seed):
    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(1, 120)), int(rng.integers(1, 12))
    s_x, zx = float(F32(rng.uniform(0.005, 0.1))), int(rng.integers(-128, 128))
    x = rng.integers(-128, 128, n_in).astype(np.int8)
    w = rng.normal(0, 0.3, (n_out, n_in)).astype(F32)
    b = rng.normal(0, 0.3, n_out).astype(F32)
    layer = QLinearFloat(Linear("fc", "x", "y", n_in, n_out), QParams(s_x, zx), w, b)
    p = tc.FcF32Params(n_in, n_out, zx, s_x)
    y = np.empty(n_out, F32)
    lib.tt_fc_f32(byref(p), ptr(x), ptr(w), ptr(b), ptr(y))
    np.testing.assert_array_equal(bits32(y), bits32(qops.linear_f32(x[None], layer)[0]))


def test_dequantize_and_copy_channels(lib):
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (5, 4, 7)).astype(np.int8)
    y = np.empty(x.size, F32)
    lib.tt_dequantize_s8_f32(ptr(x), x.size, F32(0.037), -11, ptr(y))
    np.testing.assert_array_equal(bits32(y), bits32(qmath.dequantize_tensor(x, QParams(float(F32(0.037)), -11)).reshape(-1)))
    for k in (0, 1, 3, 7):
        s = np.full((5, 4, k), 99, np.int8)
        lib.tt_copy_channels_s8(ptr(x), 20, 7, k, ptr(s))
        np.testing.assert_array_equal(s, x[..., :k])
        inplace = x.copy()
        lib.tt_copy_channels_s8(ptr(inplace), 20, 7, k, ptr(inplace))
        np.testing.assert_array_equal(inplace.reshape(-1)[:20 * k], x[..., :k].reshape(-1))


# --- loss math, rng, rounding, checksum -------------------------------------------------------

def test_expf_bit_exact_with_rtmath(lib):
    rng = np.random.default_rng(4)
    x = np.concatenate([np.linspace(-100, 100, 4001), rng.uniform(-90, 90, 6000),
                        rng.uniform(-1, 1, 2000), rng.normal(0, 1e-4, 500),
                        [-87.0, -87.00001, -86.99999, 88.0, 88.5, 1e4, -1e4, 0.0, -0.0,
                         1e-30, 0.5, -0.5, 0.34657359]]).astype(F32)
    c = np.array([lib.tt_expf(float(v)) for v in x], F32)
    np.testing.assert_array_equal(bits32(c), bits32(rtmath.tt_expf(x)))
    inside = (x >= -87) & (x <= 88)
    rel = np.abs(c[inside] / np.exp(x[inside].astype(np.float64)) - 1.0)
    assert rel.max() < 3e-7  # about 2.5 ulp: the formula itself is sound


def test_logf_bit_exact_with_rtmath(lib):
    rng = np.random.default_rng(5)
    z = np.concatenate([np.exp(rng.uniform(0, 60, 6000)), rng.uniform(1, 2, 3000),
                        rng.uniform(1, 1.0001, 500), 2.0 ** np.arange(0, 100),
                        [1.0, np.nextafter(F32(1), F32(2)), np.nextafter(F32(2), F32(1)), 3.4e38]]).astype(F32)
    c = np.array([lib.tt_logf(float(v)) for v in z], F32)
    np.testing.assert_array_equal(bits32(c), bits32(rtmath.tt_logf(z)))
    # The spec's series stops at t^9 (t <= 1/3): about 1.2e-6 absolute near f = 2.
    err = np.abs(c - np.log(z.astype(np.float64)))
    assert np.all(err <= 1.5e-6 * np.maximum(1.0, np.log(z.astype(np.float64))))


@pytest.mark.parametrize("n", [1, 2, 10, 100])
def test_softmax_xent_bit_exact(lib, n):
    rng = np.random.default_rng(n)
    for trial in range(5):
        logits = (rng.normal(0, 3 * (trial + 1), n)).astype(F32)
        label = int(rng.integers(0, n))
        loss_ref, d_ref = rtmath.softmax_xent(logits, label)
        d = np.empty(n, F32)
        loss = lib.tt_softmax_xent_f32(ptr(logits), n, label, ptr(d))
        assert bits32(loss) == bits32(loss_ref)
        np.testing.assert_array_equal(bits32(d), bits32(d_ref))
        inplace = logits.copy()  # dlogits may alias logits
        assert bits32(lib.tt_softmax_xent_f32(ptr(inplace), n, label, ptr(inplace))) == bits32(loss_ref)
        np.testing.assert_array_equal(bits32(inplace), bits32(d_ref))


def test_xorshift32_stream(lib):
    r = tc.Rng(0)
    lib.tt_rng_seed(byref(r), 0)
    assert r.state == rtmath.DEFAULT_SEED
    ref_rng = rtmath.Xorshift32(rtmath.DEFAULT_SEED)
    got = np.array([lib.tt_xorshift32(byref(r)) for _ in range(2000)], np.uint32)
    np.testing.assert_array_equal(got, ref_rng.draw(2000))
    assert r.state == ref_rng.state


def test_rounding_bit_exact(lib):
    rng = np.random.default_rng(6)
    v = np.concatenate([rng.uniform(-300, 300, 3000), np.arange(-20, 20) + 0.5,
                        np.arange(-20, 20) - 0.5, rng.uniform(-1, 1, 500),
                        [0.49999997, -0.49999997, 8388607.5, -8388607.5, 8388608.0, 1e9, -1e9,
                         2.5e10, -3e38]]).astype(F32)
    near = np.array([lib.tt_round_nearest_f32(float(t)) for t in v], F32)
    np.testing.assert_array_equal(near, rtmath.round_nearest(v))
    np.testing.assert_array_equal(np.array([lib.tt_floorf(float(t)) for t in v], F32), np.floor(v))
    np.testing.assert_array_equal(np.array([lib.tt_truncf(float(t)) for t in v], F32), np.trunc(v))
    r = tc.Rng(12345)
    sto = np.array([lib.tt_round_stochastic_f32(float(t), byref(r)) for t in v], F32)
    np.testing.assert_array_equal(sto, rtmath.round_stochastic(v, rtmath.Xorshift32(12345).draw(v.size)))


def test_checksum_fnv1a(lib):
    rng = np.random.default_rng(7)
    w = rng.integers(-128, 128, 333).astype(np.int8)
    b = rng.integers(-(1 << 31), 1 << 31, 17, dtype=np.int64).astype(np.int32)
    f = rng.normal(0, 1, 29).astype(F32)
    h = lib.tt_checksum_fnv1a_s8(tc.u32(rtmath.FNV_OFFSET_BASIS).value, ptr(w), w.size)
    h = lib.tt_checksum_fnv1a_s32(h, ptr(b), b.size)
    h = lib.tt_checksum_fnv1a_f32(h, ptr(f), f.size)
    raw = w.tobytes() + b.astype("<i4").tobytes() + f.astype("<f4").tobytes()
    assert h == rtmath.fnv1a32(raw)
    buf = np.frombuffer(raw, np.uint8).copy()
    assert lib.tt_checksum_fnv1a(rtmath.FNV_OFFSET_BASIS, ptr(buf), buf.size) == h
    assert lib.tt_checksum_fnv1a(rtmath.FNV_OFFSET_BASIS, None, 0) == rtmath.FNV_OFFSET_BASIS


# --- float backward -----------------------------------------------------------------------------

def random_grad(rng, shape) -> np.ndarray:
    g = rng.normal(0, 1, shape).astype(F32)
    g[rng.random(shape) < 0.3] = 0.0  # masked positions
    return g


def test_mask_apply_accumulate_avgpool_grad(lib):
    rng = np.random.default_rng(8)
    n = 77
    g = rng.normal(0, 1, n).astype(F32)
    m = rng.random(n) < 0.5
    packed = np.packbits(m, bitorder="little")
    out = np.empty_like(g)
    lib.tt_mask_apply_f32(ptr(g), ptr(packed), n, ptr(out))
    np.testing.assert_array_equal(out, np.where(m, g, F32(0)))
    lib.tt_mask_apply_f32(ptr(g), ptr(packed), n, ptr(g))  # in place
    np.testing.assert_array_equal(g, out)
    acc = rng.normal(0, 1, n).astype(F32)
    expect = acc + out
    lib.tt_accumulate_f32(ptr(acc), ptr(out), n)
    np.testing.assert_array_equal(bits32(acc), bits32(expect))
    h, w, c = 3, 5, 6
    gy = rng.normal(0, 1, c).astype(F32)
    gx = np.empty((h, w, c), F32)
    lib.tt_avgpool_grad_input_f32(byref(tc.AvgPoolParams(h, w, c, 0, 0, 0, 0)), ptr(gy), ptr(gx))
    np.testing.assert_array_equal(bits32(gx), bits32(ref.avgpool_grad_input(gy, (h, w, c))))


def grad_weight_f32_replay(case: ConvCase, g_a: np.ndarray, x_slice: np.ndarray) -> np.ndarray:
    """The documented order in float32: sum over (oh, ow) row-major, then times x_scale."""
    p, kk, s, k = case.op.padding, case.op.kernel, case.op.stride, case.k
    xc = np.pad((x_slice.astype(np.int32) - case.params.x_zp).astype(F32), ((p, p), (p, p), (0, 0)))
    ho, wo, co = g_a.shape
    acc = np.zeros((k, kk, kk) if case.kind == "dw" else (co, kk, kk, k), F32)
    for oh in range(ho):
        for ow in range(wo):
            win = xc[oh * s:oh * s + kk, ow * s:ow * s + kk, :]  # padding: 0 adds nothing
            if case.kind == "dw":
                acc += g_a[oh, ow, :k, None, None] * win.transpose(2, 0, 1)
            else:
                acc += g_a[oh, ow, :, None, None, None] * win[None]
    out = F32(case.x_scale) * acc
    return out.reshape(co, k) if case.kind == "pw" else out


def grad_input_replay(case: ConvCase, g_a: np.ndarray, w_r: np.ndarray, dtype) -> np.ndarray:
    """Terms per input element in the documented order: kh, kw, then c (depthwise: kh, kw)."""
    h, w, cin = case.x.shape
    p, kk, s = case.op.padding, case.op.kernel, case.op.stride
    ho, wo, co = g_a.shape
    acc = np.zeros((h, w, cin), dtype)
    for kh in range(kk):
        for kw in range(kk):
            canvas = np.zeros((h + 2 * p, w + 2 * p, co), dtype)
            canvas[kh:kh + s * (ho - 1) + 1:s, kw:kw + s * (wo - 1) + 1:s] = g_a
            placed = canvas[p:p + h, p:p + w]
            if case.kind == "dw":
                acc += placed * w_r[:, kh, kw, 0]
            else:
                for c in range(co):
                    acc += placed[..., c:c + 1] * w_r[c, kh, kw]
    return acc


def conv_backward_case(kind: str, split: str, seed: int, geom=None):
    case = conv_case(seed, kind, split, geom)
    rng = np.random.default_rng(seed + 1)
    g_a = random_grad(rng, case.out_shape)
    x_slice = np.ascontiguousarray(case.x[..., :case.k])
    return case, g_a, x_slice


GEOMS = [None, None, "typical"]  # two random geometries, then one of TYPICAL


def geom_for(kind: str, which, seed: int):
    if which != "typical":
        return None
    choices = [g for k, g in TYPICAL if k == kind]
    return choices[seed % len(choices)]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("split", ["part", "all"])
@pytest.mark.parametrize("kind", ["conv", "dw", "pw"])
def test_grad_weight(lib, kind, split, seed):
    case, g_a, x_slice = conv_backward_case(kind, split, 31 * seed + 3,
                                            geom_for(kind, GEOMS[seed], seed + len(split)))
    g_w = np.empty(grad_weight_f32_replay(case, g_a, x_slice).shape, F32)
    getattr(lib, GRAD_WEIGHT[kind])(byref(case.params), ptr(x_slice), ptr(g_a),
                                    F32(case.x_scale), ptr(g_w))
    np.testing.assert_array_equal(bits32(g_w), bits32(grad_weight_f32_replay(case, g_a, x_slice)))
    x_r = np.float64(F32(case.x_scale)) * (case.x.astype(np.float64) - case.params.x_zp)
    exact = ref.conv_grad_weight(g_a.astype(np.float64), x_r, case.op, case.k)
    l1 = ref.conv_grad_weight(np.abs(g_a).astype(np.float64), np.abs(x_r), case.op, case.k)
    ho, wo, _ = case.out_shape
    assert_within_bound(g_w.reshape(exact.shape), exact, l1, ho * wo)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("split", ["none", "part", "all"])
@pytest.mark.parametrize("kind", ["conv", "dw", "pw"])
def test_grad_input(lib, kind, split, seed):
    case, g_a, _ = conv_backward_case(kind, split, 57 * seed + 5,
                                      geom_for(kind, GEOMS[seed], seed + len(split)))
    w_scale = case.layer.w_scale
    g_x = np.full(case.x.shape, np.nan, F32)
    getattr(lib, GRAD_INPUT[kind])(byref(case.params), ptr(g_a), ptr(case.w_lo), ptr(case.w_hi),
                                   ptr(w_scale), ptr(g_x))
    shape = (-1, 1, 1, 1)
    w_r32 = w_scale.reshape(shape) * case.layer.w.astype(F32)
    np.testing.assert_array_equal(bits32(g_x), bits32(grad_input_replay(case, g_a, w_r32, F32)))
    w_r = w_scale.astype(np.float64).reshape(shape) * case.layer.w.astype(np.float64)
    exact = ref.conv_grad_input(g_a.astype(np.float64), w_r, case.op, case.x.shape)
    l1 = ref.conv_grad_input(np.abs(g_a).astype(np.float64), np.abs(w_r), case.op, case.x.shape)
    n_terms = case.op.kernel ** 2 * (1 if kind == "dw" else case.op.out_ch)
    assert_within_bound(g_x, exact, l1, n_terms)


def update_params(lr: float, qas: bool, rounding: str, seed: int):
    rng = tc.Rng(seed)
    return tc.UpdateParams(F32(lr), int(qas), tc.ROUND[rounding], ct.pointer(rng)), rng


@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
@pytest.mark.parametrize("qas", [True, False])
@pytest.mark.parametrize("split", ["part", "all"])
@pytest.mark.parametrize("kind", ["conv", "dw", "pw"])
def test_update_weight_matches_reference(lib, kind, split, qas, rounding):
    """Fused gradient+update == buffered update == harness.reference, bit for bit."""
    case, g_a, x_slice = conv_backward_case(kind, split, 7 + len(kind) + len(split))
    g_w = np.empty(grad_weight_f32_replay(case, g_a, x_slice).shape, F32)
    getattr(lib, GRAD_WEIGHT[kind])(byref(case.params), ptr(x_slice), ptr(g_a),
                                    F32(case.x_scale), ptr(g_w))
    rows = case.k if kind == "dw" else case.op.out_ch
    g_rows = g_w.reshape(rows, -1)
    s_w = case.layer.w_scale
    d1 = np.abs(ref.weight_delta(g_rows, s_w[:rows], 1.0, qas))
    lr = float(F32(2.0 / np.median(d1[d1 > 0])))  # typical steps of 2, some clamp
    seed = 0x1234567

    w_fused = case.w_lo.copy()
    up, r1 = update_params(lr, qas, rounding, seed)
    getattr(lib, UPDATE_WEIGHT[kind])(byref(case.params), ptr(x_slice), ptr(g_a),
                                      F32(case.x_scale), ptr(s_w), ptr(w_fused), byref(up))
    w_buf = case.w_lo.copy()
    up2, r2 = update_params(lr, qas, rounding, seed)
    lib.tt_apply_update_weight_s8(ptr(w_buf), ptr(g_w), rows, g_rows.shape[1], ptr(s_w), byref(up2))

    xs = rtmath.Xorshift32(seed)
    lo_rows = case.w_lo.reshape(rows, -1)
    w_ref = ref.apply_int8(lo_rows, ref.weight_delta(g_rows, s_w[:rows], lr, qas), rounding, xs)
    np.testing.assert_array_equal(w_fused.reshape(rows, -1), w_ref)
    np.testing.assert_array_equal(w_buf.reshape(rows, -1), w_ref)
    assert r1.state == r2.state == xs.state  # one draw per element (none when nearest)
    assert (w_ref != lo_rows)[d1 > 0].mean() > 0.3  # the step moved most weights it reached


@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
@pytest.mark.parametrize("qas", [True, False])
def test_bias_update_matches_reference(lib, qas, rounding):
    rng = np.random.default_rng(9)
    n_pos, c_out = 23, 11
    g_a = random_grad(rng, (n_pos, c_out))
    s_x = float(F32(0.021))
    s_w = rng.uniform(0.002, 0.05, c_out).astype(F32)
    bias = rng.integers(-(1 << 20), 1 << 20, c_out).astype(np.int32)
    bias[:4] = [qmath.INT32_MAX - 3, qmath.INT32_MIN + 3, 1 << 25, -(1 << 25) - 1]
    g_b = np.empty(c_out, F32)
    lib.tt_bias_grad_f32(ptr(g_a), n_pos, c_out, ptr(g_b))
    exact = g_a.astype(np.float64).sum(axis=0)
    assert_within_bound(g_b, exact, np.abs(g_a).astype(np.float64).sum(axis=0), n_pos)
    acc = np.zeros(c_out, F32)  # the documented order: positions in order from 0.0f
    for pos in range(n_pos):
        acc = acc + g_a[pos]
    np.testing.assert_array_equal(bits32(g_b), bits32(acc))

    delta = ref.bias_delta(g_b, s_x, s_w, 1.0, qas)
    lr = float(F32(1e9 / np.abs(delta).max()))  # steps of up to 1e9: saturates some biases
    seed = 99
    b_fused = bias.copy()
    up, r1 = update_params(lr, qas, rounding, seed)
    lib.tt_bias_update_s32(ptr(b_fused), ptr(g_a), n_pos, c_out, F32(s_x), ptr(s_w), byref(up))
    b_buf = bias.copy()
    up2, r2 = update_params(lr, qas, rounding, seed)
    lib.tt_apply_update_bias_s32(ptr(b_buf), ptr(g_b), c_out, F32(s_x), ptr(s_w), byref(up2))
    xs = rtmath.Xorshift32(seed)
    b_ref = ref.apply_int32(bias, ref.bias_delta(g_b, s_x, s_w, lr, qas), rounding, xs)
    np.testing.assert_array_equal(b_fused, b_ref)
    np.testing.assert_array_equal(b_buf, b_ref)
    assert r1.state == r2.state == xs.state


@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
@pytest.mark.parametrize("qas", [True, False])
def test_update_elements_match_reference(lib, qas, rounding):
    """One element at a time, wide gradients: clamps at +-127 and int32 limits included."""
    rng = np.random.default_rng(10)
    n = 400
    w = rng.integers(-127, 128, n).astype(np.int8)
    g = (rng.normal(0, 1, n) * 10.0 ** rng.uniform(-3, 6, n)).astype(F32)
    s = rng.uniform(0.002, 0.05, n).astype(F32)
    b = rng.integers(-(1 << 31), 1 << 31, n, dtype=np.int64).astype(np.int32)
    lr = 0.05
    up, r = update_params(lr, qas, rounding, 4242)
    w_c = np.array([lib.tt_update_weight_s8(int(w[i]), float(g[i]), float(s[i]), byref(up))
                    for i in range(n)], np.int8)
    b_c = np.array([lib.tt_update_bias_s32(int(b[i]), float(g[i]) * 1e6, float(s[i] * F32(0.02)),
                                           byref(up)) for i in range(n)], np.int32)
    xs = rtmath.Xorshift32(4242)
    d = np.array([ref.weight_delta(g[i:i + 1], s[i:i + 1], lr, qas)[0] for i in range(n)], F32)
    w_ref = np.array([ref.apply_int8(w[i:i + 1], d[i:i + 1], rounding, xs)[0] for i in range(n)])
    np.testing.assert_array_equal(w_c, w_ref)
    assert (np.abs(w_ref) == 127).any() and (np.abs(w_ref) < 127).any()
    gb = (g * F32(1e6)).astype(F32)
    db = ref.bias_delta(gb, 0.02, s, lr, qas)
    b_ref = np.array([ref.apply_int32(b[i:i + 1], db[i:i + 1], rounding, xs)[0] for i in range(n)])
    np.testing.assert_array_equal(b_c, b_ref)
    assert r.state == xs.state


@pytest.mark.parametrize("with_gx", [True, False])
def test_fc_f32_backward_update(lib, with_gx):
    rng = np.random.default_rng(11)
    n_in, n_out = 37, 10
    s_x, zx, lr = float(F32(0.031)), -7, float(F32(0.05))
    x = rng.integers(-128, 128, n_in).astype(np.int8)
    w = rng.normal(0, 0.3, (n_out, n_in)).astype(F32)
    b = rng.normal(0, 0.3, n_out).astype(F32)
    g = rng.normal(0, 0.3, n_out).astype(F32)
    w1, b1 = w.copy(), b.copy()
    g_x = np.full(n_in, np.nan, F32) if with_gx else None
    lib.tt_fc_f32_backward_update(byref(tc.FcF32Params(n_in, n_out, zx, s_x)), ptr(x), ptr(w1),
                                  ptr(b1), ptr(g), F32(lr), ptr(g_x))
    x_r = F32(s_x) * (x.astype(np.int32) - zx).astype(F32)
    np.testing.assert_array_equal(bits32(b1), bits32(b - F32(lr) * g))
    w_ref = w - F32(lr) * (g[:, None] * x_r[None, :])
    np.testing.assert_array_equal(bits32(w1), bits32(w_ref))
    if with_gx:
        acc = np.zeros(n_in, F32)
        for j in range(n_out):  # sum over j in order, updated weights
            acc = acc + w_ref[j] * g[j]
        np.testing.assert_array_equal(bits32(g_x), bits32(acc))
        exact = ref.linear_grad_input(g.astype(np.float64), w_ref.astype(np.float64))
        l1 = ref.linear_grad_input(np.abs(g).astype(np.float64), np.abs(w_ref).astype(np.float64))
        assert_within_bound(g_x, exact, l1, n_out)


@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
@pytest.mark.parametrize("qas", [True, False])
def test_fc_s8_backward_update(lib, qas, rounding):
    rng = np.random.default_rng(12)
    n_in, n_out = 29, 7
    s_x, zx = float(F32(0.027)), 5
    x = rng.integers(-128, 128, n_in).astype(np.int8)
    w = rng.integers(-127, 128, (n_out, n_in)).astype(np.int8)
    b = rng.integers(-5000, 5000, n_out).astype(np.int32)
    s_w = rng.uniform(0.002, 0.05, n_out).astype(F32)
    m = rng.random(n_out) < 0.7
    mask = np.packbits(m, bitorder="little")
    g_y = rng.normal(0, 1, n_out).astype(F32)
    lr = 0.02
    g1, w1, b1 = g_y.copy(), w.copy(), b.copy()
    g_x = np.empty(n_in, F32)
    up, r = update_params(lr, qas, rounding, 77)
    lib.tt_fc_s8_backward_update(byref(tc.FcParams(n_in, n_out, zx, 0, -128, 127)), ptr(x), ptr(w1),
                                 ptr(b1), F32(s_x), ptr(s_w), ptr(mask), ptr(g1), byref(up), ptr(g_x))
    g_a = np.where(m, g_y, F32(0))
    np.testing.assert_array_equal(g1, g_a)
    xs = rtmath.Xorshift32(77)
    b_ref = ref.apply_int32(b, ref.bias_delta(g_a, s_x, s_w, lr, qas), rounding, xs)
    xc = (x.astype(np.int32) - zx).astype(F32)
    g_w = F32(s_x) * (g_a[:, None] * xc[None, :])  # one position: the sum is its only term
    w_ref = ref.apply_int8(w, ref.weight_delta(g_w, s_w, lr, qas), rounding, xs)
    np.testing.assert_array_equal(b1, b_ref)
    np.testing.assert_array_equal(w1, w_ref)
    assert r.state == xs.state
    w_r = s_w[:, None] * w_ref.astype(F32)
    acc = np.zeros(n_in, F32)
    for c in range(n_out):
        acc = acc + g_a[c] * w_r[c]
    np.testing.assert_array_equal(bits32(g_x), bits32(acc))


# --- the firmware build ---------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
def test_kernels_build_freestanding_for_cortex_m7(tmp_path):
    """Every kernel compiles for the STM32F746 (single-precision FPU) with the strict flags,
    and needs nothing outside the runtime: no libc, libm, soft-float or double helpers."""
    cmd = ["arm-none-eabi-gcc", *tc.STRICT_FLAGS, *tc.ARM_FLAGS, f"-I{tc.RUNTIME}", "-c",
           *map(str, tc.SOURCES)]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    objs = sorted(str(p) for p in tmp_path.glob("*.o"))
    assert len(objs) == len(tc.SOURCES)
    nm = subprocess.run(["arm-none-eabi-nm", "-u", *objs], capture_output=True, text=True, check=True)
    undefined = {line.split()[-1] for line in nm.stdout.splitlines() if line.strip().startswith("U")}
    outside = sorted(u for u in undefined if not u.startswith("tt_"))
    assert not outside, f"kernels call outside the runtime: {outside}"
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", *objs], capture_output=True, text=True,
                         check=True).stdout
    assert ".f64" not in dis, "double-precision instructions in the kernels"


@pytest.mark.parametrize("kind", ["conv", "dw", "pw"])
def test_mask_is_the_open_interval_at_the_bounds(lib, kind):
    """docs/arithmetic.md §7.1: an output whose pre-clamp value ``u`` lands exactly on
    ``act_min`` or ``act_max`` passes no gradient, in the reference and in C alike (the
    original code's closed interval would pass it)."""
    exact = 0
    for seed in range(12):
        case = conv_case(1000 * seed + 17, kind, "part")
        layer = case.layer
        u = qops.requantize(qops.conv_acc(case.x[None], layer), layer.multiplier, layer.shift)[0] \
            + layer.y.zero_point
        on_bound = (u == layer.act_min) | (u == layer.act_max)
        exact += int(on_bound.sum())
        _, m_ref = qops.conv_s8(case.x[None], layer)
        _, mask = run_forward(lib, case)
        got = np.unpackbits(mask, bitorder="little")[:u.size].astype(bool).reshape(u.shape)
        assert not m_ref[0][on_bound].any() and not got[on_bound].any()
        inside = (u > layer.act_min) & (u < layer.act_max)
        np.testing.assert_array_equal(got, inside)
    assert exact > 0  # the cases do put outputs exactly on a bound
