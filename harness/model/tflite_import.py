"""Import an int8 TFLite model as a ``QModel``: the graph, the int8 weights and int32 biases as
they are in the file, and every multiplier, shift and clamp computed the way TFLite Micro
computes them, so ``qops.forward`` returns TFLM's int8 logits bit for bit.

The file is read with the flatbuffer object API TFLite Micro ships (``schema_py_generated``).
A model the importer cannot represent exactly raises one ``ModelImportError`` naming the
operator, its index and what is supported; it never returns an approximation.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ..errors import ModelImportError
from . import qmath
from . import tflite_forms as forms
from .graph import Add, Conv, Flatten, GlobalAvgPool, Graph, Linear, Op, Pool
from .qmodel import QAvgPool, QConv, QFlatten, QLayer, QLinear, QLinearFloat, QModel, QParams, QPool
from .quantize import qadd

SUPPORTED = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D",
             "MAX_POOL_2D", "MEAN (over H and W)", "RESHAPE", "PAD (before a conv)",
             "QUANTIZE (float input only)", "SOFTMAX and DEQUANTIZE (at the end only)")
_SUPPORTED_TEXT = ", ".join(SUPPORTED)
_FIX_OPS = ("export a model made of the supported operators only (an int8 post-training-quantized "
            "CNN whose last layer is a Dense classifier), or describe it with `model: {layers: ...}` "
            "and train it here")
_FIX_LAYER = ("re-convert the model with full int8 post-training quantization (int8 activations, "
              "symmetric int8 weights, int32 biases, the TFLite converter's defaults), or describe "
              "it with `model: {layers: ...}` and train it here")
_INSTALL_FIX = "pip install tflite-micro (bootstrap.sh installs it)"

_INT8, _INT32, _FLOAT32 = 9, 2, 0
_TYPE_NAMES = {0: "FLOAT32", 1: "FLOAT16", 2: "INT32", 3: "UINT8", 4: "INT64", 7: "INT16", 9: "INT8"}
_SAME, _VALID = 0, 1
_ACT = {0: "none", 1: "relu", 3: "relu6"}
_ACT_NAMES = {2: "RELU_N1_TO_1", 4: "TANH", 5: "SIGN_BIT"}


def _schema() -> Any:
    try:
        from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl
    except ImportError:
        raise ModelImportError("reading a .tflite model needs the tflite_micro Python package, "
                               "which is not installed", _INSTALL_FIX) from None
    return tfl


def act_range(act: str, y: QParams) -> tuple[int, int]:
    """TFLite's CalculateActivationRangeQuantized for int8: ``z + round(f / s)`` in float32
    (``std::round``, ties away from zero), clamped to [-128, 127]."""
    if act == "none":
        return -128, 127

    def q(f: float) -> int:
        return y.zero_point + int(qmath.round_half_away(np.float32(f) / np.float32(y.scale)))

    lo = max(-128, q(0.0))
    return (lo, 127) if act == "relu" else (lo, min(127, q(6.0)))


def same_pads(size: int, k: int, s: int, out: int) -> tuple[int, int]:
    """TFLite SAME padding along one axis: (before, after), the extra pixel after."""
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


@dataclasses.dataclass(frozen=True)
class _Tensor:
    """What an imported tensor became: our tensor name, its per-sample shape, its QParams."""

    name: str
    shape: tuple[int, ...]
    q: QParams
    pads: Optional[tuple[int, int, int, int]] = None  # a PAD folded into the next conv


class _Importer:
    def __init__(self, buf: bytes, name: str):
        self.tfl = _schema()
        self.name = name
        if len(buf) < 8 or buf[4:8] != b"TFL3":
            raise ModelImportError(f"model '{name}' is not a TFLite flatbuffer (no 'TFL3' "
                                   "identifier in bytes 4..8)",
                                   "give the path of a .tflite file written by the TFLite converter")
        self.buf = buf
        try:
            self.m = self.tfl.ModelT.InitFromPackedBuf(buf, 0)
        except Exception as e:  # a damaged flatbuffer raises anything from struct or flatbuffers
            raise ModelImportError(f"model '{name}' cannot be parsed as a TFLite flatbuffer "
                                   f"({type(e).__name__}: {e})",
                                   "the file is damaged; export it again") from None
        if not self.m.subgraphs or len(self.m.subgraphs) != 1:
            raise ModelImportError(f"model '{name}' has {len(self.m.subgraphs or [])} subgraphs; "
                                   "the importer reads models with exactly one",
                                   "export a model without control flow (one subgraph)")
        self.sg = self.m.subgraphs[0]
        self.ops_names = {v: k for k, v in vars(self.tfl.BuiltinOperator).items()
                          if not k.startswith("_")}
        self.seen: dict[int, _Tensor] = {}
        self.ops: list[Op] = []
        self.layers: list[QLayer] = []

    # --- reading the flatbuffer ------------------------------------------------------------

    def op_name(self, op: Any) -> str:
        code = self.m.operatorCodes[op.opcodeIndex]
        if code.customCode:
            custom = code.customCode
            return f"CUSTOM '{custom.decode() if isinstance(custom, bytes) else custom}'"
        num = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        return self.ops_names.get(num, f"BUILTIN_{num}")

    def fail(self, index: int, op: Any, cause: str, fix: str = _FIX_LAYER,
             listing: bool = False) -> ModelImportError:
        """The one import error: the operator, its index in the file, the cause (and, for an
        operator the importer does not read, the list of those it does)."""
        extra = f"; the importer supports {_SUPPORTED_TEXT}" if listing else ""
        return ModelImportError(f"model '{self.name}': operator {index} ({self.op_name(op)}): "
                                f"{cause}{extra}", fix)

    def tensor(self, i: int) -> Any:
        return self.sg.tensors[i]

    def shape(self, i: int) -> tuple[int, ...]:
        t = self.tensor(i)
        return tuple(int(d) for d in (t.shape if t.shape is not None else ()))

    def type_name(self, i: int) -> str:
        return _TYPE_NAMES.get(int(self.tensor(i).type), f"type {int(self.tensor(i).type)}")

    def data(self, i: int) -> Optional[np.ndarray]:
        """A constant tensor's values (typed, shaped), or None for an activation."""
        t = self.tensor(i)
        b = self.m.buffers[t.buffer] if 0 < t.buffer < len(self.m.buffers) else None
        if b is None:
            return None
        if b.data is not None and len(b.data):
            raw = np.asarray(b.data, dtype=np.uint8).tobytes()
        elif b.offset > 1 and b.size:
            raw = self.buf[b.offset:b.offset + b.size]
        else:
            return None
        dtype = {_INT8: np.int8, _INT32: np.int32, _FLOAT32: np.float32, 3: np.uint8,
                 4: np.int64, 7: np.int16}.get(int(t.type))
        if dtype is None:
            return None
        return np.frombuffer(raw, dtype=dtype).reshape(self.shape(i))

    def scales(self, i: int) -> tuple[np.ndarray, np.ndarray, int]:
        """(scale float32[], zero_point int64[], quantized dimension) of a tensor."""
        qp = self.tensor(i).quantization
        if qp is None or qp.scale is None or len(qp.scale) == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64), 0
        zp = qp.zeroPoint if qp.zeroPoint is not None else np.zeros(len(qp.scale), np.int64)
        return (np.asarray(qp.scale, dtype=np.float32), np.asarray(zp, dtype=np.int64),
                int(qp.quantizedDimension))

    def act_qparams(self, index: int, op: Any, i: int, what: str) -> QParams:
        if int(self.tensor(i).type) != _INT8:
            raise self.fail(index, op, f"its {what} tensor is {self.type_name(i)}, not int8 "
                            "(only fully int8-quantized models import)",
                            "quantize the model to int8 (activations and weights) with the TFLite "
                            "converter's representative dataset")
        s, z, _ = self.scales(i)
        if len(s) != 1:
            raise self.fail(index, op, f"its {what} tensor has {len(s)} scales; an activation "
                            "needs exactly one (per-tensor)")
        return QParams(scale=float(s[0]), zero_point=int(z[0]))

    # --- the walk ---------------------------------------------------------------------------

    def run(self) -> QModel:
        ops = list(self.sg.operators or [])
        first, end = 0, len(ops)
        outputs = list(self.sg.outputs)
        while end > first and self.op_name(ops[end - 1]) in ("SOFTMAX", "DEQUANTIZE") \
                and outputs == [int(ops[end - 1].outputs[0])]:
            outputs = [int(ops[end - 1].inputs[0])]
            end -= 1
        # mcutrain's float classifier form (tflite_forms): DEQUANTIZE, CONCAT(1.0, x), float FC
        tail = forms.float_classifier_tail(ops, end, self.op_name, self.data)
        if tail is not None and outputs == [int(ops[end - 1].outputs[0])]:
            end = tail.first_op
        else:
            tail = None
        inputs = list(self.sg.inputs)
        if len(inputs) != 1:
            raise ModelImportError(f"model '{self.name}' has {len(inputs)} inputs; the importer "
                                   "reads single-input models", _FIX_OPS)
        x_in = inputs[0]
        if first < end and self.op_name(ops[0]) == "QUANTIZE" \
                and [int(t) for t in ops[0].inputs] == [x_in]:
            x_in = int(ops[0].outputs[0])
            first = 1
        if int(self.tensor(x_in).type) != _INT8:
            raise ModelImportError(
                f"model '{self.name}' takes {self.type_name(x_in)} input without a QUANTIZE "
                "to int8 after it: it is not an int8-quantized model",
                "convert it with full int8 post-training quantization (the TFLite converter's "
                "`optimizations=[tf.lite.Optimize.DEFAULT]` with a representative dataset)")
        shape = self.shape(x_in)
        if len(shape) != 4 or shape[0] != 1:
            raise ModelImportError(f"model '{self.name}' has input shape {list(shape)}; the "
                                   "importer reads a batch of one (1, H, W, C) feature map",
                                   "export the model with a (1, H, W, C) input")
        s, z, _ = self.scales(x_in)
        if len(s) != 1:
            raise ModelImportError(f"model '{self.name}': the input has {len(s)} scales, not one",
                                   "quantize the input per tensor")
        x_q = QParams(scale=float(s[0]), zero_point=int(z[0]))
        self.seen[x_in] = _Tensor("input", shape[1:], x_q)
        if first == end:
            raise ModelImportError(f"model '{self.name}' has no layers", _FIX_OPS)
        for index in range(first, end):
            self.op(index, ops[index])
        if tail is not None:
            self.float_classifier(tail, ops, outputs[0])
        if len(outputs) != 1 or outputs[0] not in self.seen:
            raise ModelImportError(f"model '{self.name}' has {len(outputs)} outputs; the importer "
                                   "reads one classifier output", _FIX_OPS)
        last = self.ops[-1] if self.ops else None
        if not isinstance(last, Linear) or self.seen[outputs[0]].name != last.output:
            raise ModelImportError(
                f"model '{self.name}' does not end in a FULLY_CONNECTED classifier (before any "
                f"SOFTMAX / DEQUANTIZE); its last layer is operator {end - 1} "
                f"({self.op_name(ops[end - 1])})",
                "end the model with a Dense layer giving one logit per class")
        graph = Graph(name=self.name, input_shape=tuple(shape[1:]), ops=tuple(self.ops))  # type: ignore[arg-type]
        graph.shapes()  # the IR's own consistency check
        qmodel = QModel(graph=graph, input=x_q, layers=tuple(self.layers))
        for meta in self.m.metadata or []:  # names an mcutrain export recorded
            if meta.name is not None and meta.name.decode() == forms.NAMES_METADATA \
                    and 0 < meta.buffer < len(self.m.buffers) and self.m.buffers[meta.buffer].data is not None:
                qmodel = forms.restore_names(qmodel, bytes(self.m.buffers[meta.buffer].data))
        return qmodel

    def source(self, index: int, op: Any, i: int) -> _Tensor:
        """The imported tensor an operator reads; every activation is made before it is read."""
        if i not in self.seen:
            raise self.fail(index, op, f"it reads tensor {i} ('{self.tensor(i).name}') that no "
                            "supported operator produced (a constant where an activation belongs, "
                            "or a second model input)", _FIX_OPS)
        t = self.seen[i]
        if t.pads is not None and self.op_name(op) not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            raise self.fail(index, op, "it reads the output of a PAD; a PAD is imported only "
                            "when a conv reads it (the padding then becomes the conv's)", _FIX_OPS)
        return t

    def emit(self, op: Op, layer: QLayer, out: int, shape: tuple[int, ...], q: QParams) -> None:
        self.ops.append(op)
        self.layers.append(layer)
        self.seen[out] = _Tensor(op.name, shape, q)

    def fused(self, index: int, op: Any) -> str:
        code = int(op.builtinOptions.fusedActivationFunction) if op.builtinOptions else 0
        if code not in _ACT:
            raise self.fail(index, op, f"its fused activation {_ACT_NAMES.get(code, code)} is "
                            "not supported (NONE, RELU and RELU6 are)",
                            "use a ReLU, a ReLU6 or no activation after that layer")
        return _ACT[code]

    def op(self, index: int, op: Any) -> None:
        kind = self.op_name(op)
        handler = {"CONV_2D": self.conv, "DEPTHWISE_CONV_2D": self.conv,
                   "FULLY_CONNECTED": self.fc, "ADD": self.add,
                   "AVERAGE_POOL_2D": self.pool, "MAX_POOL_2D": self.pool,
                   "MEAN": self.mean, "RESHAPE": self.reshape, "PAD": self.pad}.get(kind)
        if handler is None:
            where = (" (only the last operators may be SOFTMAX / DEQUANTIZE)"
                     if kind in ("SOFTMAX", "DEQUANTIZE") else
                     " (only the first operator may be a QUANTIZE, from the float input)"
                     if kind == "QUANTIZE" else "")
            raise self.fail(index, op, f"the operator is not supported here{where}", _FIX_OPS,
                            listing=True)
        if len(op.outputs) != 1:
            raise self.fail(index, op, f"it has {len(op.outputs)} outputs, not one", _FIX_OPS)
        handler(index, op, kind)

    # --- operators --------------------------------------------------------------------------

    def weights(self, index: int, op: Any, i: int, channels: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
        """int8 weights and their per-channel float32 scales (a per-tensor scale repeated)."""
        w = self.data(i)
        if w is None or int(self.tensor(i).type) != _INT8:
            raise self.fail(index, op, f"its weights are {self.type_name(i)}"
                            f"{'' if w is not None else ' and not constant'}, not constant int8",
                            "quantize the weights to int8 (full int8 post-training quantization)")
        s, z, dim = self.scales(i)
        if len(s) == 0:
            raise self.fail(index, op, "its int8 weights have no quantization scale")
        if np.any(z != 0):
            raise self.fail(index, op, "its weights have a nonzero zero point; int8 weights must "
                            "be symmetric (zero point 0)",
                            "quantize the weights symmetrically, as the TFLite converter does")
        if len(s) == 1:
            s = np.full(channels, s[0], dtype=np.float32)
        elif len(s) != channels or dim != axis:
            raise self.fail(index, op, f"its weights have {len(s)} scales along axis {dim}; "
                            f"expected 1 (per tensor) or {channels} along axis {axis} (per "
                            "output channel)")
        return w, s

    def bias(self, index: int, op: Any, channels: int, x: QParams, s_w: np.ndarray) -> np.ndarray:
        if len(op.inputs) < 3 or int(op.inputs[2]) < 0:
            return np.zeros(channels, dtype=np.int32)
        i = int(op.inputs[2])
        b = self.data(i)
        if b is None or int(self.tensor(i).type) != _INT32 or b.size != channels:
            raise self.fail(index, op, f"its bias is {self.type_name(i)} with shape "
                            f"{list(self.shape(i))}; expected a constant int32 vector of "
                            f"{channels}", "quantize biases to int32 (the TFLite converter does)")
        s, z, _ = self.scales(i)
        want = np.float32(x.scale) * s_w
        if len(s) not in (1, channels) or np.any(z != 0) or \
                not np.allclose(np.broadcast_to(s, want.shape), want, rtol=1e-5, atol=0):
            raise self.fail(index, op, "its int32 bias is not quantized with scale "
                            "s_input * s_weight[c] and zero point 0",
                            "quantize the bias with the input and weight scales (the TFLite "
                            "converter does)")
        return b.reshape(channels).astype(np.int32)

    def window(self, index: int, op: Any, hw: tuple[int, int], kh: int, kw: int,
               out_hw: tuple[int, int]) -> tuple[int, int, int, int, int, int]:
        """(sh, sw, pt, pb, pl, pr) of a conv or pool, checked against the output's shape."""
        o = op.builtinOptions
        sh, sw = int(o.strideH), int(o.strideW)
        if getattr(o, "dilationHFactor", 1) != 1 or getattr(o, "dilationWFactor", 1) != 1:
            raise self.fail(index, op, f"dilation {o.dilationHFactor}x{o.dilationWFactor} is "
                            "not supported (dilation 1 is)", "use undilated convolutions")
        if sh < 1 or sw < 1:
            raise self.fail(index, op, f"stride {sh}x{sw} is invalid",
                            "the file is inconsistent; export it again")
        if int(o.padding) == _SAME:
            pt, pb = same_pads(hw[0], kh, sh, out_hw[0])
            pl, pr = same_pads(hw[1], kw, sw, out_hw[1])
        else:
            pt = pb = pl = pr = 0
        got = ((hw[0] + pt + pb - kh) // sh + 1, (hw[1] + pl + pr - kw) // sw + 1)
        if got != tuple(out_hw):
            raise self.fail(index, op, f"its output is {out_hw[0]}x{out_hw[1]} but a "
                            f"{kh}x{kw} window at stride {sh}x{sw} over {hw[0]}x{hw[1]} "
                            f"gives {got[0]}x{got[1]}", "the file is inconsistent; export it again")
        return sh, sw, pt, pb, pl, pr

    @staticmethod
    def window_fields(kh: int, kw: int, sh: int, sw: int,
                      pads: tuple[int, int, int, int]) -> dict[str, Any]:
        """Conv / Pool fields for a window: the regular form when it is regular."""
        fields: dict[str, Any] = {"kernel": kh, "stride": sh}
        if kw != kh:
            fields["kernel_w"] = kw
        if sw != sh:
            fields["stride_w"] = sw
        if len(set(pads)) == 1:
            fields["padding"] = pads[0]
        else:
            fields["pads"] = pads
        return fields

    def conv(self, index: int, op: Any, kind: str) -> None:
        src = self.source(index, op, int(op.inputs[0]))
        x = src.q
        if len(src.shape) != 3:
            raise self.fail(index, op, f"its input has shape {list(src.shape)}, not (H, W, C)",
                            _FIX_OPS)
        out = int(op.outputs[0])
        y = self.act_qparams(index, op, out, "output")
        oshape = self.shape(out)
        h, w_, cin = src.shape
        cout = oshape[3]
        depthwise = kind == "DEPTHWISE_CONV_2D"
        wt, s_w = self.weights(index, op, int(op.inputs[1]), cout, 3 if depthwise else 0)
        if depthwise:
            # depth multiplier 1 is our depthwise; from a single input channel, any multiplier
            # is a plain conv (output channel m reads channel 0 with filter m)
            if wt.shape[0] != 1 or (cout != cin and cin != 1):
                raise self.fail(index, op, f"depth multiplier {cout // max(cin, 1)} (weights "
                                f"{list(wt.shape)}, {cin} -> {cout} channels); only depth "
                                "multiplier 1, or any multiplier from one input channel, is "
                                "supported", "use depth multiplier 1 (a DepthwiseConv2D, then a "
                                "1x1 Conv2D for more channels)")
            w_q = np.ascontiguousarray(wt[0].transpose(2, 0, 1)[..., None])  # [C, KH, KW, 1]
            groups = cin
        else:
            if cin % wt.shape[3] or cout % (cin // wt.shape[3]):
                raise self.fail(index, op, f"weights {list(wt.shape)} do not fit {cin} input "
                                "channels", "the file is inconsistent; export it again")
            w_q = np.ascontiguousarray(wt)
            groups = cin // wt.shape[3]
        kh, kw = int(w_q.shape[1]), int(w_q.shape[2])
        pre = src.pads or (0, 0, 0, 0)
        hp, wp = h + pre[0] + pre[1], w_ + pre[2] + pre[3]
        sh, sw, pt, pb, pl, pr = self.window(index, op, (hp, wp), kh, kw, oshape[1:3])
        pads = (pt + pre[0], pb + pre[1], pl + pre[2], pr + pre[3])
        act = self.fused(index, op)
        b = self.bias(index, op, cout, x, s_w)
        if depthwise and tuple(oshape[1:3]) == (1, 1) and act == "none" \
                and forms.depthwise_is_gap(x, y, (h, w_), w_q, s_w, b, pads):
            # mcutrain's exact global average pool form (tflite_forms)
            name = f"gap{index}"
            g_pool = GlobalAvgPool(name=name, input=src.name, output=name)
            mult, shift = forms.gap_multiplier(x, y, h * w_)
            self.emit(g_pool, QAvgPool(op=g_pool, x=x, y=y, multiplier=mult, shift=shift), out,
                      (cout,), y)
            return
        name = f"{'dw' if groups > 1 else 'conv'}{index}"
        g = Conv(name=name, input=src.name, output=name, in_ch=cin, out_ch=cout, groups=groups,
                 relu=act == "relu", relu6=act == "relu6",
                 **self.window_fields(kh, kw, sh, sw, pads))
        mult, shift = qmath.channel_multipliers(x.scale, s_w, y.scale)
        lo, hi = act_range(act, y)
        layer = QConv(op=g, x=x, y=y, w=w_q, w_scale=s_w, b=b, multiplier=mult, shift=shift,
                      act_min=lo, act_max=hi)
        self.emit(g, layer, out, tuple(oshape[1:]), y)

    def flatten_to_vector(self, index: int, src: _Tensor) -> _Tensor:
        if len(src.shape) == 1:
            return src
        name = f"flatten{index}"
        g = Flatten(name=name, input=src.name, output=name)
        self.ops.append(g)
        self.layers.append(QFlatten(op=g, x=src.q))
        return _Tensor(name, (int(np.prod(src.shape)),), src.q)

    def fc(self, index: int, op: Any, kind: str) -> None:
        src = self.flatten_to_vector(index, self.source(index, op, int(op.inputs[0])))
        x = src.q
        out = int(op.outputs[0])
        y = self.act_qparams(index, op, out, "output")
        if getattr(op.builtinOptions, "weightsFormat", 0) != 0:
            raise self.fail(index, op, "its weights use a shuffled format (only DEFAULT is "
                            "supported)", "convert the model without shuffled fully connected "
                            "weights (the converter's default)")
        wshape = self.shape(int(op.inputs[1]))
        if len(wshape) != 2 or wshape[1] != src.shape[0]:
            raise self.fail(index, op, f"weights {list(wshape)} do not fit an input of "
                            f"{src.shape[0]} features", "the file is inconsistent; export it again")
        nout = wshape[0]
        w_q, s_w = self.weights(index, op, int(op.inputs[1]), nout, 0)
        per_tensor = len(self.scales(int(op.inputs[1]))[0]) == 1
        act = self.fused(index, op)
        b = self.bias(index, op, nout, x, s_w)
        name = f"fc{index}"
        g = Linear(name=name, input=src.name, output=name, in_features=src.shape[0],
                   out_features=nout, relu=act == "relu", relu6=act == "relu6")
        if per_tensor:
            # TFLM's per-tensor path: the product of the float32 scales in float32, then double
            m = float(np.float32(np.float32(x.scale) * s_w[0])) / float(np.float32(y.scale))
            m1, sh1 = qmath.quantize_multiplier(m)
            mult = np.full(nout, m1, dtype=np.int32)
            shift = np.full(nout, sh1, dtype=np.int32)
        else:
            mult, shift = qmath.channel_multipliers(x.scale, s_w, y.scale)
        lo, hi = act_range(act, y)
        layer = QLinear(op=g, x=x, y=y, w=np.ascontiguousarray(w_q), w_scale=s_w, b=b,
                        multiplier=mult, shift=shift, act_min=lo, act_max=hi)
        self.emit(g, layer, out, (nout,), y)

    def add(self, index: int, op: Any, kind: str) -> None:
        if len(op.inputs) != 2:
            raise self.fail(index, op, f"it has {len(op.inputs)} inputs, not 2", _FIX_OPS)
        a = self.source(index, op, int(op.inputs[0]))
        b = self.source(index, op, int(op.inputs[1]))
        if a.shape != b.shape:
            raise self.fail(index, op, f"it adds shapes {list(a.shape)} and {list(b.shape)}; "
                            "broadcasting is not supported", _FIX_OPS)
        out = int(op.outputs[0])
        y = self.act_qparams(index, op, out, "output")
        act = self.fused(index, op)
        name = f"add{index}"
        g = Add(name=name, inputs=(a.name, b.name), output=name, relu=act == "relu",
                relu6=act == "relu6")
        lo, hi = act_range(act, y)
        layer = dataclasses.replace(qadd(g, a.q, b.q, y), act_min=lo, act_max=hi)
        self.emit(g, layer, out, a.shape, y)

    def pool(self, index: int, op: Any, kind: str) -> None:
        src = self.source(index, op, int(op.inputs[0]))
        if len(src.shape) != 3:
            raise self.fail(index, op, f"its input has shape {list(src.shape)}, not (H, W, C)",
                            _FIX_OPS)
        out = int(op.outputs[0])
        y = self.act_qparams(index, op, out, "output")
        if y != src.q:
            raise self.fail(index, op, f"its output QParams {y} differ from its input's {src.q}; "
                            "an int8 pool keeps them (TFLite requires it)")
        o = op.builtinOptions
        kh, kw = int(o.filterHeight), int(o.filterWidth)
        oshape = self.shape(out)
        sh, sw, *pads = self.window(index, op, src.shape[:2], kh, kw, oshape[1:3])
        act = self.fused(index, op)
        mode = "max" if kind == "MAX_POOL_2D" else "avg"
        name = f"{mode}pool{index}"
        g = Pool(name=name, input=src.name, output=name, mode=mode,
                 **self.window_fields(kh, kw, sh, sw, tuple(pads)))  # type: ignore[arg-type]
        lo, hi = act_range(act, y)
        self.emit(g, QPool(op=g, x=src.q, y=y, act_min=lo, act_max=hi), out,
                  tuple(oshape[1:]), y)

    def float_classifier(self, tail: forms.FloatClassifier, ops: list, out: int) -> None:
        index = tail.first_op
        src = self.flatten_to_vector(index, self.source(index, ops[index], tail.input_tensor))
        nout, nin = tail.w.shape
        if nin != src.shape[0]:
            raise self.fail(index + 2, ops[index + 2], f"its float weights take {nin} features, "
                            f"its input has {src.shape[0]}")
        name = f"fc{index}"
        g = Linear(name=name, input=src.name, output=name, in_features=nin, out_features=nout)
        self.emit(g, QLinearFloat(op=g, x=src.q, w=tail.w, b=tail.b), out, (nout,), src.q)

    def mean(self, index: int, op: Any, kind: str) -> None:
        src = self.source(index, op, int(op.inputs[0]))
        axis = self.data(int(op.inputs[1])) if len(op.inputs) > 1 else None
        if len(src.shape) != 3 or axis is None or sorted(int(a) for a in axis.ravel()) != [1, 2]:
            raise self.fail(index, op, f"it averages axes {None if axis is None else axis.ravel().tolist()} "
                            f"of shape {[1, *src.shape]}; only the mean over H and W (axes 1, 2) "
                            "of a feature map is supported", _FIX_OPS)
        out = int(op.outputs[0])
        y = self.act_qparams(index, op, out, "output")
        x = src.q
        if np.float32(x.scale) == np.float32(y.scale) and x.zero_point == y.zero_point:
            raise self.fail(index, op, "its input and output share QParams, where TFLite Micro "
                            "averages the raw int8 values truncating toward zero; the global "
                            "average pool requantizes (rounding), so the result would differ",
                            "requantize the mean's output (any output scale other than the "
                            "input's), or end the features with an AVERAGE_POOL_2D")
        n = src.shape[0] * src.shape[1]
        mult, shift = qmath.quantize_multiplier(float(np.float32(x.scale)) / float(np.float32(y.scale)))
        # TFLM folds 1/n into the multiplier (reference_ops::QuantizedMeanOrSum): it moves
        # floor(log2 n) bits into the multiplier, then divides it by n in int64
        k = min(n.bit_length() - 1, 32, 31 + shift)
        if k < 0:
            raise self.fail(index, op, f"its scale ratio {x.scale / y.scale:.3g} is too small for "
                            "TFLM's mean (the multiplier underflows)", _FIX_LAYER)
        mult, shift = int((mult << k) // n), shift - k
        name = f"gap{index}"
        g = GlobalAvgPool(name=name, input=src.name, output=name)
        self.emit(g, QAvgPool(op=g, x=x, y=y, multiplier=mult, shift=shift), out,
                  (src.shape[2],), y)

    def reshape(self, index: int, op: Any, kind: str) -> None:
        src = self.source(index, op, int(op.inputs[0]))
        out = int(op.outputs[0])
        y = self.act_qparams(index, op, out, "output")
        if y != src.q:
            raise self.fail(index, op, f"its output QParams {y} differ from its input's {src.q}")
        oshape = self.shape(out)
        if not oshape or oshape[0] != 1 or int(np.prod(oshape)) != int(np.prod(src.shape)):
            raise self.fail(index, op, f"it reshapes {[1, *src.shape]} to {list(oshape)}; only "
                            "a batch of one keeping every element is supported", _FIX_OPS)
        if len(oshape) == 2 and len(src.shape) == 3:
            flat = self.flatten_to_vector(index, src)
            self.seen[out] = flat
        elif [d for d in oshape[1:] if d != 1] == [d for d in src.shape if d != 1] and \
                (len(src.shape) == 1 or len(oshape) == 4 and oshape[1:] == src.shape):
            self.seen[out] = src  # the same bytes and our shape: an identity
        elif len(src.shape) == 1 and [d for d in oshape[1:] if d != 1] == list(src.shape):
            self.seen[out] = src  # a vector with 1-axes added: still the same vector
        else:
            raise self.fail(index, op, f"it reshapes {[1, *src.shape]} to {list(oshape)}; only "
                            "a feature map to a vector (a flatten) or a reshape that only adds "
                            "or drops 1-axes of a vector is supported", _FIX_OPS)

    def pad(self, index: int, op: Any, kind: str) -> None:
        src = self.source(index, op, int(op.inputs[0]))
        out = int(op.outputs[0])
        y = self.act_qparams(index, op, out, "output")
        p = self.data(int(op.inputs[1])) if len(op.inputs) > 1 else None
        if len(src.shape) != 3 or p is None or p.shape != (4, 2):
            raise self.fail(index, op, "only a PAD of a (1, H, W, C) feature map with constant "
                            "paddings is supported", _FIX_OPS)
        p = p.astype(np.int64)
        if np.any(p < 0) or np.any(p[0]) or np.any(p[3]):
            raise self.fail(index, op, f"paddings {p.tolist()}: only H and W may be padded, by "
                            ">= 0", _FIX_OPS)
        if y != src.q:
            raise self.fail(index, op, f"its output QParams {y} differ from its input's {src.q}; "
                            "the pad value must be the zero point (a real 0)")
        if src.pads is not None:
            raise self.fail(index, op, "it pads the output of another PAD", _FIX_OPS)
        pads = (int(p[1, 0]), int(p[1, 1]), int(p[2, 0]), int(p[2, 1]))
        self.seen[out] = dataclasses.replace(src, pads=pads)


def load_tflite(source: Union[Path, bytes], name: Optional[str] = None) -> QModel:
    """Read an int8 ``.tflite`` (a path or its bytes) as a ``QModel`` bit-exact with TFLM."""
    return load_tflite_mapped(source, name)[0]


def load_tflite_mapped(source: Union[Path, bytes],
                       name: Optional[str] = None) -> tuple[QModel, dict[int, str]]:
    """``load_tflite`` and, for every TFLite tensor the import made (by its index in the
    subgraph), the name of our tensor holding the same int8 values (a PAD's output maps to its
    input: the padding moved into the conv)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        buf = bytes(source)
        name = name or "tflite"
    else:
        path = Path(source)
        try:
            buf = path.read_bytes()
        except OSError as e:
            raise ModelImportError(f"cannot read the TFLite model {path}: {e.strerror or e}",
                                   "check the path (relative paths are from the scenario file)") from None
        name = name or path.name.removesuffix(".tflite")
    imp = _Importer(buf, name)
    qmodel = imp.run()
    return qmodel, {i: t.name for i, t in imp.seen.items() if t.pads is None}
