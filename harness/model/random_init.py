"""Seeded random weights that are the same bits on every machine, for scenarios that measure
memory and speed without a trained model file.

Weights are He-uniform: ``w = (k / 2**23) * sqrt(6 / fan_in)`` with integers ``k`` drawn
uniformly from [-2**23, 2**23] by numpy's PCG64 (integer output, no libm). The only float
operations are one correctly rounded square root and one product per weight, both exact
under IEEE 754 on any CPU; a normal draw would go through libm's ``exp``/``log``, whose
vectorised variants differ between CPUs. Biases are zero and BatchNorm is the identity.
"""
from __future__ import annotations

import math

import numpy as np

from .fold import identity_bn
from .graph import Conv, Graph, Linear

_ONE = 1 << 23


def _uniform(rng: np.random.Generator, shape: tuple[int, ...], bound: float) -> np.ndarray:
    k = rng.integers(-_ONE, _ONE, size=shape, endpoint=True, dtype=np.int64)
    return ((k.astype(np.float64) / float(_ONE)) * bound).astype(np.float32)


def random_params(graph: Graph, seed: int) -> dict[str, np.ndarray]:
    """He-uniform conv weights, LeCun-uniform classifier, zero biases, identity BN."""
    rng = np.random.Generator(np.random.PCG64(seed))
    params: dict[str, np.ndarray] = {}
    for op in graph.ops:
        if isinstance(op, Conv):
            fan_in = op.window.kh * op.window.kw * (op.in_ch // op.groups)
            params[f"{op.name}.weight"] = _uniform(rng, op.weight_shape, math.sqrt(6.0 / fan_in))
            params[f"{op.name}.bias"] = np.zeros(op.out_ch, np.float32)
            if op.bn:
                params.update(identity_bn(op.name, op.out_ch))
        elif isinstance(op, Linear):
            params[f"{op.name}.weight"] = _uniform(rng, op.weight_shape, math.sqrt(3.0 / op.in_features))
            params[f"{op.name}.bias"] = np.zeros(op.out_features, np.float32)
    return params
