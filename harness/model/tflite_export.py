"""Export an mcutrain int8 model (``QModel``) as a standard int8 TFLite flatbuffer that TFLite
Micro loads and runs with our reference's outputs.

Mapping (one graph op -> TFLite operators):

- Conv -> CONV_2D, or DEPTHWISE_CONV_2D (ours [C,KH,KW,1] -> TFLite [1,KH,KW,C]); weights
  per-channel symmetric int8 (quantized_dimension 0 for CONV_2D, 3 for depthwise), int32 bias
  with scale ``s_x * s_w[c]``. SAME or VALID when the window's pads are what TFLite computes for
  them, else a PAD (pad value: the input zero point, i.e. real 0) with the graph's pads and a
  VALID conv.
- Add -> ADD; Pool -> MAX_POOL_2D / AVERAGE_POOL_2D (SAME or VALID windows only: TFLite pools
  never count padding, so a PAD would change them); Flatten -> RESHAPE.
- GlobalAvgPool -> MEAN over axes [1, 2], keep_dims false. TFLM derives its multiplier from
  ``Q(s_x / s_y)`` and then divides it by the tap count in integers; we use
  ``Q(s_x / (s_y * n))``. The two agree exactly when ``n`` is a power of two; otherwise TFLM's
  multiplier loses bits (a 7x7 map: 136 of the 12,496 reachable sums of the small net's pool
  come out different, see ``mean_parity``), and the pool is written as the closest exact form:
  a VALID depthwise conv over the whole map with weights 1, bias 0 and a weight scale near
  ``1 / n`` chosen so that TFLM's per-channel multiplier gives our output for every reachable
  sum (``tflite_forms.gap_weight_scale``), then a RESHAPE to the vector.
- int8 Linear -> FULLY_CONNECTED with per-channel weight scales (TFLM runs per-channel FC).
- The float classifier (``QLinearFloat``, the paper's) -> DEQUANTIZE, then a float32
  FULLY_CONNECTED (TFLite has no FC with int8 input and float weights; TFLM runs float FC).
  TFLM's float FC sums ``x_i w_i`` from 0 and adds the bias last, while our C loop starts from
  the bias (707 of 1,500 logits of the small net differ in the last bit), so the bias becomes
  the first weight column of an FC without bias, after a CONCATENATION that puts a constant 1.0
  before the features: TFLM then computes ``((0 + 1 * b) + x_0 w_0) + ...``, our order.

Fused activations are NONE / RELU / RELU6, chosen so that TFLM's
``CalculateActivationRangeQuantized`` gives exactly the layer's ``act_min``/``act_max``;
multipliers are checked against the ones TFLM derives from the written scales. Anything TFLite
cannot express raises one ``ExportError`` naming the op and the reason.

Names: activation tensors keep the graph's tensor names, weights/biases are ``<op>.weight`` /
``<op>.bias``, the subgraph is named after the graph, and a metadata entry ``mcutrain.names``
holds the graph's op and tensor names (TFLite operators have no names), so ``tflite_import``
restores the graph exactly (``tflite_forms``).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional

import numpy as np

from ..errors import MctError, ToolMissing
from . import tflite_forms as forms
from .graph import Conv, Pool, Window
from .qmath import quantize_multiplier
from .qmodel import QAdd, QAvgPool, QConv, QFlatten, QLinear, QLinearFloat, QModel, QParams, QPool

Padding = Literal["SAME", "VALID"]


class ExportError(MctError):
    """A model that TFLite (as TFLM runs it) cannot express exactly."""


def _schema():
    try:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl
    except ImportError:
        raise ToolMissing("the TFLite Micro Python package (tflite_micro) is not installed",
                          "pip install tflite-micro (bootstrap.sh installs it)") from None
    return tfl


# --- TFLM's arithmetic, as its kernels derive it from a file's scales -----------------------

def tflm_activation_range(act: str, y: QParams) -> tuple[int, int]:
    """TFLM's CalculateActivationRangeQuantized for int8: ``z + round(f / s)`` with the
    division in float32 and round half away from zero."""
    def q(f: float) -> int:
        v = np.float32(f) / np.float32(y.scale)
        return y.zero_point + int(math.copysign(math.floor(abs(float(v)) + 0.5), float(v)))
    if act == "none":
        return -128, 127
    if act == "relu":
        return max(-128, q(0.0)), 127
    if act == "relu6":
        return max(-128, q(0.0)), min(127, q(6.0))
    raise ValueError(act)


def tflm_channel_multipliers(x: QParams, w_scale: np.ndarray, y: QParams) -> tuple[np.ndarray, np.ndarray]:
    """CONV_2D / DEPTHWISE / FULLY_CONNECTED: ``Q(double(s_x) * double(s_w[c]) / double(s_y))``."""
    pairs = [quantize_multiplier(float(np.float32(x.scale)) * float(s) / float(np.float32(y.scale)))
             for s in np.asarray(w_scale, np.float32)]
    return (np.array([p[0] for p in pairs], np.int32), np.array([p[1] for p in pairs], np.int32))


def tflm_add_multipliers(a: QParams, b: QParams, y: QParams) -> tuple[int, int, int, int, int, int]:
    """ADD's Prepare: inputs rescaled to ``2 max(s_a, s_b)``, output ``twice_max / (2**20 s_y)``."""
    sa, sb, sy = (float(np.float32(q.scale)) for q in (a, b, y))
    twice_max = float(np.float32(2.0) * np.float32(max(sa, sb)))
    am, ash = quantize_multiplier(sa / twice_max)
    bm, bsh = quantize_multiplier(sb / twice_max)
    om, osh = quantize_multiplier(twice_max / float(np.float32(1 << 20) * np.float32(sy)))
    return am, ash, bm, bsh, om, osh


def tflm_mean_multiplier(x: QParams, y: QParams, n: int) -> tuple[int, int]:
    """MEAN (int8, QuantizedMeanOrSum): ``Q(s_x / s_y)``, then the count folded in with an
    integer division: ``k = min(floor(log2 n), 32, 31 + shift)``,
    ``M' = (M << k) // n``, ``shift' = shift - k``."""
    m, shift = quantize_multiplier(float(np.float32(x.scale)) / float(np.float32(y.scale)))
    k = min(n.bit_length() - 1, 32, 31 + shift)
    return int((m << k) // n), shift - k


@dataclass(frozen=True)
class MeanParity:
    """How TFLM's MEAN compares with our GlobalAvgPool over every sum the input can reach."""

    op: str
    taps: int
    ours: tuple[int, int]  # (multiplier, shift)
    tflm: tuple[int, int]
    sums: int  # reachable sums checked
    differing: int  # sums whose int8 output differs

    @property
    def exact(self) -> bool:
        return self.differing == 0


def mean_parity(layer: QAvgPool, taps: int) -> MeanParity:
    """Compare TFLM's MEAN with ``qops.avgpool_s8`` for every reachable sum ``sum(x - z_x)``."""
    tflm = tflm_mean_multiplier(layer.x, layer.y, taps)
    ours = (layer.multiplier, layer.shift)
    return MeanParity(layer.op.name, taps, ours, tflm, taps * 255 + 1,
                      forms.differing_sums(layer.x, layer.y, taps, ours, tflm))


# --- windows ---------------------------------------------------------------------------------

def _same_pads(size: int, k: int, s: int) -> tuple[int, int, int]:
    """TFLite SAME: output ceil(size / s), total pad split with the smaller half first."""
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def window_padding(win: Window, h: int, w: int, unread_ok: bool = False) -> Optional[Padding]:
    """The TFLite padding whose pads are exactly this window's on an h x w input, or None.

    With ``unread_ok``, bottom/right pads beyond TFLite's (rows past the last window, never
    read) still count as SAME: the outputs are the same, but an importer reads TFLite's pads.
    """
    oh, ow = win.out_hw(h, w)
    if win.pt == win.pb == win.pl == win.pr == 0:
        return "VALID"
    (sh_out, st, sb), (sw_out, sl, sr) = _same_pads(h, win.kh, win.sh), _same_pads(w, win.kw, win.sw)
    if (oh, ow) == (sh_out, sw_out) and (win.pt, win.pl) == (st, sl) \
            and (unread_ok or (win.pb, win.pr) == (sb, sr)):
        return "SAME"
    return None


# --- the builder -----------------------------------------------------------------------------

class _Model:
    """Accumulates tensors, buffers and operators of one subgraph (local to one export)."""

    def __init__(self, tfl) -> None:
        self.tfl = tfl
        self.buffers = [tfl.BufferT()]  # buffer 0: the empty buffer, by convention
        self.tensors: list = []
        self.index: dict[str, int] = {}
        self.operators: list = []
        self.codes: list[int] = []

    def tensor(self, name: str, shape: tuple[int, ...], dtype: int, qp: Optional[QParams] = None,
               data: Optional[np.ndarray] = None, scales: Optional[np.ndarray] = None,
               axis: int = 0) -> int:
        tfl = self.tfl
        t = tfl.TensorT()
        t.name, t.shape, t.type = name, list(shape), dtype
        t.buffer = 0
        if data is not None:
            buf = tfl.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        if qp is not None or scales is not None:
            q = tfl.QuantizationParametersT()
            if scales is not None:
                q.scale = [float(v) for v in np.asarray(scales, np.float32)]
                q.zeroPoint = [0] * len(q.scale)
                q.quantizedDimension = axis
            else:
                assert qp is not None
                q.scale, q.zeroPoint = [float(np.float32(qp.scale))], [int(qp.zero_point)]
            t.quantization = q
        self.tensors.append(t)
        self.index[name] = len(self.tensors) - 1
        return len(self.tensors) - 1

    def op(self, code: int, inputs: list[int], outputs: list[int], options_type: int = 0,
           options=None) -> None:
        o = self.tfl.OperatorT()
        if code not in self.codes:
            self.codes.append(code)
        o.opcodeIndex = self.codes.index(code)
        o.inputs, o.outputs = inputs, outputs
        o.builtinOptionsType, o.builtinOptions = options_type, options
        self.operators.append(o)


def _fused(layer_name: str, act: str, act_min: int, act_max: int, y: QParams) -> int:
    """The fused activation whose TFLM clamp is exactly ``[act_min, act_max]``."""
    order = [act] + [a for a in ("none", "relu", "relu6") if a != act]
    for a in order:
        if tflm_activation_range(a, y) == (act_min, act_max):
            return a_code(a)
    raise ExportError(
        f"{layer_name}: its output clamp [{act_min}, {act_max}] is none of TFLite's fused "
        f"activations for output scale {y.scale!r} and zero point {y.zero_point} (NONE gives "
        f"[-128, 127], RELU {list(tflm_activation_range('relu', y))}, RELU6 "
        f"{list(tflm_activation_range('relu6', y))})",
        "re-quantize the model (quantize.quantize_model) so the clamp comes from its activation")


def a_code(act: str) -> int:
    tfl = _schema()
    return {"none": tfl.ActivationFunctionType.NONE, "relu": tfl.ActivationFunctionType.RELU,
            "relu6": tfl.ActivationFunctionType.RELU6}[act]


def _check_multipliers(name: str, got: tuple, want: tuple) -> None:
    if any(not np.array_equal(np.asarray(g), np.asarray(w)) for g, w in zip(got, want)):
        raise ExportError(
            f"{name}: its requantization multipliers are not the ones TFLite derives from its "
            f"scales, so TFLite Micro would compute other outputs",
            "export a model whose multipliers come from its scales (quantize.quantize_with)")


def _conv(m: _Model, layer: QConv, shape: tuple[int, ...], tfl) -> None:
    op: Conv = layer.op
    h, w, _ = shape
    win = op.window
    depthwise = op.kind == "depthwise"
    if op.groups != 1 and not depthwise:
        raise ExportError(f"{op.name}: a grouped conv ({op.groups} groups of "
                          f"{op.in_ch // op.groups} channels) has no TFLite Micro operator",
                          "use groups 1 or a depthwise conv (groups == in_ch == out_ch)")
    _check_multipliers(op.name, (layer.multiplier, layer.shift),
                       tflm_channel_multipliers(layer.x, layer.w_scale, layer.y))
    fused = _fused(op.name, op.act, layer.act_min, layer.act_max, layer.y)
    x = m.index[op.input]
    padding = window_padding(win, h, w)
    if padding is None:  # an explicit PAD of real zeros, then a VALID conv
        pads = np.array([[0, 0], [win.pt, win.pb], [win.pl, win.pr], [0, 0]], np.int32)
        pshape = (1, h + win.pt + win.pb, w + win.pl + win.pr, op.in_ch)
        p = m.tensor(f"{op.name}/pad", pshape, tfl.TensorType.INT8, layer.x)
        pt = m.tensor(f"{op.name}/paddings", (4, 2), tfl.TensorType.INT32, data=pads)
        m.op(tfl.BuiltinOperator.PAD, [x, pt], [p], tfl.BuiltinOptions.PadOptions, tfl.PadOptionsT())
        x, padding = p, "VALID"
    wq = np.asarray(layer.w, np.int8)
    if depthwise:
        wq = np.transpose(wq, (3, 1, 2, 0))  # [C,KH,KW,1] -> [1,KH,KW,C]
    wt = m.tensor(f"{op.name}.weight", wq.shape, tfl.TensorType.INT8, data=wq,
                  scales=layer.w_scale, axis=3 if depthwise else 0)
    bias_scale = (np.float32(layer.x.scale) * np.asarray(layer.w_scale, np.float32)).astype(np.float32)
    bt = m.tensor(f"{op.name}.bias", (op.out_ch,), tfl.TensorType.INT32,
                  data=np.asarray(layer.b, np.int32), scales=bias_scale)
    oh, ow = op.out_hw(h, w)
    y = m.tensor(op.output, (1, oh, ow, op.out_ch), tfl.TensorType.INT8, layer.y)
    pad_code = tfl.Padding.SAME if padding == "SAME" else tfl.Padding.VALID
    if depthwise:
        o = tfl.DepthwiseConv2DOptionsT()
        o.depthMultiplier = 1
        kind, otype = tfl.BuiltinOperator.DEPTHWISE_CONV_2D, tfl.BuiltinOptions.DepthwiseConv2DOptions
    else:
        o = tfl.Conv2DOptionsT()
        kind, otype = tfl.BuiltinOperator.CONV_2D, tfl.BuiltinOptions.Conv2DOptions
    o.padding, o.strideH, o.strideW = pad_code, win.sh, win.sw
    o.dilationHFactor = o.dilationWFactor = 1
    o.fusedActivationFunction = fused
    m.op(kind, [x, wt, bt], [y], otype, o)


def _add(m: _Model, layer: QAdd, shape: tuple[int, ...], tfl) -> None:
    op = layer.op
    _check_multipliers(op.name, (layer.a_multiplier, layer.a_shift, layer.b_multiplier,
                                 layer.b_shift, layer.out_multiplier, layer.out_shift),
                       tflm_add_multipliers(layer.a, layer.b, layer.y))
    o = tfl.AddOptionsT()
    o.fusedActivationFunction = _fused(op.name, op.act, layer.act_min, layer.act_max, layer.y)
    y = m.tensor(op.output, (1, *shape), tfl.TensorType.INT8, layer.y)
    m.op(tfl.BuiltinOperator.ADD, [m.index[op.inputs[0]], m.index[op.inputs[1]]], [y],
         tfl.BuiltinOptions.AddOptions, o)


def _pool(m: _Model, layer: QPool, shape: tuple[int, ...], tfl) -> None:
    op: Pool = layer.op
    h, w, c = shape
    if layer.y != layer.x:
        raise ExportError(f"{op.name}: a TFLite pool keeps its input's quantization, but this "
                          f"pool's output has {layer.y} and its input {layer.x}",
                          "give the pool's output the input's QParams")
    win = op.window
    padding = window_padding(win, h, w, unread_ok=True)
    if padding is None:
        raise ExportError(f"{op.name}: pool window pads {(win.pt, win.pb, win.pl, win.pr)} on a "
                          f"{h}x{w} input are neither TFLite SAME nor VALID (a TFLite pool never "
                          "counts padding, so a PAD op cannot stand in for them)",
                          "use the pads TFLite SAME gives for this input and stride, or none")
    o = tfl.Pool2DOptionsT()
    o.padding = tfl.Padding.SAME if padding == "SAME" else tfl.Padding.VALID
    o.strideH, o.strideW, o.filterHeight, o.filterWidth = win.sh, win.sw, win.kh, win.kw
    o.fusedActivationFunction = _fused(op.name, "none", layer.act_min, layer.act_max, layer.y)
    oh, ow = op.out_hw(h, w)
    y = m.tensor(op.output, (1, oh, ow, c), tfl.TensorType.INT8, layer.y)
    kind = tfl.BuiltinOperator.MAX_POOL_2D if op.mode == "max" else tfl.BuiltinOperator.AVERAGE_POOL_2D
    m.op(kind, [m.index[op.input]], [y], tfl.BuiltinOptions.Pool2DOptions, o)


def _flatten(m: _Model, layer: QFlatten, shape: tuple[int, ...], tfl) -> None:
    op = layer.op
    n = int(np.prod(shape))
    st = m.tensor(f"{op.name}/shape", (2,), tfl.TensorType.INT32, data=np.array([1, n], np.int32))
    y = m.tensor(op.output, (1, n), tfl.TensorType.INT8, layer.x)
    o = tfl.ReshapeOptionsT()
    o.newShape = [1, n]
    m.op(tfl.BuiltinOperator.RESHAPE, [m.index[op.input], st], [y], tfl.BuiltinOptions.ReshapeOptions, o)


def _mean(m: _Model, layer: QAvgPool, shape: tuple[int, ...], tfl) -> None:
    """MEAN when TFLM derives our multiplier for it (e.g. 2x2, 4x4 maps); otherwise the closest
    exact form, a VALID depthwise conv over the whole map with weights 1, bias 0 and the weight
    scale that makes TFLM's per-channel multiplier compute our requantization (``gap_as_depthwise``)."""
    op = layer.op
    h, w, c = shape
    x = m.index[op.input]
    if tflm_mean_multiplier(layer.x, layer.y, h * w) == (layer.multiplier, layer.shift):
        axes = m.tensor(f"{op.name}/axes", (2,), tfl.TensorType.INT32, data=np.array([1, 2], np.int32))
        y = m.tensor(op.output, (1, c), tfl.TensorType.INT8, layer.y)
        o = tfl.ReducerOptionsT()
        o.keepDims = False
        m.op(tfl.BuiltinOperator.MEAN, [x, axes], [y], tfl.BuiltinOptions.ReducerOptions, o)
        return
    if forms.gap_multiplier(layer.x, layer.y, h * w) != (layer.multiplier, layer.shift):
        raise ExportError(f"{op.name}: its multiplier ({layer.multiplier}, shift {layer.shift}) is "
                          "not the pool's rule Q(s_x / (s_y * taps)) (quantize.qpool)",
                          "build the pool with quantize.qpool")
    s_w = forms.gap_weight_scale(layer.x, layer.y, h * w)
    if s_w is None:
        raise ExportError(
            f"{op.name}: no TFLite operator reproduces this {h}x{w} global average pool's "
            f"requantization (multiplier {layer.multiplier}, shift {layer.shift}) for every input: "
            "TFLM's MEAN derives another multiplier, and no depthwise weight scale near 1/taps "
            "gives ours", "re-quantize the model with a slightly different output range for the pool")
    wt = m.tensor(f"{op.name}.weight", (1, h, w, c), tfl.TensorType.INT8,
                  data=np.ones((1, h, w, c), np.int8), scales=np.full(c, s_w, np.float32), axis=3)
    bt = m.tensor(f"{op.name}.bias", (c,), tfl.TensorType.INT32, data=np.zeros(c, np.int32),
                  scales=np.full(c, np.float32(layer.x.scale) * s_w, np.float32))
    sum_t = m.tensor(f"{op.name}/sum", (1, 1, 1, c), tfl.TensorType.INT8, layer.y)
    o = tfl.DepthwiseConv2DOptionsT()
    o.padding, o.strideH, o.strideW, o.depthMultiplier = tfl.Padding.VALID, 1, 1, 1
    o.dilationHFactor = o.dilationWFactor = 1
    m.op(tfl.BuiltinOperator.DEPTHWISE_CONV_2D, [x, wt, bt], [sum_t],
         tfl.BuiltinOptions.DepthwiseConv2DOptions, o)
    st = m.tensor(f"{op.name}/shape", (2,), tfl.TensorType.INT32, data=np.array([1, c], np.int32))
    y = m.tensor(op.output, (1, c), tfl.TensorType.INT8, layer.y)
    r = tfl.ReshapeOptionsT()
    r.newShape = [1, c]
    m.op(tfl.BuiltinOperator.RESHAPE, [sum_t, st], [y], tfl.BuiltinOptions.ReshapeOptions, r)


def _linear(m: _Model, layer: QLinear, tfl) -> None:
    op = layer.op
    _check_multipliers(op.name, (layer.multiplier, layer.shift),
                       tflm_channel_multipliers(layer.x, layer.w_scale, layer.y))
    o = tfl.FullyConnectedOptionsT()
    o.fusedActivationFunction = _fused(op.name, op.act, layer.act_min, layer.act_max, layer.y)
    wt = m.tensor(f"{op.name}.weight", op.weight_shape, tfl.TensorType.INT8,
                  data=np.asarray(layer.w, np.int8), scales=layer.w_scale, axis=0)
    bias_scale = (np.float32(layer.x.scale) * np.asarray(layer.w_scale, np.float32)).astype(np.float32)
    bt = m.tensor(f"{op.name}.bias", (op.out_features,), tfl.TensorType.INT32,
                  data=np.asarray(layer.b, np.int32), scales=bias_scale)
    y = m.tensor(op.output, (1, op.out_features), tfl.TensorType.INT8, layer.y)
    m.op(tfl.BuiltinOperator.FULLY_CONNECTED, [m.index[op.input], wt, bt], [y],
         tfl.BuiltinOptions.FullyConnectedOptions, o)


def _linear_float(m: _Model, layer: QLinearFloat, tfl) -> None:
    """DEQUANTIZE, a CONCATENATION that puts a constant 1.0 before the features, and a float
    FULLY_CONNECTED without bias whose first weight column is our bias: TFLM sums from 0 in
    index order, so it computes ``((0 + 1 * b) + x_0 w_0) + ...``, the order of our C loop
    (which starts from the bias); a bias input would be added last and change the rounding."""
    op = layer.op
    if op.act != "none":
        raise ExportError(f"{op.name}: a float Linear with a fused {op.act} is not a classifier",
                          "quantize hidden Linear layers to int8")
    n = op.in_features
    xf = m.tensor(f"{op.name}/dequantize", (1, n), tfl.TensorType.FLOAT32)
    m.op(tfl.BuiltinOperator.DEQUANTIZE, [m.index[op.input]], [xf],
         tfl.BuiltinOptions.DequantizeOptions, tfl.DequantizeOptionsT())
    one = m.tensor(f"{op.name}/one", (1, 1), tfl.TensorType.FLOAT32, data=np.ones((1, 1), np.float32))
    xb = m.tensor(f"{op.name}/with_one", (1, n + 1), tfl.TensorType.FLOAT32)
    c = tfl.ConcatenationOptionsT()
    c.axis = 1
    m.op(tfl.BuiltinOperator.CONCATENATION, [one, xf], [xb], tfl.BuiltinOptions.ConcatenationOptions, c)
    wb = np.concatenate([np.asarray(layer.b, np.float32)[:, None], np.asarray(layer.w, np.float32)], axis=1)
    wt = m.tensor(f"{op.name}.bias_weight", wb.shape, tfl.TensorType.FLOAT32, data=wb)
    y = m.tensor(op.output, (1, op.out_features), tfl.TensorType.FLOAT32)
    m.op(tfl.BuiltinOperator.FULLY_CONNECTED, [xb, wt, -1], [y],
         tfl.BuiltinOptions.FullyConnectedOptions, tfl.FullyConnectedOptionsT())


def _check_layer_kinds(qmodel: QModel) -> None:
    if len(qmodel.layers) != len(qmodel.graph.ops):
        raise ExportError(f"{qmodel.graph.name}: {len(qmodel.layers)} layers for "
                          f"{len(qmodel.graph.ops)} graph ops", "build the QModel with quantize_with")
    for i, (op, layer) in enumerate(zip(qmodel.graph.ops, qmodel.layers)):
        if layer.op is not op and layer.op != op:
            raise ExportError(f"layer {i} ({layer.op.name}) is not the graph's op {op.name}",
                              "build the QModel with quantize_with")
        if isinstance(layer, QLinearFloat) and i != len(qmodel.layers) - 1:
            raise ExportError(f"{op.name}: a float Linear in the middle of the model (layer {i}); "
                              "TFLite int8 models keep float only at their output",
                              "quantize hidden Linear layers to int8 (classifier: int8)")
        if isinstance(layer, QConv) and op.kind == "depthwise" and layer.w.shape[-1] != 1:
            raise ExportError(f"{op.name}: a depthwise conv with depth multiplier "
                              f"{layer.w.shape[-1]}", "use depth multiplier 1")


def to_tflite(qmodel: QModel) -> bytes:
    """The model as a TFLite flatbuffer (schema version 3, identifier ``TFL3``): int8 input
    with the model's input QParams, one subgraph, the logits as its only output."""
    import flatbuffers

    tfl = _schema()
    _check_layer_kinds(qmodel)
    g = qmodel.graph
    shapes = g.shapes()
    m = _Model(tfl)
    m.tensor(g.input, (1, *g.input_shape), tfl.TensorType.INT8, qmodel.input)
    for op, layer in zip(g.ops, qmodel.layers):
        if isinstance(layer, QConv):
            _conv(m, layer, shapes[layer.op.input], tfl)
        elif isinstance(layer, QAdd):
            _add(m, layer, shapes[layer.op.output], tfl)
        elif isinstance(layer, QPool):
            _pool(m, layer, shapes[layer.op.input], tfl)
        elif isinstance(layer, QFlatten):
            _flatten(m, layer, shapes[layer.op.input], tfl)
        elif isinstance(layer, QAvgPool):
            _mean(m, layer, shapes[layer.op.input], tfl)
        elif isinstance(layer, QLinear):
            _linear(m, layer, tfl)
        elif isinstance(layer, QLinearFloat):
            _linear_float(m, layer, tfl)
        else:  # pragma: no cover - QLayer is closed
            raise ExportError(f"{op.name}: no TFLite mapping for {type(layer).__name__}",
                              "export models built from the graph IR's ops")
    sg = tfl.SubGraphT()
    sg.tensors, sg.operators, sg.name = m.tensors, m.operators, g.name
    sg.inputs, sg.outputs = [m.index[g.input]], [m.index[g.output]]
    model = tfl.ModelT()
    model.version = 3
    model.description = "mcutrain export"
    model.subgraphs = [sg]
    codes = []
    for c in m.codes:
        oc = tfl.OperatorCodeT()
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = c, min(c, 127), 1
        codes.append(oc)
    model.operatorCodes = codes
    names = tfl.BufferT()
    names.data = np.frombuffer(forms.names_json(g), dtype=np.uint8)
    m.buffers.append(names)
    meta = tfl.MetadataT()
    meta.name, meta.buffer = forms.NAMES_METADATA, len(m.buffers) - 1
    model.metadata = [meta]
    model.buffers = m.buffers
    builder = flatbuffers.Builder(1 << 16)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    bytes: int
    ops: dict[str, int]  # TFLite operator -> count
    params: int  # weight and bias elements


def operator_counts(data: bytes) -> dict[str, int]:
    """TFLite operator name -> count in a flatbuffer's first subgraph."""
    tfl = _schema()
    model = tfl.ModelT.InitFromPackedBuf(data, 0)
    names = {v: k for k, v in vars(tfl.BuiltinOperator).items() if not k.startswith("_")}
    ops: dict[str, int] = {}
    for o in model.subgraphs[0].operators:
        code = model.operatorCodes[o.opcodeIndex]
        name = names[max(code.builtinCode, code.deprecatedBuiltinCode)]
        ops[name] = ops.get(name, 0) + 1
    return ops


def parameter_count(qmodel: QModel) -> int:
    """Weights and biases of the model's convs and linears."""
    return sum(int(layer.w.size + layer.b.size) for layer in qmodel.layers
               if isinstance(layer, (QConv, QLinear, QLinearFloat)))


def save_tflite(qmodel: QModel, path: Path | str) -> ExportSummary:
    """Write ``to_tflite(qmodel)`` to ``path`` atomically (a temporary file renamed into place:
    an error leaves no file, and never a half-written one)."""
    path = Path(path)
    data = to_tflite(qmodel)
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {e.strerror or e}",
                          "give a writable output path (-o)") from None
    return ExportSummary(path=path, bytes=len(data), ops=operator_counts(data),
                         params=parameter_count(qmodel))
