"""Graph IR for small CNNs: a topologically ordered tuple of ops over named tensors.

Shapes are per sample (no batch axis): feature maps are (H, W, C), vectors are (N,).
Parameters are not part of the graph; they live in a ``dict[str, np.ndarray]`` keyed
``"<op name>.<param>"`` (see ``param_names``). Layouts are those of docs/arithmetic.md §1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Conv:
    """2-D convolution; depthwise when groups == in_ch == out_ch, pointwise when kernel == 1.

    ``relu6`` fuses a ReLU6 (a clamp after requantization). ``bn`` says the float model
    carries a BatchNorm after the conv (params ``bn_gamma``, ``bn_beta``, ``bn_mean``,
    ``bn_var``) that must be folded before quantization; a folded graph has ``bn=False``.
    """

    name: str
    input: str
    output: str
    in_ch: int
    out_ch: int
    kernel: int
    stride: int = 1
    padding: int = 0
    groups: int = 1
    relu6: bool = False
    bn: bool = False

    @property
    def kind(self) -> str:
        if self.groups == self.in_ch == self.out_ch and self.groups > 1:
            return "depthwise"
        if self.kernel == 1 and self.groups == 1:
            return "pointwise"
        return "conv"

    def out_hw(self, h: int, w: int) -> tuple[int, int]:
        return ((h + 2 * self.padding - self.kernel) // self.stride + 1,
                (w + 2 * self.padding - self.kernel) // self.stride + 1)

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        return (self.out_ch, self.kernel, self.kernel, self.in_ch // self.groups)


@dataclass(frozen=True)
class Add:
    """Residual add of two tensors of the same shape (no activation)."""

    name: str
    inputs: tuple[str, str]
    output: str


@dataclass(frozen=True)
class GlobalAvgPool:
    """Mean over H and W: (H, W, C) -> (C,). It also flattens."""

    name: str
    input: str
    output: str


@dataclass(frozen=True)
class Linear:
    """Fully connected layer (the classifier): (N_in,) -> (N_out,)."""

    name: str
    input: str
    output: str
    in_features: int
    out_features: int

    @property
    def weight_shape(self) -> tuple[int, int]:
        return (self.out_features, self.in_features)


Op = Union[Conv, Add, GlobalAvgPool, Linear]


@dataclass(frozen=True)
class Graph:
    name: str
    input_shape: tuple[int, int, int]  # (H, W, C)
    ops: tuple[Op, ...]
    input: str = "input"

    @property
    def output(self) -> str:
        return self.ops[-1].output

    def convs(self) -> list[Conv]:
        """Conv layers in graph order; the index is the paper's 0-based conv index."""
        return [op for op in self.ops if isinstance(op, Conv)]

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of every tensor, checking that the graph is consistent."""
        shapes: dict[str, tuple[int, ...]] = {self.input: tuple(self.input_shape)}
        for op in self.ops:
            if isinstance(op, Conv):
                h, w, c = shapes[op.input]
                if c != op.in_ch:
                    raise ValueError(f"{op.name}: input has {c} channels, conv expects {op.in_ch}")
                oh, ow = op.out_hw(h, w)
                if oh < 1 or ow < 1:
                    raise ValueError(f"{op.name}: input {h}x{w} is too small for kernel {op.kernel}")
                shapes[op.output] = (oh, ow, op.out_ch)
            elif isinstance(op, Add):
                a, b = (shapes[t] for t in op.inputs)
                if a != b:
                    raise ValueError(f"{op.name}: cannot add shapes {a} and {b}")
                shapes[op.output] = a
            elif isinstance(op, GlobalAvgPool):
                shapes[op.output] = (shapes[op.input][-1],)
            elif isinstance(op, Linear):
                (n,) = shapes[op.input]
                if n != op.in_features:
                    raise ValueError(f"{op.name}: input has {n} features, expects {op.in_features}")
                shapes[op.output] = (op.out_features,)
            else:  # pragma: no cover - Op is closed
                raise TypeError(op)
        return shapes


def param_names(op: Op) -> list[str]:
    """Parameter keys an op owns in the parameter dict."""
    if isinstance(op, Conv):
        names = [f"{op.name}.weight", f"{op.name}.bias"]
        if op.bn:
            names += [f"{op.name}.bn_{p}" for p in ("gamma", "beta", "mean", "var")]
        return names
    if isinstance(op, Linear):
        return [f"{op.name}.weight", f"{op.name}.bias"]
    return []
