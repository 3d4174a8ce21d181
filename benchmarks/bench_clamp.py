"""The backward clamp convention (docs/arithmetic.md §7.1): open vs closed interval, measured.

The device saves a mask bit ``act_min < u < act_max`` (open); the original authors' PyTorch
code passes ``act_min <= u <= act_max`` (closed, torch.clamp's backward). This benchmark trains
the host reference (``harness.reference.train``, bit-identical to the device) both ways on
three Fashion-MNIST scenarios of scenarios/fashion.yaml, 5 seeds each (the seed picks the
training subset and its order) with 1000 test samples, and prints the share of output elements
exactly on a bound and the paired accuracy difference with a 95 % interval (Student t, 4 dof).
The closed interval is an experiment only: it swaps ``qops.output_stage`` in this process.

    python benchmarks/bench_clamp.py          # ~9 min on one core
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness import reference as ref  # noqa: E402
from harness.model import qops  # noqa: E402
from harness.scenario import load_scenarios  # noqa: E402
from harness.workload import prepare  # noqa: E402

SCENARIOS = ("fashion-new-classes", "fashion-new-classes-bias-only", "fashion-domain-shift")
SEEDS = range(1, 6)
T_975_4DOF = 2.776  # Student t, 97.5 % quantile, 4 degrees of freedom
_OPEN = qops.output_stage


class _Counted:
    """``qops.output_stage`` with the chosen interval, counting outputs exactly on a bound."""

    def __init__(self, closed: bool) -> None:
        self.closed, self.on_bound, self.total = closed, 0, 0

    def __call__(self, acc, multiplier, shift, z_y, act_min, act_max):
        u = qops.requantize(acc, multiplier, shift) + z_y
        self.on_bound += int(((u == act_min) | (u == act_max)).sum())
        self.total += u.size
        if self.closed:
            mask = (u >= act_min) & (u <= act_max)
        else:
            mask = (u > act_min) & (u < act_max)
        return np.clip(u, act_min, act_max).astype(np.int8), mask


def main() -> int:
    scenarios = {s.name: s for s in load_scenarios(REPO / "scenarios" / "fashion.yaml")}
    print("| scenario | open (mean) | closed (mean) | closed - open, paired (95 % CI) | outputs on a bound |")
    print("|---|---|---|---|---|")
    for name in SCENARIOS:
        sc, t = scenarios[name], scenarios[name].training
        acc = {False: [], True: []}
        share = []
        for seed in SEEDS:
            w = prepare(sc.model, dataclasses.replace(sc.dataset, seed=seed, test=1000), t)
            cfg = ref.TrainConfig(epochs=w.epochs, lr=t.lr, classifier_lr=t.classifier_lr, qas=t.qas,
                                  rounding=t.rounding, seed=t.seed)
            for closed in (False, True):
                stage = _Counted(closed)
                qops.output_stage = stage
                try:
                    r = ref.train(w.qmodel, w.scheme, w.train_x, w.train_y, cfg, w.test_x, w.test_y)
                finally:
                    qops.output_stage = _OPEN
                acc[closed].append(r.acc_after)
                if not closed:
                    share.append(stage.on_bound / max(stage.total, 1))
        d = np.array(acc[True]) - np.array(acc[False])
        half = T_975_4DOF * d.std(ddof=1) / np.sqrt(len(d))
        print(f"| {name} | {np.mean(acc[False]):.4f} | {np.mean(acc[True]):.4f} | "
              f"{100 * d.mean():+.2f} ± {100 * half:.2f} pp | {100 * np.mean(share):.2f} % |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
