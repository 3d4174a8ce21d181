"""Model builders returning float ``Graph``s with BN after every conv (``bn=True``).

All networks share one block machinery: a stem conv, then inverted-residual (MBConv)
blocks ``pw1 (expand, ReLU6) -> dw (k x k, ReLU6) -> pw2 (project, linear)`` with a residual
add when shape allows, then global average pooling and a Linear classifier. Conv names are
``stem``, ``b<i>_pw1``, ``b<i>_dw``, ``b<i>_pw2``; the conv index of the paper's sparse-update
keys is the position in ``Graph.convs()``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .graph import Add, Conv, GlobalAvgPool, Graph, Linear, Op


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` (at least ``divisor``), never
    going more than 10% below ``v`` (the TF/torchvision MobileNet rule)."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


@dataclass(frozen=True)
class BlockSpec:
    """One inverted-residual block: expansion ratio, output channels (before the width
    multiplier), kernel size and stride."""

    expand: int
    out_ch: int
    kernel: int = 3
    stride: int = 1


def _input_shape(input_size: int | Sequence[int], channels: int) -> tuple[int, int, int]:
    if isinstance(input_size, int):
        return (input_size, input_size, channels)
    if len(input_size) == 2:
        return (int(input_size[0]), int(input_size[1]), channels)
    h, w, c = (int(v) for v in input_size)
    return (h, w, c)


class _Builder:
    """Appends ops and tracks the current tensor; local to one build call."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.cur = "input"
        self.ch = 0

    def conv(self, name: str, out_ch: int, kernel: int, stride: int = 1, groups: int = 1,
             relu6: bool = True) -> str:
        self.ops.append(Conv(name=name, input=self.cur, output=name, in_ch=self.ch, out_ch=out_ch,
                             kernel=kernel, stride=stride, padding=kernel // 2, groups=groups,
                             relu6=relu6, bn=True))
        self.cur, self.ch = name, out_ch
        return name

    def mbconv(self, idx: int, spec: BlockSpec, out_ch: int) -> None:
        inp, in_ch = self.cur, self.ch
        hidden = in_ch * spec.expand
        if spec.expand != 1:
            self.conv(f"b{idx}_pw1", hidden, 1)
        self.conv(f"b{idx}_dw", hidden, spec.kernel, spec.stride, groups=hidden)
        self.conv(f"b{idx}_pw2", out_ch, 1, relu6=False)
        if spec.stride == 1 and in_ch == out_ch:
            name = f"b{idx}_add"
            self.ops.append(Add(name=name, inputs=(inp, self.cur), output=name))
            self.cur = name

    def head(self, num_classes: int) -> None:
        self.ops.append(GlobalAvgPool(name="gap", input=self.cur, output="gap"))
        self.ops.append(Linear(name="fc", input="gap", output="fc", in_features=self.ch,
                               out_features=num_classes))


def mbconv_net(name: str, blocks: Sequence[BlockSpec], width: float, input_shape: tuple[int, int, int],
               num_classes: int, stem_ch: int = 32, last_channel: int | None = None) -> Graph:
    """Stem conv 3x3 s2, the given MBConv blocks (channels scaled by ``width`` and rounded to
    multiples of 8), an optional final 1x1 conv to ``last_channel``, GAP and classifier."""
    b = _Builder()
    b.ch = input_shape[2]
    b.conv("stem", make_divisible(stem_ch * width), 3, 2)
    for i, spec in enumerate(blocks):
        b.mbconv(i, spec, make_divisible(spec.out_ch * width))
    if last_channel is not None:
        b.conv("final", last_channel, 1)
    b.head(num_classes)
    graph = Graph(name=name, input_shape=input_shape, ops=tuple(b.ops))
    graph.shapes()  # validates: raises on an input too small for the strides
    return graph


def _expand(stages: Sequence[tuple[int, int, int, int, int]]) -> list[BlockSpec]:
    """(expand, out_ch, repeats, stride, kernel) stages -> one BlockSpec per block."""
    return [BlockSpec(t, c, k, s if i == 0 else 1)
            for t, c, n, s, k in stages for i in range(n)]


# MobileNetV2's (t, c, n, s) table, all kernels 3x3.
_MBV2 = [(1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 32, 3, 2, 3), (6, 64, 4, 2, 3),
         (6, 96, 3, 1, 3), (6, 160, 3, 2, 3), (6, 320, 1, 1, 3)]


def mobilenet_v2(width: float = 0.35, input_size: int | Sequence[int] = 128, num_classes: int = 1000,
                 in_channels: int = 3, last_channel: int | None = None) -> Graph:
    """MobileNetV2 at any width multiplier, input size and class count (51 convs).

    Layout choice: by default there is **no** final 1x1 conv; the last block's channels
    (112 at w0.35) go straight into global average pooling and the classifier. This is the
    choice that matches the paper (backbone 0.25M params / 17M MACs at 128x128, §3.1, and
    its own int8 model file with 51 convs): it gives 244,448 params / 16.65M MACs with BN
    folded, whereas torchvision's final 1x1 to 1280 channels would give 389,088 / 18.94M
    (and one to 448, 295,072 / 17.45M). Pass ``last_channel`` to add that conv.
    """
    return mbconv_net(f"mbv2-w{width:g}", _expand(_MBV2), width,
                      _input_shape(input_size, in_channels), num_classes, 32, last_channel)


# ProxylessNAS (mobile)-style: mixed 3/5/7 kernels, expansion 3 or 6.
_PROXYLESS = [(1, 16, 1, 1, 3),
              (3, 32, 1, 2, 5), (3, 32, 1, 1, 3), (3, 32, 1, 1, 3),
              (3, 56, 1, 2, 7), (3, 56, 1, 1, 3), (3, 56, 1, 1, 5),
              (6, 112, 1, 2, 7), (3, 112, 1, 1, 5), (3, 112, 1, 1, 5),
              (6, 128, 1, 1, 5), (3, 128, 1, 1, 5), (3, 128, 1, 1, 5),
              (6, 216, 1, 2, 7), (6, 216, 1, 1, 7), (3, 216, 1, 1, 5), (3, 216, 1, 1, 5),
              (6, 352, 1, 1, 7)]


def proxyless_like(width: float = 0.3, input_size: int | Sequence[int] = 128, num_classes: int = 1000,
                   in_channels: int = 3, last_channel: int | None = None) -> Graph:
    """A ProxylessNAS-like network (not the published architecture): the MBConv machinery
    with mixed 3/5/7 kernels and expansions 3/6 in the spirit of ProxylessNAS-Mobile. At
    w0.3, 128x128 it is of the paper's ProxylessNAS-w0.3 size: 0.34M params / 20.7M MACs
    (backbone, BN folded) against the paper's 0.33M / 19M."""
    return mbconv_net(f"proxyless-like-w{width:g}", _expand(_PROXYLESS), width,
                      _input_shape(input_size, in_channels), num_classes, 32, last_channel)


# MCUNet-style: one MB1 block then 13 MBConv blocks = 42 convs, so the paper's MCUNet
# sparse-update indices (pw1 at 21, 24, 27, 30, 36, 39; last 22 biases) land on the same
# kinds of layers.
_MCUNET = [(1, 8, 1, 1, 3),
           (3, 16, 1, 2, 5), (3, 16, 1, 1, 3),
           (5, 24, 1, 2, 7), (3, 24, 1, 1, 5), (3, 24, 1, 1, 5),
           (5, 40, 1, 2, 5), (4, 40, 1, 1, 5),
           (5, 48, 1, 1, 5), (4, 48, 1, 1, 5),
           (6, 96, 1, 2, 5), (5, 96, 1, 1, 5), (4, 96, 1, 1, 5),
           (6, 160, 1, 1, 3)]


def mcunet_like(width: float = 1.0, input_size: int | Sequence[int] = 128, num_classes: int = 1000,
                in_channels: int = 3, last_channel: int | None = None) -> Graph:
    """An MCUNet-like network (not the published MCUNet-5FPS): the MBConv machinery with
    kernels 3/5/7 and expansions 3-6, 42 convs laid out like MCUNet's so the paper's sparse
    schemes index the same layer kinds. At w1.0, 128x128 it is of the paper's MCUNet size:
    0.49M params / 24.3M MACs (backbone, BN folded) against the paper's 0.48M / 23M."""
    return mbconv_net(f"mcunet-like-w{width:g}", _expand(_MCUNET), width,
                      _input_shape(input_size, in_channels), num_classes, 16, last_channel)


def small_cnn(input_shape: tuple[int, int, int] = (28, 28, 1), num_classes: int = 10,
              width: int = 16) -> Graph:
    """A small net for 28-32 px inputs (~9k params at width 16, ~0.5M MACs at 28x28):

    stem 3x3 s2 -> depthwise-separable (dw 3x3, pw to 2w) -> dw 3x3 s2, pw to 4w ->
    residual block (dw 3x3, pw linear) + add -> GAP -> classifier. The stride-2 stem and
    the early downsampling keep every activation at 28x28 inputs under 7 KB int8.
    """
    w1, w2, w3 = width, 2 * width, 4 * width
    b = _Builder()
    b.ch = input_shape[2]
    b.conv("stem", w1, 3, 2)
    b.conv("ds1_dw", w1, 3, 1, groups=w1)
    b.conv("ds1_pw", w2, 1)
    b.conv("ds2_dw", w2, 3, 2, groups=w2)
    b.conv("ds2_pw", w3, 1)
    skip = b.cur
    b.conv("res_dw", w3, 3, 1, groups=w3)
    b.conv("res_pw", w3, 1, relu6=False)
    b.ops.append(Add(name="res_add", inputs=(skip, b.cur), output="res_add"))
    b.cur = "res_add"
    b.head(num_classes)
    graph = Graph(name=f"small-cnn-w{width}", input_shape=tuple(input_shape), ops=tuple(b.ops))
    graph.shapes()
    return graph


def build(name: str, **kwargs) -> Graph:
    """Build a zoo model by name: ``mbv2``, ``proxyless``, ``mcunet``, ``small``."""
    builders = {"mbv2": mobilenet_v2, "mobilenet_v2": mobilenet_v2, "proxyless": proxyless_like,
                "mcunet": mcunet_like, "small": small_cnn, "small_cnn": small_cnn}
    if name not in builders:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(builders))}")
    return builders[name](**kwargs)
