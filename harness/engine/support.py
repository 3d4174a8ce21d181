"""What the training compiler can build today: one check, one clear error.

The engine compiles every op of the graph IR (harness/model/graph.py): general conv windows
(10x4 kernels, per-axis strides, TFLite SAME padding), max / average pools, flatten, adds with
a fused ReLU / ReLU6 and hidden int8 fully connected layers (trained in full, like the
classifier). What is left are limits: windows too large for the C parameter fields, and an
activation on the classifier. ``check_supported`` names every such op, why, and what to do,
before any C is written.
"""
from __future__ import annotations

from ..errors import MctError
from ..model.graph import Conv, Linear
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
            fix="change those layers (smaller windows; a classifier without an activation at the "
                "end), or train the model with the host reference only")
