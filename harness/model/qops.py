"""Integer forward ops of docs/arithmetic.md §4-5 in numpy, batched over a leading N axis.

Every op takes int8 tensors (N, H, W, C) or (N, C) and the layer value of qmodel.py, and
returns exactly what the C kernel returns for each sample. Accumulators are exact: integer
products are summed in float64 (all partial sums are integers below 2**53, so BLAS order
does not matter) or in int64.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

import numpy as np

from .graph import Add, Conv, Flatten, GlobalAvgPool, Linear, Pool
from .qmath import requantize
from .qmodel import QAdd, QAvgPool, QConv, QFlatten, QLinear, QLinearFloat, QModel, QPool


def _check_batch(x: np.ndarray, ndim: int, what: str) -> None:
    if x.ndim != ndim:
        raise ValueError(f"{what}: expected a batch of int8 tensors with {ndim} axes "
                         f"(N first), got shape {x.shape}; add a batch axis with x[None]")
    if x.dtype != np.int8:
        raise ValueError(f"{what}: expected int8 input, got {x.dtype}")


def _taps(xp: np.ndarray, kh: int, kw: int, stride: int, ho: int, wo: int,
          stride_w: int = 0) -> np.ndarray:
    """The input window of tap (kh, kw) for every output position: (N, Ho, Wo, C) view."""
    sw = stride_w or stride
    return xp[:, kh:kh + stride * (ho - 1) + 1:stride, kw:kw + sw * (wo - 1) + 1:sw, :]


def conv_acc(x_q: np.ndarray, layer: QConv) -> np.ndarray:
    """int32 accumulators ``b_q[c] + sum (x_q - z_x) * w_q`` of a conv, as int64 (N,Ho,Wo,C)."""
    op: Conv = layer.op
    _check_batch(x_q, 4, op.name)
    n, h, w, cin = x_q.shape
    if cin != op.in_ch:
        raise ValueError(f"{op.name}: input has {cin} channels, layer expects {op.in_ch}")
    ho, wo = op.out_hw(h, w)
    win = op.window
    # Padding holds real 0, i.e. x_q == z_x: pad the centred input with 0.
    xc = x_q.astype(np.int32) - np.int32(layer.x.zero_point)
    if win.pt or win.pb or win.pl or win.pr:
        xc = np.pad(xc, ((0, 0), (win.pt, win.pb), (win.pl, win.pr), (0, 0)))
    wq = layer.w.astype(np.int32)
    if op.kind == "depthwise":
        acc = np.zeros((n, ho, wo, op.out_ch), dtype=np.int64)
        for kh in range(win.kh):
            for kw in range(win.kw):
                acc += _taps(xc, kh, kw, win.sh, ho, wo, win.sw) * wq[:, kh, kw, 0]
    else:
        g = op.groups
        cig, cog = op.in_ch // g, op.out_ch // g
        xf = xc.astype(np.float64)
        wf = wq.astype(np.float64)
        accf = np.zeros((n, ho, wo, op.out_ch), dtype=np.float64)
        for kh in range(win.kh):
            for kw in range(win.kw):
                tap = _taps(xf, kh, kw, win.sh, ho, wo, win.sw)
                for gi in range(g):
                    ci, co = slice(gi * cig, (gi + 1) * cig), slice(gi * cog, (gi + 1) * cog)
                    accf[..., co] += tap[..., ci] @ wf[co, kh, kw, :].T
        acc = accf.astype(np.int64)
    return acc + layer.b.astype(np.int64)


def output_stage(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray, z_y: int,
                 act_min: int, act_max: int) -> tuple[np.ndarray, np.ndarray]:
    """int32 accumulators to int8 (requantize, add z_y, clamp) and the §7 not-clamped mask."""
    u = requantize(acc, multiplier, shift) + z_y
    mask = (u > act_min) & (u < act_max)
    return np.clip(u, act_min, act_max).astype(np.int8), mask


def conv_s8(x_q: np.ndarray, layer: QConv) -> tuple[np.ndarray, np.ndarray]:
    """Conv / depthwise / pointwise: returns (y_q int8 (N,Ho,Wo,C), mask bool).

    ``mask`` is the §7 bit: True where the output clamp did not bind
    (``act_min < requantize(acc) + z_y < act_max``).
    """
    acc = conv_acc(x_q, layer)
    return output_stage(acc, layer.multiplier, layer.shift, layer.y.zero_point,
                         layer.act_min, layer.act_max)


def add_s8(a_q: np.ndarray, b_q: np.ndarray, layer: QAdd) -> np.ndarray:
    """Residual add with both inputs rescaled to ``2 max(s_a, s_b)`` after a 20-bit left shift,
    then the activation clamp."""
    return add_s8_masked(a_q, b_q, layer)[0]


def add_s8_masked(a_q: np.ndarray, b_q: np.ndarray, layer: QAdd) -> tuple[np.ndarray, np.ndarray]:
    """Residual add and its §7 not-clamped mask ``act_min < u < act_max`` (the forward pass
    keeps it only for an add with a fused activation)."""
    if a_q.shape != b_q.shape:
        raise ValueError(f"{layer.op.name}: cannot add shapes {a_q.shape} and {b_q.shape}")
    xa = (a_q.astype(np.int64) - layer.a.zero_point) << 20
    xb = (b_q.astype(np.int64) - layer.b.zero_point) << 20
    ra = requantize(xa, layer.a_multiplier, layer.a_shift)
    rb = requantize(xb, layer.b_multiplier, layer.b_shift)
    u = requantize(ra + rb, layer.out_multiplier, layer.out_shift) + layer.y.zero_point
    # The §7 rule, as for a conv: a ReLU whose range is all of int8 (z_y = -128) still stops
    # the gradient where its output sits at -128 or 127.
    mask = (u > layer.act_min) & (u < layer.act_max)
    return np.clip(u, layer.act_min, layer.act_max).astype(np.int8), mask


def pool_windows(x: np.ndarray, op: Pool, fill: float) -> tuple[np.ndarray, np.ndarray]:
    """Every tap of every window of a pool, padded with ``fill``: (KH*KW, N, Ho, Wo, C), and
    the number of taps inside the input per output position (Ho, Wo)."""
    n, h, w, c = x.shape
    win = op.window
    ho, wo = op.out_hw(h, w)
    xp = np.pad(x, ((0, 0), (win.pt, win.pb), (win.pl, win.pr), (0, 0)), constant_values=fill)
    inside = np.pad(np.ones((h, w), dtype=np.int64), ((win.pt, win.pb), (win.pl, win.pr)))
    taps = np.stack([_taps(xp, kh, kw, win.sh, ho, wo, win.sw)
                     for kh in range(win.kh) for kw in range(win.kw)])
    count = sum(inside[kh:kh + win.sh * (ho - 1) + 1:win.sh, kw:kw + win.sw * (wo - 1) + 1:win.sw]
                for kh in range(win.kh) for kw in range(win.kw))
    return taps, np.asarray(count)


def pool_s8(x_q: np.ndarray, layer: QPool) -> np.ndarray:
    """Max / average pool (N,H,W,C) -> (N,Ho,Wo,C), TFLite's int8 rules.

    max: the largest value inside the input. avg: ``s = sum(x_q)`` over the taps inside the
    input (raw int8 values: input and output share QParams), divided by their count ``n``
    rounding half away from zero: ``(s + n/2) / n`` for ``s > 0``, else ``(s - n/2) / n``,
    C division (toward zero). Then the activation clamp.
    """
    _check_batch(x_q, 4, layer.op.name)
    op: Pool = layer.op
    if op.mode == "max":
        taps, _ = pool_windows(x_q.astype(np.int32), op, -(1 << 20))
        y = taps.max(axis=0)
    else:
        taps, count = pool_windows(x_q.astype(np.int64), op, 0)
        s = taps.sum(axis=0)
        cnt = count[None, :, :, None]
        half = cnt // 2
        num = np.where(s > 0, s + half, s - half)
        y = np.sign(num) * (np.abs(num) // cnt)
    return np.clip(y, layer.act_min, layer.act_max).astype(np.int8)


def avgpool_s8(x_q: np.ndarray, layer: QAvgPool) -> np.ndarray:
    """Global average pool (N,H,W,C) -> (N,C): ``requantize(sum(x - z_x)) + z_y``."""
    _check_batch(x_q, 4, layer.op.name)
    s = np.sum(x_q.astype(np.int64) - layer.x.zero_point, axis=(1, 2))
    y = requantize(s, layer.multiplier, layer.shift) + layer.y.zero_point
    return np.clip(y, -128, 127).astype(np.int8)


def linear_f32(x_q: np.ndarray, layer: QLinearFloat) -> np.ndarray:
    """Float classifier (§5): float32 logits (N, N_out), bit-exact with the C loop.

    The input is dequantized in float32, and each logit is accumulated from ``b[j]`` in index
    order, one rounded float32 multiply and one rounded add per term (no FMA), like the C
    kernel built with ``-ffp-contract=off``.
    """
    _check_batch(x_q, 2, layer.op.name)
    x_r = np.float32(layer.x.scale) * (x_q.astype(np.int32) - layer.x.zero_point).astype(np.float32)
    w = np.asarray(layer.w, dtype=np.float32)
    acc = np.broadcast_to(np.asarray(layer.b, dtype=np.float32), (x_q.shape[0], w.shape[0])).copy()
    for i in range(w.shape[1]):
        acc += x_r[:, i:i + 1] * w[:, i]
    return acc


def linear_acc(x_q: np.ndarray, layer: QLinear) -> np.ndarray:
    """int32 accumulators of an int8 classifier, as int64 (N, N_out)."""
    _check_batch(x_q, 2, layer.op.name)
    xc = (x_q.astype(np.int64) - layer.x.zero_point).astype(np.float64)
    return (xc @ layer.w.astype(np.float64).T).astype(np.int64) + layer.b.astype(np.int64)


def linear_s8(x_q: np.ndarray, layer: QLinear) -> tuple[np.ndarray, np.ndarray]:
    """int8 fully connected: returns (int8 outputs (N, N_out), mask) with the layer's
    activation range ([-128, 127] for the classifier, a hidden layer's fused ReLU / ReLU6)."""
    return output_stage(linear_acc(x_q, layer), layer.multiplier, layer.shift,
                         layer.y.zero_point, layer.act_min, layer.act_max)


@dataclass(frozen=True)
class ForwardTrace:
    """Every tensor of one forward pass, by tensor name (the input included), and the 1-bit
    clamp masks of every conv / int8 linear / add with an activation, by op name. ``logits`` are float32 (§6)."""

    logits: np.ndarray
    tensors: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]


def _forward_all(qmodel: QModel, x_q: np.ndarray) -> ForwardTrace:
    g = qmodel.graph
    tensors: dict[str, np.ndarray] = {g.input: x_q}
    masks: dict[str, np.ndarray] = {}
    logits: np.ndarray | None = None
    for op, layer in zip(g.ops, qmodel.layers):
        if isinstance(layer, QConv):
            tensors[op.output], masks[op.name] = conv_s8(tensors[op.input], layer)
        elif isinstance(layer, QAdd):
            assert isinstance(op, Add)
            y, m = add_s8_masked(tensors[op.inputs[0]], tensors[op.inputs[1]], layer)
            tensors[op.output] = y
            if op.act != "none":
                masks[op.name] = m
        elif isinstance(layer, QPool):
            assert isinstance(op, Pool)
            tensors[op.output] = pool_s8(tensors[op.input], layer)
        elif isinstance(layer, QFlatten):
            assert isinstance(op, Flatten)
            x = tensors[op.input]
            tensors[op.output] = x.reshape(x.shape[0], -1)
        elif isinstance(layer, QAvgPool):
            assert isinstance(op, GlobalAvgPool)
            tensors[op.output] = avgpool_s8(tensors[op.input], layer)
        elif isinstance(layer, QLinearFloat):
            assert isinstance(op, Linear)
            tensors[op.output] = logits = linear_f32(tensors[op.input], layer)
        elif isinstance(layer, QLinear):
            assert isinstance(op, Linear)
            y, masks[op.name] = linear_s8(tensors[op.input], layer)
            tensors[op.output] = y
            if op is g.ops[-1]:
                logits = (np.float32(layer.y.scale)
                          * (y.astype(np.int32) - layer.y.zero_point).astype(np.float32))
        else:  # pragma: no cover - QLayer is closed
            raise TypeError(f"unknown layer type {type(layer).__name__}")
    if logits is None:
        raise ValueError(f"{g.name}: the model has no classifier (Linear) at its end")
    return ForwardTrace(logits=logits, tensors=tensors, masks=masks)


@overload
def forward(qmodel: QModel, x_q: np.ndarray, keep: Literal[False] = ...,
            batch_size: int | None = ...) -> np.ndarray: ...
@overload
def forward(qmodel: QModel, x_q: np.ndarray, keep: Literal[True],
            batch_size: int | None = ...) -> ForwardTrace: ...


def _auto_batch(qmodel: QModel) -> int:
    """Chunk size that keeps the largest float64 accumulator near 32 MB."""
    biggest = max(int(np.prod(s)) for s in qmodel.graph.shapes().values())
    return int(np.clip((1 << 22) // max(biggest, 1), 1, 256))


def forward(qmodel: QModel, x_q: np.ndarray, keep: bool = False, batch_size: int | None = None):
    """Integer forward of a batch ``x_q`` int8 (N, H, W, C).

    Returns float32 logits (N, classes); with ``keep=True`` a ``ForwardTrace`` of the whole
    batch (all tensors and masks). Without ``keep`` the batch is processed in chunks of
    ``batch_size`` (default: sized from the largest tensor) to bound memory; results do
    not depend on the chunking.
    """
    _check_batch(x_q, 4, f"{qmodel.graph.name} input")
    if tuple(x_q.shape[1:]) != tuple(qmodel.graph.input_shape):
        raise ValueError(f"{qmodel.graph.name}: input samples have shape {x_q.shape[1:]}, "
                         f"the model expects {qmodel.graph.input_shape} (H, W, C); "
                         "load the dataset with this input_shape")
    if keep:
        return _forward_all(qmodel, x_q)
    batch_size = batch_size or _auto_batch(qmodel)
    out = [_forward_all(qmodel, x_q[i:i + batch_size]).logits
           for i in range(0, x_q.shape[0], batch_size)]
    n_cls = qmodel.graph.ops[-1].out_features  # type: ignore[union-attr]
    return np.concatenate(out) if out else np.zeros((0, n_cls), np.float32)


def accuracy(qmodel: QModel, x_q: np.ndarray, labels: np.ndarray,
             batch_size: int | None = None) -> float:
    """Top-1 accuracy of the integer model on a packed set."""
    logits = forward(qmodel, x_q, batch_size=batch_size)
    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(labels)))
