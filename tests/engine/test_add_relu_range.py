"""An add with a fused ReLU whose output zero point is -128 clamps to all of int8, yet its
gradient must still stop where the output sits at -128 (the ReLU's zero) or 127, as the §7
rule says for every clamp. ResNet-8's adds are such adds: the C once ran them through the plain
add kernel, never wrote their mask, and trained differently from the reference."""
from __future__ import annotations

import numpy as np

from harness import reference as ref
from harness.engine.compiler import compile_training, emit_dataset
from harness.engine.emit_c import TrainOptions
from harness.model.layers import build_graph, parse_layers
from harness.model.qops import forward
from harness.model.quantize import quantize_model
from harness.model.random_init import random_params
from harness.sparse.scheme import SparseScheme

from .test_emit import run_host

LAYERS = [{"conv": 8, "kernel": 3, "padding": 1, "act": "relu", "name": "a"},
          {"conv": 8, "kernel": 3, "padding": 1}, {"add": "a", "act": "relu"},
          "global_avgpool", {"dense": "classes"}]


def test_full_range_relu_add_trains_like_the_reference():
    g = build_graph(parse_layers(LAYERS), (8, 8, 3), 3, name="addrelu")
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (20, 8, 8, 3)).astype(np.int8)
    y = rng.integers(0, 3, 20)
    q = quantize_model(g, random_params(g, 1), (x.astype(np.float32) + 128) / 255.0, classifier="float")
    add = q.layers[2]
    assert (add.y.zero_point, add.act_min, add.act_max) == (-128, -128, 127)
    trace = forward(q, x, keep=True)
    assert not trace.masks[add.op.name].all()  # outputs at the ReLU's zero pass no gradient
    scheme = SparseScheme(shorthand="bias_only").resolve(q.graph)
    compiled = compile_training(q, scheme, TrainOptions(lr=0.01, classifier_lr=0.01))
    assert "tt_add_act_s8" in compiled.emitted.source
    files = {**compiled.files(), **emit_dataset(x[:12], y[:12], x[12:], y[12:], epochs=2)}
    recs = run_host(files, "addrelu-full-range")
    r = ref.train(q, scheme, x[:12], y[:12], ref.TrainConfig(epochs=2, lr=0.01, classifier_lr=0.01),
                  x[12:], y[12:])
    params = [rec for rec in recs if rec["t"] == "params"]
    assert params[1]["checksum"] == r.checksum != params[0]["checksum"]
