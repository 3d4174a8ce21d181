"""What the training compiler can build today: one check, one clear error.

The graph IR (harness/model/graph.py) describes more than the C runtime implements: imported
models bring general windows (10x4 kernels, TFLite SAME padding). Pools (max / average),
flatten, adds with a fused ReLU / ReLU6 and hidden int8 fully connected layers (trained in
full, like the classifier) compile. ``check_supported`` names the first op the engine
cannot compile, why, and what works instead, before any C is written.
"""
from __future__ import annotations

from ..errors import MctError
from ..model.graph import Conv, Linear
from ..model.qmodel import QModel


class EngineUnsupported(MctError):
    """The model uses an op or a window the training compiler does not implement."""


def unsupported(qmodel: QModel) -> list[str]:
    """Every reason the engine cannot compile ``qmodel``, one line per op (empty: it can)."""
    reasons: list[str] = []
    ops = qmodel.graph.ops
    for i, op in enumerate(ops):
        where = f"op {i} '{op.name}' ({type(op).__name__})"
        if isinstance(op, Conv) and not op.window.regular:
            w = op.window
            reasons.append(f"{where}: a {w.kh}x{w.kw} kernel, stride {w.sh}x{w.sw}, padding "
                           f"(top, bottom, left, right) = ({w.pt}, {w.pb}, {w.pl}, {w.pr}); the "
                           "runtime's conv kernels take square kernels, equal strides and the "
                           "same padding on every side")
        elif isinstance(op, Linear) and op is ops[-1] and op.act != "none":
            reasons.append(f"{where}: the classifier (the last fully connected layer) takes no "
                           f"activation, this one fuses a {op.act}")
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
                "pool, pools, flatten, hidden fully connected layers, one classifier without activation at the end)")
