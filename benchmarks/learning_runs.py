"""The runs of benchmarks/bench_learning.py: its tasks, schemes, learning-rate selection, the
seeded training runs (in worker processes), the memory column and the printed tables.

See bench_learning.py's docstring for what is measured and how; this module does the work.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import multiprocessing
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from harness import reference as R
from harness.engine.compiler import compile_training
from harness.engine.emit_c import TrainOptions
from harness.errors import ScenarioError
from harness.model.graph import Conv, Linear
from harness.model.qmodel import QConv, QLinear, QModel
from harness.scenario import SCHEMA, load_scenarios
from harness.scenario_sgd import AUTO_WARMUP, warmup_steps
from harness.sgd.lr_schedule import LrSchedule
from harness.sparse.scheme import ResolvedScheme, SparseScheme
from harness.workload import prepare

import learning_stats as ST

log = logging.getLogger("bench_learning")
REPO = Path(__file__).resolve().parent.parent
SELECT_SEED = 1000  # draws the learning-rate selection's subset; the final seeds are 0..n-1


@dataclass(frozen=True)
class TaskDef:
    key: str
    title: str
    scenario: str  # file, relative to the repository
    name: str  # the scenario whose model, dataset and head the task uses
    pool: int | None  # training samples loaded (None: all); a seed draws n_train of them
    n_train: int
    test: int | None  # test samples (None: all)
    epochs: int
    sparse: SparseScheme  # the paper's style of sparse update for this model
    head: tuple[float, ...]  # the float classifier's lr grid (picked on the last-layer scheme)
    conv: tuple[float, ...]  # the int8 layers' lr grid (per scheme)
    last_conv: tuple[float, ...] = (0.0,)  # int8 lr grid of the last-layer scheme (a hidden int8 layer)
    float_low: tuple[float, ...] = ()  # lower rates the float32 row also tries (float diverges sooner)

    def grid(self, variant: str) -> tuple[float, ...]:
        """The int8 layers' (or the float row's) lr grid of ``variant``."""
        if variant == "last":
            return self.last_conv
        return self.float_low + self.conv if variant == "float" else self.conv

    def quick(self) -> TaskDef:
        mid = lambda g: (g[len(g) // 2],)  # noqa: E731
        return dataclasses.replace(self, pool=min(self.pool or 400, 400), n_train=min(self.n_train, 150),
                                   test=min(self.test or 200, 200), epochs=1, head=mid(self.head),
                                   conv=mid(self.conv), last_conv=mid(self.last_conv), float_low=())


# small_cnn convs: 0 stem, 1 ds1_dw, 2 ds1_pw, 3 ds2_dw, 4 ds2_pw, 5 res_dw, 6 res_pw. Biases of
# the last 5 convs; weights of the two late pointwise convs (all of ds2_pw's 32 input channels,
# a quarter of res_pw's 64): later layers and pointwise convs contribute most for their memory
# (paper-facts.md §1).
SPARSE_SMALL16 = SparseScheme(n_bias_update=5, manual_weight_idx=(4, 6), weight_update_ratio=(1.0, 0.25))
# ResNet-8 (10 convs, the last stage's are 7-9): the biases of the last 6 convs, a quarter of
# conv 6's and half of conv 7's input channels (scenarios/resnet8.yaml's resnet8-fashion-sparse).
SPARSE_RESNET8 = SparseScheme(n_bias_update=6, manual_weight_idx=(6, 7), weight_update_ratio=(0.25, 0.5))
# magic_wand: two convs; both biases and half the second conv's input channels (the hidden
# dense layer and the classifier train in every scheme).
SPARSE_MAGIC_WAND = SparseScheme(n_bias_update=2, manual_weight_idx=(1,), weight_update_ratio=(0.5,))

# The scenario keys' defaults (harness/scenario.py): the bench trains as a scenario would.
SCENARIO_DEFAULTS = {k: SCHEMA["training"].children[k].default for k in ("rounding", "schedule")}

SMALL_HEAD, SMALL_CONV = (0.01, 0.03, 0.1), (1e-4, 3e-4, 1e-3, 3e-3)
TASKS = {
    "new": TaskDef("new", "new classes 5-9 (small16, Fashion-MNIST)", "scenarios/fashion.yaml",
                   "fashion-new-classes", 3000, 400, 1000, 2, SPARSE_SMALL16, SMALL_HEAD, SMALL_CONV,
                   float_low=(3e-5,)),
    "shift": TaskDef("shift", "domain shift 0-4, sensor 0.3 (small16)", "scenarios/fashion.yaml",
                     "fashion-domain-shift", 3000, 400, 1000, 2, SPARSE_SMALL16, SMALL_HEAD, SMALL_CONV,
                     float_low=(3e-5,)),
    "resnet8": TaskDef("resnet8", "ResNet-8 (CIFAR-10) -> Fashion-MNIST 0-4", "scenarios/resnet8.yaml",
                       "resnet8-fashion-last-layer", 1500, 100, 1000, 2, SPARSE_RESNET8,
                       (0.01, 0.03, 0.1), (1e-4, 3e-4, 1e-3), float_low=(3e-5,)),
    "imu": TaskDef("imu", "magic_wand -> imu_watch exercises (7 classes)", "scenarios/magic_wand.yaml",
                   "magic-wand-watch-head", None, 700, None, 3, SPARSE_MAGIC_WAND,
                   (1e-6, 3e-6, 1e-5), (1e-3, 3e-3, 1e-2), last_conv=(3e-3, 1e-2), float_low=(1e-5, 1e-4)),
}


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    precision: str  # "int8" or "float"
    qas: bool = True


VARIANTS = (
    Variant("last", "last layer", "int8"),
    Variant("bias", "bias only", "int8"),
    Variant("sparse", "sparse (paper style)", "int8"),
    Variant("searched", "searched sparse", "int8"),
    Variant("qas", "full int8+QAS", "int8"),
    Variant("noqas", "full int8, no QAS", "int8", qas=False),
    Variant("float", "full float32 (host)", "float"),
)
VARIANT = {v.key: v for v in VARIANTS}


@dataclass(frozen=True)
class TaskData:
    qmodel: QModel  # the starting point
    x_pool: np.ndarray  # int8, packed as the device reads them
    y_pool: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    options: TrainOptions  # the scenario's, for the planner
    schemes: dict[str, ResolvedScheme]  # variant key -> scheme

    def real(self, x_q: np.ndarray) -> np.ndarray:
        """The real-valued inputs the int8 samples stand for (the float32 row's inputs)."""
        qp = self.qmodel.input
        return (x_q.astype(np.float32) - np.float32(qp.zero_point)) * np.float32(qp.scale)


TASK_DATA: dict[str, TaskData] = {}  # filled in the parent before the workers fork


def load_searched(value: str) -> SparseScheme:
    """A searched scheme: a YAML file or an inline YAML block, either a ``sparse_update``
    mapping itself or a mapping holding one (at the top or under ``training``), or a scenario
    file (``mcutrain search -o``: its first scenario's)."""
    path = Path(value)
    text = path.read_text() if path.suffix in (".yaml", ".yml") and path.is_file() else value
    block = yaml.safe_load(text)
    if isinstance(block, dict) and isinstance(block.get("scenarios"), list) and block["scenarios"]:
        block = block["scenarios"][0]  # a scenario file, e.g. `mcutrain search -o`'s
    for outer in ("training", "sparse_update"):
        if isinstance(block, dict) and outer in block:
            block = block[outer]
    return SparseScheme.from_config(block)


def build_tasks(defs: list[TaskDef], searched: dict[str, SparseScheme]) -> None:
    for d in defs:
        scenario = next(s for s in load_scenarios(REPO / d.scenario) if s.name == d.name)
        assert scenario.model and scenario.dataset and scenario.training
        data = dataclasses.replace(scenario.dataset, train=d.pool, test=d.test)
        w = prepare(scenario.model, data, scenario.training)
        g = w.qmodel.graph
        schemes = {"last": SparseScheme.last_layer(), "bias": SparseScheme.bias_only(), "sparse": d.sparse,
                   "qas": SparseScheme.full(), "noqas": SparseScheme.full(), "float": SparseScheme.full()}
        if d.key in searched:
            schemes["searched"] = searched[d.key]
        TASK_DATA[d.key] = TaskData(w.qmodel, w.train_x, w.train_y, w.test_x, w.test_y, w.options,
                                    {k: s.resolve(g) for k, s in schemes.items()})


# --- one run (in a worker) -------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    task: str
    variant: str  # a Variant key, or "before" (the untrained model's test accuracy)
    lr: float
    classifier_lr: float
    seed: int
    select: bool  # a learning-rate selection run (train 4/5, score the held-out 1/5)
    epochs: int
    n_train: int
    options: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class Outcome:
    job: Job
    acc: float | None  # None: diverged
    seconds: float
    int8_changed: int = 0  # int8 weights that differ from the start after training
    int8_trainable: int = 0  # int8 weights the scheme trains
    bias_changed: int = 0
    bias_trainable: int = 0
    note: str = ""


def _subset(n_pool: int, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n_pool)[:n]


def _changed(start: QModel, end: QModel, scheme: ResolvedScheme) -> tuple[int, int, int, int]:
    """(int8 weights changed, trainable int8 weights, int32 biases changed, trainable biases)."""
    wc = wt = bc = bt = 0
    for op, a, b in zip(start.graph.ops, start.layers, end.layers):
        if isinstance(a, QConv) and isinstance(op, Conv):
            u = scheme.layer(op.name)
            sl = R.weight_slice(op, u.weight_channels) if u.weight_channels else None
            if sl is not None:
                wc += int(np.count_nonzero(a.w[sl] != b.w[sl]))
                wt += int(a.w[sl].size)
            if u.update_bias:
                bc += int(np.count_nonzero(a.b != b.b))
                bt += int(a.b.size)
        elif isinstance(a, QLinear) and isinstance(op, Linear):  # an int8 dense layer: trained in full
            wc += int(np.count_nonzero(a.w != b.w))
            wt += int(a.w.size)
            bc += int(np.count_nonzero(a.b != b.b))
            bt += int(a.b.size)
    return wc, wt, bc, bt


def run_job(job: Job) -> Outcome:
    t0 = time.perf_counter()
    t = TASK_DATA[job.task]
    if job.variant == "before":
        acc = (R.float_evaluate(R.dequantize(t.qmodel), t.real(t.x_test), t.y_test) if job.select
               else R.evaluate(t.qmodel, t.x_test, t.y_test))  # select: the float model's
        return Outcome(job, float(acc), time.perf_counter() - t0)
    v = VARIANT[job.variant]
    scheme = t.schemes[job.variant]
    idx = _subset(len(t.y_pool), job.n_train, SELECT_SEED if job.select else job.seed)
    if job.select:
        cut = len(idx) - len(idx) // 5
        tr, ev = idx[:cut], idx[cut:]
        xe, ye = t.x_pool[ev], t.y_pool[ev]
    else:
        tr = idx
        xe, ye = t.x_test, t.y_test
    x, y = t.x_pool[tr], t.y_pool[tr]
    opts = dict(job.options)
    kind = opts.pop("schedule", "constant")
    if kind != "constant":
        opts["schedule"] = LrSchedule(kind, warmup_steps(AUTO_WARMUP, job.epochs * len(tr), kind))
    cfg = R.TrainConfig(epochs=job.epochs, lr=job.lr, classifier_lr=job.classifier_lr, qas=v.qas, **opts)
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging run raises below
            if v.precision == "float":
                res = R.train_float(R.dequantize(t.qmodel), scheme, t.real(x), y, cfg)
                acc = R.float_evaluate(res.model, t.real(xe), ye)
                return Outcome(job, float(acc), time.perf_counter() - t0)
            res8 = R.train(t.qmodel, scheme, x, y, cfg)
    except ScenarioError as e:
        return Outcome(job, None, time.perf_counter() - t0, note=e.message)
    acc = R.evaluate(res8.qmodel, xe, ye)
    counts = _changed(t.qmodel, res8.qmodel, scheme)
    return Outcome(job, float(acc), time.perf_counter() - t0, *counts)


# --- the bench: selection, then the seeded runs ----------------------------------------------

@dataclass(frozen=True)
class Row:
    task: str
    variant: str
    lr: float | None  # the int8 layers' (None: nothing int8 trains, or not run)
    classifier_lr: float | None
    edge: str  # which picked rate sits at its grid's end ('' none)
    acc_before: float | None
    after: ST.Interval | None
    accs: tuple[float, ...]
    diverged: int
    status: str  # '' ran; else why not ('not available', 'all diverged')
    int8_changed: float = 0.0  # mean over seeds
    int8_trainable: int = 0
    bias_changed: float = 0.0
    bias_trainable: int = 0
    selection: tuple[tuple[float, float, float | None], ...] = ()  # (lr, classifier lr, validation acc)


@dataclass
class Bench:
    defs: list[TaskDef]
    seeds: int
    options: dict[str, object]
    quick: bool
    workers: int
    cpu_seconds: float = 0.0
    task_seconds: dict[str, float] = field(default_factory=dict)

    def _map(self, jobs: list[Job]) -> list[Outcome]:
        # Longest first (ResNet-8's full updates) so that two workers finish together.
        cost = {"resnet8": 10.0, "new": 1.0, "shift": 1.0, "imu": 0.6}
        heavy = {"qas": 8, "noqas": 8, "float": 9, "sparse": 3, "searched": 3}
        order = sorted(jobs, key=lambda j: -cost.get(j.task, 1) * heavy.get(j.variant, 1) * j.n_train * j.epochs)
        if self.workers == 1:
            out = [run_job(j) for j in order]
        else:
            with multiprocessing.get_context("fork").Pool(self.workers) as pool:
                out = list(pool.imap_unordered(run_job, order))
        for o in out:
            self.cpu_seconds += o.seconds
            self.task_seconds[o.job.task] = self.task_seconds.get(o.job.task, 0.0) + o.seconds
        return out

    def _job(self, d: TaskDef, variant: str, lr: float, clr: float, seed: int, select: bool) -> Job:
        # Selection trains as many epochs as the final runs: a rate that wins after one epoch
        # can blow up in the second (measured on the domain shift: loss 1.05 -> 2.11 at 3e-4).
        return Job(d.key, variant, lr, clr, seed, select, d.epochs, d.n_train,
                   tuple(sorted(self.options.items())))

    @staticmethod
    def _best(outs: list[Outcome], grid: list[tuple[float, float]]) -> tuple[float, float] | None:
        scored = {(o.job.lr, o.job.classifier_lr): o.acc for o in outs if o.acc is not None}
        ranked = sorted((-scored[p], i) for i, p in enumerate(grid) if p in scored)  # ties: grid order
        return grid[ranked[0][1]] if ranked else None

    def run(self) -> list[Row]:
        D = {d.key: d for d in self.defs}
        # 1. the untrained models' accuracies, and the float classifier's lr on the last-layer scheme
        head_grid = {k: [(c, h) for c in d.last_conv for h in d.head] for k, d in D.items()}
        jobs = [self._job(d, "before", 0.0, 0.0, 0, sel) for d in self.defs for sel in (False, True)]
        jobs += [self._job(D[k], "last", c, h, 0, True) for k, g in head_grid.items() if len(g) > 1 for c, h in g]
        outs = self._map(jobs)
        before = {(o.job.task, o.job.select): o.acc for o in outs if o.job.variant == "before"}
        picked: dict[tuple[str, str], tuple[float, float] | None] = {}
        selection: dict[tuple[str, str], list[Outcome]] = {}
        for k, g in head_grid.items():
            sel = [o for o in outs if o.job.task == k and o.job.variant == "last"]
            picked[(k, "last")] = g[0] if len(g) == 1 else self._best(sel, g)
            selection[(k, "last")] = sel
        # 2. every other scheme's int8 lr, the classifier's kept
        grids: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for k, d in D.items():
            head = picked[(k, "last")]
            clr = head[1] if head is not None else min(d.head)
            for v in VARIANTS[1:]:
                if v.key in TASK_DATA[k].schemes:
                    grids[(k, v.key)] = [(lr, clr) for lr in d.grid(v.key)]
        jobs = [self._job(D[k], vk, lr, clr, 0, True) for (k, vk), g in grids.items() if len(g) > 1
                for lr, clr in g]
        outs = self._map(jobs)
        for (k, vk), g in grids.items():
            sel = [o for o in outs if o.job.task == k and o.job.variant == vk]
            picked[(k, vk)] = g[0] if len(g) == 1 else self._best(sel, g)
            selection[(k, vk)] = sel
        # 3. the seeded runs at the picked rates
        jobs = [self._job(D[k], vk, *lrs, seed, False) for (k, vk), lrs in picked.items() if lrs is not None
                for seed in range(self.seeds)]
        outs = self._map(jobs)
        rows = []
        for d in self.defs:
            for v in VARIANTS:
                rows.append(self._row(d, v, picked, selection, outs, before))
        return rows

    def _row(self, d: TaskDef, v: Variant, picked: dict, selection: dict, outs: list[Outcome],
             before: dict) -> Row:
        acc0 = before[(d.key, v.precision == "float")]
        if (d.key, v.key) not in picked:
            return Row(d.key, v.label, None, None, "", acc0, None, (), 0, "not available")
        sel = tuple((o.job.lr, o.job.classifier_lr, o.acc) for o in
                    sorted(selection.get((d.key, v.key), []), key=lambda o: (o.job.lr, o.job.classifier_lr)))
        lrs = picked[(d.key, v.key)]
        if lrs is None:
            return Row(d.key, v.label, None, None, "", acc0, None, (), self.seeds, "all diverged",
                       selection=sel)
        mine = sorted((o for o in outs if o.job.task == d.key and o.job.variant == v.key), key=lambda o: o.job.seed)
        accs = tuple(o.acc for o in mine if o.acc is not None)
        done = [o for o in mine if o.acc is not None]
        edge = []
        lr_grid = d.grid(v.key)
        if v.key == "last" and len(d.head) > 1 and lrs[1] in (min(d.head), max(d.head)):
            edge.append("classifier " + ("low" if lrs[1] == min(d.head) else "high"))
        if len(lr_grid) > 1 and lrs[0] in (min(lr_grid), max(lr_grid)):
            edge.append("int8 " + ("low" if lrs[0] == min(lr_grid) else "high"))
        n = max(len(done), 1)
        return Row(d.key, v.label, None if lrs[0] == 0.0 else lrs[0], lrs[1], ", ".join(edge), acc0,
                   ST.mean_interval(accs) if accs else None, accs, len(mine) - len(done),
                   "" if accs else "all diverged",
                   sum(o.int8_changed for o in done) / n, done[0].int8_trainable if done else 0,
                   sum(o.bias_changed for o in done) / n, done[0].bias_trainable if done else 0, sel)


# --- memory ----------------------------------------------------------------------------------

def memory(defs: list[TaskDef], searched: dict[str, SparseScheme]) -> dict[tuple[str, str], str]:
    """(task, variant key) -> the SRAM cell: planner arena + trainable bytes (int8 rows), the
    analytic float32 sum for the host's float row."""
    out = {}
    for d in defs:
        t = TASK_DATA[d.key]
        for vk, scheme in t.schemes.items():
            if vk == "float":
                n = sum(int(np.asarray(getattr(layer, a)).size) for layer in t.qmodel.layers
                        for a in ("w", "b") if hasattr(layer, a))
                out[(d.key, vk)] = f"host ({4 * n:,} B of float32 params)"
                continue
            opts = dataclasses.replace(t.options, qas=VARIANT[vk].qas)
            try:
                c = compile_training(t.qmodel, scheme, opts)
            except Exception as e:  # noqa: BLE001  (a scheme the compiler rejects: say why, keep the row)
                out[(d.key, vk)] = f"compile failed: {e}"
                continue
            out[(d.key, vk)] = f"{c.arena_size + c.emitted.trainable_bytes:,} B"
    return out


# --- output ----------------------------------------------------------------------------------

def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def format_table(rows: list[Row], mem: dict[tuple[str, str], str]) -> str:
    lines = ["| task | scheme | int8 lr | classifier lr | acc before | acc after (mean ± 95 %) | n seeds "
             "| SRAM (arena + trainable) |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    key = {v.label: v.key for v in VARIANTS}
    for r in rows:
        if r.after is None:
            after = r.status
        else:
            after = f"{100 * r.after.mean:.1f} ± {100 * r.after.half:.1f} %"
        n = "–" if r.status else f"{r.after.n}" + (f" ({r.diverged} diverged)" if r.diverged else "")
        lr = "–" if r.lr is None else f"{r.lr:g}"
        clr = "–" if r.classifier_lr is None else f"{r.classifier_lr:g}"
        if r.edge:
            lr += f" (edge: {r.edge})"
        lines.append(f"| {r.task} | {r.variant} | {lr} | {clr} | {_pct(r.acc_before)} | {after} | {n} "
                     f"| {mem.get((r.task, key[r.variant]), '–')} |")
    return "\n".join(lines)


def _row_of(rows: list[Row], task: str, key: str) -> Row | None:
    return next((r for r in rows if r.task == task and r.variant == VARIANT[key].label), None)


CLAIMS = (  # (claim, verdict function, a, b): the paper's, then the searched scheme's
    ("QAS ≈ float32 (full update)", ST.about_equal, "qas", "float"),
    ("QAS > no QAS (full int8)", ST.greater, "qas", "noqas"),
    ("sparse ≥ full (int8+QAS)", ST.at_least, "sparse", "qas"),
    ("sparse > bias only", ST.greater, "sparse", "bias"),
    ("bias only > last layer", ST.greater, "bias", "last"),
    ("searched ≥ full (int8+QAS)", ST.at_least, "searched", "qas"),
    ("searched > bias only", ST.greater, "searched", "bias"),
)


def _paired(ra: Row | None, rb: Row | None) -> ST.Interval | None:
    """The paired difference of two rows' per-seed accuracies (None unless both finished
    every seed: a diverged seed breaks the pairing)."""
    if ra is None or rb is None or ra.after is None or rb.after is None or ra.diverged or rb.diverged:
        return None
    return ST.paired(ra.accs, rb.accs)


def claims(rows: list[Row]) -> list[tuple[str, str, str, ST.Interval | None, str]]:
    """(task, claim, verdict by the intervals, paired difference, verdict by the paired difference)."""
    out = []
    for task in dict.fromkeys(r.task for r in rows):
        verdicts: dict[str, tuple[str, str]] = {}
        for claim, f, a, b in CLAIMS:
            ra, rb = _row_of(rows, task, a), _row_of(rows, task, b)
            v = f(ra.after if ra else None, rb.after if rb else None)
            d = _paired(ra, rb)
            vp = f(d, ST.ZERO) if d is not None else ST.NOT_AVAILABLE
            verdicts[claim] = (v, vp)
            out.append((task, claim, v, d, vp))
            if claim == "bias only > last layer":
                links = [verdicts["sparse > bias only"], verdicts[claim]]
                out.append((task, "sparse > bias only > last layer", ST.chain([x for x, _ in links]), None,
                             ST.chain([y for _, y in links])))
    return out


def format_claims(rows: list[Row]) -> str:
    lines = ["| task | paper's claim | verdict (95 % intervals overlap) | paired Δ per seed (mean ± 95 %) "
             "| verdict (paired) |", "|---|---|---|---:|---|"]
    for t, c, v, d, vp in claims(rows):
        ds = "–" if d is None else f"{100 * d.mean:+.1f} ± {100 * d.half:.1f} pt"
        lines.append(f"| {t} | {c} | {v} | {ds} | {vp} |")
    return "\n".join(lines)


def format_diagnostics(rows: list[Row]) -> str:
    """What the runs measured besides accuracy: the validation accuracy per rate tried, and how
    many int8 weights / int32 biases the training changed (mean over seeds)."""
    lines = ["| task | scheme | selection: (int8 lr, classifier lr) -> held-out acc | int8 weights changed "
             "| biases changed | per-seed acc |", "|---|---|---|---:|---:|---|"]
    for r in rows:
        if r.status == "not available":
            continue
        sel = "; ".join(f"({a:g}, {b:g}) -> {'diverged' if c is None else f'{100 * c:.1f}'}" for a, b, c in r.selection)
        w = f"{r.int8_changed:,.0f} / {r.int8_trainable:,}" if r.int8_trainable else "–"
        b = f"{r.bias_changed:,.0f} / {r.bias_trainable:,}" if r.bias_trainable else "–"
        accs = " ".join(f"{100 * a:.1f}" for a in r.accs)
        lines.append(f"| {r.task} | {r.variant} | {sel or 'one rate'} | {w} | {b} | {accs} |")
    return "\n".join(lines)
