"""Small int8 models with the imported-model ops (pools, flatten, add + ReLU, hidden dense +
ReLU), built layer by layer from seeded random int8 weights: each layer's output QParams are
set from the real range its accumulators reach on a few samples, so clamps bind sometimes
but not everywhere. No float training or calibration module is involved."""
from __future__ import annotations

import numpy as np

from harness.model import qmath, qops
from harness.model.graph import Add, Conv, Flatten, Graph, Linear, Pool
from harness.model.qmodel import QAdd, QConv, QFlatten, QLinear, QLinearFloat, QModel, QParams, QPool
from harness.model.quantize import qadd

INPUT_QP = QParams(1 / 255, -128)


def _relu_range(op, y: QParams) -> tuple[int, int]:
    if op.act == "relu6":
        return qmath.relu6_range(y)
    if op.act == "relu":
        return max(-128, y.zero_point), 127
    return -128, 127


def _out_qp(real: np.ndarray) -> QParams:
    """Cover 90% of the observed real range, so the largest values saturate."""
    lo, hi = min(float(real.min()), 0.0), max(float(real.max()), 1e-3)
    return qmath.qparams_from_range(0.9 * lo, 0.9 * hi)


def _weight_scales(rng: np.random.Generator, c: int, x: np.ndarray, xq: QParams,
                   fan_in: int) -> np.ndarray:
    """Per-channel scales that keep real outputs near 1 (He-like for int8 weights)."""
    x_max = float(np.abs(qmath.dequantize_tensor(x, xq)).max()) + 1e-3
    return (rng.uniform(0.5, 1.5, c) * 2.0 / (127.0 * np.sqrt(fan_in) * x_max)).astype(np.float32)


def build(graph: Graph, seed: int, samples: int = 8, classifier: str = "float") -> QModel:
    """``classifier="int8"`` quantizes the last Linear too (int8 logits, as imported models have)."""
    rng = np.random.default_rng(seed)
    graph.shapes()  # raises if the graph is inconsistent
    x = rng.integers(-128, 128, (samples, *graph.input_shape)).astype(np.int8)
    tensors = {graph.input: x}
    qps = {graph.input: INPUT_QP}
    layers = []
    for idx, op in enumerate(graph.ops):
        if isinstance(op, Conv):
            xq = qps[op.input]
            c = op.out_ch
            w = rng.integers(-127, 128, op.weight_shape).astype(np.int8)
            s_w = _weight_scales(rng, c, tensors[op.input], xq, int(np.prod(w.shape[1:])))
            b = rng.integers(-2000, 2000, c).astype(np.int32)
            tmp = QConv(op, xq, xq, w, s_w, b, np.ones(c, np.int32), np.zeros(c, np.int32), -128, 127)
            acc = qops.conv_acc(tensors[op.input], tmp)
            y = _out_qp(acc * (np.float32(xq.scale) * s_w))
            mult, shift = qmath.channel_multipliers(xq.scale, s_w, y.scale)
            lo, hi = _relu_range(op, y)
            layer = QConv(op, xq, y, w, s_w, b, mult, shift, lo, hi)
            tensors[op.output] = qops.conv_s8(tensors[op.input], layer)[0]
        elif isinstance(op, Add):
            a, bq = (qps[t] for t in op.inputs)
            real = sum(qmath.dequantize_tensor(tensors[t], qps[t]) for t in op.inputs)
            y = _out_qp(real)
            lo, hi = _relu_range(op, y)
            layer = qadd(op, a, bq, y)
            layer = QAdd(**{**layer.__dict__, "act_min": lo, "act_max": hi})
            tensors[op.output] = qops.add_s8(tensors[op.inputs[0]], tensors[op.inputs[1]], layer)
        elif isinstance(op, Pool):
            xq = qps[op.input]
            layer = QPool(op, xq, xq, *((max(-128, xq.zero_point), 127) if idx % 2 else (-128, 127)))
            tensors[op.output] = qops.pool_s8(tensors[op.input], layer)
        elif isinstance(op, Flatten):
            layer = QFlatten(op, qps[op.input])
            t = tensors[op.input]
            tensors[op.output] = t.reshape(t.shape[0], -1)
        elif isinstance(op, Linear) and op is graph.ops[-1] and classifier == "float":
            x_real = qmath.dequantize_tensor(tensors[op.input], qps[op.input])
            spread = float(np.abs(x_real).max()) * np.sqrt(op.in_features) + 1e-6
            layer = QLinearFloat(op, qps[op.input],
                                 (rng.standard_normal(op.weight_shape) * (2.0 / spread)).astype(np.float32),
                                 np.zeros(op.out_features, np.float32))
        else:
            assert isinstance(op, Linear)
            xq = qps[op.input]
            c = op.out_features
            w = rng.integers(-127, 128, op.weight_shape).astype(np.int8)
            s_w = _weight_scales(rng, c, tensors[op.input], xq, int(np.prod(w.shape[1:])))
            b = rng.integers(-2000, 2000, c).astype(np.int32)
            tmp = QLinear(op, xq, xq, w, s_w, b, np.ones(c, np.int32), np.zeros(c, np.int32))
            acc = qops.linear_acc(tensors[op.input], tmp)
            y = _out_qp(acc * (np.float32(xq.scale) * s_w))
            mult, shift = qmath.channel_multipliers(xq.scale, s_w, y.scale)
            lo, hi = _relu_range(op, y)
            layer = QLinear(op, xq, y, w, s_w, b, mult, shift, lo, hi)
            tensors[op.output] = qops.linear_s8(tensors[op.input], layer)[0]
        qps[op.output] = layer.y if hasattr(layer, "y") else qps[op.input]
        layers.append(layer)
    return QModel(graph, INPUT_QP, tuple(layers))


def lenet_graph(size: int = 16) -> Graph:
    """LeNet-style with a residual block: conv5x5 relu, maxpool 2x2 s2, [conv relu, conv,
    add relu], conv relu, avgpool 2x2 (stride 1: windows overlap), flatten, dense relu, dense."""
    h = size - 4
    return Graph("lenet_ops", (size, size, 1), (
        Conv("c0", "input", "t0", 1, 4, 5, relu=True),                   # h x h x 4
        Pool("p1", "t0", "t1", "max", 2, stride=2),                      # h/2
        Conv("c2", "t1", "t2", 4, 4, 3, padding=1, relu=True),
        Conv("c3", "t2", "t3", 4, 4, 3, padding=1),
        Add("a4", ("t3", "t1"), "t4", relu=True),
        Conv("c5", "t4", "t5", 4, 8, 3, relu=True),                      # h/2 - 2
        Pool("p6", "t5", "t6", "avg", 2),                                # h/2 - 3, overlapping
        Flatten("f7", "t6", "t7"),
        Linear("d8", "t7", "t8", (h // 2 - 3) ** 2 * 8, 16, relu=True),
        Linear("fc", "t8", "logits", 16, 4),
    ))


def wand_graph() -> Graph:
    """magic_wand-like: general pool windows (3x3 stride 2 with SAME padding on one side,
    3x1), an average pool with padding, a ReLU6 add and a ReLU6 hidden dense."""
    return Graph("wand_ops", (16, 6, 2), (
        Conv("c0", "input", "t0", 2, 4, 3, padding=1, relu=True),       # 16x6x4
        Pool("p1", "t0", "t1", "max", 3, stride=2, pads=(0, 1, 0, 1)),  # 8x3x4
        Conv("c2", "t1", "t2", 4, 4, 1),
        Add("a3", ("t2", "t1"), "t3", relu6=True),
        Pool("p4", "t3", "t4", "max", 3, kernel_w=1, stride=1, pads=(1, 1, 0, 0)),  # 8x3x4
        Pool("p5", "t4", "t5", "avg", 3, stride=2, padding=1),          # 4x2x4
        Flatten("f6", "t5", "t6"),
        Linear("d7", "t6", "t7", 32, 16, relu6=True),
        Linear("fc", "t7", "logits", 16, 3),
    ))
