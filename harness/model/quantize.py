"""Post-training int8 quantization (docs/arithmetic.md §2-4): fold BN, calibrate every
activation's range exactly on a sample set, quantize weights per channel, build the ``QModel``.
"""
from __future__ import annotations

import logging
from typing import Literal, Mapping

import numpy as np

from . import qmath
from .fold import fold_bn
from .graph import Activation, Add, Conv, Flatten, GlobalAvgPool, Graph, Linear, Pool
from .qmodel import (QAdd, QAvgPool, QConv, QFlatten, QLayer, QLinear, QLinearFloat, QModel, QParams,
                     QPool)
from .train import Params, check_params

log = logging.getLogger(__name__)


def act_range(act: Activation, y: QParams) -> tuple[int, int]:
    """The int8 clamp of a fused activation (docs/arithmetic.md §4): none [-128, 127], ReLU
    ``[max(-128, z_y), 127]``, ReLU6 ``[max(-128, z_y), min(127, z_y + round(6 / s_y))]``."""
    if act == "relu6":
        return qmath.relu6_range(y)
    if act == "relu":
        return max(-128, y.zero_point), 127
    return -128, 127


def qconv(op: Conv, params: Params, x: QParams, y: QParams) -> QConv:
    w_q, s_w = qmath.quantize_weights(params[f"{op.name}.weight"])
    b_q = qmath.quantize_bias(params[f"{op.name}.bias"], x.scale, s_w)
    mult, shift = qmath.channel_multipliers(x.scale, s_w, y.scale)
    act_min, act_max = act_range(op.act, y)
    return QConv(op=op, x=x, y=y, w=w_q, w_scale=s_w, b=b_q, multiplier=mult, shift=shift,
                 act_min=act_min, act_max=act_max)


def qadd(op: Add, a: QParams, b: QParams, y: QParams) -> QAdd:
    sa, sb, sy = (float(np.float32(q.scale)) for q in (a, b, y))
    twice_max = 2.0 * max(sa, sb)
    am, ash = qmath.quantize_multiplier(sa / twice_max)
    bm, bsh = qmath.quantize_multiplier(sb / twice_max)
    om, osh = qmath.quantize_multiplier(twice_max / (float(1 << 20) * sy))
    act_min, act_max = act_range(op.act, y)
    return QAdd(op=op, a=a, b=b, y=y, a_multiplier=am, a_shift=ash, b_multiplier=bm, b_shift=bsh,
                out_multiplier=om, out_shift=osh, act_min=act_min, act_max=act_max)


def qpool(op: GlobalAvgPool, x: QParams, y: QParams, hw: int) -> QAvgPool:
    m = float(np.float32(x.scale)) / (float(np.float32(y.scale)) * hw)
    mult, shift = qmath.quantize_multiplier(m)
    return QAvgPool(op=op, x=x, y=y, multiplier=mult, shift=shift)


def qlinear(op: Linear, params: Params, x: QParams, y: QParams) -> QLinear:
    w_q, s_w = qmath.quantize_weights(params[f"{op.name}.weight"])
    b_q = qmath.quantize_bias(params[f"{op.name}.bias"], x.scale, s_w)
    mult, shift = qmath.channel_multipliers(x.scale, s_w, y.scale)
    act_min, act_max = act_range(op.act, y)
    return QLinear(op=op, x=x, y=y, w=w_q, w_scale=s_w, b=b_q, multiplier=mult, shift=shift,
                   act_min=act_min, act_max=act_max)


def qwindow_pool(op: Pool, x: QParams) -> QPool:
    """A max / average pool keeps its input's QParams (TFLite's int8 pools do)."""
    return QPool(op=op, x=x, y=x)


def quantize_model(graph: Graph, params: Params, calib_x: np.ndarray,
                   classifier: Literal["float", "int8"] = "float",
                   input_range: tuple[float, float] = (0.0, 1.0)) -> QModel:
    """Fold BN, calibrate exactly on ``calib_x`` (float32 (N, H, W, C) in the input range) and
    quantize.

    The input's QParams come from ``input_range`` (the sensor's range: images in [0, 1] give
    s = 1/255, z = -128, so a uint8 pixel p becomes p - 128 exactly); every other tensor's
    from ``calibrate.calibrate_exact``, so the result is the same on every machine.
    ``classifier="float"`` keeps the final Linear in float32 (``QLinearFloat``; the paper's
    choice, +2.3 pp), ``"int8"`` quantizes it like a conv (``QLinear``).
    """
    check_classifier(classifier)
    check_params(graph, params)
    if calib_x.shape[0] == 0:
        raise ValueError("quantize_model: the calibration set is empty")
    from .calibrate import calibrate_exact  # late: calibrate builds its layers with this module

    fgraph, fparams = fold_bn(graph, params)
    input_qp = qmath.qparams_from_range(*input_range)
    qp = calibrate_exact(fgraph, fparams, qmath.quantize_tensor(calib_x, input_qp), input_qp)
    log.info("calibrated %s exactly on %d samples", graph.name, calib_x.shape[0])
    return quantize_with(fgraph, fparams, qp, classifier)


def check_classifier(classifier: str) -> None:
    if classifier not in ("float", "int8"):
        raise ValueError(f"classifier must be 'float' or 'int8', got {classifier!r}")


def quantize_with(graph: Graph, params: Params, qp: Mapping[str, QParams],
                  classifier: Literal["float", "int8"] = "float") -> QModel:
    """The ``QModel`` of a folded float model with known activation QParams (every tensor).

    Only elementwise float64 arithmetic happens here (per-channel weight scales, bias and
    multiplier rounding), which IEEE 754 fixes bit for bit on every machine.
    """
    check_classifier(classifier)
    if any(isinstance(op, Conv) and op.bn for op in graph.ops):
        raise ValueError("quantize_with: fold BatchNorm first (model.fold.fold_bn)")
    check_params(graph, params)
    missing = [t for t in [graph.input, *(op.output for op in graph.ops)] if t not in qp]
    if missing:
        raise ValueError(f"quantize_with: no QParams for tensor {missing[0]!r}")
    shapes = graph.shapes()
    layers: list[QLayer] = []
    for idx, op in enumerate(graph.ops):
        if isinstance(op, Conv):
            layers.append(qconv(op, params, qp[op.input], qp[op.output]))
        elif isinstance(op, Add):
            layers.append(qadd(op, qp[op.inputs[0]], qp[op.inputs[1]], qp[op.output]))
        elif isinstance(op, GlobalAvgPool):
            h, w, _ = shapes[op.input]
            layers.append(qpool(op, qp[op.input], qp[op.output], h * w))
        elif isinstance(op, (Pool, Flatten)):
            if qp[op.output] != qp[op.input]:
                raise ValueError(f"quantize_with: {op.name} ({type(op).__name__}) must keep its input's "
                                 f"QParams {qp[op.input]}, got {qp[op.output]} for its output")
            layers.append(qwindow_pool(op, qp[op.input]) if isinstance(op, Pool)
                          else QFlatten(op=op, x=qp[op.input]))
        elif isinstance(op, Linear):
            if classifier == "float" and idx == len(graph.ops) - 1:
                layers.append(QLinearFloat(op=op, x=qp[op.input],
                                           w=params[f"{op.name}.weight"].astype(np.float32),
                                           b=params[f"{op.name}.bias"].astype(np.float32)))
            else:
                layers.append(qlinear(op, params, qp[op.input], qp[op.output]))
        else:  # pragma: no cover
            raise TypeError(op)
    return QModel(graph=graph, input=qp[graph.input], layers=tuple(layers))
