"""Rounding of the int8 updates (issue 11, part 1): nearest, stochastic and error feedback.

Host only (``harness.reference``, bit-identical to the device). The small net pretrained on
Fashion-MNIST classes 0-4 (scenarios/models/small16-fashion-0to4.npz), quantized to int8 with a
float classifier, trains on the device's terms (batch 1, SGD, no momentum, QAS) on two tasks,
with the learning rates of scenarios/fashion.yaml:

- **new classes** 5-9 with a new zeroed head (int8 lr 3e-4, classifier 0.05);
- **domain shift**: classes 0-4 through the ``sensor`` shift 0.3 (int8 lr 3e-3, classifier 0.01).

Schemes: bias only, the suite's sparse scheme (biases of the last 4 convs, half of conv 4's
input channels, all of conv 6's) and the full int8 update. Each (task, scheme, rounding) runs
over ``--seeds`` data seeds (``dataset.seed``: which samples, their order; the same seeds for
every rounding, so differences are paired). Printed: mean test accuracy with a 95 % t interval,
the paired difference to nearest with its interval, and the extra SRAM of feedback (one int8
residual per trainable int8 weight and int32 bias).

Then the issue's check: 20 QAS steps at lr 2e-4 on the domain-shift task with the full update:
how many int8 weights each rounding moves and by how much, against a float32 master copy (the
float path, whose QAS-equivalent step is the same ``lr * g``); and the size of the steps
themselves (|dw| in weight steps, |db| in bias units) at that lr and at the tasks' lrs.

    python benchmarks/bench_rounding.py            # ~10 min on one core
    python benchmarks/bench_rounding.py --quick    # smoke run (2 seeds, 100 samples), ~2 min
    python benchmarks/bench_rounding.py --lr-factors 0.3,3 --schemes "full int8+QAS" --no-check
                                                   # the same at other int8 learning rates
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness import reference as R  # noqa: E402
from harness.data import DomainShift, load_dataset, pack_images  # noqa: E402
from harness.model.modelfile import load_model_file  # noqa: E402
from harness.model.qmodel import QConv, QLinear, QLinearFloat, QModel  # noqa: E402
from harness.model.quantize import quantize_model  # noqa: E402
from harness.sparse.scheme import SparseScheme  # noqa: E402

INPUT = (28, 28, 1)
MODEL_FILE = REPO / "scenarios" / "models" / "small16-fashion-0to4.npz"
SPARSE = SparseScheme(n_bias_update=4, manual_weight_idx=(4, 6), weight_update_ratio=(0.5, 1.0))
SCHEMES = (("bias only", SparseScheme.bias_only()), ("sparse", SPARSE), ("full int8+QAS", SparseScheme.full()))
ROUNDINGS = ("nearest", "stochastic", "feedback")


@dataclass(frozen=True)
class Task:
    name: str
    lr: float
    classifier_lr: float
    classes: tuple[int, ...]
    new_head: bool
    shift: float | None


TASKS = (Task("new classes 5-9", 3e-4, 0.05, (5, 6, 7, 8, 9), True, None),
         Task("domain shift (sensor 0.3)", 3e-3, 0.01, (0, 1, 2, 3, 4), False, 0.3))


def with_new_head(qmodel: QModel) -> QModel:
    head = qmodel.layers[-1]
    assert isinstance(head, QLinearFloat)
    new = dataclasses.replace(head, w=np.zeros_like(head.w), b=np.zeros_like(head.b))
    return dataclasses.replace(qmodel, layers=qmodel.layers[:-1] + (new,))


def residual_bytes(qmodel: QModel, scheme: SparseScheme) -> int:
    """The .bss of rounding "feedback": one byte per trainable int8 weight and int32 bias (what
    emit_c allocates)."""
    resolved = scheme.resolve(qmodel.graph)
    n = 0
    for op, layer in zip(qmodel.graph.ops, qmodel.layers):
        if isinstance(layer, QConv):
            u = resolved.layer(op.name)
            n += layer.w[R.weight_slice(op, u.weight_channels)].size if u.weight_channels else 0
            n += layer.b.size if u.update_bias else 0
        elif isinstance(layer, QLinear):
            n += layer.w.size + layer.b.size
    return n


def interval(a: np.ndarray) -> tuple[float, float]:
    """Mean and the half-width of its 95 % t interval."""
    a = np.asarray(a, dtype=np.float64)
    if a.size < 2:
        return float(a.mean()), float("nan")
    half = stats.t.ppf(0.975, a.size - 1) * a.std(ddof=1) / np.sqrt(a.size)
    return float(a.mean()), float(half)


def train_acc(qmodel: QModel, scheme: SparseScheme, task: Task, rounding: str, data, epochs: int) -> float:
    x, y, xt, yt = data
    cfg = R.TrainConfig(epochs=epochs, lr=task.lr, classifier_lr=task.classifier_lr, qas=True,
                        rounding=rounding, scheme=scheme)
    state = R.init_state(qmodel, cfg, scheme)
    for _ in range(epochs):
        for xi, yi in zip(x, y):
            R.train_step(state, xi, int(yi))
    return R.evaluate(state.qmodel, xt, yt)


def accuracy_table(qmodel: QModel, seeds: list[int], n_train: int, n_test: int, epochs: int,
                   tasks: tuple[Task, ...] = TASKS, schemes=SCHEMES) -> str:
    lines = [f"| task | int8 lr | scheme | rounding | accuracy, mean ± 95 % ({len(seeds)} seeds) "
             "| vs nearest (paired) | extra SRAM (residuals) |", "|---|---:|---|---|---:|---:|---:|"]
    for task in tasks:
        base = with_new_head(qmodel) if task.new_head else qmodel
        shift = DomainShift.preset("sensor", task.shift, seed=1) if task.shift else None
        data = {}
        for seed in seeds:
            ds = load_dataset("fashion_mnist", classes=task.classes, train=n_train, test=n_test, seed=seed,
                              input_shape=INPUT, shift=shift)
            data[seed] = (pack_images(ds.train_x, base.input), ds.train_y,
                          pack_images(ds.test_x, base.input), ds.test_y)
        before = interval(np.array([R.evaluate(base, data[s][2], data[s][3]) for s in seeds]))
        lines.append(f"| {task.name} | | (before training) | | {100 * before[0]:.1f} ± {100 * before[1]:.1f} % "
                     "| | |")
        for sname, scheme in schemes:
            acc: dict[str, np.ndarray] = {}
            extra = residual_bytes(base, scheme)
            for rounding in ROUNDINGS:
                if rounding == "feedback" and extra == 0:
                    acc[rounding] = acc["nearest"]  # no int8 parameter trains: feedback == nearest
                else:
                    acc[rounding] = np.array([train_acc(base, scheme, task, rounding, data[s], epochs)
                                              for s in seeds])
                m, h = interval(acc[rounding])
                if rounding == "nearest":
                    diff = "–"
                else:
                    dm, dh = interval(acc[rounding] - acc["nearest"])
                    diff = f"{100 * dm:+.1f} ± {100 * dh:.1f} pp"
                mem = f"{extra:,} B" if rounding == "feedback" else "0 B"
                note = " (= nearest)" if rounding == "feedback" and extra == 0 else ""
                lines.append(f"| {task.name} | {task.lr:g} | {sname} | {rounding}{note} | {100 * m:.1f} ± "
                             f"{100 * h:.1f} % | {diff} | {mem} |")
                print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


# --- the check: 20 steps at lr 2e-4 ---------------------------------------------------

def _int8_weights(layers, graph, scheme) -> dict[str, np.ndarray]:
    resolved = scheme.resolve(graph)
    out = {}
    for op, layer in zip(graph.ops, layers):
        if isinstance(layer, QConv) and resolved.layer(op.name).weight_channels:
            out[op.name] = layer.w[R.weight_slice(op, resolved.layer(op.name).weight_channels)].astype(np.int32)
    return out


def movement_check(qmodel: QModel, x, y, lr: float, classifier_lr: float, steps: int) -> list[str]:
    scheme = SparseScheme.full()
    graph = qmodel.graph
    w0 = _int8_weights(qmodel.layers, graph, scheme)
    n = sum(a.size for a in w0.values())
    rows = [f"| rounding | weights moved (of {n:,}) | mean \\|Δw\\| in int8 steps | mean \\|Δ(w + e/256)\\| |",
            "|---|---:|---:|---:|"]
    for rounding in ROUNDINGS:
        cfg = R.TrainConfig(lr=lr, classifier_lr=classifier_lr, rounding=rounding, scheme=scheme)
        st = R.init_state(qmodel, cfg, scheme)
        for i in range(steps):
            R.train_step(st, x[i], int(y[i]))
        w1 = _int8_weights(st.layers, graph, scheme)
        moved = sum(int((w1[k] != w0[k]).sum()) for k in w0)
        mean = sum(float(np.abs(w1[k] - w0[k]).sum()) for k in w0) / n
        if rounding == "feedback":
            eff = sum(float(np.abs(w1[k] + st.residuals.get(k, 0).astype(np.float64) / 256 - w0[k]).sum())
                      for k in w0) / n
            eff_s = f"{eff:.4f}"
        else:
            eff_s = "–"
        rows.append(f"| {rounding} | {moved:,} ({100 * moved / n:.2f} %) | {mean:.4f} | {eff_s} |")
    # float32 master copy: the float path (QAS's int8 step is lr * g / s_w, the float step lr * g)
    fm = R.dequantize(qmodel)
    res = R.train_float(fm, scheme, np.stack([_real_input(qmodel, xi) for xi in x[:steps]]), y[:steps],
                        R.TrainConfig(epochs=1, lr=lr, classifier_lr=classifier_lr, scheme=scheme))
    total, moved_half = 0.0, 0
    for op, layer in zip(graph.ops, qmodel.layers):
        if op.name in w0:
            s = np.asarray(layer.w_scale, np.float64).reshape((-1,) + (1,) * (layer.w.ndim - 1))
            d = np.abs(res.model.params[f"{op.name}.weight"].astype(np.float64)
                       - fm.params[f"{op.name}.weight"].astype(np.float64)) / s
            total += float(d.sum())
            moved_half += int((d >= 0.5).sum())
    rows.append(f"| float32 master copy | {moved_half:,} reach ±0.5 step ({100 * moved_half / n:.2f} %) "
                f"| {total / n:.4f} | – |")
    return rows


def _real_input(qmodel: QModel, x_q: np.ndarray) -> np.ndarray:
    qp = qmodel.input
    return (np.float32(qp.scale) * (x_q.astype(np.int32) - qp.zero_point).astype(np.float32)).astype(np.float32)


def step_sizes(qmodel: QModel, x, y, lr: float, classifier_lr: float, scheme: SparseScheme, steps: int) -> str:
    """|dw| (weight steps) of the trained int8 weights and |db| (bias units), over ``steps`` steps."""
    cfg = R.TrainConfig(lr=lr, classifier_lr=classifier_lr, scheme=scheme)
    st = R.init_state(qmodel, cfg, scheme)
    dws, dbs = [], []
    for i in range(steps):
        rec: dict = {}
        layers = list(st.layers)  # before this step's updates
        scales = {op.name: (layer.x.scale, np.asarray(layer.w_scale)) for op, layer in
                  zip(qmodel.graph.ops, layers) if isinstance(layer, (QConv, QLinear))}
        R.train_step(st, x[i], int(y[i]), record=rec)
        for name, (g_b, g_w) in rec.items():
            if name not in scales:
                continue
            s_x, s_w = scales[name]
            dbs.append(np.abs(R.bias_delta(g_b, s_x, s_w, lr, True)).ravel())
            if g_w is not None:
                sw = s_w[:g_w.shape[0]]
                dws.append(np.abs(R.weight_delta(g_w, sw, lr, True)).ravel())
    dw = np.concatenate(dws) if dws else np.zeros(0)
    db = np.concatenate(dbs)
    nz = dw[dw > 0]
    med = f"2^{np.log2(np.median(nz)):.1f}" if nz.size else "–"
    return (f"|dw| median (nonzero) {med} step; < 2^-9 (lost by an int8 residual): "
            f"{100 * np.mean(nz < 2 ** -9) if nz.size else 0:.1f} %; < 0.5 (lost by nearest): "
            f"{100 * np.mean(nz < 0.5) if nz.size else 0:.1f} %  |  |db| median {np.median(db[db > 0]):.1f} units; "
            f"< 0.5: {100 * np.mean(db[db > 0] < 0.5):.1f} %")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, 100 training and 300 test samples")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--train", type=int, default=300, help="training samples per task (as the scenarios)")
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr-factors", default="1",
                    help="comma-separated factors on each task's int8 lr (e.g. 0.3,1,3): one table row "
                         "group per factor")
    ap.add_argument("--schemes", default=",".join(n for n, _ in SCHEMES),
                    help="comma-separated scheme names to run")
    ap.add_argument("--no-check", action="store_true", help="skip the 20-step check and the step sizes")
    args = ap.parse_args(argv)
    n_seeds, n_train, n_test = args.seeds, args.train, args.test
    if args.quick:
        n_seeds, n_train, n_test = 2, 100, 300
    t0 = time.perf_counter()
    pre = load_model_file(MODEL_FILE)
    src = load_dataset("fashion_mnist", classes=(0, 1, 2, 3, 4), seed=0, input_shape=INPUT)
    calib = src.train_x[np.random.default_rng(0).permutation(len(src.train_y))[:1000]]
    qmodel = quantize_model(pre.graph, dict(pre.params), calib, classifier="float")
    seeds = list(range(1, n_seeds + 1))

    print(f"Small net on Fashion-MNIST, host reference (bit-identical to the device); QAS on; "
          f"{args.epochs} epoch(s) over {n_train} samples, test {n_test}; data seeds {seeds}.")
    print(f"Sparse scheme: {SPARSE.resolve(qmodel.graph).describe()}.")
    print()
    factors = [float(f) for f in args.lr_factors.split(",")]
    tasks = tuple(dataclasses.replace(t, lr=float(f"{t.lr * f:.3g}")) for t in TASKS for f in factors)
    wanted = args.schemes.split(",")
    schemes = tuple((n, sc) for n, sc in SCHEMES if n in wanted)
    print(accuracy_table(qmodel, seeds, n_train, n_test, args.epochs, tasks, schemes))
    print()
    if args.no_check:
        print(f"total {time.perf_counter() - t0:.0f} s")
        return 0

    shift = DomainShift.preset("sensor", 0.3, seed=1)
    ds = load_dataset("fashion_mnist", classes=(0, 1, 2, 3, 4), train=max(n_train, 40), test=10, seed=2,
                      input_shape=INPUT, shift=shift)
    x, y = pack_images(ds.train_x, qmodel.input), ds.train_y
    print("20 QAS steps at lr 2e-4 (classifier 0.01), domain shift, full update (the issue's check):")
    print()
    print("\n".join(movement_check(qmodel, x, y, 2e-4, 0.01, 20)))
    print()
    print("Step sizes over 20 steps (full update):")
    for lr, clr, what in ((2e-4, 0.01, "lr 2e-4"), (3e-3, 0.01, "lr 3e-3 (domain shift)"),
                          (3e-4, 0.01, "lr 3e-4 (new classes' int8 lr)")):
        print(f"- {what}: {step_sizes(qmodel, x, y, lr, clr, SparseScheme.full(), 20)}")
    print()
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
