"""Post-training int8 quantization (docs/arithmetic.md §2-4): fold BN, calibrate every
activation's range on a sample set, quantize weights per channel, and build the ``QModel``.
"""
from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from . import qmath
from .fold import fold_bn
from .graph import Add, Conv, GlobalAvgPool, Graph, Linear
from .qmodel import QAdd, QAvgPool, QConv, QLayer, QLinear, QLinearFloat, QModel, QParams
from .train import Params, check_params, forward_float

log = logging.getLogger(__name__)


def calibrate(graph: Graph, params: Params, calib_x: np.ndarray, batch_size: int = 64,
              input_range: tuple[float, float] | None = (0.0, 1.0)) -> dict[str, QParams]:
    """QParams of every tensor from the min/max of the folded float model on ``calib_x``.

    The input's range is ``input_range`` (the sensor's range: images are in [0, 1], which
    gives s = 1/255, z = -128, so a uint8 pixel p becomes p - 128 exactly); ``None``
    calibrates the input from the data like any other tensor.
    """
    if calib_x.shape[0] == 0:
        raise ValueError("calibrate: the calibration set is empty")
    observers: dict[str, qmath.RangeObserver] = {}
    for i in range(0, calib_x.shape[0], batch_size):
        tr = forward_float(graph, params, calib_x[i:i + batch_size])
        for name, value in tr.tensors.items():
            observers.setdefault(name, qmath.RangeObserver()).update(value)
    qp = {name: obs.qparams() for name, obs in observers.items()}
    if input_range is not None:
        qp[graph.input] = qmath.qparams_from_range(*input_range)
    return qp


def _qconv(op: Conv, params: Params, x: QParams, y: QParams) -> QConv:
    w_q, s_w = qmath.quantize_weights(params[f"{op.name}.weight"])
    b_q = qmath.quantize_bias(params[f"{op.name}.bias"], x.scale, s_w)
    mult, shift = qmath.channel_multipliers(x.scale, s_w, y.scale)
    act_min, act_max = qmath.relu6_range(y) if op.relu6 else (-128, 127)
    return QConv(op=op, x=x, y=y, w=w_q, w_scale=s_w, b=b_q, multiplier=mult, shift=shift,
                 act_min=act_min, act_max=act_max)


def _qadd(op: Add, a: QParams, b: QParams, y: QParams) -> QAdd:
    sa, sb, sy = (float(np.float32(q.scale)) for q in (a, b, y))
    twice_max = 2.0 * max(sa, sb)
    am, ash = qmath.quantize_multiplier(sa / twice_max)
    bm, bsh = qmath.quantize_multiplier(sb / twice_max)
    om, osh = qmath.quantize_multiplier(twice_max / (float(1 << 20) * sy))
    return QAdd(op=op, a=a, b=b, y=y, a_multiplier=am, a_shift=ash, b_multiplier=bm, b_shift=bsh,
                out_multiplier=om, out_shift=osh)


def _qpool(op: GlobalAvgPool, x: QParams, y: QParams, hw: int) -> QAvgPool:
    m = float(np.float32(x.scale)) / (float(np.float32(y.scale)) * hw)
    mult, shift = qmath.quantize_multiplier(m)
    return QAvgPool(op=op, x=x, y=y, multiplier=mult, shift=shift)


def _qlinear(op: Linear, params: Params, x: QParams, y: QParams) -> QLinear:
    w_q, s_w = qmath.quantize_weights(params[f"{op.name}.weight"])
    b_q = qmath.quantize_bias(params[f"{op.name}.bias"], x.scale, s_w)
    mult, shift = qmath.channel_multipliers(x.scale, s_w, y.scale)
    return QLinear(op=op, x=x, y=y, w=w_q, w_scale=s_w, b=b_q, multiplier=mult, shift=shift)


def quantize_model(graph: Graph, params: Params, calib_x: np.ndarray,
                   classifier: Literal["float", "int8"] = "float",
                   input_range: tuple[float, float] | None = (0.0, 1.0)) -> QModel:
    """Fold BN, calibrate on ``calib_x`` (float32 (N, H, W, C) in [0, 1]) and quantize.

    ``classifier="float"`` keeps the final Linear in float32 (``QLinearFloat``; the paper's
    choice, +2.3 pp), ``"int8"`` quantizes it like a conv (``QLinear``).
    """
    if classifier not in ("float", "int8"):
        raise ValueError(f"classifier must be 'float' or 'int8', got {classifier!r}")
    check_params(graph, params)
    fgraph, fparams = fold_bn(graph, params)
    qp = calibrate(fgraph, fparams, calib_x, input_range=input_range)
    shapes = fgraph.shapes()
    layers: list[QLayer] = []
    for idx, op in enumerate(fgraph.ops):
        if isinstance(op, Conv):
            layers.append(_qconv(op, fparams, qp[op.input], qp[op.output]))
        elif isinstance(op, Add):
            layers.append(_qadd(op, qp[op.inputs[0]], qp[op.inputs[1]], qp[op.output]))
        elif isinstance(op, GlobalAvgPool):
            h, w, _ = shapes[op.input]
            layers.append(_qpool(op, qp[op.input], qp[op.output], h * w))
        elif isinstance(op, Linear):
            if classifier == "float" and idx == len(fgraph.ops) - 1:
                layers.append(QLinearFloat(op=op, x=qp[op.input],
                                           w=fparams[f"{op.name}.weight"].astype(np.float32),
                                           b=fparams[f"{op.name}.bias"].astype(np.float32)))
            else:
                layers.append(_qlinear(op, fparams, qp[op.input], qp[op.output]))
        else:  # pragma: no cover
            raise TypeError(op)
    log.info("quantized %s (%d layers, %s classifier) on %d calibration samples",
             graph.name, len(layers), classifier, calib_x.shape[0])
    return QModel(graph=fgraph, input=qp[fgraph.input], layers=tuple(layers))
