"""Benchmark: the paper's Fig. 10 side by side: its three models, its 15 schemes and full update.

    python benchmarks/bench_paper.py [--models mbv2,proxyless,mcunet] [--schemes 49kb,99kb,full]
                                     [--no-qemu]

For MbV2-w0.35, ProxylessNAS-w0.3 and MCUNet-5FPS at 128x128 (seeded random weights, as the
scenarios/*.yaml of the paper use), with each of the paper's five shipped sparse-update
schemes (harness/sparse/paper_schemes.py) and with full update (every weight and bias), it
prints one row:

- peak SRAM planned: the compiler's arena (frozen prefix streamed in row strips, in-place
  updates: operator reordering) + trainable parameters + the other static RAM of the build +
  the reserved stack (what the linker places); beside it the same without streaming (layer by
  layer, in place) and without reordering (streamed, all updates after the backward pass),
  so each of the two optimisations shows on its own;
- peak SRAM measured on QEMU (static RAM + the stack high-water of the run) for each scheme
  whose build fits the part (the STM32F746's 320 KiB), and its arena / trainable / other
  static / stack split;
- flash; instructions per training step (exact, from the QEMU plugin) and milliseconds per
  step: the cycle model's ``step_ms_m4`` / ``step_ms_m7_low`` / ``step_ms_m7_high`` when the
  run reports them, else instructions / 216 MHz (one instruction per cycle), labelled so;
- the paper's Fig. 10 figure (sparse update + reordering, STM32F746) and our ratio to it.

Then the ratio to PyTorch's training memory for the same model: measured here in a
subprocess if ``import torch`` works (one SGD step at batch 1, peak RSS), else the stated
figures. Builds go through the harness cache, so a second run only re-plans and re-runs.
A model or scheme that fails prints its reason in its row; the table goes on.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.errors import MctError  # noqa: E402
from harness.pipeline import Outcome, Pipeline  # noqa: E402
from harness.scenario import load_scenarios  # noqa: E402
from harness.sparse.paper_schemes import PAPER_SCHEMES  # noqa: E402

KIB = 1024
STACK = 8 * KIB           # as the paper scenarios reserve
CLOCK_HZ = 216e6          # STM32F746
MODELS = {  # command-line name -> (zoo graph name, scenario model section)
    "mbv2": ("mbv2-w0.35", {"arch": "mbv2", "width": 0.35}),
    "proxyless": ("proxyless-w0.3", {"arch": "proxyless"}),
    "mcunet": ("mcunet-5fps", {"arch": "mcunet"}),
}
# The paper's Fig. 10 (arXiv:2206.15472 v4; tiny-training figures/latency_peakmem_comparison.png),
# sparse update + operator reordering on STM32F746, 128x128, batch 1 (paper-facts.md §3,
# paper-models.md): measured peak SRAM in KB and latency per training step in ms.
PAPER_FIG10 = {"mbv2-w0.35": (141, 373), "proxyless-w0.3": (135, 443), "mcunet-5fps": (173, 546)}
# PyTorch training memory of MbV2-w0.35 at batch 1: the paper's 303 MB [P Fig. 1, §1]; issue 9 /
# paper-facts.md: torch 2.13 CPU, one torch.optim.SGD step, 328 MiB peak RSS (220 MiB of it is
# `import torch`), measured on the project's machine.
TORCH_PAPER_MB = 303
TORCH_STATED_MIB = 328


@dataclass
class Row:
    model: str
    scheme: str
    describe: str = ""
    planned: int | None = None
    planned_deferred: int | None = None
    planned_layerwise: int | None = None
    measured: int | None = None
    arena: int | None = None
    trainable: int | None = None
    other: int | None = None
    other_estimated: bool = False
    stack: int | None = None
    stack_measured: bool = False
    flash: int | None = None
    step_insns: int | None = None
    ms: dict | None = None
    note: str = ""


def scenario_entry(model: str, scheme: str) -> dict:
    _, section = MODELS[model]
    sparse = "full" if scheme == "full" else {"paper": f"{MODELS[model][0]}/{scheme}"}
    return {
        "name": f"bench-paper-{model}-128-{scheme}",
        "model": {**section, "input": [128, 128, 3], "seed": 0},
        "training": {"epochs": 1, "lr": 0.0001, "sparse_update": sparse},
    }


def scenario_file(entries: list[dict], folder: Path) -> Path:
    doc = {
        "common": {
            "board": "stm32f746", "stack": f"{STACK // KIB}KiB", "timeout": 300,
            "dataset": {"name": "fashion_mnist", "classes": list(range(10)), "train": 2, "test": 2,
                        "seed": 0},
            "expect": {"reference_pp": 100, "loss_rtol": 0.05},
        },
        "scenarios": entries,
    }
    path = folder / "scenarios" / "bench_paper.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def plan_row(row: Row, out: Outcome, other_of_model: int | None) -> bool:
    """Fill the planned columns from the build; True if the firmware fits the part (linked)."""
    w = out.workload
    if w is None:
        err = out.build_error
        row.note = f"not planned: {one_line(err.message) if err else 'no workload'}"
        return False
    n = len(w.scheme.layers)
    full = all(u.update_bias and u.weight_channels == u.channels for u in w.scheme.layers)
    row.describe = f"every weight and bias of the {n} convs, classifier" if full else w.scheme.describe()
    row.arena = w.compiled.arena_size
    row.trainable = w.compiled.emitted.trainable_bytes
    deferred = w.compiled.deferred_arena
    layerwise = w.compiled.arenas.layerwise_in_place
    if out.memory is not None:
        row.other = out.memory.static_sram - row.arena - row.trainable
        row.flash = out.memory.flash
        row.stack = out.memory.stack_reserved
    else:
        row.other, row.other_estimated, row.stack = other_of_model, True, STACK
        reason = out.build_error.message if out.build_error else "no build"
        row.note = f"does not link: {one_line(reason)}"
    if row.other is not None:
        row.planned = row.arena + row.trainable + row.other + row.stack
        row.planned_deferred = deferred + row.trainable + row.other + row.stack
        row.planned_layerwise = max(layerwise, w.compiled.infer_plan.arena_size) + row.trainable + row.other + row.stack
    return out.memory is not None


def run_row(row: Row, out: Outcome, pipe: Pipeline, scenario) -> None:
    out = pipe.run(scenario)
    if out.run is None or out.run.status != "ok":
        why = out.run_error.message if out.run_error else (out.run.reason() if out.run else "no run")
        row.note = f"run failed: {one_line(why)}"
        return
    m = out.metrics
    if "peak_sram" in m:
        row.measured = int(m["peak_sram"])
        row.stack, row.stack_measured = int(m["stack_high_water"]), True
    row.step_insns = m.get("step_instructions")
    ms = {k: m[k] for k in ("step_ms_m4", "step_ms_m7_low", "step_ms_m7_high") if m.get(k) is not None}
    row.ms = ms or None


def one_line(text: str, limit: int = 160) -> str:
    """A message for a table cell: its first line, without '|', cut to ``limit`` characters."""
    first = (text.strip().splitlines() or [""])[0].replace("|", "/")
    return first if len(first) <= limit else first[:limit] + "..."


def kib(n: int | None, approx: bool = False) -> str:
    return "-" if n is None else f"{'~' if approx else ''}{n / KIB:.1f}"


def ms_text(row: Row) -> str:
    if row.step_insns is None:
        return "-"
    if row.ms:
        m4, lo, hi = (row.ms.get(k) for k in ("step_ms_m4", "step_ms_m7_low", "step_ms_m7_high"))
        parts = []
        if lo is not None and hi is not None:
            parts.append(f"M7 {lo:.0f}-{hi:.0f}")
        if m4 is not None:
            parts.append(f"M4 {m4:.0f}")
        return ", ".join(parts)
    return f"{row.step_insns / CLOCK_HZ * 1e3:.0f} (insns/216MHz)"


def step_ms(row: Row) -> float | None:
    """The ms figure compared with the paper's: the M7 high estimate, else insns / 216 MHz."""
    if row.step_insns is None:
        return None
    if row.ms and row.ms.get("step_ms_m7_high") is not None:
        return float(row.ms["step_ms_m7_high"])
    return row.step_insns / CLOCK_HZ * 1e3


def print_model(model: str, rows: list[Row], part_sram: int) -> None:
    name = MODELS[model][0]
    paper_kb, paper_ms = PAPER_FIG10[name]
    print(f"\n### {name}, 128x128 (paper Fig. 10: {paper_kb} KB, {paper_ms} ms per step)\n")
    print("| scheme | planned peak KiB | w/o streaming KiB | w/o reordering KiB | measured peak KiB | arena KiB "
          "| trainable KiB | other static B | stack B | flash KiB | instructions / step | ms / step | peak / paper "
          "| ms / paper | note |")
    print("|" + "---|" * 15)
    for r in rows:
        fits = r.planned is not None and r.planned <= part_sram
        peak = r.measured if r.measured is not None else None
        ms = step_ms(r)
        print(f"| {r.scheme} | {kib(r.planned, r.other_estimated)} | {kib(r.planned_layerwise, r.other_estimated)} "
              f"| {kib(r.planned_deferred, r.other_estimated)} "
              f"| {kib(peak) if peak is not None else ('-' if fits else 'does not fit')} "
              f"| {kib(r.arena)} | {kib(r.trainable)} "
              f"| {'-' if r.other is None else ('~' if r.other_estimated else '') + str(r.other)} "
              f"| {'-' if r.stack is None else r.stack}{'' if r.stack_measured or r.stack is None else ' (reserved)'} "
              f"| {kib(r.flash)} | {'-' if r.step_insns is None else f'{r.step_insns / 1e6:.1f}M'} "
              f"| {ms_text(r)} "
              f"| {'-' if peak is None else f'{peak / (paper_kb * KIB):.2f}'} "
              f"| {'-' if ms is None else f'{ms / paper_ms:.2f}'} | {r.note} |")
    for r in rows:
        if r.describe:
            print(f"\n- {r.scheme}: {r.describe}")


TORCH_SCRIPT = r'''
import json, resource, sys
import torch
from torch import nn
spec = json.loads(sys.argv[1])
after_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.mods = nn.ModuleDict()
        for op in spec["ops"]:
            if op["type"] == "conv":
                layers = [nn.Conv2d(op["in"], op["out"], op["k"], op["s"], op["k"] // 2,
                                    groups=op["g"], bias=False), nn.BatchNorm2d(op["out"])]
                if op["relu6"]:
                    layers.append(nn.ReLU6())
                self.mods[op["name"]] = nn.Sequential(*layers)
            elif op["type"] == "linear":
                self.mods[op["name"]] = nn.Linear(op["in"], op["out"])
    def forward(self, x):
        t = {"input": x}
        for op in spec["ops"]:
            if op["type"] == "add":
                t[op["out_t"]] = t[op["a"]] + t[op["b"]]
            elif op["type"] == "gap":
                t[op["out_t"]] = t[op["in_t"]].mean((2, 3))
            else:
                t[op["out_t"]] = self.mods[op["name"]](t[op["in_t"]])
        return t[spec["output"]]
torch.manual_seed(0)
net = Net().train()
opt = torch.optim.SGD(net.parameters(), lr=0.01)
h, w, c = spec["input"]
x, y = torch.randn(1, c, h, w), torch.tensor([0])
opt.zero_grad()
nn.functional.cross_entropy(net(x), y).backward()
opt.step()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_kib": peak, "import_kib": after_import, "version": torch.__version__}))
'''


def torch_spec(model: str) -> dict:
    from harness.model import zoo
    from harness.model.graph import Add, Conv, GlobalAvgPool, Linear

    arch, section = MODELS[model][1]["arch"], MODELS[model][1]
    g = zoo.build(arch, width=section.get("width"), input_size=128, num_classes=1000)
    ops = []
    for op in g.ops:
        if isinstance(op, Conv):
            ops.append({"type": "conv", "name": op.name, "in": op.in_ch, "out": op.out_ch, "k": op.kernel,
                        "s": op.stride, "g": op.groups, "relu6": op.relu6, "in_t": op.input,
                        "out_t": op.output})
        elif isinstance(op, Add):
            ops.append({"type": "add", "a": op.inputs[0], "b": op.inputs[1], "out_t": op.output})
        elif isinstance(op, GlobalAvgPool):
            ops.append({"type": "gap", "in_t": op.input, "out_t": op.output})
        elif isinstance(op, Linear):
            ops.append({"type": "linear", "name": op.name, "in": op.in_features, "out": op.out_features,
                        "in_t": op.input, "out_t": op.output})
    return {"ops": ops, "input": list(g.input_shape), "output": g.output}


def torch_available() -> bool:
    p = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True)
    return p.returncode == 0


def measure_torch(model: str) -> dict | str:
    """Peak RSS of one SGD step at batch 1 of ``model`` in PyTorch (a fresh process)."""
    try:
        p = subprocess.run([sys.executable, "-c", TORCH_SCRIPT, json.dumps(torch_spec(model))],
                           capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"not measured: {e}"
    if p.returncode != 0:
        return f"not measured: {(p.stderr.strip().splitlines() or ['?'])[-1][:200]}"
    return json.loads(p.stdout.strip().splitlines()[-1])


def print_torch(rows_by_model: dict[str, list[Row]], models: list[str]) -> None:
    print("\n### Against PyTorch's training memory (batch 1, 128x128)\n")
    have = torch_available()
    ours = {}
    for m in models:
        best = [r.measured for r in rows_by_model.get(m, []) if r.measured is not None and r.scheme == "49kb"]
        best = best or [r.measured for r in rows_by_model.get(m, []) if r.measured is not None]
        ours[m] = best[0] if best else None
    print("| model | PyTorch peak | ours (measured, 49kb or first measured scheme) | ratio | source |")
    print("|---|---|---|---|---|")
    for m in models:
        name = MODELS[m][0]
        our = ours[m]
        if have:
            res = measure_torch(m)
            if isinstance(res, dict):
                peak = res["peak_kib"] * KIB
                src = (f"measured here: torch {res['version']} CPU, one SGD step, peak RSS "
                       f"(after `import torch` alone: {res['import_kib'] / KIB:.0f} MiB)")
                print(f"| {name} | {peak / KIB / KIB:.0f} MiB | {kib(our)} KiB | "
                      f"{'-' if our is None else f'{peak / our:.0f}x'} | {src} |")
                continue
            src = res
        else:
            src = "torch is not installed here: not measured"
        if name == "mbv2-w0.35":
            stated = TORCH_STATED_MIB * KIB * KIB
            ratio = "-" if our is None else f"{stated / our:.0f}x (paper's 303 MB: {TORCH_PAPER_MB * 1e6 / our:.0f}x)"
            print(f"| {name} | {TORCH_STATED_MIB} MiB stated (paper: {TORCH_PAPER_MB} MB) | {kib(our)} KiB | "
                  f"{ratio} | {src}; stated figure: issue 9 / paper-facts.md (torch 2.13 CPU), paper Fig. 1 |")
        else:
            print(f"| {name} | - | {kib(our)} KiB | - | {src}; no stated figure for this model |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mbv2,proxyless,mcunet",
                    help="comma-separated: " + ", ".join(MODELS))
    ap.add_argument("--schemes", default="all",
                    help="comma-separated budgets (49kb, 99kb, ...; each model takes its own) and/or full, "
                         "or all (the model's five and full)")
    ap.add_argument("--no-qemu", action="store_true", help="plan and build only: no emulator runs")
    args = ap.parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in models if m not in MODELS]
    if bad:
        ap.error(f"unknown model {bad[0]!r}: use {', '.join(MODELS)}")
    wanted = None if args.schemes == "all" else [s.strip().lower() for s in args.schemes.split(",")]
    plan: list[tuple[str, str]] = []
    for m in models:
        have = list(PAPER_SCHEMES[MODELS[m][0]]) + ["full"]
        for s in (have if wanted is None else [s for s in wanted if s in have]):
            plan.append((m, s))
    if not plan:
        ap.error(f"no scheme of {args.schemes!r} exists for {', '.join(models)}")

    t0 = time.perf_counter()
    rows: dict[str, list[Row]] = {m: [] for m in models}
    pipe = Pipeline(progress=lambda msg: print(f"  .. {msg}", file=sys.stderr))
    part_sram = 320 * KIB
    other_of_model: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = scenario_file([scenario_entry(m, s) for m, s in plan], Path(tmp))
        try:
            scenarios = {sc.name: sc for sc in load_scenarios(path)}
        except MctError as e:
            print(f"the benchmark's scenarios do not load: {e}", file=sys.stderr)
            return 1
        # full update last per model: its "other static" is estimated from a scheme that links
        for m, s in sorted(plan, key=lambda p: (models.index(p[0]), p[1] == "full")):
            row = Row(MODELS[m][0], s)
            rows[m].append(row)
            sc = scenarios[scenario_entry(m, s)["name"]]
            print(f"{m} {s}: planning and building", file=sys.stderr)
            try:
                out = pipe.build(sc)
                part_sram = out.board.sram
                linked = plan_row(row, out, other_of_model.get(m))
                if linked and not row.other_estimated:
                    other_of_model.setdefault(m, row.other)
                if linked and not args.no_qemu:
                    print(f"{m} {s}: running on QEMU", file=sys.stderr)
                    run_row(row, out, pipe, sc)
            except Exception as e:  # noqa: BLE001 - one failing row must not end the table
                row.note = f"error: {type(e).__name__}: {one_line(str(e))}"
                traceback.print_exc(file=sys.stderr)
    print(f"## The paper's Fig. 10 side by side: 128x128, STM32F746 ({part_sram // KIB} KiB SRAM)\n")
    print("Peak SRAM planned = arena + trainable parameters + other static RAM + reserved stack (the "
          "linker's layout; '~': other static taken from the model's 49kb build because this one does "
          "not link). Measured = static RAM + the run's stack high-water (QEMU), only for builds that "
          "fit the part; its stack column is the run's high-water (else the reserved stack). KiB = 1024 B; the paper's KB are compared as KiB. ms/paper uses the M7 "
          "high estimate when the cycle model reports one, else instructions / 216 MHz.")
    for m in models:
        print_model(m, rows[m], part_sram)
    print_torch(rows, models)
    print(f"\n({len(plan)} configurations in {time.perf_counter() - t0:.0f} s"
          f"{', planning only (--no-qemu)' if args.no_qemu else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
