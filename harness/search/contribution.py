"""Contribution analysis (the paper's §2.2, Eq. 5), measured with the host reference of
on-device training: held-out accuracy gained by updating the last k biases (over the
classifier alone), and by updating one conv's weights at a channel ratio (over the bias-only
run that reaches that conv). Gains are counted in held-out samples (integers: exact and the
same on every machine). Runs are independent, so they are spread over worker processes."""
from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass

from ..reference import evaluate, train
from ..sparse.scheme import SparseScheme
from .space import RATIOS, Genome, Space
from .task import Task

_TASK: Task | None = None  # the task of the worker processes (inherited through fork)


@dataclass(frozen=True)
class Contribution:
    holdout: int  # held-out samples; a gain of 1 is 1/holdout of accuracy
    baseline: int  # held-out samples right after training the classifier alone
    bias: dict[int, int]  # n_bias_update -> gain over the classifier alone
    k_ref: int  # the bias-only run the weight gains are measured over
    weight: dict[tuple[int, float], int]  # (conv, ratio) -> gain over bias k_ref
    runs: int
    seconds: float

    def score(self, space: Space, g: Genome) -> float:
        """ΣΔacc of a genome, in held-out samples (the paper's additive model)."""
        total = self.bias[space.n_bias(g)]
        for c, r in zip(space.candidates, g.ratios):
            if r:
                total += self.weight[(c, RATIOS[r])]
        return float(total)


def _correct(keys: dict) -> int:
    t = _TASK
    assert t is not None
    r = train(t.qmodel, SparseScheme.from_config(keys), t.train_x, t.train_y, t.cfg)
    return round(evaluate(r.qmodel, t.hold_x, t.hold_y) * len(t.hold_y))


def measure(task: Task, space: Space, workers: int = 2, progress=lambda _m: None) -> Contribution:
    """Every bias choice of ``space`` and every (candidate, ratio > 0) on top of bias k_ref."""
    global _TASK
    k_ref = space.n_convs - min(space.candidates) if space.candidates else 0
    jobs: list[dict] = [{"n_bias_update": k} for k in space.bias_choices]
    wjobs = [(c, r) for c in space.candidates for r in RATIOS[1:]]
    jobs += [{"n_bias_update": k_ref, "manual_weight_idx": [c], "weight_update_ratio": [r]} for c, r in wjobs]
    progress(f"contribution analysis: {len(jobs)} short runs ({len(task.train_y)} samples, one epoch "
             f"each, scored on {len(task.hold_y)} held-out samples) on {workers} worker(s)")
    t0 = time.monotonic()
    _TASK = task
    try:
        if workers > 1:
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                counts = pool.map(_correct, jobs, chunksize=1)
        else:
            counts = [_correct(j) for j in jobs]
    finally:
        _TASK = None
    seconds = time.monotonic() - t0
    nb = len(space.bias_choices)
    by_k = dict(zip(space.bias_choices, counts[:nb]))
    base = by_k[0]
    bias = {k: v - base for k, v in by_k.items()}
    weight = {cr: v - by_k[k_ref] for cr, v in zip(wjobs, counts[nb:])}
    return Contribution(len(task.hold_y), base, bias, k_ref, weight, len(jobs), seconds)
