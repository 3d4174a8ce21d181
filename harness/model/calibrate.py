"""Exact calibration: the activation ranges of an int8 model, measured on the int8 model itself.

Each layer is quantized in graph order. Its output range is read from its exact integer
accumulators (integer-valued float64 or int64 sums, which no BLAS kernel or thread count can
change), scaled to real values elementwise in float64; the layer's int8 output, computed
with the integer ops of qops.py, then feeds the next layer. The same float parameters and
calibration samples therefore give the same QParams, bit for bit, on every machine
(docs/arithmetic.md §2). A float forward pass through BLAS would not: its float32 sums
round differently with the CPU's kernel, and a one-ulp change of a maximum can move a scale.
"""
from __future__ import annotations

import numpy as np

from . import qmath, qops
from .graph import Activation, Add, Conv, Flatten, GlobalAvgPool, Graph, Linear, Pool
from .qmodel import QParams
from .quantize import qadd, qconv, qlinear, qpool, qwindow_pool

Params = dict[str, np.ndarray]


def _act_clamp(lo: float, hi: float, act: Activation) -> tuple[float, float]:
    """A real range through a fused activation: ReLU6 clamps it to [0, 6], ReLU to [0, inf)."""
    if act == "relu6":
        return min(max(lo, 0.0), 6.0), min(max(hi, 0.0), 6.0)
    if act == "relu":
        return max(lo, 0.0), max(hi, 0.0)
    return lo, hi


def _real_range(acc: np.ndarray, x_scale: float, w_scale: np.ndarray, act: Activation) -> tuple[float, float]:
    """min/max of ``acc * s_x * s_w[c]`` (float64, elementwise), through the activation."""
    per_channel = np.float64(np.float32(x_scale)) * w_scale.astype(np.float64)
    lo_acc = acc.reshape(-1, acc.shape[-1]).min(axis=0).astype(np.float64)
    hi_acc = acc.reshape(-1, acc.shape[-1]).max(axis=0).astype(np.float64)
    # per channel, the extremes of acc * m are the extremes of acc (m > 0)
    lo, hi = float(np.min(lo_acc * per_channel)), float(np.max(hi_acc * per_channel))
    return _act_clamp(lo, hi, act)


def calibrate_exact(graph: Graph, params: Params, x_q: np.ndarray, input_qp: QParams,
                    batch_size: int = 64) -> dict[str, QParams]:
    """QParams of every tensor of the folded ``graph`` from int8 samples ``x_q`` (N, H, W, C).

    ``x_q`` are the calibration samples already quantized with ``input_qp`` (the sensor's
    range, see ``data.pack``). Every range is the exact min/max over all samples.
    """
    if any(isinstance(op, Conv) and op.bn for op in graph.ops):
        raise ValueError("calibrate_exact: fold BatchNorm first (model.fold.fold_bn)")
    if x_q.ndim != 4 or x_q.shape[0] == 0 or x_q.dtype != np.int8:
        raise ValueError(f"calibrate_exact: expected a non-empty int8 batch (N, H, W, C), "
                         f"got {x_q.dtype} {x_q.shape}")
    qp: dict[str, QParams] = {graph.input: input_qp}
    acts: dict[str, np.ndarray] = {graph.input: x_q}
    shapes = graph.shapes()
    last_read = {t: i for i, op in enumerate(graph.ops)
                 for t in (op.inputs if isinstance(op, Add) else (op.input,))}
    for i, op in enumerate(graph.ops):
        if isinstance(op, Conv):
            x = qp[op.input]
            weights = qconv(op, params, x, x)  # the integer weights and bias; y comes next
            acc = _batched(lambda xb: qops.conv_acc(xb, weights), acts[op.input], batch_size)
            y = qmath.qparams_from_range(*_real_range(acc, x.scale, weights.w_scale, op.act))
            layer = qconv(op, params, x, y)
            acts[op.output] = qops.output_stage(acc, layer.multiplier, layer.shift, y.zero_point,
                                                layer.act_min, layer.act_max)[0]
        elif isinstance(op, Add):
            a, b = (qp[t] for t in op.inputs)
            s = _dequantize64(acts[op.inputs[0]], a) + _dequantize64(acts[op.inputs[1]], b)
            y = qmath.qparams_from_range(*_act_clamp(float(s.min()), float(s.max()), op.act))
            acts[op.output] = qops.add_s8(acts[op.inputs[0]], acts[op.inputs[1]], qadd(op, a, b, y))
        elif isinstance(op, GlobalAvgPool):
            x = qp[op.input]
            h, w, _ = shapes[op.input]
            sums = np.sum(acts[op.input].astype(np.int64) - x.zero_point, axis=(1, 2))
            real = sums.astype(np.float64) * np.float64(np.float32(x.scale)) / float(h * w)
            y = qmath.qparams_from_range(float(real.min()), float(real.max()))
            acts[op.output] = qops.avgpool_s8(acts[op.input], qpool(op, x, y, h * w))
        elif isinstance(op, Linear):
            x = qp[op.input]
            weights_l = qlinear(op, params, x, x)
            acc = qops.linear_acc(acts[op.input], weights_l)
            y = qmath.qparams_from_range(*_real_range(acc, x.scale, weights_l.w_scale, op.act))
            layer_l = qlinear(op, params, x, y)
            acts[op.output] = qops.output_stage(acc, layer_l.multiplier, layer_l.shift, y.zero_point,
                                                layer_l.act_min, layer_l.act_max)[0]
        elif isinstance(op, Pool):  # int8 pools keep their input's QParams
            y = qp[op.input]
            acts[op.output] = qops.pool_s8(acts[op.input], qwindow_pool(op, y))
        elif isinstance(op, Flatten):
            y = qp[op.input]
            acts[op.output] = acts[op.input].reshape(acts[op.input].shape[0], -1)
        else:  # pragma: no cover - Op is closed
            raise TypeError(op)
        qp[op.output] = y
        for name in [t for t in acts if last_read.get(t, -1) <= i]:  # no later op reads it
            del acts[name]
    return qp


def _dequantize64(q: np.ndarray, p: QParams) -> np.ndarray:
    return (q.astype(np.int64) - p.zero_point).astype(np.float64) * np.float64(np.float32(p.scale))


def _batched(fn, x: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate([fn(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])
