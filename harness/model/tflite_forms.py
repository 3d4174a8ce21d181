"""The forms ``tflite_export`` writes where TFLite has no operator that computes our op exactly,
and the names it records, so that ``tflite_import`` reads an exported model back as the same
``QModel`` (``load_tflite(to_tflite(m)) == m``).

- Global average pool over ``n`` taps: ours requantizes ``sum(x - z_x)`` with
  ``Q(s_x / (s_y n))``; TFLM's MEAN folds ``1/n`` into ``Q(s_x / s_y)`` with an integer
  division, which is the same multiplier for some maps (always for a power of two) and loses
  bits for others (7x7). Then the pool is a VALID depthwise conv over the whole map with int8
  weights 1, bias 0 and one weight scale near ``1/n``, chosen so that TFLM's per-channel
  multiplier gives our output for every reachable sum (checked exhaustively), and a RESHAPE.
- The float classifier: DEQUANTIZE, CONCATENATION of a constant 1.0 before the features, and
  a float FULLY_CONNECTED without bias whose first weight column is our bias. TFLM sums from 0
  in index order and adds a bias last; our C loop starts from the bias, so this is the form in
  which TFLM rounds exactly as we do.
- Names: metadata ``mcutrain.names`` (JSON: graph name, input tensor, and each op's name and
  output tensor). TFLite operators have no names.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Optional

import numpy as np

from .graph import Add, Graph
from .qmath import quantize_multiplier, requantize
from .qmodel import QModel, QParams

NAMES_METADATA = "mcutrain.names"


# --- names -----------------------------------------------------------------------------------

def names_json(graph: Graph) -> bytes:
    return json.dumps({"graph": graph.name, "input": graph.input,
                       "ops": [[op.name, op.output] for op in graph.ops]}).encode()


def restore_names(qmodel: QModel, raw: bytes) -> QModel:
    """``qmodel`` with the graph, op and tensor names of an ``mcutrain.names`` entry; unchanged
    when the entry does not describe this graph (another op count, malformed)."""
    try:
        meta = json.loads(bytes(raw).decode())
        graph_name, input_name = str(meta["graph"]), str(meta["input"])
        names = [(str(n), str(o)) for n, o in meta["ops"]]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return qmodel
    g = qmodel.graph
    if len(names) != len(g.ops):
        return qmodel
    tensor = {g.input: input_name}
    ops = []
    for op, (name, output) in zip(g.ops, names):
        fields: dict[str, Any] = {"name": name, "output": output}
        if isinstance(op, Add):
            fields["inputs"] = tuple(tensor[t] for t in op.inputs)
        else:
            fields["input"] = tensor[op.input]  # type: ignore[union-attr]
        tensor[op.output] = output
        ops.append(dataclasses.replace(op, **fields))
    layers = tuple(dataclasses.replace(layer, op=op) for layer, op in zip(qmodel.layers, ops))
    graph = dataclasses.replace(g, name=graph_name, input=input_name, ops=tuple(ops))
    return dataclasses.replace(qmodel, graph=graph, layers=layers)


# --- the global average pool -----------------------------------------------------------------

def gap_multiplier(x: QParams, y: QParams, taps: int) -> tuple[int, int]:
    """Our pool's requantization (quantize.qpool): ``Q(s_x / (s_y * taps))``."""
    return quantize_multiplier(float(np.float32(x.scale)) / (float(np.float32(y.scale)) * taps))


def differing_sums(x: QParams, y: QParams, taps: int, ours: tuple[int, int],
                   theirs: tuple[int, int]) -> int:
    """How many reachable sums ``sum(x - z_x)`` over ``taps`` int8 inputs give another int8
    output with multiplier/shift ``theirs`` than with ``ours``."""
    s = np.arange(taps * (-128 - x.zero_point), taps * (127 - x.zero_point) + 1, dtype=np.int64)
    a = np.clip(requantize(s, *ours) + y.zero_point, -128, 127)
    b = np.clip(requantize(s, *theirs) + y.zero_point, -128, 127)
    return int(np.count_nonzero(a != b))


def depthwise_multiplier(x: QParams, s_w: float, y: QParams) -> tuple[int, int]:
    """TFLM's per-channel conv multiplier ``Q(double(s_x) * double(s_w) / double(s_y))``."""
    return quantize_multiplier(float(np.float32(x.scale)) * float(np.float32(s_w))
                               / float(np.float32(y.scale)))


def gap_weight_scale(x: QParams, y: QParams, taps: int, span: int = 2048) -> Optional[np.float32]:
    """The float32 weight scale near ``1 / taps`` whose TFLM depthwise multiplier gives our pool's
    output for every reachable sum: the nearest multiplier to ours that does, among the
    ``2 * span`` float32 values around the ideal one. None when none does."""
    mult, shift = gap_multiplier(x, y, taps)
    s_x, s_y = float(np.float32(x.scale)), float(np.float32(y.scale))
    centre = np.float32(float(mult) * 2.0 ** (shift - 31) * s_y / s_x)
    cands, up, down = [centre], centre, centre
    for _ in range(span):
        up, down = np.nextafter(up, np.float32(np.inf)), np.nextafter(down, np.float32(0))
        cands += [up, down]
    scored = []
    for s_w in cands:
        m, sh = depthwise_multiplier(x, float(s_w), y)
        if sh == shift:
            scored.append((abs(m - mult), float(s_w), m))
    for _, s_w, m in sorted(scored):
        if differing_sums(x, y, taps, (mult, shift), (m, shift)) == 0:
            return np.float32(s_w)
    return None


def depthwise_is_gap(x: QParams, y: QParams, in_hw: tuple[int, int], w: np.ndarray,
                     s_w: np.ndarray, b: np.ndarray, pads: tuple[int, int, int, int]) -> bool:
    """Is a depthwise conv (weights [C, KH, KW, 1]) our global average pool in the form above:
    a window covering the whole unpadded map, weights 1, bias 0, one weight scale, and TFLM's
    multiplier agreeing with ours on every reachable sum?"""
    h, w_ = in_hw
    if w.shape[1:3] != (h, w_) or any(pads) or np.any(w != 1) or np.any(b != 0):
        return False
    if np.any(np.asarray(s_w, np.float32) != np.float32(s_w[0])):
        return False
    ours = gap_multiplier(x, y, h * w_)
    theirs = depthwise_multiplier(x, float(s_w[0]), y)
    return differing_sums(x, y, h * w_, ours, theirs) == 0


# --- the float classifier --------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class FloatClassifier:
    """The tail DEQUANTIZE -> CONCATENATION(1.0, x) -> float FC of an exported model."""

    first_op: int  # index of the DEQUANTIZE
    input_tensor: int  # the int8 tensor the DEQUANTIZE reads
    w: np.ndarray  # float32 [N_out, N_in]
    b: np.ndarray  # float32 [N_out]


def float_classifier_tail(ops: list, end: int, op_name, data) -> Optional[FloatClassifier]:
    """Recognize the float classifier form as the operators ``ops[end-3:end]`` of a subgraph
    (``op_name(op)`` names an operator, ``data(i)`` gives a constant tensor or None)."""
    if end < 3:
        return None
    deq, cat, fc = ops[end - 3:end]
    if [op_name(o) for o in (deq, cat, fc)] != ["DEQUANTIZE", "CONCATENATION", "FULLY_CONNECTED"]:
        return None
    if len(cat.inputs) != 2 or int(cat.inputs[1]) != int(deq.outputs[0]) \
            or list(fc.inputs[:1]) != [int(cat.outputs[0])]:
        return None
    one = data(int(cat.inputs[0]))
    wb = data(int(fc.inputs[1]))
    has_bias = len(fc.inputs) > 2 and int(fc.inputs[2]) >= 0
    if one is None or one.dtype != np.float32 or one.size != 1 or float(one.ravel()[0]) != 1.0:
        return None
    if wb is None or wb.dtype != np.float32 or wb.ndim != 2 or has_bias:
        return None
    if getattr(fc.builtinOptions, "fusedActivationFunction", 0) != 0:
        return None
    return FloatClassifier(first_op=end - 3, input_tensor=int(deq.inputs[0]),
                           w=np.ascontiguousarray(wb[:, 1:]), b=np.ascontiguousarray(wb[:, 0]))
