"""Schedule: the step order and the buffer lifetimes it implies.

The program's order is forward, loss, then backward with every update applied right after
its gradient (in place, no parameter-gradient buffers: the paper's operator reordering).
``deferred_updates=True`` prices the schedule without that reordering, where every
parameter gradient is kept in a float buffer until the backward pass ends; it exists to
measure what the reordering saves (the paper's Fig. 10 "sparse update" column).
"""
from __future__ import annotations

from math import prod

from ..model.qmodel import QConv, QLinear, QLinearFloat, QModel
from .memplan import Lifetime
from .program import INPUT, Program


def lifetimes(program: Program, qmodel: QModel | None = None,
              deferred_updates: bool = False) -> list[Lifetime]:
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, s in enumerate(program.steps):
        for name in (*s.reads, *s.writes):
            if name == INPUT:
                continue
            first.setdefault(name, i)
            last[name] = i
    out = [Lifetime(b.name, b.nbytes, first[b.name], last[b.name])
           for b in program.buffers if b.name in first]
    if deferred_updates:
        if qmodel is None:
            raise ValueError("deferred_updates needs the qmodel to size gradient buffers")
        end = len(program.steps) - 1
        for i, s in enumerate(program.steps):
            layer = qmodel.layers[s.layer]
            if s.kind == "bias_update" and isinstance(layer, QConv):
                out.append(Lifetime(f"grad_b{s.layer}", 4 * layer.op.out_ch, i, end))
            elif s.kind == "weight_update" and isinstance(layer, QConv):
                kk = layer.op.window.kh * layer.op.window.kw
                rows = s.k if layer.op.kind == "depthwise" else layer.op.out_ch
                per_row = kk if layer.op.kind == "depthwise" else kk * s.k
                out.append(Lifetime(f"grad_w{s.layer}", 4 * rows * per_row, i, end))
            elif s.kind == "fc_backward" and isinstance(layer, QLinearFloat):
                out.append(Lifetime(f"grad_fc{s.layer}", 4 * (prod(layer.w.shape) + layer.b.size), i, end))
            elif s.kind == "fc_s8_backward" and isinstance(layer, QLinear):
                out.append(Lifetime(f"grad_fc{s.layer}", 4 * (prod(layer.w.shape) + layer.b.size), i, end))
    return out
