"""Momentum of the float classifier (docs/arithmetic.md §10.3), as the device's
``tt_fc_f32_backward_update_momentum`` applies it, element by element in float32:

    v = mu * v + g;   p = p - lr * v        (biases j = 0..N-1, then weights [j][i] row-major)

with ``g = dlogits[j]`` for a bias and ``g = dlogits[j] * x_r[i]`` for a weight. The buffers
start at zero (so the first step is plain SGD) and live as long as the training run.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

F32 = np.float32


@dataclass
class Velocity:
    """The classifier's momentum buffers, float32, shaped like its weights and bias."""

    w: np.ndarray
    b: np.ndarray

    @classmethod
    def zeros(cls, w: np.ndarray, b: np.ndarray) -> "Velocity":
        return cls(np.zeros(w.shape, np.float32), np.zeros(b.shape, np.float32))

    @property
    def nbytes(self) -> int:
        return self.w.nbytes + self.b.nbytes


def momentum_step(p: np.ndarray, v: np.ndarray, g: np.ndarray, lr: object, mu: float) -> None:
    """``v = mu*v + g; p = p - lr*v`` in place, each operation one float32 rounding."""
    lr_t = np.asarray(lr, dtype=p.dtype)
    mu_t = np.asarray(mu, dtype=p.dtype)
    v[...] = mu_t * v + g.astype(p.dtype)
    p[...] = p - lr_t * v
