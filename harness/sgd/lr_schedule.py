"""The learning-rate schedule: a float32 factor per training step, computed on the host once
and read by the device from a const table in flash (docs/arithmetic.md §10.2).

``factor(t)`` for the global step ``t = 0 .. T-1`` (``T = epochs * N``, epoch ``e = t // N``)
is ``warm(t) * decay(t)``, evaluated in float64 and rounded once to float32:

- ``warm(t) = (t + 1) / W`` for ``t < W`` warm-up steps, else 1;
- ``constant``: ``decay = 1``;
- ``cosine``: ``decay = 0.5 * (1 + cos(pi * max(0, t - W) / (T - W)))`` (from 1 after the
  warm-up down towards 0 at the end);
- ``step``: ``decay = gamma ** (e // step_epochs)``.

The device never computes a cosine: it reads the table, so host and device agree by
construction. Both the int8 layers' and the classifier's rates are multiplied by the factor
in float32: ``lr_t = lr * factor(t)`` (one rounded product each).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ScenarioError

KINDS = ("constant", "cosine", "step")


@dataclass(frozen=True)
class LrSchedule:
    kind: str = "constant"
    warmup: int = 0  # steps of linear warm-up
    gamma: float = 0.1  # step: the factor per decay
    step_epochs: int = 1  # step: epochs between decays

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ScenarioError(f"schedule {self.kind!r} is unknown", f"use one of {', '.join(KINDS)}")
        if not (isinstance(self.warmup, int) and self.warmup >= 0):
            raise ScenarioError(f"warmup = {self.warmup!r} is not a step count",
                                "give a whole number of warm-up steps >= 0")
        if not (math.isfinite(self.gamma) and 0 < self.gamma <= 1):
            raise ScenarioError(f"decay = {self.gamma!r} is not in (0, 1]", "give e.g. decay: 0.1")
        if not (isinstance(self.step_epochs, int) and self.step_epochs >= 1):
            raise ScenarioError(f"step_epochs = {self.step_epochs!r} is not a count >= 1",
                                "give e.g. step_epochs: 1")

    @property
    def constant(self) -> bool:
        """No table at all: the device keeps its constant-lr code."""
        return self.kind == "constant" and self.warmup == 0

    def check(self, epochs: int, n_train: int) -> None:
        """The warm-up must end before the last step (else the rate never reaches lr)."""
        total = epochs * n_train
        if self.warmup and self.warmup >= total:
            raise ScenarioError(f"warmup = {self.warmup} steps is not shorter than the whole run "
                                f"({epochs} epochs x {n_train} samples = {total} steps)",
                                f"use at most {max(total - 1, 0)} warm-up steps (e.g. {total // 10})")

    def factors(self, epochs: int, n_train: int) -> np.ndarray:
        """The float32 factor of every step, ``epochs * n_train`` of them."""
        self.check(epochs, n_train)
        total = epochs * n_train
        t = np.arange(total, dtype=np.float64)
        warm = np.minimum(1.0, (t + 1.0) / self.warmup) if self.warmup else np.ones(total)
        if self.kind == "cosine":
            span = max(total - self.warmup, 1)
            # math.cos (the C library's, correctly rounded in practice) rather than numpy's,
            # whose vectorised float64 cos differs between CPUs
            decay = np.array([0.5 * (1.0 + math.cos(math.pi * max(0.0, s - self.warmup) / span))
                              for s in t])
        elif self.kind == "step":
            epoch = np.arange(total) // max(n_train, 1)
            decay = self.gamma ** (epoch // self.step_epochs).astype(np.float64)
        else:
            decay = np.ones(total)
        return (warm * decay).astype(np.float32)

    def describe(self) -> str:
        if self.constant:
            return "constant"
        parts = [self.kind]
        if self.kind == "step":
            parts.append(f"x{self.gamma:g} every {self.step_epochs} epoch(s)")
        if self.warmup:
            parts.append(f"{self.warmup} warm-up steps")
        return ", ".join(parts)


def scaled_lr(lr: float, factor: np.float32) -> float:
    """``lr * factor`` as the device computes it: one float32 product of float32 values."""
    return float(np.float32(np.float32(lr) * np.float32(factor)))
