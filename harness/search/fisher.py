"""The cheaper criterion (TinyTrain, ICML 2024): Fisher information of the task's data, the
per-channel sum over samples of the squared gradients of the loss. One backward pass per
sample with every bias and every weight candidate requiring grad, on the model whose
classifier was first trained on the same samples (a new head starts at zero, which passes no
gradient back). A scheme's score is the Fisher mass of what it updates: the biases of its last
k convs plus the selected input channels of each weight-updated conv."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from ..model.graph import Conv
from ..model.qmodel import QModel
from ..reference import TrainConfig, init_state, train, train_step
from ..sparse.scheme import SparseScheme, round_half_away
from .space import RATIOS, Genome, Space
from .task import Task


@dataclass(frozen=True)
class Fisher:
    bias: tuple[float, ...]  # per conv (graph order): sum over samples and channels of g_b^2
    weight: dict[int, np.ndarray]  # weight candidate -> per input channel (depthwise: channel)
    samples: int
    seconds: float

    def score(self, space: Space, g: Genome) -> float:
        n = space.n_convs
        total = float(sum(self.bias[n - space.n_bias(g):])) if space.n_bias(g) else 0.0
        for c, r in zip(space.candidates, g.ratios):
            if r:
                f = self.weight[c]
                k = _rounded_channels(RATIOS[r], len(f))
                total += float(f[:k].sum(dtype=np.float64))
        return total


def _rounded_channels(r: float, channels: int) -> int:
    return round_half_away(r * channels)  # as SparseScheme.resolve counts a ratio's channels


def fisher_of(qmodel: QModel, cfg: TrainConfig, x: np.ndarray, y: np.ndarray,
              candidates: tuple[int, ...]) -> tuple[tuple[float, ...], dict[int, np.ndarray]]:
    """Per-conv bias Fisher and per-channel weight Fisher of ``candidates`` on (x, y), from
    gradients of the unchanged model (learning rates 0: the steps move nothing)."""
    convs = qmodel.graph.convs()
    keys = {"n_bias_update": len(convs), "manual_weight_idx": list(candidates),
            "weight_update_ratio": [1.0] * len(candidates)}
    still = dataclasses.replace(cfg, epochs=1, lr=0.0, classifier_lr=0.0, rounding="nearest")
    state = init_state(qmodel, still, SparseScheme.from_config(keys))
    bias = {c.name: 0.0 for c in convs}
    weight = {i: np.zeros(_width(convs[i])) for i in candidates}
    index = {c.name: i for i, c in enumerate(convs)}
    for xi, yi in zip(x, y):
        rec: dict = {}
        train_step(state, xi, int(yi), record=rec)
        for name, (g_b, g_w) in rec.items():
            if name not in bias:
                continue  # the classifier
            bias[name] += float(np.square(g_b, dtype=np.float64).sum())
            i = index[name]
            if g_w is not None and i in weight:
                sq = np.square(g_w, dtype=np.float64)
                weight[i] += sq.sum(axis=(1, 2, 3)) if convs[i].kind == "depthwise" else sq.sum(axis=(0, 1, 2))
    return tuple(bias[c.name] for c in convs), weight


def _width(c: Conv) -> int:
    return c.out_ch if c.kind == "depthwise" else c.in_ch


def measure(task: Task, space: Space, progress=lambda _m: None) -> Fisher:
    progress(f"Fisher information: classifier run, then one backward pass per sample "
             f"({len(task.train_y)} samples)")
    t0 = time.monotonic()
    head = train(task.qmodel, SparseScheme.last_layer(), task.train_x, task.train_y, task.cfg)
    bias, weight = fisher_of(head.qmodel, task.cfg, task.train_x, task.train_y, space.candidates)
    return Fisher(bias, weight, len(task.train_y), time.monotonic() - t0)
