"""Pruning for a sparse update: keep only the steps some parameter update needs.

Updates of frozen parameters go first; then a reverse liveness pass keeps a step only if a
later kept step reads what it writes. That stops backprop at the earliest updated layer,
drops masks no gradient reads, and keeps saved input slices only for weight-updated layers
(trimmed to their first k channels; a full-width slice is the input tensor itself).
"""
from __future__ import annotations

from dataclasses import replace

from ..model.qmodel import QConv, QModel
from ..sparse.scheme import LayerUpdate, ResolvedScheme
from .program import Buffer, Program, Step

UPDATES = ("bias_update", "weight_update", "fc_backward", "fc_s8_backward")
#: Steps whose writes past the first (masks, input gradients) are dropped when nothing reads them.
_OPTIONAL_WRITES = ("conv", "fc_backward", "add", "fc_s8", "fc_s8_backward")


def layer_updates(qmodel: QModel, scheme: ResolvedScheme) -> dict[int, LayerUpdate]:
    """The scheme keyed by layer index in ``qmodel.layers`` (convs only)."""
    index = {layer.op.name: i for i, layer in enumerate(qmodel.layers)}
    out = {}
    for u in scheme.layers:
        if u.name not in index or not isinstance(qmodel.layers[index[u.name]], QConv):
            raise ValueError(f"scheme names conv {u.name!r}, which the model does not have")
        out[index[u.name]] = u
    return out


def prune(program: Program, qmodel: QModel, scheme: ResolvedScheme) -> Program:
    """Drop every step no update of ``scheme`` needs (the classifier is always trained)."""
    updates = layer_updates(qmodel, scheme)
    bufs = {b.name: b for b in program.buffers}
    steps: list[Step] = []
    alias: dict[str, str] = {}
    for s in program.steps:
        u = updates.get(s.layer)
        bias, k = (u.update_bias, u.weight_channels) if u else (False, 0)
        if s.kind == "bias_update" and not bias:
            continue
        if s.kind == "weight_update":
            if k == 0:
                continue
            s = replace(s, k=k)
        if s.kind == "save_slice":
            layer = qmodel.layers[s.layer]
            assert isinstance(layer, QConv)
            if k == layer.op.in_ch:
                alias[s.writes[0]] = s.reads[0]  # the whole input is the slice
                continue
            if k == 0:
                continue
            sl = bufs[s.writes[0]]
            bufs[sl.name] = Buffer(sl.name, sl.dtype, (*sl.shape[:2], k), sl.role)
            s = replace(s, k=k)
        steps.append(replace(s, reads=tuple(alias.get(r, r) for r in s.reads)))

    live: set[str] = set()
    kept: list[Step] = []
    for s in reversed(steps):
        useful = [w for w in s.writes if w in live]
        if s.kind not in UPDATES and not useful:
            continue
        if s.kind in _OPTIONAL_WRITES:
            s = replace(s, writes=tuple(useful))
        kept.append(s)
        live.difference_update(s.writes)
        live.update(s.reads)
    kept.reverse()
    pruned = Program(tuple(bufs.values()), tuple(kept))
    return pruned.with_steps(kept)
