"""Pruning for a sparse update: keep only the steps some parameter update needs.

Updates of frozen parameters go first; then a reverse liveness pass keeps a step only if a
later kept step reads what it writes. That stops backprop at the earliest updated layer,
drops masks no gradient reads, and keeps saved input slices only for weight-updated layers
(trimmed to their first k channels; a full-width slice is the input tensor itself).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..model.qmodel import QConv, QModel
from .program import Buffer, Program, Step

UPDATES = ("bias_update", "weight_update", "fc_backward")


@dataclass(frozen=True)
class LayerUpdate:
    """What a conv layer trains: its bias, and its weights on the first ``k`` input channels."""

    bias: bool
    k: int  # 0 = weights frozen


def prune(program: Program, qmodel: QModel, updates: dict[int, LayerUpdate]) -> Program:
    """``updates`` maps layer indices (into ``qmodel.layers``) of convs to what they train."""
    for i, u in updates.items():
        layer = qmodel.layers[i]
        if not isinstance(layer, QConv):
            raise ValueError(f"layer {i} is not a conv")
        if not 0 <= u.k <= layer.op.in_ch:
            raise ValueError(f"layer {i}: k={u.k} outside 0..{layer.op.in_ch}")
    bufs = {b.name: b for b in program.buffers}
    steps: list[Step] = []
    alias: dict[str, str] = {}
    for s in program.steps:
        u = updates.get(s.layer, LayerUpdate(False, 0))
        if s.kind == "bias_update" and not u.bias:
            continue
        if s.kind == "weight_update":
            if u.k == 0:
                continue
            s = replace(s, k=u.k)
        if s.kind == "save_slice":
            layer = qmodel.layers[s.layer]
            assert isinstance(layer, QConv)
            if u.k == layer.op.in_ch:
                alias[s.writes[0]] = s.reads[0]  # the whole input is the slice
                continue
            if u.k == 0:
                continue
            sl = bufs[s.writes[0]]
            bufs[sl.name] = Buffer(sl.name, sl.dtype, (*sl.shape[:2], u.k), sl.role)
            s = replace(s, k=u.k)
        steps.append(replace(s, reads=tuple(alias.get(r, r) for r in s.reads)))

    live: set[str] = set()
    kept: list[Step] = []
    for s in reversed(steps):
        useful = [w for w in s.writes if w in live]
        if s.kind not in UPDATES and not useful:
            continue
        if s.kind in ("conv", "fc_backward"):
            s = replace(s, writes=tuple(useful))
        kept.append(s)
        live.difference_update(s.writes)
        live.update(s.reads)
    kept.reverse()
    pruned = Program(tuple(bufs.values()), tuple(kept))
    return pruned.with_steps(kept)
