"""Benchmark: MbV2-w0.35 training memory and speed beside the paper's Fig. 10. Prints a table.

    python benchmarks/bench_mbv2.py [--scheme 49kb|99kb] [--res 128]

Three configurations of the same model at the same input:
- full update: every weight and bias trainable (planned memory only: it does not fit);
- sparse update, all updates after the backward pass (no operator reordering): planned;
- sparse update with immediate in-place updates (the engine's schedule): built with
  arm-none-eabi-gcc and run on the emulated STM32F746, so its numbers are measured.
Peak SRAM = arena + trainable parameters + other static RAM + stack high-water mark. For
the planned rows the other static RAM and the stack are taken from the measured build.
Instructions are exact counts from QEMU, not cycles; "ms at 216 MHz" assumes one
instruction per cycle and is only an estimate (a Cortex-M7 dual-issues some pairs and
stalls on flash wait states and memory).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml

from harness.engine.compiler import compile_training
from harness.pipeline import REPO, Pipeline
from harness.scenario import load_scenarios
from harness.sparse.scheme import SparseScheme

SCHEMES = {  # tiny-training compilation/mcu_ir_gen.py, MbV2 entries
    "49kb": {"n_bias_update": 16, "manual_weight_idx": [36, 39, 40, 41, 42, 45, 48, 49],
             "weight_update_ratio": [1, 1, 0, 0.25, 0.125, 0.125, 0.125, 0.125]},
    "99kb": {"n_bias_update": 25, "manual_weight_idx": [27, 30, 33, 36, 39, 42, 45, 48],
             "weight_update_ratio": [1, 1, 1, 1, 1, 0.125, 0.5, 1]},
}
PAPER = {"full": "2939 KB", "deferred": "335 KB", "inplace": "141 KB (373 ms, ~80.6M cycles)"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scheme", choices=sorted(SCHEMES), default="49kb")
    ap.add_argument("--res", type=int, default=128)
    args = ap.parse_args()

    text = (REPO / "scenarios" / "mbv2.yaml").read_text()
    doc = yaml.safe_load(text)
    entry = doc["scenarios"][0]
    entry.setdefault("model", {})["input"] = [args.res, args.res, 3]
    entry.setdefault("training", {})["sparse_update"] = SCHEMES[args.scheme]
    entry["name"] = f"bench-mbv2-{args.res}-{args.scheme}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scenarios" / "bench.yaml"
        path.parent.mkdir()
        path.write_text(yaml.safe_dump(doc))
        scenario = load_scenarios(path)[0]
        pipe = Pipeline()
        out = pipe.run(scenario)
    if out.run is None or out.memory is None or out.workload is None:
        print(f"the build or run failed: {out.build_error or out.run_error}", file=sys.stderr)
        return 1
    w, m = out.workload, out.memory
    arena, trainable = w.compiled.arena_size, w.compiled.emitted.trainable_bytes
    stack = out.metrics["stack_high_water"]
    other = m.static_sram - arena - trainable
    steps = out.run.step_instructions()
    full = compile_training(w.qmodel, SparseScheme.full().resolve(w.qmodel.graph), w.options)

    def row(name: str, arena_b: int, train_b: int, flash: str, insns: str, paper: str) -> str:
        peak = arena_b + train_b + other + stack
        return (f"| {name} | {arena_b / 1024:.1f} | {train_b / 1024:.1f} | {(other + stack) / 1024:.1f} | "
                f"**{peak / 1024:.1f}** | {flash} | {insns} | {paper} |")

    step = max(steps)
    print(f"MbV2-w0.35 at {args.res}x{args.res}, scheme {args.scheme} ({w.scheme.describe()})\n")
    print("| configuration | arena KiB | trainable params KiB | other static + stack KiB | peak SRAM KiB "
          "| flash KiB | instructions / step | paper (Fig. 10, MbV2) |")
    print("|---|---|---|---|---|---|---|---|")
    print(row("full update (planned; in-place updates)", full.train_plan.arena_size,
              full.emitted.trainable_bytes, "-", "-", PAPER["full"]))
    print(row("full update (planned; updates after backward)", full.deferred_arena,
              full.emitted.trainable_bytes, "-", "-", ""))
    print(row("sparse, updates after backward (planned)", w.compiled.deferred_arena, trainable, "-",
              "same arithmetic as below", PAPER["deferred"]))
    print(row("sparse, in-place updates (measured)", arena, trainable, f"{m.flash / 1024:.1f}",
              f"{step / 1e6:.1f}M (~{step / 216e6 * 1e3:.0f} ms at 216 MHz, 1 IPC)", PAPER["inplace"]))
    print(f"\ntraining arena (in-place) {w.compiled.train_plan.arena_size} B; inference arena "
          f"{w.compiled.infer_plan.arena_size} B; inference {out.metrics.get('predict_instructions', 0) / 1e6:.1f}M "
          f"instructions per sample; stack high-water {stack} B; counted by {out.run.method}")
    largest = sorted(w.compiled.train_plan.placements, key=lambda p: -p.buf.size)[:3]
    print("largest live buffers: " + ", ".join(f"{p.buf.name} {p.buf.size} B (steps {p.buf.first}-{p.buf.last})"
                                              for p in largest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
