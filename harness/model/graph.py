"""Graph IR for small CNNs: a topologically ordered tuple of ops over named tensors.

Shapes are per sample (no batch axis): feature maps are (H, W, C), vectors are (N,).
Parameters are not part of the graph; they live in a ``dict[str, np.ndarray]`` keyed
``"<op name>.<param>"`` (see ``param_names``). Layouts are those of docs/arithmetic.md §1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, Union

Pads = tuple[int, int, int, int]  # (top, bottom, left, right)


@dataclass(frozen=True)
class Window:
    """The sliding-window geometry of a conv or pool: kernel, stride and zero padding per side.

    ``regular`` windows (square kernel, equal strides, the same padding on every side) are the
    ones the zoo builds; imported models (TFLite SAME padding at stride 2, 10x4 kernels) need
    the general form.
    """

    kh: int
    kw: int
    sh: int
    sw: int
    pt: int
    pb: int
    pl: int
    pr: int

    @property
    def regular(self) -> bool:
        return self.kh == self.kw and self.sh == self.sw and self.pt == self.pb == self.pl == self.pr

    def out_hw(self, h: int, w: int) -> tuple[int, int]:
        return ((h + self.pt + self.pb - self.kh) // self.sh + 1,
                (w + self.pl + self.pr - self.kw) // self.sw + 1)


def _window(kernel: int, kernel_w: int, stride: int, stride_w: int, padding: int,
            pads: Optional[Pads]) -> Window:
    pt, pb, pl, pr = pads if pads is not None else (padding,) * 4
    return Window(kernel, kernel_w or kernel, stride, stride_w or stride, pt, pb, pl, pr)


Activation = Literal["none", "relu", "relu6"]


def _activation(relu: bool, relu6: bool) -> Activation:
    return "relu6" if relu6 else "relu" if relu else "none"


@dataclass(frozen=True)
class Conv:
    """2-D convolution; depthwise when groups == in_ch == out_ch, pointwise when kernel == 1.

    ``relu6`` fuses a ReLU6 and ``relu`` a plain ReLU (a clamp after requantization; relu6
    wins if both are set). ``bn`` says the float model carries a BatchNorm after the conv
    (params ``bn_gamma``, ``bn_beta``, ``bn_mean``, ``bn_var``) that must be folded before
    quantization; a folded graph has ``bn=False``.

    ``kernel``/``stride``/``padding`` describe a square, symmetric window. A general window
    sets ``kernel_w`` / ``stride_w`` (0: the same as ``kernel`` / ``stride``) and ``pads``
    (top, bottom, left, right; None: ``padding`` on every side); ``window`` resolves them.
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
    relu: bool = False
    kernel_w: int = 0
    stride_w: int = 0
    pads: Optional[Pads] = None

    @property
    def window(self) -> Window:
        return _window(self.kernel, self.kernel_w, self.stride, self.stride_w, self.padding,
                       self.pads)

    @property
    def act(self) -> Activation:
        return _activation(self.relu, self.relu6)

    @property
    def kind(self) -> str:
        if self.groups == self.in_ch == self.out_ch and self.groups > 1:
            return "depthwise"
        if self.kernel == 1 and self.window.kw == 1 and self.groups == 1:
            return "pointwise"
        return "conv"

    def out_hw(self, h: int, w: int) -> tuple[int, int]:
        return self.window.out_hw(h, w)

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        win = self.window
        return (self.out_ch, win.kh, win.kw, self.in_ch // self.groups)


@dataclass(frozen=True)
class Add:
    """Residual add of two tensors of the same shape, with an optional fused ReLU / ReLU6."""

    name: str
    inputs: tuple[str, str]
    output: str
    relu: bool = False
    relu6: bool = False

    @property
    def act(self) -> Activation:
        return _activation(self.relu, self.relu6)


@dataclass(frozen=True)
class Pool:
    """Max or average pool over a window, per channel: (H, W, C) -> (Ho, Wo, C).

    Padding is never part of a window: max takes the largest value inside the input and avg
    divides by the number of taps inside the input (TFLite's rule). Window fields as in Conv.
    """

    name: str
    input: str
    output: str
    mode: Literal["max", "avg"]
    kernel: int
    stride: int = 1
    padding: int = 0
    kernel_w: int = 0
    stride_w: int = 0
    pads: Optional[Pads] = None

    @property
    def window(self) -> Window:
        return _window(self.kernel, self.kernel_w, self.stride, self.stride_w, self.padding,
                       self.pads)

    def out_hw(self, h: int, w: int) -> tuple[int, int]:
        return self.window.out_hw(h, w)


@dataclass(frozen=True)
class Flatten:
    """(H, W, C) -> (H*W*C,) in HWC order: the same bytes, a new shape."""

    name: str
    input: str
    output: str


@dataclass(frozen=True)
class GlobalAvgPool:
    """Mean over H and W: (H, W, C) -> (C,). It also flattens."""

    name: str
    input: str
    output: str


@dataclass(frozen=True)
class Linear:
    """Fully connected layer: (N_in,) -> (N_out,). The last op is the classifier; a Linear
    before it is a hidden layer and may fuse a ReLU / ReLU6."""

    name: str
    input: str
    output: str
    in_features: int
    out_features: int
    relu: bool = False
    relu6: bool = False

    @property
    def act(self) -> Activation:
        return _activation(self.relu, self.relu6)

    @property
    def weight_shape(self) -> tuple[int, int]:
        return (self.out_features, self.in_features)


Op = Union[Conv, Add, GlobalAvgPool, Linear, Pool, Flatten]


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
            elif isinstance(op, Pool):
                h, w, c = shapes[op.input]
                oh, ow = op.out_hw(h, w)
                if oh < 1 or ow < 1:
                    raise ValueError(f"{op.name}: input {h}x{w} is too small for its pool window")
                shapes[op.output] = (oh, ow, c)
            elif isinstance(op, Flatten):
                n = 1
                for d in shapes[op.input]:
                    n *= d
                shapes[op.output] = (n,)
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
