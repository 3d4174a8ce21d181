"""The training program: steps over named buffers, the value every engine pass transforms.

A ``Step`` reads and writes buffers by name; a step that reads and writes the same name
works in place. The sample (``input``) is read from the data region and never planned in
the arena; parameters are not buffers (they are static arrays emitted per layer).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from math import prod
from typing import Any

INPUT = "input"

#: What each step kind does (the emitter maps each to one kernel call or a few).
STEP_KINDS = {
    "conv": "int8 conv/depthwise/pointwise forward; optional 1-bit clamp mask",
    "add": "int8 residual add",
    "avgpool": "int8 global average pool",
    "fc": "float classifier on the dequantized int8 input -> float logits",
    "save_slice": "copy the first k input channels of a conv's input (for its weight gradient)",
    "loss": "softmax cross-entropy -> loss and the logits' gradient",
    "fc_backward": "classifier: bias and weight update in place, then the input gradient",
    "avgpool_grad": "gradient of global average pool",
    "mask": "multiply a gradient by a conv's clamp mask",
    "bias_update": "bias gradient and in-place update (QAS)",
    "weight_update": "weight gradient and in-place update of the trainable slice (QAS)",
    "grad_input": "gradient of a conv's input (with the weights as updated)",
    "grad_accum": "add a second gradient contribution into a tensor's gradient",
    "grad_input_inplace": "a stride-1 depthwise conv's input gradient over its output gradient (inplace.py)",
    "stream": "the frozen prefix strip by strip (patch.py): input -> its last tensor, via tiles",
    "pool": "int8 max / average pool over a window (output QParams = input's); fused clamp",
    "pool_grad": "gradient of a max / average pool (max: to the first max tap, from the int8 input)",
    "fc_s8": "int8 fully connected layer (hidden, or the int8 classifier) with its clamp; "
             "optional 1-bit mask",
    "fc_s8_backward": "int8 fully connected: mask, bias and weight update in place, then the "
                      "input gradient",
    "dequantize": "the int8 classifier's logits to float32 (the loss reads them)",
}


@dataclass(frozen=True)
class Buffer:
    name: str
    dtype: str  # "i8" | "f32" | "bits"
    shape: tuple[int, ...]
    role: str  # "activation" | "mask" | "slice" | "gradient" | "logits"

    @property
    def nbytes(self) -> int:
        n = prod(self.shape)
        return {"i8": n, "f32": 4 * n, "bits": (n + 7) // 8}[self.dtype]


@dataclass(frozen=True)
class Step:
    kind: str
    layer: int  # index into QModel.layers
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    k: int = 0  # trainable input channels (weight_update, save_slice)
    plan: Any = None  # a stream step's patch.PatchPlan

    def __post_init__(self) -> None:
        if self.kind not in STEP_KINDS:
            raise ValueError(f"unknown step kind {self.kind!r}")


@dataclass(frozen=True)
class Program:
    buffers: tuple[Buffer, ...]
    steps: tuple[Step, ...]

    def buffer(self, name: str) -> Buffer:
        for b in self.buffers:
            if b.name == name:
                return b
        raise KeyError(name)

    def with_steps(self, steps: list[Step]) -> "Program":
        """Keep only the buffers the steps still use."""
        used = {n for s in steps for n in (*s.reads, *s.writes)}
        return replace(self, steps=tuple(steps),
                       buffers=tuple(b for b in self.buffers if b.name in used))

    def listing(self) -> str:
        lines = []
        for i, s in enumerate(self.steps):
            k = f" k={s.k}" if s.kind in ("weight_update", "save_slice") else ""
            if s.kind == "stream":
                k = f" layers L{s.plan.layers[0]}..L{s.plan.layers[-1]}, {len(s.plan.strips)} strips"
            lines.append(f"{i:4d} {s.kind:<13} L{s.layer:<3} {', '.join(s.reads)} -> "
                         f"{', '.join(s.writes) or '(params)'}{k}")
        return "\n".join(lines)
