"""Learning quality of on-device training schemes with statistical power (issue 11, part 4).

Every accuracy is a mean over seeds (default 5) with a 95 % Student-t interval
(``benchmarks/learning_stats.py``). A seed picks the training subset out of a fixed pool and
the order the samples are visited in; the model, the test set and the learning rates stay the
same. Training runs on the device's terms in the host reference (``harness.reference``:
batch 1, plain SGD, no momentum, int8 updates rounded back); the float32 row is
``harness.reference.train_float`` on the dequantized model.

Tasks (each built by ``harness.workload.prepare`` from the scenario it names, with only the
sample counts changed, so the model, its quantization, the new head and the input packing are
the suite's own):

- **new classes**: small16 pretrained on Fashion-MNIST 0-4 (scenarios/fashion.yaml
  ``fashion-new-classes``) learns classes 5-9 with a new zeroed float head;
- **domain shift**: the same net, classes 0-4 through a shifted sensor (``fashion-domain-shift``,
  sensor strength 0.3), its own head;
- **ResNet-8 transfer**: MLTK's ResNet-8 (CIFAR-10, int8; scenarios/resnet8.yaml) learns
  Fashion-MNIST 0-4 (32x32, grey x3) with a new zeroed float head;
- **IMU**: MLTK's magic_wand (scenarios/magic_wand.yaml) learns seven smartwatch exercises
  (imu_watch); its hidden dense layer is int8 and trains in every scheme.

Schemes: last layer (the classifier; for magic_wand also its hidden dense layer), bias only
(every bias and the classifier), the paper's style of sparse (late biases plus a fraction of
the weights of one or two late convs, per model: ``SPARSE`` below), searched sparse (from
``--searched TASK=FILE|YAML``, e.g. ``mcutrain search`` output; 'not available' without it),
full int8 with QAS, full int8 without QAS, full float32 on the host.

Learning rates, picked per task and scheme on a held-out split of training data, never on the
test set: one extra seed (``SELECT_SEED``) draws a training subset, its first 4/5 train for as
many epochs as the final runs and its last 1/5 score. The float classifier's rate comes first, picked on the last-layer
scheme from the task's ``head`` grid (for magic_wand jointly with the int8 layers' rate from
``last_conv``), then every other scheme keeps it and picks only the int8 layers' rate from the
task's ``conv`` grid. Grids (``TASKS`` below):

- small16 tasks (400 of a 3000-sample pool per seed, 2 epochs, 1000 test images): head
  {0.01, 0.03, 0.1}, int8 {1e-4, 3e-4, 1e-3, 3e-3}, float32 also 3e-5;
- ResNet-8 (100 of 1500 per seed, 2 epochs, 1000 test images): head {0.01, 0.03, 0.1}, int8
  {1e-4, 3e-4, 1e-3}, float32 also 3e-5;
- magic_wand (700 of the 1329 training windows per seed, 3 epochs, all 364 test windows of
  the scenario's windowing: 256 steps, stride 128): head {1e-6, 3e-6, 1e-5} x int8 {3e-3, 1e-2},
  int8 {1e-3, 3e-3, 1e-2}, float32 also 1e-5 and 1e-4.

int8 without QAS gets the same conv grid (its steps come out s_w^2 times smaller: that is the
comparison); a picked rate at a grid end is marked '(edge)'. A run whose loss turns non-finite
is 'diverged': in selection that rate is dropped, in the final runs the seed is counted
separately and the mean is over the seeds that finished (column n).

Memory: the real planner's arena (``compile_training(...).arena_size``) plus the SRAM of the
trainable parameters (``emitted.trainable_bytes``); the float32 row runs on the host only and
shows the analytic estimate with every parameter in float32 (``estimate_memory``-style).

Then the paper's claims, decided by the intervals (``learning_stats``): QAS ≈ float32 and
QAS > no QAS; sparse ≥ full (int8+QAS); sparse > bias only > last layer.

Everything that decides a number is integer arithmetic or numpy in float32 element-wise and
fixed-order reductions in the reference; the statistics use ``math.fsum``. The numbers are the
same on every machine and for any ``--workers``.

    python benchmarks/bench_learning.py                 # the full table, 2 workers
    python benchmarks/bench_learning.py --quick         # a smoke run of every task

Measured wall times with 2 workers on a 2-core machine shared at a load average of 6-8 (one
epoch of selection then; selection now trains the final runs' epochs, ~1.3x more):
imu 10.5 min, new classes 7 min, domain shift 7 min, ResNet-8 > 35 min (its full updates and
1000-image evaluations: ~87 ms per full step, ~11 ms per test image on an idle core); --quick
~6 min for all four. The 40-minute budget needs idle cores, or ``--tasks`` run separately.
    python benchmarks/bench_learning.py --tasks imu --rounding stochastic
    python benchmarks/bench_learning.py --searched new='{n_bias_update: 3, manual_weight_idx: [6], weight_update_ratio: [0.5]}'
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import multiprocessing
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import learning_runs as LR  # noqa: E402
import learning_stats as ST  # noqa: E402

log = logging.getLogger("bench_learning")


def _parse_searched(items: list[str]) -> dict[str, object]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in LR.TASKS:
            raise SystemExit(f"--searched {item!r}: expected TASK=FILE or TASK=YAML with TASK one of "
                             f"{', '.join(LR.TASKS)}")
        out[key] = LR.load_searched(value)
    return out


def _parse_options(items: list[str]) -> dict[str, object]:
    import yaml

    fields = {f.name for f in dataclasses.fields(LR.R.TrainConfig)} - {"epochs", "lr", "classifier_lr",
                                                                        "qas", "scheme"}
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in fields:
            raise SystemExit(f"--train-option {item!r}: expected KEY=VALUE with KEY one of "
                             f"{', '.join(sorted(fields))} (harness.reference.TrainConfig; lr, qas and "
                             "the scheme are the bench's own)")
        out[key] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: small sets, 1 epoch, the middle of each grid, 2 seeds")
    ap.add_argument("--tasks", default=",".join(LR.TASKS), help=f"comma-separated: {', '.join(LR.TASKS)}")
    ap.add_argument("--seeds", type=int, default=5, help="seeds per accuracy (>= 2 for an interval)")
    ap.add_argument("--workers", type=int, default=2, help="processes (the numbers do not depend on it)")
    ap.add_argument("--rounding", choices=sorted(LR.R.ROUNDING), default=LR.SCENARIO_DEFAULTS["rounding"],
                    help="the int8 update's rounding (default: the scenario key's default, "
                         f"{LR.SCENARIO_DEFAULTS['rounding']})")
    ap.add_argument("--schedule", choices=("constant", "cosine", "step"), default=LR.SCENARIO_DEFAULTS["schedule"],
                    help="the lr schedule of both rates, with the scenario default warm-up (auto: 10 %% "
                         f"of the run with cosine or step); default: the scenario key's, "
                         f"{LR.SCENARIO_DEFAULTS['schedule']}")
    ap.add_argument("--train-option", action="append", default=[], metavar="KEY=VALUE",
                    help="any other harness.reference.TrainConfig field, e.g. seed=12345")
    ap.add_argument("--searched", action="append", default=[], metavar="TASK=FILE|YAML",
                    help="the searched sparse scheme of a task: a YAML file or an inline block "
                         "(a sparse_update mapping, or a mapping with a sparse_update key)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s: %(message)s")
    keys = [k.strip() for k in args.tasks.split(",") if k.strip()]
    bad = [k for k in keys if k not in LR.TASKS]
    if bad:
        raise SystemExit(f"--tasks: unknown {', '.join(bad)} (use {', '.join(LR.TASKS)})")
    if args.seeds < 1:
        raise SystemExit("--seeds must be >= 1")
    options = _parse_options(args.train_option)
    options["rounding"] = args.rounding
    LR.R.TrainConfig(**options)  # a bad value stops here, before any work
    options["schedule"] = args.schedule  # resolved per run (its warm-up counts the run's steps)
    searched = _parse_searched(args.searched)
    seeds = 2 if args.quick and args.seeds == 5 else args.seeds

    t0 = time.perf_counter()
    defs = [LR.TASKS[k].quick() if args.quick else LR.TASKS[k] for k in keys]
    LR.build_tasks(defs, searched)
    t_build = time.perf_counter() - t0
    bench = LR.Bench(defs, seeds, options, args.quick, max(1, args.workers))
    rows = bench.run()
    mem = LR.memory(defs, searched)

    print(f"On-device training in the host reference: batch 1, SGD without momentum; "
          f"update options {options or 'TrainConfig defaults'} (rounding "
          f"{options.get('rounding', LR.R.TrainConfig().rounding)}). {seeds} seeds per accuracy "
          f"(a seed draws the training subset from the pool and its visiting order); 95 % "
          f"Student-t intervals. Tasks built in {t_build:.0f} s.")
    for d in defs:
        t = LR.TASK_DATA[d.key]
        print(f"- {d.title}: pool {len(t.y_pool)}, {d.n_train} per seed, {d.epochs} epoch(s), "
              f"test {len(t.y_test)}; sparse = {t.schemes['sparse'].describe()}"
              + (f"; searched = {t.schemes['searched'].describe()}" if "searched" in t.schemes else ""))
    print()
    print(LR.format_table(rows, mem))
    print()
    print(LR.format_claims(rows))
    print()
    print(LR.format_diagnostics(rows))
    print()
    print(f"total {time.perf_counter() - t0:.0f} s wall, {bench.cpu_seconds:.0f} s of runs "
          f"({', '.join(f'{k} {v:.0f} s' for k, v in bench.task_seconds.items())})")
    return 0


if __name__ == "__main__":
    multiprocessing.set_start_method("fork", force=True)
    raise SystemExit(main())
