"""BatchNorm folding: a float graph with ``Conv(bn=True)`` becomes the same function with
plain convs, ``w' = w * gamma / sqrt(var + eps)`` per output channel and
``b' = (b - mean) * gamma / sqrt(var + eps) + beta``.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .graph import Conv, Graph

BN_EPS = 1e-5  # the BatchNorm epsilon of host training, used again when folding


def fold_bn(graph: Graph, params: dict[str, np.ndarray]) -> tuple[Graph, dict[str, np.ndarray]]:
    """Return (folded graph, folded params); ops without BN and their params pass unchanged.

    The arithmetic is float64, rounded once to float32, so folding adds no error beyond
    one float32 rounding of each weight.
    """
    ops = []
    out: dict[str, np.ndarray] = {}
    for op in graph.ops:
        if isinstance(op, Conv) and op.bn:
            n = op.name
            gamma = params[f"{n}.bn_gamma"].astype(np.float64)
            beta = params[f"{n}.bn_beta"].astype(np.float64)
            mean = params[f"{n}.bn_mean"].astype(np.float64)
            var = params[f"{n}.bn_var"].astype(np.float64)
            scale = gamma / np.sqrt(var + BN_EPS)
            w = params[f"{n}.weight"].astype(np.float64) * scale[:, None, None, None]
            b = (params[f"{n}.bias"].astype(np.float64) - mean) * scale + beta
            out[f"{n}.weight"] = w.astype(np.float32)
            out[f"{n}.bias"] = b.astype(np.float32)
            ops.append(replace(op, bn=False))
        else:
            ops.append(op)
            prefix = f"{op.name}."
            out.update({k: v for k, v in params.items() if k.startswith(prefix)})
    return replace(graph, ops=tuple(ops)), out


def is_folded(graph: Graph) -> bool:
    return not any(isinstance(op, Conv) and op.bn for op in graph.convs())


def identity_bn(name: str, channels: int) -> dict[str, np.ndarray]:
    """BatchNorm parameters of ``name`` that leave its conv's output unchanged (up to eps)."""
    return {f"{name}.bn_gamma": np.ones(channels, np.float32), f"{name}.bn_beta": np.zeros(channels, np.float32),
            f"{name}.bn_mean": np.zeros(channels, np.float32), f"{name}.bn_var": np.ones(channels, np.float32)}
