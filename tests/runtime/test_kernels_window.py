"""The general-window conv kernels (harness/firmware_src/runtime/tt_conv_window.h) on the host.

- Forward (tt_conv2d_win_s8 for conv and pointwise, tt_dwconv2d_win_s8): outputs and 1-bit
  masks bit-exact with ``harness.model.qops`` on random windows (KH != KW, strides per axis,
  padding per side, split weights) and on the windows of the imported models (10x4 at stride
  2 SAME, 4x3 / 4x1, depthwise 3x3 at stride 2 with pads (0, 1, 0, 1)); row strips from tiles
  equal the whole layer's rows.
- Backward: weight gradients, input gradients and the fused updates bit-exact with a float32
  numpy replay of the order tt_kernels.h states, within the summation bound of the float64
  ``harness.reference`` formulas (so the reference's general-window backward is checked too),
  and the updates equal to ``harness.reference``'s update of the replayed gradient.
- On regular windows every *_win kernel gives the bits of its regular kernel.
"""
from __future__ import annotations

import ctypes as ct
import dataclasses
from dataclasses import dataclass
from typing import Optional

import numpy as np
import pytest

from harness import reference as ref
from harness.model import qmath, qops, rtmath
from harness.model.graph import Conv
from harness.model.qmodel import QConv, QParams

from . import tt_ctypes as tc
from .test_kernels import (F32, assert_within_bound, bits32, mask_bytes, random_grad,
                           split_weights, update_params)

ptr, byref = tc.ptr, ct.byref
_R = ct.POINTER(tc.ConvParams)
P = ct.c_void_p
WIN_SIGS = {
    "tt_conv2d_win_s8": [_R, ct.POINTER(tc.PerChannelQuant), P, P, P, P, P, P],
    "tt_dwconv2d_win_s8": [_R, ct.POINTER(tc.PerChannelQuant), P, P, P, P, P, P],
    "tt_conv2d_win_grad_input_f32": [_R, P, P, P, P, P],
    "tt_dwconv2d_win_grad_input_f32": [_R, P, P, P, P, P],
    "tt_conv2d_win_grad_weight_f32": [_R, P, P, ct.c_float, P],
    "tt_dwconv2d_win_grad_weight_f32": [_R, P, P, ct.c_float, P],
    "tt_conv2d_win_update_weight_s8": [_R, P, P, ct.c_float, P, P, ct.POINTER(tc.UpdateParams)],
    "tt_dwconv2d_win_update_weight_s8": [_R, P, P, ct.c_float, P, P, ct.POINTER(tc.UpdateParams)],
}
WIN = {"conv": "tt_conv2d_win", "pw": "tt_conv2d_win", "dw": "tt_dwconv2d_win"}
REGULAR = {"conv": "tt_conv2d", "pw": "tt_pwconv", "dw": "tt_dwconv2d"}


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    lib = tc.load(tc.build_library(tmp_path_factory.mktemp("tt_kernels_window")))
    for name, args in WIN_SIGS.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = None, args
    return lib


@dataclass(frozen=True)
class Geometry:
    kh: int
    kw: int
    sh: int
    sw: int
    pads: tuple[int, int, int, int]  # top, bottom, left, right


@dataclass
class WinCase:
    kind: str  # conv | dw | pw
    layer: QConv
    x: np.ndarray
    k: int
    params: tc.ConvParams
    x_scale: float
    w_lo: Optional[np.ndarray]
    w_hi: Optional[np.ndarray]

    @property
    def op(self) -> Conv:
        return self.layer.op

    @property
    def win(self):
        return self.op.window

    @property
    def out_shape(self) -> tuple[int, int, int]:
        ho, wo = self.op.out_hw(self.x.shape[0], self.x.shape[1])
        return ho, wo, self.op.out_ch


def random_geometry(rng, kind: str) -> Geometry:
    if kind == "pw":
        sh, sw = rng.permutation([1, 2, 3])[:2]
        return Geometry(1, 1, int(sh), int(sw), (0, 0, 0, 0))
    kh, kw = (int(v) for v in rng.integers(1, 6, 2))
    if kh == kw:
        kw = kh % 5 + 1
    sh, sw = (int(v) for v in rng.integers(1, 4, 2))
    pads = (int(rng.integers(0, kh)), int(rng.integers(0, kh)), int(rng.integers(0, kw)),
            int(rng.integers(0, kw)))
    return Geometry(kh, kw, sh, sw, pads)


def win_case(seed: int, kind: str, split: str, geom: Optional[Geometry] = None,
             hw: Optional[tuple[int, int]] = None) -> WinCase:
    rng = np.random.default_rng(seed)
    g = geom or random_geometry(rng, kind)
    pt, pb, pl, pr = g.pads
    if hw is None:
        h = int(rng.integers(max(1, g.kh - pt - pb), g.kh + 8))
        w = int(rng.integers(max(1, g.kw - pl - pr), g.kw + 8))
    else:
        h, w = hw
    cin = int(rng.integers(2, 10))
    cout = cin if kind == "dw" else int(rng.integers(1, 10))
    k = {"none": 0, "all": cin, "part": int(rng.integers(1, cin))}[split]
    zx, zy = (int(v) for v in rng.integers(-128, 128, 2))
    small = seed % 3 == 0  # tiny accumulators: multipliers > 1, left shifts
    if small:
        x = np.clip(zx + rng.integers(-3, 4, (h, w, cin)), -128, 127).astype(np.int8)
    else:
        x = rng.integers(-128, 128, (h, w, cin)).astype(np.int8)
    op = Conv("c", "x", "y", cin, cout, g.kh, g.sh, groups=cin if kind == "dw" else 1,
              kernel_w=g.kw, stride_w=g.sw, pads=g.pads)
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
    params = tc.ConvParams(h, w, cin, cout, g.kh, g.sh, pt, k, zx, zy, amin, amax, 0, 0, 0,
                           g.kw, g.sw, pb, pl, pr)
    lo, hi = split_weights(wq, k, kind == "dw")
    return WinCase(kind, layer, x, k, params, float(rng.uniform(0.005, 0.05)), lo, hi)


#: The windows of the imported models (kind, geometry, input H x W).
MODEL_WINDOWS = [
    ("conv", Geometry(10, 4, 2, 2, (4, 5, 1, 1)), (49, 10)),   # DS-CNN's first conv, SAME
    ("conv", Geometry(4, 3, 1, 1, (1, 2, 1, 1)), (32, 3)),     # magic_wand-like, SAME
    ("conv", Geometry(4, 1, 1, 1, (1, 2, 0, 0)), (16, 1)),
    ("conv", Geometry(3, 3, 2, 2, (0, 1, 0, 1)), (12, 12)),    # a SAME stem at stride 2
    ("dw", Geometry(3, 3, 2, 2, (0, 1, 0, 1)), (12, 10)),      # TFLite SAME depthwise
    ("dw", Geometry(3, 3, 2, 2, (1, 1, 1, 1)), (11, 9)),       # odd input: SAME is symmetric
    ("dw", Geometry(5, 5, 2, 2, (1, 2, 1, 2)), (10, 10)),
    ("dw", Geometry(3, 1, 1, 1, (1, 1, 0, 0)), (9, 4)),
    ("pw", Geometry(1, 1, 2, 1, (0, 0, 0, 0)), (7, 6)),
    ("pw", Geometry(1, 1, 1, 3, (0, 0, 0, 0)), (5, 10)),
]
MODEL_IDS = [f"{k}-{g.kh}x{g.kw}-s{g.sh}{g.sw}-p{''.join(map(str, g.pads))}" for k, g, _ in MODEL_WINDOWS]


def run_forward(lib, case: WinCase, fn: Optional[str] = None, with_mask: bool = True):
    q, _keep = tc.per_channel(case.layer.multiplier, case.layer.shift)
    y = np.empty(case.out_shape, np.int8)
    mask = np.full(mask_bytes(y.size), 0xA5, np.uint8) if with_mask else None
    getattr(lib, fn or WIN[case.kind] + "_s8")(byref(case.params), byref(q), ptr(case.x),
                                               ptr(case.w_lo), ptr(case.w_hi), ptr(case.layer.b),
                                               ptr(y), ptr(mask))
    return y, mask


def check_forward(lib, case: WinCase) -> None:
    y_ref, m_ref = qops.conv_s8(case.x[None], case.layer)
    y, mask = run_forward(lib, case)
    np.testing.assert_array_equal(y, y_ref[0])
    n = y.size
    got = np.unpackbits(mask, bitorder="little")
    np.testing.assert_array_equal(got[:n].astype(bool), m_ref[0].reshape(-1))
    untouched = np.unpackbits(np.full(mask.size, 0xA5, np.uint8), bitorder="little")[n:]
    np.testing.assert_array_equal(got[n:], untouched)
    y2, _ = run_forward(lib, case, with_mask=False)
    np.testing.assert_array_equal(y2, y)


# --- forward ------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("split", ["none", "part", "all"])
@pytest.mark.parametrize("kind", ["conv", "dw", "pw"])
def test_forward_random_windows_bit_exact(lib, kind, split, seed):
    case = win_case(1000 * seed + 29, kind, split)
    assert not case.win.regular
    check_forward(lib, case)


@pytest.mark.parametrize("kind,geom,hw", MODEL_WINDOWS, ids=MODEL_IDS)
def test_forward_model_windows_bit_exact(lib, kind, geom, hw):
    for seed, split in enumerate(["none", "part", "all"]):
        check_forward(lib, win_case(seed + 40, kind, split, geom, hw))


@pytest.mark.parametrize("kind,geom,hw", MODEL_WINDOWS, ids=MODEL_IDS)
def test_forward_row_strips_from_tiles(lib, kind, geom, hw):
    """x_row0 / out_row0 / out_rows with padding per side: each strip of output rows from a
    tile of just the input rows it reads equals those rows of the whole layer."""
    case = win_case(71, kind, "part", geom, hw)
    y_ref, m_ref = qops.conv_s8(case.x[None], case.layer)
    q, _keep = tc.per_channel(case.layer.multiplier, case.layer.shift)
    h_in = case.x.shape[0]
    out_h, out_w, out_c = case.out_shape
    strips = min(3, out_h)
    for i in range(strips):
        r0, r1 = out_h * i // strips, out_h * (i + 1) // strips
        lo = max(0, r0 * geom.sh - geom.pads[0])
        hi = min(h_in, (r1 - 1) * geom.sh - geom.pads[0] + geom.kh)
        tile = np.ascontiguousarray(case.x[lo:hi])
        params = tc.ConvParams(*[getattr(case.params, f) for f, _ in tc.ConvParams._fields_])
        params.x_row0, params.out_row0, params.out_rows = lo, r0, r1 - r0
        n = (r1 - r0) * out_w * out_c
        y = np.full(n + 16, 0x5A, np.int8)
        mask = np.full(mask_bytes(n) + 2, 0xA5, np.uint8)
        getattr(lib, WIN[kind] + "_s8")(byref(params), byref(q), ptr(tile), ptr(case.w_lo),
                                        ptr(case.w_hi), ptr(case.layer.b), ptr(y), ptr(mask))
        np.testing.assert_array_equal(y[:n], y_ref[0, r0:r1].reshape(-1), err_msg=f"strip {i}")
        assert (y[n:] == 0x5A).all()
        got = np.unpackbits(mask, bitorder="little")
        np.testing.assert_array_equal(got[:n].astype(bool), m_ref[0, r0:r1].reshape(-1))


# --- backward -----------------------------------------------------------------------------

def grad_weight_replay(case: WinCase, g_a: np.ndarray, x_slice: np.ndarray) -> np.ndarray:
    """sum over (oh, ow) row-major of g_a * (x - x_zp) in float32, then times x_scale."""
    w, k = case.win, case.k
    xc = np.pad((x_slice.astype(np.int32) - case.params.x_zp).astype(F32),
                ((w.pt, w.pb), (w.pl, w.pr), (0, 0)))
    ho, wo, co = g_a.shape
    acc = np.zeros((k, w.kh, w.kw) if case.kind == "dw" else (co, w.kh, w.kw, k), F32)
    for oh in range(ho):
        for ow in range(wo):
            tap = xc[oh * w.sh:oh * w.sh + w.kh, ow * w.sw:ow * w.sw + w.kw, :]
            if case.kind == "dw":
                acc += g_a[oh, ow, :k, None, None] * tap.transpose(2, 0, 1)
            else:
                acc += g_a[oh, ow, :, None, None, None] * tap[None]
    return F32(case.x_scale) * acc


def grad_input_replay(case: WinCase, g_a: np.ndarray, w_r: np.ndarray) -> np.ndarray:
    """Per input element: terms in order kh, kw, then c (depthwise: kh, kw), float32."""
    h, wd, cin = case.x.shape
    w = case.win
    ho, wo, co = g_a.shape
    acc = np.zeros((h, wd, cin), F32)
    for kh in range(w.kh):
        for kw in range(w.kw):
            canvas = np.zeros((h + w.pt + w.pb, wd + w.pl + w.pr, co), F32)
            canvas[kh:kh + w.sh * (ho - 1) + 1:w.sh, kw:kw + w.sw * (wo - 1) + 1:w.sw] = g_a
            placed = canvas[w.pt:w.pt + h, w.pl:w.pl + wd]
            if case.kind == "dw":
                acc += placed * w_r[:, kh, kw, 0]
            else:
                for c in range(co):
                    acc += placed[..., c:c + 1] * w_r[c, kh, kw]
    return acc


def backward_case(kind: str, split: str, seed: int, geom=None, hw=None):
    case = win_case(seed, kind, split, geom, hw)
    g_a = random_grad(np.random.default_rng(seed + 1), case.out_shape)
    return case, g_a, np.ascontiguousarray(case.x[..., :case.k])


BACKWARD_CASES = [(kind, None, None, seed) for kind in ("conv", "dw", "pw") for seed in range(3)]
BACKWARD_CASES += [(kind, geom, hw, 0) for kind, geom, hw in MODEL_WINDOWS]
BACKWARD_IDS = [f"{k}-random{s}" for k, _, _, s in BACKWARD_CASES[:9]] + MODEL_IDS


@pytest.mark.parametrize("split", ["part", "all"])
@pytest.mark.parametrize("kind,geom,hw,seed", BACKWARD_CASES, ids=BACKWARD_IDS)
def test_grad_weight(lib, kind, geom, hw, seed, split):
    case, g_a, x_slice = backward_case(kind, split, 31 * seed + 3, geom, hw)
    want = grad_weight_replay(case, g_a, x_slice)
    g_w = np.full(want.shape, np.nan, F32)
    getattr(lib, WIN[kind] + "_grad_weight_f32")(byref(case.params), ptr(x_slice), ptr(g_a),
                                                 F32(case.x_scale), ptr(g_w))
    np.testing.assert_array_equal(bits32(g_w), bits32(want))
    x_r = np.float64(F32(case.x_scale)) * (case.x.astype(np.float64) - case.params.x_zp)
    exact = ref.conv_grad_weight(g_a.astype(np.float64), x_r, case.op, case.k)
    l1 = ref.conv_grad_weight(np.abs(g_a).astype(np.float64), np.abs(x_r), case.op, case.k)
    assert_within_bound(g_w.reshape(exact.shape), exact, l1, case.out_shape[0] * case.out_shape[1])


@pytest.mark.parametrize("split", ["none", "part", "all"])
@pytest.mark.parametrize("kind,geom,hw,seed", BACKWARD_CASES, ids=BACKWARD_IDS)
def test_grad_input(lib, kind, geom, hw, seed, split):
    case, g_a, _ = backward_case(kind, split, 57 * seed + 5, geom, hw)
    w_scale = case.layer.w_scale
    g_x = np.full(case.x.shape, np.nan, F32)
    getattr(lib, WIN[kind] + "_grad_input_f32")(byref(case.params), ptr(g_a), ptr(case.w_lo),
                                                ptr(case.w_hi), ptr(w_scale), ptr(g_x))
    shape = (-1, 1, 1, 1)
    w_r32 = w_scale.reshape(shape) * case.layer.w.astype(F32)
    np.testing.assert_array_equal(bits32(g_x), bits32(grad_input_replay(case, g_a, w_r32)))
    w_r = w_scale.astype(np.float64).reshape(shape) * case.layer.w.astype(np.float64)
    exact = ref.conv_grad_input(g_a.astype(np.float64), w_r, case.op, case.x.shape)
    l1 = ref.conv_grad_input(np.abs(g_a).astype(np.float64), np.abs(w_r), case.op, case.x.shape)
    n_terms = case.win.kh * case.win.kw * (1 if kind == "dw" else case.op.out_ch)
    assert_within_bound(g_x, exact, l1, n_terms)


@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
@pytest.mark.parametrize("qas", [True, False])
@pytest.mark.parametrize("kind,geom,hw", MODEL_WINDOWS[::2], ids=MODEL_IDS[::2])
def test_update_weight_matches_reference(lib, kind, geom, hw, qas, rounding):
    """Fused gradient + update == harness.reference's update of the same gradient."""
    case, g_a, x_slice = backward_case(kind, "part", 11, geom, hw)
    g_w = grad_weight_replay(case, g_a, x_slice)
    rows = case.k if kind == "dw" else case.op.out_ch
    g_rows = g_w.reshape(rows, -1)
    s_w = case.layer.w_scale
    d1 = np.abs(ref.weight_delta(g_rows, s_w[:rows], 1.0, qas))
    lr = float(F32(2.0 / np.median(d1[d1 > 0])))  # typical steps of 2, some clamp
    seed = 0x1234567
    w_fused = case.w_lo.copy()
    up, r1 = update_params(lr, qas, rounding, seed)
    getattr(lib, WIN[kind] + "_update_weight_s8")(byref(case.params), ptr(x_slice), ptr(g_a),
                                                  F32(case.x_scale), ptr(s_w), ptr(w_fused),
                                                  byref(up))
    xs = rtmath.Xorshift32(seed)
    lo_rows = case.w_lo.reshape(rows, -1)
    w_ref = ref.apply_int8(lo_rows, ref.weight_delta(g_rows, s_w[:rows], lr, qas), rounding, xs)
    np.testing.assert_array_equal(w_fused.reshape(rows, -1), w_ref)
    assert r1.state == xs.state  # one draw per element (none when nearest)
    assert (w_ref != lo_rows)[d1 > 0].mean() > 0.3


# --- regular windows: the general kernels give the regular kernels' bits ------------------

REGULAR_GEOMS = [("conv", Geometry(3, 3, 2, 2, (1,) * 4)), ("conv", Geometry(1, 1, 1, 1, (0,) * 4)),
                 ("conv", Geometry(5, 5, 1, 1, (2,) * 4)), ("dw", Geometry(3, 3, 1, 1, (1,) * 4)),
                 ("dw", Geometry(3, 3, 2, 2, (1,) * 4)), ("dw", Geometry(5, 5, 2, 2, (2,) * 4)),
                 ("dw", Geometry(7, 7, 1, 1, (3,) * 4)), ("pw", Geometry(1, 1, 1, 1, (0,) * 4)),
                 ("pw", Geometry(1, 1, 2, 2, (0,) * 4))]


@pytest.mark.parametrize("kind,geom", REGULAR_GEOMS,
                         ids=[f"{k}-{g.kh}-s{g.sh}-p{g.pads[0]}" for k, g in REGULAR_GEOMS])
def test_general_kernels_equal_regular_ones_on_regular_windows(lib, kind, geom):
    case, g_a, x_slice = backward_case(kind, "part", 5, geom, (9, 8))
    assert case.win.regular
    y1, m1 = run_forward(lib, case)
    y2, m2 = run_forward(lib, case, REGULAR[kind] + "_s8")
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(m1, m2)
    s_w = case.layer.w_scale
    outs = []
    for fam in (WIN[kind], REGULAR[kind]):
        g_x = np.full(case.x.shape, np.nan, F32)
        getattr(lib, fam + "_grad_input_f32")(byref(case.params), ptr(g_a), ptr(case.w_lo),
                                              ptr(case.w_hi), ptr(s_w), ptr(g_x))
        w = case.w_lo.copy()
        up, rng = update_params(0.05, True, "stochastic", 99)
        getattr(lib, fam + "_update_weight_s8")(byref(case.params), ptr(x_slice), ptr(g_a),
                                                F32(case.x_scale), ptr(s_w), ptr(w), byref(up))
        outs.append((bits32(g_x), w, rng.state))
    (gx1, w1, s1), (gx2, w2, s2) = outs
    np.testing.assert_array_equal(gx1, gx2)
    np.testing.assert_array_equal(w1, w2)
    assert s1 == s2
