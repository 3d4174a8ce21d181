"""What the training compiler can build today: one check, one clear error.

The graph IR (harness/model/graph.py) describes more than the C runtime implements: imported
models bring general windows (10x4 kernels, TFLite SAME padding), pools, flatten, activations
on adds and hidden fully connected layers. ``check_supported`` names the first op the engine
cannot compile, why, and what works instead, before any C is written.
"""
from __future__ import annotations

from ..errors import MctError
from ..model.graph import Add, Conv, Flatten, Linear, Pool
from ..model.qmodel import QModel


class EngineUnsupported(MctError):
    """The model uses an op or a window the training compiler does not implement."""


def _window_fits(op: Conv) -> bool:
    """The window fits tt_conv_params' narrow fields (kernel_w, stride_w: int16; pads: int8)."""
    w = op.window
    return max(w.kh, w.kw, w.sh, w.sw) <= 32767 and max(w.pt, w.pb, w.pl, w.pr) <= 127


def unsupported(qmodel: QModel) -> list[str]:
    """Every reason the engine cannot compile ``qmodel``, one line per op (empty: it can)."""
    reasons: list[str] = []
    ops = qmodel.graph.ops
    for i, op in enumerate(ops):
        where = f"op {i} '{op.name}' ({type(op).__name__})"
        if isinstance(op, Conv) and not _window_fits(op):
            w = op.window
            reasons.append(f"{where}: a {w.kh}x{w.kw} kernel, stride {w.sh}x{w.sw}, padding "
                           f"({w.pt}, {w.pb}, {w.pl}, {w.pr}) is too large for tt_conv_params "
                           "(kernel and stride at most 32767, padding at most 127)")
        elif isinstance(op, (Pool, Flatten)):
            reasons.append(f"{where}: the runtime has no {type(op).__name__.lower()} kernel yet")
        elif isinstance(op, Add) and op.act != "none":
            reasons.append(f"{where}: an add with a fused {op.act} has no backward kernel yet")
        elif isinstance(op, Linear) and (op is not ops[-1] or op.act != "none"):
            reasons.append(f"{where}: only the last op may be a fully connected layer (the "
                           "classifier), without an activation")
    return reasons


def check_supported(qmodel: QModel) -> None:
    """Raise ``EngineUnsupported`` naming every op the engine cannot compile."""
    reasons = unsupported(qmodel)
    if reasons:
        raise EngineUnsupported(
            f"model '{qmodel.graph.name}' cannot be compiled for on-device training:\n    "
            + "\n    ".join(reasons),
            fix="train it with the host reference only, or change those layers to what the "
                "engine supports (regular conv / depthwise / pointwise, add, global average "
                "pool, one classifier at the end)")
