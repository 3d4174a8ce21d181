"""In-place depthwise input gradients: the backward pass's largest pair of buffers shares one.

A depthwise conv's input gradient at stride 1 has the shape of its output gradient, and its
channels are independent: channel c of ``g_x`` needs only channel c of ``g_a``. So once
nothing after the step reads ``g_a``, ``g_x`` can overwrite it, 8 channels at a time, with
those channels of ``g_a`` copied aside first (``tt_dwconv2d_grad_input_inplace_f32``). On
MobileNetV2-w0.35's 49kb scheme that pair (8x8x192 float, 48 KiB each) sets the training
arena; in place, it costs 48 KiB less and a 2 KiB block. The values are the same bits: each
element is the same sum in the same order.
"""
from __future__ import annotations

from dataclasses import replace

from ..model.qmodel import QConv, QModel
from .program import Buffer, Program

MAX_KERNEL = 7  # TT_DW_INPLACE_MAX_K in tt_kernels.h


def inplace_dw_grads(program: Program, qmodel: QModel) -> Program:
    """Rewrite every eligible depthwise ``grad_input`` as ``grad_input_inplace``."""
    steps = list(program.steps)
    bufs = {b.name: b for b in program.buffers}
    for i, s in enumerate(steps):
        layer = qmodel.layers[s.layer]
        if s.kind != "grad_input" or not isinstance(layer, QConv):
            continue
        op = layer.op
        win = op.window  # the in-place kernel takes regular stride-1 windows only
        if op.kind != "depthwise" or not win.regular or win.sh != 1 or win.kh > MAX_KERNEL:
            continue
        (g_a,), (g_x,) = s.reads, s.writes
        if (any(g_a in t.reads for t in steps[i + 1:]) or bufs[g_a].shape != bufs[g_x].shape
                or bufs[g_x].shape[2] <= 8):  # the kernel sets 8 channels aside: no saving below 9
            continue
        h, w, _ = bufs[g_x].shape
        tmp = f"plane{s.layer}"
        bufs[tmp] = Buffer(tmp, "f32", (h, w, min(8, bufs[g_x].shape[2])), "scratch")
        steps[i] = replace(s, kind="grad_input_inplace", reads=(g_a, tmp), writes=(g_a, tmp))
        for j in range(i + 1, len(steps)):
            t = steps[j]
            steps[j] = replace(t, reads=tuple(g_a if r == g_x else r for r in t.reads),
                               writes=tuple(g_a if r == g_x else r for r in t.writes))
    kept = Program(tuple(bufs.values()), tuple(steps))
    return kept.with_steps(steps)
