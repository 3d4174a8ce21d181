"""General conv windows through the training engine: non-square kernels, strides per axis and
TFLite SAME padding (pad top 0, bottom 1 at stride 2), compiled by compile_training.

A small graph with a 4x3 kernel (SAME, stride (2, 1)), a 10x4 kernel (SAME, stride 2), a 3x3
depthwise at stride 2 with pads (0, 1, 0, 1), a pointwise and a pointwise with strides (2, 1),
trained with a sparse scheme that updates weights in every one of them: the generated C built
for the host prints the parameter checksums of the numpy reference (harness.reference), and
the emulated Cortex-M7 prints the host's records bit for bit. Streaming a frozen prefix of
irregular layers (engine/patch.py) prints the same records as layer by layer.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from harness import reference as ref
from harness.boards import load_board
from harness.emulators import get_emulator
from harness.engine import patch
from harness.engine.compiler import compile_training, emit_dataset
from harness.engine.emit_c import TrainOptions
from harness.engine.support import check_supported
from harness.model.graph import Conv, GlobalAvgPool, Graph, Linear
from harness.model.qmodel import QModel
from harness.model.quantize import quantize_model
from harness.model.random_init import random_params
from harness.pipeline import FIRMWARE_SRC
from harness.sparse.scheme import SparseScheme
from harness.toolchain import build_firmware

from .test_emit import run_host

INPUT = (33, 16, 2)


def window_graph() -> Graph:
    return Graph("windows", INPUT, (
        # 4x3, SAME at stride (2, 1): 33x16 -> 17x16, pads (1, 2, 1, 1)
        Conv("c0", "input", "t0", 2, 8, 4, stride=2, kernel_w=3, stride_w=1, pads=(1, 2, 1, 1),
             relu6=True),
        # 10x4, SAME at stride 2: 17x16 -> 9x8, pads (4, 5, 1, 1)
        Conv("c1", "t0", "t1", 8, 12, 10, stride=2, kernel_w=4, pads=(4, 5, 1, 1), relu=True),
        # depthwise 3x3 at stride 2, TFLite's pads (0, 1, 0, 1): 9x8 -> 4x4
        Conv("c2", "t1", "t2", 12, 12, 3, stride=2, groups=12, pads=(0, 1, 0, 1), relu6=True),
        Conv("c3", "t2", "t3", 12, 16, 1, relu6=True),                          # pointwise
        Conv("c4", "t3", "t4", 16, 10, 1, stride=2, stride_w=1, relu6=True),    # 4x4 -> 2x4
        GlobalAvgPool("p5", "t4", "t5"),
        Linear("fc", "t5", "logits", 10, 3),
    ))


@lru_cache(maxsize=None)
def window_qmodel() -> QModel:
    g = window_graph()
    calib = np.random.default_rng(0).random((4, *g.input_shape)).astype(np.float32)
    return quantize_model(g, random_params(g, 0), calib)


#: Weights of every conv (parts and wholes, the depthwise by channel) and all biases.
SCHEME = SparseScheme(n_bias_update=5, manual_weight_idx=(0, 1, 2, 3, 4),
                      weight_update_ratio=(0.5, 0.25, 0.5, 1.0, 0.5))


def dataset(n_train: int = 12, n_test: int = 8, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (n_train + n_test, *INPUT)).astype(np.int8)
    y = rng.integers(0, 3, n_train + n_test)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def _by_type(recs):
    by: dict[str, list] = {}
    for rec in recs:
        by.setdefault(rec["t"], []).append(rec)
    return by


def test_window_graph_is_irregular_and_supported():
    q = window_qmodel()
    kinds = [(op.kind, op.window.regular) for op in q.graph.convs()]
    assert kinds == [("conv", False), ("conv", False), ("depthwise", False), ("pointwise", True),
                     ("pointwise", False)]
    check_supported(q)  # no refusal left for windows


@lru_cache(maxsize=None)
def _compiled(rounding: str):
    q = window_qmodel()
    scheme = SCHEME.resolve(q.graph)
    return compile_training(q, scheme, TrainOptions(lr=0.02, rounding=rounding))


@lru_cache(maxsize=None)
def _host(rounding: str):
    xt, yt, xe, ye = dataset()
    files = {**_compiled(rounding).files(), **emit_dataset(xt, yt, xe, ye, epochs=2)}
    return files, run_host(files, f"windows-{rounding}")


@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_host_build_equals_reference(rounding):
    q = window_qmodel()
    scheme = SCHEME.resolve(q.graph)
    c = _compiled(rounding)
    src = c.emitted.source
    for kernel in ("tt_conv2d_win_s8", "tt_dwconv2d_win_s8", "tt_conv2d_win_update_weight_s8",
                   "tt_dwconv2d_win_update_weight_s8", "tt_conv2d_win_grad_input_f32",
                   "tt_dwconv2d_win_grad_input_f32", "tt_pwconv_s8("):
        assert kernel in src, kernel
    _, recs = _host(rounding)
    xt, yt, xe, ye = dataset()
    r = ref.train(q, scheme, xt, yt, ref.TrainConfig(epochs=2, lr=0.02, rounding=rounding), xe, ye)
    by = _by_type(recs)
    assert by["params"][0]["checksum"] == ref.param_checksum(q, scheme)
    assert by["params"][1]["checksum"] == r.checksum  # every trained weight and bias identical
    assert r.checksum != ref.param_checksum(q, scheme)  # ... and training moved them
    for rec, want in zip(by["epoch"], r.epoch_loss):
        assert abs(rec["loss_u"] - want * 1e6) <= 2
    assert by["eval"][0]["correct"] == round(r.acc_before * len(ye))
    assert by["eval"][1]["correct"] == round(r.acc_after * len(ye))


def test_emulated_device_prints_the_host_records():
    files, host = _host("stochastic")
    board = load_board("stm32f746")
    fw = build_firmware(board, sorted((FIRMWARE_SRC / "app" / "train").glob("*.c")),
                        generated=files, include_dirs=[FIRMWARE_SRC / "app" / "train"],
                        stack_size=8192, name="windows-train")
    run = get_emulator("qemu").run(fw.elf, board, timeout_s=300.0)
    assert run.status == "ok", run.reason()
    keep = ("eval", "epoch", "params")
    dev = [x for x in run.records if x.get("t") in keep]
    want = [x for x in host if x.get("t") in keep]
    assert len(want) >= 6 and dev == want


def test_streamed_prefix_through_irregular_layers_prints_the_same_records():
    """Only c3/c4 train: c0..c2 (4x3, 10x4, the stride-2 depthwise) are a frozen prefix that
    patch.py streams in strips with the general kernels' row ranges."""
    q = window_qmodel()
    scheme = SparseScheme(n_bias_update=2, manual_weight_idx=(3, 4),
                          weight_update_ratio=(0.5, 1.0)).resolve(q.graph)
    xt, yt, xe, ye = dataset(6, 4, seed=5)
    data = emit_dataset(xt, yt, xe, ye, epochs=1)
    records = {}
    for choice in (patch.PrefixChoice(None), patch.PrefixChoice("t2", 1, "recompute"),
                   patch.PrefixChoice("t2", 2, "slide")):
        c = compile_training(q, scheme, TrainOptions(lr=0.02), choice)
        assert (c.prefix_plan is None) == (choice.end is None)
        if choice.end is not None:
            assert "tt_conv2d_win_s8(&S" in c.emitted.source  # a strip of an irregular layer
        recs = run_host({**c.files(), **data}, f"windows-stream-{choice.mode or 'none'}")
        assert recs[0]["t"] == "boot"
        recs[0].pop("arena")
        records[choice] = recs
    first, *rest = records.values()
    assert all(r == first for r in rest)
    r = ref.train(q, scheme, xt, yt, ref.TrainConfig(epochs=1, lr=0.02), xe, ye)
    assert [x for x in first if x["t"] == "params"][-1]["checksum"] == r.checksum


def test_inplace_depthwise_gradient_only_for_regular_windows():
    """A stride-1 depthwise whose output has its input's shape but a 3x1 window keeps the
    out-of-place gradient (tt_dwconv2d_grad_input_inplace_f32 takes K x K windows); the
    regular 3x3 one beside it is rewritten."""
    from harness.engine.autodiff import autodiff
    from harness.engine.inplace import inplace_dw_grads
    from harness.engine.prune import prune

    g = Graph("dw-inplace", (8, 6, 1), (
        Conv("c0", "input", "t0", 1, 16, 3, padding=1, relu6=True),
        Conv("c1", "t0", "t1", 16, 16, 3, groups=16, kernel_w=1, pads=(1, 1, 0, 0), relu6=True),
        Conv("c2", "t1", "t2", 16, 16, 3, padding=1, groups=16, relu6=True),
        Conv("c3", "t2", "t3", 16, 8, 1),
        GlobalAvgPool("p4", "t3", "t4"),
        Linear("fc", "t4", "logits", 8, 3),
    ))
    calib = np.random.default_rng(0).random((2, *g.input_shape)).astype(np.float32)
    q = quantize_model(g, random_params(g, 0), calib)
    scheme = SparseScheme(n_bias_update=4).resolve(g)
    program = inplace_dw_grads(prune(autodiff(q), q, scheme), q)
    kinds = {q.layers[s.layer].op.name: s.kind for s in program.steps
             if s.kind in ("grad_input", "grad_input_inplace")}
    assert kinds["c1"] == "grad_input" and kinds["c2"] == "grad_input_inplace"


def test_windows_too_large_for_the_params_struct_are_refused():
    from harness.engine.support import EngineUnsupported
    from harness.model.qmodel import QParams

    g = Graph("huge-pad", (4, 4, 1), (
        Conv("c0", "input", "t0", 1, 4, 3, pads=(200, 0, 1, 1)),
        GlobalAvgPool("p1", "t0", "t1"),
        Linear("fc", "t1", "logits", 4, 2),
    ))
    with pytest.raises(EngineUnsupported, match=r"op 0 'c0'.*padding at most 127"):
        check_supported(QModel(g, QParams(1 / 255, -128), ()))


def test_padded_1x1_conv_runs_the_conv_kernels():
    """tt_pwconv_* take pad 0: a 1x1 layer with padding (regular or not) is emitted as a conv
    (its border outputs are the bias alone), and trains like the reference."""
    g = Graph("pad1x1", (6, 5, 3), (
        Conv("c0", "input", "t0", 3, 8, 1, padding=1, relu6=True),            # 8x7
        Conv("c1", "t0", "t1", 8, 6, 1, pads=(0, 1, 1, 0), relu6=True),       # 9x8
        GlobalAvgPool("p2", "t1", "t2"),
        Linear("fc", "t2", "logits", 6, 3),
    ))
    calib = np.random.default_rng(0).random((2, *g.input_shape)).astype(np.float32)
    q = quantize_model(g, random_params(g, 0), calib)
    scheme = SparseScheme(n_bias_update=2, manual_weight_idx=(0, 1),
                          weight_update_ratio=(1.0, 0.5)).resolve(g)
    c = compile_training(q, scheme, TrainOptions(lr=0.02))
    assert "tt_conv2d_s8(&L0_p" in c.emitted.source and "tt_conv2d_win_s8(&L1_p" in c.emitted.source
    assert "tt_pwconv" not in c.emitted.source
    rng = np.random.default_rng(2)
    x = rng.integers(-128, 128, (10, 6, 5, 3)).astype(np.int8)
    y = rng.integers(0, 3, 10)
    recs = run_host({**c.files(), **emit_dataset(x[:6], y[:6], x[6:], y[6:], epochs=1)}, "pad1x1")
    r = ref.train(q, scheme, x[:6], y[:6], ref.TrainConfig(epochs=1, lr=0.02), x[6:], y[6:])
    params = [rec for rec in recs if rec["t"] == "params"]
    assert params[-1]["checksum"] == r.checksum != params[0]["checksum"]


def test_float_pretraining_takes_general_windows():
    """harness.model.train (float pretraining) runs the general windows too: the forward pass
    has the IR's shapes (its gradients are checked by finite differences in
    tests/model/test_layers.py)."""
    from harness.model import train

    g = window_graph()
    trace = train.forward_float(g, train.init_params(g, 0), np.zeros((1, *INPUT), np.float32))
    shapes = g.shapes()
    for name, t in trace.tensors.items():
        assert t.shape[1:] == shapes[name], name
    assert trace.logits.shape == (1, g.ops[-1].out_features)
