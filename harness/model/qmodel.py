"""The int8 model: a folded graph plus per-layer integer parameters (docs/arithmetic.md §2–5).

This is the value the reference trainer, the training compiler and the firmware share.
Arrays are numpy; a ``QModel`` is treated as immutable (training works on copies).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np

from .graph import Add, Conv, Flatten, GlobalAvgPool, Graph, Linear, Pool


@dataclass(frozen=True)
class QParams:
    """Affine quantization of an activation tensor: real = scale * (q - zero_point)."""

    scale: float  # a float32 value, stored as a Python float
    zero_point: int


@dataclass(frozen=True)
class QConv:
    op: Conv
    x: QParams
    y: QParams
    w: np.ndarray  # int8 [C_out, K, K, C_in/groups]
    w_scale: np.ndarray  # float32 [C_out]
    b: np.ndarray  # int32 [C_out]
    multiplier: np.ndarray  # int32 [C_out]
    shift: np.ndarray  # int32 [C_out]
    act_min: int
    act_max: int


@dataclass(frozen=True)
class QAdd:
    op: Add
    a: QParams
    b: QParams
    y: QParams
    a_multiplier: int
    a_shift: int
    b_multiplier: int
    b_shift: int
    out_multiplier: int
    out_shift: int
    act_min: int = -128  # the fused activation's clamp (docs/arithmetic.md §4)
    act_max: int = 127


@dataclass(frozen=True)
class QAvgPool:
    op: GlobalAvgPool
    x: QParams
    y: QParams
    multiplier: int
    shift: int


@dataclass(frozen=True)
class QPool:
    """Max / average pool on int8: the output has the input's QParams (``y == x``)."""

    op: Pool
    x: QParams
    y: QParams
    act_min: int = -128
    act_max: int = 127


@dataclass(frozen=True)
class QFlatten:
    """A reshape to a vector: the same int8 bytes and QParams."""

    op: Flatten
    x: QParams


@dataclass(frozen=True)
class QLinearFloat:
    """The float32 classifier the paper keeps (its input is dequantized)."""

    op: Linear
    x: QParams
    w: np.ndarray  # float32 [N_out, N_in]
    b: np.ndarray  # float32 [N_out]


@dataclass(frozen=True)
class QLinear:
    """An int8 classifier: per-output-channel symmetric weights, int32 bias, int8 logits."""

    op: Linear
    x: QParams
    y: QParams
    w: np.ndarray  # int8 [N_out, N_in]
    w_scale: np.ndarray  # float32 [N_out]
    b: np.ndarray  # int32 [N_out]
    multiplier: np.ndarray  # int32 [N_out]
    shift: np.ndarray  # int32 [N_out]
    act_min: int = -128  # a hidden layer's fused ReLU / ReLU6; the classifier keeps the full range
    act_max: int = 127


QLayer = Union[QConv, QAdd, QAvgPool, QLinearFloat, QLinear, QPool, QFlatten]


@dataclass(frozen=True)
class QModel:
    graph: Graph  # folded: no Conv has bn=True
    input: QParams
    layers: tuple[QLayer, ...]  # one per graph op, same order

    @property
    def classifier(self) -> str:
        return "float" if isinstance(self.layers[-1], QLinearFloat) else "int8"

    def convs(self) -> list[QConv]:
        return [layer for layer in self.layers if isinstance(layer, QConv)]
