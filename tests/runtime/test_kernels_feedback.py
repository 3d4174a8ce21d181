"""Rounding "feedback" (docs/arithmetic.md §8.1): the C runtime's int8 weight update with a
per-element int8 residual, bit-exact with ``harness.reference.apply_int8_feedback``.

- One element (tt_update_weight_feedback_s8, tt_update_bias_feedback_s32): v exactly at
  +-0.5, the weight clamp at +-127 and the int32 limits, the residual's saturation at -128 /
  127, a NaN gradient, and a wide random sweep.
- The fused gradient + update kernels (conv, depthwise, pointwise; the general-window conv and
  depthwise; the fused bias update; the int8 fully connected backward, residuals [biases][weights])
  and the buffered updates, over two or more steps so the residual written by one step is read
  by the next: parameters and residuals equal the reference's, and no draw is taken.
- The point of the mode: steps far below half a weight step add up.
"""
from __future__ import annotations

import ctypes as ct

import numpy as np
import pytest

from harness import reference as ref
from harness.model import rtmath

from . import tt_ctypes as tc
from .test_kernels import F32, GRAD_WEIGHT, UPDATE_WEIGHT, conv_backward_case
from .test_kernels_window import MODEL_IDS, MODEL_WINDOWS, WIN, WIN_SIGS, backward_case, grad_weight_replay

ptr, byref = tc.ptr, ct.byref
SEED = 0x1234567


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    lib = tc.load(tc.build_library(tmp_path_factory.mktemp("tt_kernels_fb")))
    for name, args in WIN_SIGS.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = None, args
    return lib


def feedback_params(lr: float, qas: bool, residual: np.ndarray | None):
    rng = tc.Rng(SEED)
    res = None if residual is None else residual.ctypes.data_as(ct.c_void_p)
    return tc.UpdateParams(F32(lr), int(qas), tc.ROUND["feedback"], ct.pointer(rng), res), rng


def one(lib, w: int, e: int, g: float, s: float, lr: float, qas: bool) -> tuple[int, int]:
    cell = np.array([e], np.int8)
    up, _ = feedback_params(lr, qas, None)
    w_new = lib.tt_update_weight_feedback_s8(w, cell.ctypes.data_as(ct.c_void_p), F32(g), F32(s),
                                             byref(up))
    return int(w_new), int(cell[0])


def ref_one(w: int, e: int, g: float, s: float, lr: float, qas: bool) -> tuple[int, int]:
    dw = ref.weight_delta(np.array([g], F32), np.array([s], F32), lr, qas)
    wn, en = ref.apply_int8_feedback(np.array([w], np.int8), np.array([e], np.int8), dw)
    return int(wn[0]), int(en[0])


# (w, e, dw) with lr = 1, s = 1, QAS on, so dw = g; the expected (w', e')
BOUNDARIES = [
    (0, 0, -0.5, 1, -128),      # v = +0.5 exactly: away from zero, remainder -0.5 = -128/256
    (0, 0, 0.5, -1, 127),       # v = -0.5: w' = -1, remainder +0.5 saturates at 127/256
    (1, -128, 0.0, 1, -128),    # the state (1, -128) stands for 0.5 and stays put
    (0, 64, -0.25, 1, -128),    # 0.25 + 0.25 = 0.5 exactly
    (0, 0, -0.25, 0, 64),       # a quarter step is kept, not lost
    (0, 0, -2.0 ** -10, 0, 0),  # below half a residual unit: rounds away (1/1024 step)
    (0, 0, -3 * 2.0 ** -10, 0, 1),
    (127, 100, -3.0, 127, 127),     # weight clamps at 127, residual saturates at 127/256
    (-127, -100, 3.0, -127, -128),  # and at -127 / -128/256
    (127, 0, -0.3, 127, 77),    # 127.3 within half a step of the clamp: residual 0.3 kept
    (126, 127, -0.01, 127, -126),  # 126 + 0.496 + 0.01 = 126.506 -> 127, remainder -0.494
    (5, 127, 0.0, 5, 127),      # an idle step leaves the state alone
]


@pytest.mark.parametrize("w,e,dw,w_exp,e_exp", BOUNDARIES)
def test_feedback_element_boundaries(lib, w, e, dw, w_exp, e_exp):
    assert ref_one(w, e, dw, 1.0, 1.0, True) == (w_exp, e_exp)
    assert one(lib, w, e, dw, 1.0, 1.0, True) == (w_exp, e_exp)


def test_feedback_nan_keeps_weight_and_residual(lib):
    assert one(lib, 17, -33, float("nan"), 0.01, 0.1, True) == (17, -33)
    assert ref_one(17, -33, float("nan"), 0.01, 0.1, True) == (17, -33)


@pytest.mark.parametrize("qas", [True, False])
def test_feedback_elements_match_reference(lib, qas):
    rng = np.random.default_rng(21)
    n = 600
    w = rng.integers(-127, 128, n).astype(np.int8)
    e = rng.integers(-128, 128, n).astype(np.int8)
    g = (rng.normal(0, 1, n) * 10.0 ** rng.uniform(-6, 4, n)).astype(F32)
    s = rng.uniform(0.002, 0.05, n).astype(F32)
    lr = 0.05 if qas else 500.0
    got = [one(lib, int(w[i]), int(e[i]), float(g[i]), float(s[i]), lr, qas) for i in range(n)]
    d = ref.weight_delta(g, s, lr, qas)
    w_ref, e_ref = ref.apply_int8_feedback(w, e, d)
    np.testing.assert_array_equal(np.array([x[0] for x in got], np.int8), w_ref)
    np.testing.assert_array_equal(np.array([x[1] for x in got], np.int8), e_ref)
    assert (np.abs(w_ref) == 127).any() and (w_ref == w).any() and (w_ref != w).any()
    assert (e_ref == 127).any() and (e_ref == -128).any()


def _two_steps(run, w0: np.ndarray, g_rows: np.ndarray, s_rows: np.ndarray, lr: float, qas: bool):
    """Two updates of the C kernel ``run(w, up)`` and of the reference from (w0, 0): the
    weights and residuals after each, and the generator states."""
    w_c, e_c = w0.copy(), np.zeros(w0.shape, np.int8)
    w_r, e_r = w0.reshape(g_rows.shape).copy(), np.zeros(g_rows.shape, np.int8)
    states = []
    for _ in range(2):
        up, r = feedback_params(lr, qas, e_c)
        run(w_c, up)
        states.append(r.state)
        w_r, e_r = ref.apply_int8_feedback(w_r, e_r, ref.weight_delta(g_rows, s_rows, lr, qas))
        np.testing.assert_array_equal(w_c.reshape(g_rows.shape), w_r)
        np.testing.assert_array_equal(e_c.reshape(g_rows.shape), e_r)
    assert states == [SEED, SEED]  # no draws
    return w_r, e_r


@pytest.mark.parametrize("qas", [True, False])
def test_bias_feedback_elements_match_reference(lib, qas):
    rng = np.random.default_rng(22)
    n = 600
    b = rng.integers(-(1 << 31), 1 << 31, n, dtype=np.int64).astype(np.int32)
    b[: n // 2] = rng.integers(-3000, 3000, n // 2)  # small biases: float32 holds b + e/256 exactly
    b[:4] = [2147483647, -2147483648, 0, 0]
    e = rng.integers(-128, 128, n).astype(np.int8)
    g = (rng.normal(0, 1, n) * 10.0 ** rng.uniform(-4, 7, n)).astype(F32)
    g[:4] = [-1e9, 1e9, 0.5, -0.5]  # push the int32 ends outwards: they saturate
    s = (rng.uniform(0.002, 0.05, n) * 0.02).astype(F32)
    s[2:4] = 1.0
    lr = 1.0 if qas else 1e6
    up, r = feedback_params(lr, qas, None)
    got = []
    for i in range(n):
        cell = np.array([e[i]], np.int8)
        got.append((lib.tt_update_bias_feedback_s32(int(b[i]), cell.ctypes.data_as(ct.c_void_p),
                                                    F32(g[i]), F32(s[i]), byref(up)), int(cell[0])))
    b_ref, e_ref = ref.apply_int32_feedback(b, e, _bias_delta(g, s, lr, qas))
    np.testing.assert_array_equal(np.array([x[0] for x in got], np.int32), b_ref)
    np.testing.assert_array_equal(np.array([x[1] for x in got], np.int8), e_ref)
    assert b_ref[0] == 2147483647 and b_ref[1] == -2147483648 and r.state == SEED
    assert (e_ref == 127).any() and (e_ref == -128).any() and (b_ref != b).any()


def _bias_delta(g: np.ndarray, s: np.ndarray, lr: float, qas: bool) -> np.ndarray:
    """``bias_delta`` with the whole scale ``s`` given (s_x = 1)."""
    return ref.bias_delta(g, 1.0, s, lr, qas)


@pytest.mark.parametrize("qas", [True, False])
def test_bias_update_feedback_matches_reference(lib, qas):
    """The fused bias gradient + update (8-channel blocks and the tail) and the buffered one."""
    rng = np.random.default_rng(23)
    n_pos, c_out = 23, 11
    g_a = rng.normal(0, 1, (n_pos, c_out)).astype(F32)
    s_x = float(F32(0.021))
    s_w = rng.uniform(0.002, 0.05, c_out).astype(F32)
    bias = rng.integers(-3000, 3000, c_out).astype(np.int32)
    g_b = np.empty(c_out, F32)
    lib.tt_bias_grad_f32(ptr(g_a), n_pos, c_out, ptr(g_b))
    d1 = np.abs(ref.bias_delta(g_b, s_x, s_w, 1.0, qas))
    lr = float(F32(0.3 / np.median(d1)))
    for fused in (True, False):
        b_c, e_c = bias.copy(), np.zeros(c_out, np.int8)
        b_r, e_r = bias.copy(), np.zeros(c_out, np.int8)
        for _ in range(3):
            up, r = feedback_params(lr, qas, e_c)
            if fused:
                lib.tt_bias_update_s32(ptr(b_c), ptr(g_a), n_pos, c_out, F32(s_x), ptr(s_w), byref(up))
            else:
                lib.tt_apply_update_bias_s32(ptr(b_c), ptr(g_b), c_out, F32(s_x), ptr(s_w), byref(up))
            b_r, e_r = ref.apply_int32_feedback(b_r, e_r, ref.bias_delta(g_b, s_x, s_w, lr, qas))
            np.testing.assert_array_equal(b_c, b_r)
            np.testing.assert_array_equal(e_c, e_r)
            assert r.state == SEED
        assert (b_r != bias).mean() > 0.5  # three steps of ~0.3 unit: nearest would move few


@pytest.mark.parametrize("qas", [True, False])
@pytest.mark.parametrize("split", ["part", "all"])
@pytest.mark.parametrize("kind", ["conv", "dw", "pw"])
def test_fused_update_feedback_matches_reference(lib, kind, split, qas):
    case, g_a, x_slice = conv_backward_case(kind, split, 7 + len(kind) + len(split))
    rows = case.k if kind == "dw" else case.op.out_ch
    g_w = np.empty(case.w_lo.size, F32)
    getattr(lib, GRAD_WEIGHT[kind])(byref(case.params), ptr(x_slice), ptr(g_a),
                                    F32(case.x_scale), ptr(g_w))
    g_rows = g_w.reshape(rows, -1)
    s_w = case.layer.w_scale
    d1 = np.abs(ref.weight_delta(g_rows, s_w[:rows], 1.0, qas))
    lr = float(F32(0.3 / np.median(d1[d1 > 0])))  # typical steps of 0.3: most below half a step

    def fused(w, up):
        getattr(lib, UPDATE_WEIGHT[kind])(byref(case.params), ptr(x_slice), ptr(g_a),
                                          F32(case.x_scale), ptr(s_w), ptr(w), byref(up))

    def buffered(w, up):
        lib.tt_apply_update_weight_s8(ptr(w), ptr(g_w), rows, g_rows.shape[1], ptr(s_w), byref(up))

    w_r, e_r = _two_steps(fused, case.w_lo, g_rows, s_w[:rows], lr, qas)
    _two_steps(buffered, case.w_lo, g_rows, s_w[:rows], lr, qas)
    w0 = case.w_lo.reshape(rows, -1)
    # nearest rounding would move only the elements with steps of half a weight step or more;
    # two steps of feedback also move those with steps in [0.25, 0.5)
    quarter = (d1 * lr >= 0.26) & (d1 * lr < 0.49)
    assert quarter.any() and (w_r != w0)[quarter].mean() > 0.8
    assert (e_r != 0)[d1 > 0].mean() > 0.5  # the elements a gradient reached keep a remainder


@pytest.mark.parametrize("qas", [True, False])
@pytest.mark.parametrize("kind,geom,hw", MODEL_WINDOWS[::2], ids=MODEL_IDS[::2])
def test_window_update_feedback_matches_reference(lib, kind, geom, hw, qas):
    case, g_a, x_slice = backward_case(kind, "part", 11, geom, hw)
    g_w = grad_weight_replay(case, g_a, x_slice)
    rows = case.k if kind == "dw" else case.op.out_ch
    g_rows = g_w.reshape(rows, -1)
    s_w = case.layer.w_scale
    d1 = np.abs(ref.weight_delta(g_rows, s_w[:rows], 1.0, qas))
    lr = float(F32(0.3 / np.median(d1[d1 > 0])))

    def fused(w, up):
        getattr(lib, WIN[kind] + "_update_weight_s8")(byref(case.params), ptr(x_slice), ptr(g_a),
                                                      F32(case.x_scale), ptr(s_w), ptr(w), byref(up))

    _, e_r = _two_steps(fused, case.w_lo, g_rows, s_w[:rows], lr, qas)
    assert (e_r != 0)[d1 > 0].mean() > 0.5


def test_fc_s8_backward_update_feedback(lib):
    """The int8 fully connected layer: residuals [out_n biases][out_n * in_n weights]."""
    rng = np.random.default_rng(12)
    n_in, n_out = 29, 7
    s_x, zx, lr, qas = float(F32(0.027)), 5, 0.002, True
    x = rng.integers(-128, 128, n_in).astype(np.int8)
    w = rng.integers(-127, 128, (n_out, n_in)).astype(np.int8)
    b = rng.integers(-5000, 5000, n_out).astype(np.int32)
    s_w = rng.uniform(0.002, 0.05, n_out).astype(F32)
    mask = np.packbits(np.ones(n_out, bool), bitorder="little")
    g_y = rng.normal(0, 1, n_out).astype(F32)
    w1, b1, res = w.copy(), b.copy(), np.zeros(n_out + w.size, np.int8)
    w_r, b_r = w.copy(), b.copy()
    e_r, eb_r = np.zeros(w.shape, np.int8), np.zeros(n_out, np.int8)
    xc = (x.astype(np.int32) - zx).astype(F32)
    for _ in range(3):
        up, r = feedback_params(lr, qas, res)
        lib.tt_fc_s8_backward_update(byref(tc.FcParams(n_in, n_out, zx, 0, -128, 127)), ptr(x),
                                     ptr(w1), ptr(b1), F32(s_x), ptr(s_w), ptr(mask), ptr(g_y.copy()),
                                     byref(up), None)
        assert r.state == SEED
        b_r, eb_r = ref.apply_int32_feedback(b_r, eb_r, ref.bias_delta(g_y, s_x, s_w, lr, qas))
        g_w = F32(s_x) * (g_y[:, None] * xc[None, :])
        w_r, e_r = ref.apply_int8_feedback(w_r, e_r, ref.weight_delta(g_w, s_w, lr, qas))
        np.testing.assert_array_equal(b1, b_r)
        np.testing.assert_array_equal(w1, w_r)
        np.testing.assert_array_equal(res[:n_out], eb_r)
        np.testing.assert_array_equal(res[n_out:].reshape(w.shape), e_r)
    assert (e_r != 0).mean() > 0.5 and (eb_r != 0).any()


def test_small_steps_accumulate():
    """Steps of 0.1 weight step: nearest never moves, feedback tracks the sum within the
    residual's resolution (2^-9 per step), stochastic only on average."""
    w0, e = np.zeros(64, np.int8), np.zeros(64, np.int8)
    w_fb, w_near = w0.copy(), w0.copy()
    dw = np.full(64, -0.1, F32)
    xs = rtmath.Xorshift32(SEED)
    for step in range(1, 31):
        w_fb, e = ref.apply_int8_feedback(w_fb, e, dw)
        w_near = ref.apply_int8(w_near, dw, "nearest", xs)
        total = w_fb.astype(np.float64) + e.astype(np.float64) / 256
        assert np.all(np.abs(total - 0.1 * step) <= step * 2.0 ** -9 + 1e-6)
    assert np.all(w_near == 0) and np.all(w_fb == 3)
