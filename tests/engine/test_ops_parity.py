"""Training through the imported-model ops end to end: max / average pool, flatten, add with a
fused ReLU / ReLU6 and a hidden int8 dense layer with ReLU, compiled by
``compile_training``, built natively and run on QEMU, against the numpy reference.

The scheme updates the first conv (before every pool), so the gradient passes through each
new op on its way there. The records (parameter checksums before and after training, the
loss per epoch, evaluation counts) must equal the reference's; host and device print the
same records.
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
from harness.model.graph import Add, Conv, Flatten, Graph, Linear, Pool
from harness.model.qmodel import QLinear, QModel
from harness.pipeline import FIRMWARE_SRC
from harness.sparse.scheme import SparseScheme
from harness.toolchain import build_firmware

from .ops_models import build, lenet_graph, wand_graph
from .test_emit import run_host

#: biases of every conv, all weights of the first one (which sits before every pool)
SCHEME = SparseScheme(n_bias_update="all", manual_weight_idx=(0,), weight_update_ratio=(1.0,))
N_TRAIN, N_TEST, EPOCHS, LR = 16, 8, 2, 0.01


@lru_cache(maxsize=None)
def model(name: str) -> QModel:
    return build(lenet_graph() if name == "lenet" else wand_graph(), seed=0)


def data(q: QModel) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    n = N_TRAIN + N_TEST
    x = rng.integers(-128, 128, (n, *q.graph.input_shape)).astype(np.int8)
    return x, rng.integers(0, q.graph.ops[-1].out_features, n)


def compiled(name: str, rounding: str):
    q = model(name)
    scheme = SCHEME.resolve(q.graph)
    return q, scheme, compile_training(q, scheme, TrainOptions(lr=LR, rounding=rounding))


def files(name: str, rounding: str) -> dict[str, str]:
    q, _, c = compiled(name, rounding)
    x, y = data(q)
    return {**c.files(), **emit_dataset(x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:], EPOCHS)}


def reference(name: str, rounding: str) -> ref.TrainResult:
    q, scheme, _ = compiled(name, rounding)
    x, y = data(q)
    return ref.train(q, scheme, x[:N_TRAIN], y[:N_TRAIN],
                     ref.TrainConfig(epochs=EPOCHS, lr=LR, rounding=rounding),
                     x[N_TRAIN:], y[N_TRAIN:])


def check_records(recs: list[dict], name: str, rounding: str) -> None:
    q, scheme, _ = compiled(name, rounding)
    r = reference(name, rounding)
    by: dict[str, list[dict]] = {}
    for rec in recs:
        by.setdefault(rec["t"], []).append(rec)
    assert by["params"][0]["checksum"] == ref.param_checksum(q, scheme)
    assert by["params"][1]["checksum"] == r.checksum
    for rec, want in zip(by["epoch"], r.epoch_loss, strict=True):
        assert abs(rec["loss_u"] - want * 1e6) <= 2
    assert by["eval"][0]["correct"] == round(r.acc_before * N_TEST)
    assert by["eval"][1]["correct"] == round(r.acc_after * N_TEST)


def test_program_uses_every_new_op_and_aliases_flatten():
    q, _, c = compiled("lenet", "nearest")
    kinds = [s.kind for s in c.train.steps]
    for kind in ("pool", "pool_grad", "fc_s8", "fc_s8_backward", "add", "mask", "weight_update"):
        assert kind in kinds, kind
    # both pools' gradients run; the max pool's reads its int8 input, the full-range avg's not
    grads = [s for s in c.train.steps if s.kind == "pool_grad"]
    assert [len(s.reads) for s in grads] == [1, 2]
    # the add's ReLU mask is written forward and applied before the gradient splits
    add_i = next(i for i, layer in enumerate(q.layers) if layer.op.name == "a4")
    assert any(s.kind == "add" and f"mask{add_i}" in s.writes for s in c.train.steps)
    assert any(s.kind == "mask" and s.layer == add_i for s in c.train.steps)
    # flatten: no step and no buffer of its own; the dense layer reads the pool's buffer
    names = {b.name for b in c.train.buffers} | {p.buf.name for p in c.train_plan.placements}
    assert "t7" not in names
    assert next(s for s in c.train.steps if s.kind == "fc_s8").reads == ("t6",)
    # the hidden dense layer is trained in full, in SRAM
    dense = next(layer for layer in q.layers if isinstance(layer, QLinear))
    assert f"static int8_t L8_w[{dense.w.size}]" in c.emitted.source
    assert "tt_add_act_s8(&L4_p" in c.emitted.source and "tt_pool_max_s8(&L1_p" in c.emitted.source


def test_gradients_reach_the_first_conv():
    q, _, _ = compiled("lenet", "nearest")
    r = reference("lenet", "nearest")
    c0 = q.layers[0]
    trained = r.qmodel.layers[0]
    assert np.any(trained.w != c0.w) and np.any(trained.b != c0.b)


@pytest.mark.parametrize("rounding", ["nearest", "stochastic", "feedback"])
@pytest.mark.parametrize("name", ["lenet", "wand"])
def test_host_build_equals_reference(name, rounding):
    check_records(run_host(files(name, rounding), f"ops-{name}-{rounding}"), name, rounding)


def test_device_equals_host_and_reference():
    board = load_board("stm32f746")
    fw = build_firmware(board, [FIRMWARE_SRC / "app" / "train" / "main.c"], files("lenet", "nearest"),
                        include_dirs=[FIRMWARE_SRC / "app" / "train"], name="ops-lenet")
    run = get_emulator("qemu").run(fw.elf, board, timeout_s=300.0, profile=True)
    assert run.status == "ok", run.reason()
    dev = [dict(r) for r in run.records]
    host = run_host(files("lenet", "nearest"), "ops-lenet-nearest")
    strip = lambda recs: [r for r in recs if r["t"] in ("params", "epoch", "eval")]  # noqa: E731
    assert strip(dev) == strip(host)
    check_records(dev, "lenet", "nearest")
    for kernel in ("tt_pool_max_s8", "tt_pool_avg_s8", "tt_pool_max_grad_input_f32",
                   "tt_pool_avg_grad_input_f32", "tt_add_act_s8", "tt_fc_s8_backward_update"):
        assert run.profile.get(kernel, 0) > 0, kernel
    assert len(run.step_instructions()) == N_TRAIN * EPOCHS


def residual_stream_graph() -> Graph:
    return Graph("res_stream", (12, 12, 2), (
        Conv("c0", "input", "t0", 2, 4, 3, padding=1, relu=True),
        Conv("c1", "t0", "t1", 4, 4, 3, padding=1),
        Add("a2", ("t1", "t0"), "t2", relu=True),
        Conv("c3", "t2", "t3", 4, 6, 3, stride=2, padding=1, relu=True),
        Pool("p4", "t3", "t4", "max", 2, stride=2),
        Flatten("f5", "t4", "t5"),
        Linear("fc", "t5", "logits", 54, 3)))


def test_frozen_prefix_streams_through_an_add_with_relu_and_stops_before_a_pool():
    """Streaming may cover an add with a fused ReLU (clamped, no mask), never a pool: the
    streamed C prints the records of the layer-by-layer C, which equal the reference."""
    q = build(residual_stream_graph(), seed=3)
    scheme = SparseScheme(shorthand="last_layer").resolve(q.graph)
    layer_train = compile_training(q, scheme, TrainOptions(lr=LR), patch.PrefixChoice(None)).train
    ends = {q.layers[layer_train.steps[j].layer].op.output
            for j in patch.candidate_ends(layer_train, q)}
    assert ends == {"t2", "t3"}  # through the add, up to the pool but never past it
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (12, 12, 12, 2)).astype(np.int8)
    y = rng.integers(0, 3, 12)
    dataset = emit_dataset(x[:8], y[:8], x[8:], y[8:], epochs=1)
    r = ref.train(q, scheme, x[:8], y[:8], ref.TrainConfig(epochs=1, lr=LR), x[8:], y[8:])
    records = []
    for choice in (patch.PrefixChoice(None), patch.PrefixChoice("t2", 2, "slide"),
                   patch.PrefixChoice("t2", 3, "recompute")):
        c = compile_training(q, scheme, TrainOptions(lr=LR), choice)
        if choice.end:
            assert "tt_add_act_s8(&L2_p, " in c.emitted.source and ", NULL, " in c.emitted.source
        recs = run_host({**c.files(), **dataset}, f"ops-stream-{choice.mode or 'none'}")
        records.append([rec for rec in recs if rec["t"] in ("params", "epoch", "eval")])
    assert records[0] == records[1] == records[2]
    assert records[0][-1]["checksum"] == r.checksum


@pytest.mark.parametrize("rounding", ["nearest", "stochastic", "feedback"])
def test_int8_classifier_trains_like_the_reference(rounding):
    """An int8 classifier (imported models keep theirs): int8 logits dequantized for the loss,
    then trained like a hidden dense layer, the gradient flowing on to the first conv."""
    q = build(wand_graph(), seed=0, classifier="int8")
    assert isinstance(q.layers[-1], QLinear)
    scheme = SCHEME.resolve(q.graph)
    c = compile_training(q, scheme, TrainOptions(lr=LR, rounding=rounding))
    kinds = [s.kind for s in c.train.steps]
    assert kinds.count("fc_s8_backward") == 2 and "dequantize" in kinds
    x, y = data(q)
    dataset = emit_dataset(x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:], EPOCHS)
    recs = run_host({**c.files(), **dataset}, f"ops-int8cls-{rounding}")
    r = ref.train(q, scheme, x[:N_TRAIN], y[:N_TRAIN],
                  ref.TrainConfig(epochs=EPOCHS, lr=LR, rounding=rounding), x[N_TRAIN:], y[N_TRAIN:])
    params = [rec for rec in recs if rec["t"] == "params"]
    assert params[0]["checksum"] == ref.param_checksum(q, scheme)
    assert params[1]["checksum"] == r.checksum != params[0]["checksum"]
    for rec, want in zip([rec for rec in recs if rec["t"] == "epoch"], r.epoch_loss, strict=True):
        assert abs(rec["loss_u"] - want * 1e6) <= 2


def test_memory_estimate_prices_the_new_ops():
    """The analytic estimate: the hidden dense layer's int8 weights, int32 bias and mask, the
    max pool's saved input and the add's ReLU mask (the float classifier as before)."""
    from harness.sparse.scheme import estimate_memory

    g = lenet_graph()
    base = estimate_memory(g, SparseScheme(shorthand="last_layer").resolve(g))
    est = estimate_memory(g, SCHEME.resolve(g))
    assert base.classifier_bytes == est.classifier_bytes == 72 * 16 + 4 * 16 + 4 * (16 * 4 + 4)
    # last_layer: masks of the dense layer (16 bits) only; saved: the inputs of both dense layers
    assert (base.mask_bytes, base.activation_bytes) == (2, 72 + 16)
    # from the first conv: + the max pool's 12x12x4 input, the add's 6x6x4 mask, conv masks
    assert est.activation_bytes == 72 + 16 + 16 * 16 * 1 + 12 * 12 * 4
    assert est.mask_bytes == 2 + 72 + 18 + 18 + 18 + 16
