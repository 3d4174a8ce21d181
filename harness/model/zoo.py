"""Model builders returning float ``Graph``s with BN after every conv (``bn=True``).

All networks share one block machinery: a stem conv, then inverted-residual (MBConv)
blocks ``pw1 (expand, ReLU6) -> dw (k x k, ReLU6) -> pw2 (project, linear)`` with a residual
add (MobileNetV2: wherever the shape allows; the exact ProxylessNAS-w0.3 and MCUNet-5FPS:
where their tables mark it), then global average pooling and a Linear classifier. Conv names are
``stem``, ``b<i>_pw1``, ``b<i>_dw``, ``b<i>_pw2``; the conv index of the paper's sparse-update
keys is the position in ``Graph.convs()``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .graph import Graph
from .layers import Layer, build_graph


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


@dataclass(frozen=True)
class ExactBlock:
    """One inverted-residual block with its channels written out: ``hidden`` expanded channels
    (``None``: no pw1, the depthwise runs on the input channels), ``out_ch``, the depthwise
    ``kernel`` and ``stride``, and whether a residual add closes it."""

    hidden: int | None
    out_ch: int
    kernel: int
    stride: int
    residual: bool


def _input_shape(input_size: int | Sequence[int], channels: int) -> tuple[int, int, int]:
    if isinstance(input_size, int):
        return (input_size, input_size, channels)
    if len(input_size) == 2:
        return (int(input_size[0]), int(input_size[1]), channels)
    h, w, c = (int(v) for v in input_size)
    return (h, w, c)


class _Builder:
    """Writes a zoo network as a layer list (harness/model/layers.py) and tracks the current
    channel count; ``graph`` builds it through the same path as a scenario's ``model.layers``.
    Local to one build call."""

    def __init__(self, in_ch: int) -> None:
        self.layers: list[Layer] = []
        self.cur = "input"
        self.ch = in_ch

    def conv(self, name: str, out_ch: int, kernel: int, stride: int = 1, groups: int = 1,
             relu6: bool = True) -> str:
        """A conv with BN, padding kernel // 2 on every side; depthwise when ``groups`` is the
        channel count."""
        if groups not in (1, self.ch) or (groups > 1 and out_ch != self.ch):
            raise ValueError(f"{name}: groups={groups} is neither a plain nor a depthwise conv")
        kind = "depthwise" if groups > 1 else "conv"
        self.layers.append(Layer(kind=kind, name=name, filters=out_ch if kind == "conv" else 0,
                                 size=(kernel, kernel), stride=(stride, stride), padding=kernel // 2,
                                 act="relu6" if relu6 else "none", bn=True))
        self.cur, self.ch = name, out_ch
        return name

    def mbconv(self, idx: int, spec: BlockSpec, out_ch: int) -> None:
        """A block of the multiplied family: the residual add wherever the shape allows it."""
        hidden = None if spec.expand == 1 else self.ch * spec.expand
        self.block(idx, ExactBlock(hidden, out_ch, spec.kernel, spec.stride,
                                   spec.stride == 1 and self.ch == out_ch))

    def block(self, idx: int, spec: ExactBlock) -> None:
        inp, in_ch = self.cur, self.ch
        hidden = in_ch if spec.hidden is None else spec.hidden
        if spec.hidden is not None:
            self.conv(f"b{idx}_pw1", hidden, 1)
        self.conv(f"b{idx}_dw", hidden, spec.kernel, spec.stride, groups=hidden)
        self.conv(f"b{idx}_pw2", spec.out_ch, 1, relu6=False)
        if spec.residual:
            if spec.stride != 1 or in_ch != spec.out_ch:
                raise ValueError(f"block b{idx}: a residual add needs stride 1 and equal channels "
                                 f"(got stride {spec.stride}, {in_ch}->{spec.out_ch})")
            self.add(f"b{idx}_add", inp)

    def add(self, name: str, skip: str) -> None:
        self.layers.append(Layer(kind="add", name=name, ref=skip))
        self.cur = name

    def head(self) -> None:
        """Global average pooling and the classifier (one unit per class)."""
        self.layers.append(Layer(kind="global_avgpool", name="gap"))
        self.layers.append(Layer(kind="dense", name="fc"))

    def graph(self, name: str, input_shape: tuple[int, int, int], num_classes: int) -> Graph:
        """The network, checked against ``input_shape`` (ValueError when it is too small)."""
        return build_graph(self.layers, input_shape, num_classes, name)


def mbconv_net(name: str, blocks: Sequence[BlockSpec], width: float, input_shape: tuple[int, int, int],
               num_classes: int, stem_ch: int = 32, last_channel: int | None = None) -> Graph:
    """Stem conv 3x3 s2, the given MBConv blocks (channels scaled by ``width`` and rounded to
    multiples of 8), an optional final 1x1 conv to ``last_channel``, GAP and classifier."""
    b = _Builder(input_shape[2])
    b.conv("stem", make_divisible(stem_ch * width), 3, 2)
    for i, spec in enumerate(blocks):
        b.mbconv(i, spec, make_divisible(spec.out_ch * width))
    if last_channel is not None:
        b.conv("final", last_channel, 1)
    b.head()
    return b.graph(name, input_shape, num_classes)


def exact_net(name: str, stem_ch: int, blocks: Sequence[ExactBlock], input_shape: tuple[int, int, int],
              num_classes: int) -> Graph:
    """Stem conv 3x3 s2 to ``stem_ch``, the listed blocks with their own channel counts, GAP
    and classifier (no final 1x1 conv)."""
    b = _Builder(input_shape[2])
    b.conv("stem", stem_ch, 3, 2)
    for i, spec in enumerate(blocks):
        b.block(i, spec)
    b.head()
    return b.graph(name, input_shape, num_classes)


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


# The paper's ProxylessNAS-w0.3 and MCUNet-5FPS, layer by layer as in the paper's own int8
# model files (tiny-training assets/mcu_models/{proxyless-w0.3,mcunet-5fps}.pkl, read in
# shared/reference/paper-models.md). Their channel counts are the searched/rounded ones of
# those files, not a width multiplier applied here, so they are listed. One row per block:
# (expanded channels or None = no pw1, out channels, depthwise kernel, stride, residual add).
# Both: stem conv3x3 s2 3->16, no 1x1 conv after the last block, GAP and the classifier.
_PROXYLESS_W03: tuple[ExactBlock, ...] = tuple(ExactBlock(*row) for row in (
    (None, 8, 3, 1, False),
    (24, 16, 5, 2, False),
    (48, 16, 3, 1, True),
    (48, 16, 7, 2, False),
    (48, 16, 3, 1, True),
    (48, 16, 5, 1, True),
    (48, 16, 5, 1, True),
    (96, 24, 7, 2, False),
    (72, 24, 5, 1, True),
    (72, 24, 5, 1, True),
    (72, 24, 5, 1, True),
    (144, 32, 5, 1, False),
    (96, 32, 5, 1, True),
    (96, 32, 5, 1, True),
    (96, 32, 5, 1, True),
    (192, 64, 7, 2, False),
    (384, 64, 7, 1, True),
    (192, 64, 7, 1, True),
    (192, 64, 7, 1, True),
    (384, 96, 7, 1, False),
))

_MCUNET_5FPS: tuple[ExactBlock, ...] = tuple(ExactBlock(*row) for row in (
    (None, 8, 3, 1, False),
    (32, 16, 3, 2, False),
    (48, 16, 3, 1, True),
    (48, 24, 7, 2, False),
    (120, 24, 3, 1, True),
    (120, 40, 3, 2, False),
    (160, 40, 7, 1, True),
    (160, 48, 5, 1, False),
    (144, 48, 3, 1, True),
    (192, 48, 3, 1, True),
    (240, 96, 7, 2, False),
    (384, 96, 5, 1, True),
    (384, 96, 5, 1, True),
    (576, 160, 3, 1, False),
))

#: The only width each exact model exists at (``build``/scenarios may repeat it or omit it).
EXACT_WIDTHS = {"proxyless": 0.3, "mcunet": 1.0}


def _check_exact_width(arch: str, title: str, width: float | None) -> None:
    paper = EXACT_WIDTHS[arch]
    if width is not None and float(width) != paper:
        raise ValueError(f"{title} is the paper's exact layout, defined only at width {paper:g}; "
                         f"got width {width:g}: omit the width (or give {paper:g})")


def proxyless(width: float | None = None, input_size: int | Sequence[int] = 128, num_classes: int = 1000,
              in_channels: int = 3) -> Graph:
    """The paper's ProxylessNAS-w0.3 exactly (60 convs, kernels 3/5/7; backbone 326,232 params,
    18.62M MACs at 128x128 with BN folded). ``width`` may only repeat 0.3."""
    _check_exact_width("proxyless", "ProxylessNAS-w0.3", width)
    return exact_net("proxyless-w0.3", 16, _PROXYLESS_W03, _input_shape(input_size, in_channels),
                     num_classes)


def mcunet(width: float | None = None, input_size: int | Sequence[int] = 128, num_classes: int = 1000,
           in_channels: int = 3) -> Graph:
    """The paper's MCUNet-5FPS exactly (42 convs, kernels 3/5/7; backbone 469,224 params,
    22.45M MACs at 128x128 with BN folded). It has no width multiplier: ``width`` may only be 1."""
    _check_exact_width("mcunet", "MCUNet-5FPS", width)
    return exact_net("mcunet-5fps", 16, _MCUNET_5FPS, _input_shape(input_size, in_channels),
                     num_classes)


def small_cnn(input_shape: tuple[int, int, int] = (28, 28, 1), num_classes: int = 10,
              width: int = 16) -> Graph:
    """A small net for 28-32 px inputs (~9k params at width 16, ~0.5M MACs at 28x28):

    stem 3x3 s2 -> depthwise-separable (dw 3x3, pw to 2w) -> dw 3x3 s2, pw to 4w ->
    residual block (dw 3x3, pw linear) + add -> GAP -> classifier. The stride-2 stem and
    the early downsampling keep every activation at 28x28 inputs under 7 KB int8.
    """
    w1, w2, w3 = width, 2 * width, 4 * width
    b = _Builder(input_shape[2])
    b.conv("stem", w1, 3, 2)
    b.conv("ds1_dw", w1, 3, 1, groups=w1)
    b.conv("ds1_pw", w2, 1)
    b.conv("ds2_dw", w2, 3, 2, groups=w2)
    b.conv("ds2_pw", w3, 1)
    skip = b.cur
    b.conv("res_dw", w3, 3, 1, groups=w3)
    b.conv("res_pw", w3, 1, relu6=False)
    b.add("res_add", skip)
    b.head()
    return b.graph(f"small-cnn-w{width}", tuple(input_shape), num_classes)  # type: ignore[arg-type]


def build(name: str, **kwargs) -> Graph:
    """Build a zoo model by name: ``mbv2``, ``proxyless``, ``mcunet``, ``small``."""
    builders = {"mbv2": mobilenet_v2, "mobilenet_v2": mobilenet_v2, "proxyless": proxyless,
                "mcunet": mcunet, "small": small_cnn, "small_cnn": small_cnn}
    if name not in builders:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(builders))}")
    return builders[name](**kwargs)
