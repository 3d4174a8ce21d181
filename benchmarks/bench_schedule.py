"""Do per-epoch shuffling, a cosine schedule with warm-up and classifier momentum help
on-device training? (issue 11, part 3): prints a table with 95 % intervals.

The task is the suite's: the small net pretrained on Fashion-MNIST classes 0-4 (the committed
scenarios/models/small16-fashion-0to4.npz), int8 with a new zeroed float head, learns classes
5-9 on the device's terms (``harness.reference``, bit-identical to the device) with the
fashion scenarios' sparse scheme and rates (convs 3e-4 with QAS, nearest rounding; classifier
0.05), 300 training samples, 3 epochs, tested on 1000. Each seed draws another training and
test subset and another initial order (and shuffle stream). Variants:

- plain: one order for every epoch, constant rates, no momentum (today's device);
- + shuffle: a new order every epoch (harness/sgd/shuffle.py);
- + cosine: cosine decay of both rates after a linear warm-up of 10 % of the steps;
- + momentum: mu = 0.9 on the float classifier, its rate times (1 - mu) so that the
  long-run step size is the plain one's (the usual fair comparison);
- all three.

Columns: mean test accuracy over the seeds with its 95 % t-interval, and the paired
difference from plain on the same seeds with its 95 % t-interval (the seeds share data, so
the paired interval is the sharper test).

    python benchmarks/bench_schedule.py              # 5 seeds x 5 variants: ~3 min of CPU
    python benchmarks/bench_schedule.py --seeds 10   # ~6 min of CPU (the table in the notes)
    python benchmarks/bench_schedule.py --quick      # 2 seeds, 100 samples, 1 epoch: a smoke run

Measured (10 seeds, 2026-12-01): plain 66.45 ± 3.91 %, + shuffle -0.02 ± 4.92 pp,
+ cosine with warm-up +7.73 ± 4.03 pp, + momentum +5.50 ± 3.70 pp, all three +7.66 ± 4.09 pp.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness import reference as R  # noqa: E402
from harness.data import load_dataset, pack_images  # noqa: E402
from harness.model.modelfile import load_model_file  # noqa: E402
from harness.sgd.lr_schedule import LrSchedule  # noqa: E402
from harness.sparse.scheme import SparseScheme  # noqa: E402
from harness.workload import with_new_head  # noqa: E402

MODEL_FILE = REPO / "scenarios" / "models" / "small16-fashion-0to4.npz"
NEW_CLASSES = (5, 6, 7, 8, 9)
SCHEME = SparseScheme(n_bias_update=4, manual_weight_idx=(4, 6), weight_update_ratio=(0.5, 1.0))
LR, HEAD_LR, MU = 3e-4, 0.05, 0.9
# two-sided 97.5 % quantiles of Student's t, by degrees of freedom
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        10: 2.228, 14: 2.145, 19: 2.093}


@dataclass(frozen=True)
class Variant:
    name: str
    shuffle: bool = False
    cosine: bool = False
    momentum: float = 0.0


VARIANTS = (Variant("plain"), Variant("+ shuffle", shuffle=True), Variant("+ cosine, warm-up", cosine=True),
            Variant("+ momentum 0.9", momentum=MU), Variant("all three", True, True, MU))


def config(v: Variant, epochs: int, n_train: int, seed: int) -> R.TrainConfig:
    schedule = LrSchedule("cosine", warmup=max(epochs * n_train // 10, 1)) if v.cosine else LrSchedule()
    return R.TrainConfig(epochs=epochs, lr=LR, classifier_lr=HEAD_LR * (1 - v.momentum), qas=True,
                         scheme=SCHEME, shuffle_seed=(0x9E3779B9 + seed) & 0xFFFFFFFF if v.shuffle else 0,
                         schedule=schedule, momentum=v.momentum)


def interval(x: np.ndarray) -> tuple[float, float]:
    """Mean and the half-width of its 95 % t-interval."""
    n = len(x)
    if n < 2:
        return float(np.mean(x)), float("nan")
    t = T975.get(n - 1, 1.96)
    return float(np.mean(x)), float(t * np.std(x, ddof=1) / np.sqrt(n))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, 100 samples, 1 epoch")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--train", type=int, default=300)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args(argv)
    seeds, n_train, n_test, epochs = args.seeds, args.train, args.test, args.epochs
    if args.quick:
        seeds, n_train, n_test, epochs = 2, 100, 300, 1
    t0 = time.perf_counter()
    qmodel = with_new_head(load_model_file(MODEL_FILE).quantize("float"), len(NEW_CLASSES))
    acc = np.zeros((len(VARIANTS), seeds))
    for s in range(seeds):
        ds = load_dataset("fashion_mnist", classes=NEW_CLASSES, train=n_train, test=n_test, seed=100 + s,
                          input_shape=(28, 28, 1))
        order = np.random.default_rng(200 + s).permutation(len(ds.train_y))
        x = pack_images(ds.train_x[order], qmodel.input)
        y = ds.train_y[order]
        xt = pack_images(ds.test_x, qmodel.input)
        for i, v in enumerate(VARIANTS):
            res = R.train(qmodel, SCHEME, x, y, config(v, epochs, len(y), s), xt, ds.test_y)
            acc[i, s] = res.acc_after
            print(f"  seed {s}: {v.name:<20} {100 * res.acc_after:.2f} %", file=sys.stderr, flush=True)
    print(f"Fashion-MNIST new classes 5-9 on the pretrained small net (int8, new float head), "
          f"scheme {SCHEME.resolve(qmodel.graph).describe()}; {n_train} training samples, {epochs} "
          f"epochs, batch 1; test on {n_test}; {seeds} seeds (subsets and order). Rates: convs {LR:g} "
          f"(QAS, nearest), classifier {HEAD_LR:g} (x (1 - mu) with momentum); cosine warm-up 10 % of the steps.")
    print()
    print("| variant | test accuracy (mean ± 95 % CI) | difference from plain (paired, ± 95 % CI) |")
    print("|---|---:|---:|")
    for i, v in enumerate(VARIANTS):
        m, h = interval(100 * acc[i])
        dm, dh = interval(100 * (acc[i] - acc[0]))
        diff = "–" if i == 0 else f"{dm:+.2f} ± {dh:.2f} pp"
        print(f"| {v.name} | {m:.2f} ± {h:.2f} % | {diff} |")
    print()
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
