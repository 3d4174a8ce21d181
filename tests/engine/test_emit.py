"""The emitted training program, built natively for the host, against the numpy reference."""
import json
import subprocess

import numpy as np
import pytest

from harness import reference as ref
from harness.engine.compiler import compile_training, emit_dataset
from harness.engine.emit_c import TrainOptions
from harness.pipeline import FIRMWARE_SRC
from harness.sparse.scheme import SparseScheme
from harness.toolchain import build_host_program

from .tiny import tiny_qmodel

SOURCES = [FIRMWARE_SRC / "app" / "train" / "main.c", *sorted((FIRMWARE_SRC / "runtime" / "kernels").glob("*.c"))]


def run_host(files, name):
    exe = build_host_program(SOURCES, files, name=name)
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    return [json.loads(line[4:]) for line in out.splitlines() if line.startswith("@tt ")]


@pytest.mark.parametrize("rounding", ["nearest", "stochastic", "feedback"])
@pytest.mark.parametrize("keys", [
    dict(n_bias_update=4, manual_weight_idx=(1, 4), weight_update_ratio=(0.5, 1.0)),  # pw slice + full
    dict(n_bias_update=5, manual_weight_idx=(2, 0), weight_update_ratio=(0.25, 1.0)),  # dw slice, first conv
    dict(shorthand="last_layer"),  # no int8 update at all
])
def test_host_build_equals_reference(keys, rounding):
    q = tiny_qmodel()
    scheme = SparseScheme(**keys).resolve(q.graph)
    compiled = compile_training(q, scheme, TrainOptions(lr=0.01, rounding=rounding))
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (24, 8, 8, 1)).astype(np.int8)
    y = rng.integers(0, 3, 24)
    files = {**compiled.files(), **emit_dataset(x[:16], y[:16], x[16:], y[16:], epochs=2)}
    recs = run_host(files, f"tiny-{rounding}")
    r = ref.train(q, scheme, x[:16], y[:16], ref.TrainConfig(epochs=2, lr=0.01, rounding=rounding),
                  x[16:], y[16:])
    by = {}
    for rec in recs:
        by.setdefault(rec["t"], []).append(rec)
    # The C kernels replay the reference's float32 operation order, so on this model the two
    # agree exactly: the parameter checksum before and after training.
    assert by["params"][0]["checksum"] == ref.param_checksum(q, scheme)
    assert by["params"][1]["checksum"] == r.checksum
    # The epoch mean loss is summed in float32 on the device and in float64 by the
    # reference: equal to within 2 millionths (the record's unit).
    for rec, want in zip(by["epoch"], r.epoch_loss):
        assert abs(rec["loss_u"] - want * 1e6) <= 2
    assert by["eval"][0]["correct"] == round(r.acc_before * 8)
    assert by["eval"][1]["correct"] == round(r.acc_after * 8)


def test_planned_arena_is_what_the_code_declares():
    q = tiny_qmodel()
    scheme = SparseScheme(n_bias_update=2).resolve(q.graph)
    c = compile_training(q, scheme, TrainOptions(lr=0.01))
    assert f"#define TT_ARENA_SIZE {c.arena_size}" in c.emitted.header
    assert c.arena_size == max(c.train_plan.arena_size, c.infer_plan.arena_size)
    # frozen weights are const (flash); only the classifier and two biases are trainable
    assert "static const int8_t L0_whi" in c.emitted.source
    assert c.emitted.trainable_bytes == 4 * (12 + 8) + 4 * (3 * 12 + 3)


def test_feedback_residuals_are_static_and_counted():
    """rounding: feedback adds one zero-initialised int8 per trainable int8 weight and int32
    bias in .bss (counted in trainable_bytes and residual_bytes), and no other change."""
    q = tiny_qmodel()
    scheme = SparseScheme(n_bias_update=4, manual_weight_idx=(1, 4),
                          weight_update_ratio=(0.5, 1.0)).resolve(q.graph)
    near = compile_training(q, scheme, TrainOptions(lr=0.01)).emitted
    fb = compile_training(q, scheme, TrainOptions(lr=0.01, rounding="feedback")).emitted
    want = 0
    for i, (op, layer) in enumerate(zip(q.graph.ops, q.layers)):
        u = scheme.layer(op.name) if op.name in {x.name for x in scheme.layers} else None
        if u is None or not u.trainable:
            continue
        n_w = layer.w[ref.weight_slice(op, u.weight_channels)].size if u.weight_channels else 0
        n_b = layer.b.size if u.update_bias else 0
        assert f"static int8_t L{i}_res[{n_w + n_b}];" in fb.source
        assert f"L{i}_res[j] = 0;" in fb.source  # tt_model_init restarts the residuals
        want += n_w + n_b
    assert want > 0 and fb.residual_bytes == want and near.residual_bytes == 0
    assert fb.trainable_bytes == near.trainable_bytes + want
    assert "_res" not in near.source and "TT_ROUND_FEEDBACK" in fb.source
