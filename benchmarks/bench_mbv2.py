"""Benchmark: MbV2-w0.35 training memory and speed beside the paper's Fig. 10. Prints a table.

    python benchmarks/bench_mbv2.py [--scheme 49kb|99kb] [--res 128]

The engine's two memory optimisations, separately and together (the paper's Fig. 10 shows
the second): streaming the frozen prefix in row strips (engine/patch.py), and applying each
update in place as soon as its gradient is ready (operator reordering). Rows:
- full update: every weight and bias trainable (planned memory only: it does not fit);
- sparse update, layer by layer, updates after the backward pass: planned;
- sparse update, layer by layer, in place (engine.prefix: none): built and run on QEMU;
- sparse update, streamed prefix, updates after the backward pass: planned;
- sparse update, streamed prefix, in place, in each streaming mode (the compiler's choice
  and the other mode at the same end): built and run on QEMU.
The exact instruction difference to the layer-by-layer build is what streaming costs.
Peak SRAM = arena + trainable parameters + other static RAM + stack high-water mark. For
the planned rows the other static RAM and the stack are taken from the measured build.
Instructions are exact counts from QEMU; the ms are the cycle model's range for the
Cortex-M7 at 216 MHz (harness/cycles.py: dual issue at best, single issue at worst).
"""
from __future__ import annotations

import argparse
import copy
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


def _run(doc: dict, prefix: object, name: str):
    """Build and run the scenario with ``engine.prefix`` set; the pipeline's Outcome."""
    doc = copy.deepcopy(doc)
    entry = doc["scenarios"][0]
    entry["name"] = name
    entry["engine"] = {"prefix": prefix}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scenarios" / "bench.yaml"
        path.parent.mkdir()
        path.write_text(yaml.safe_dump(doc))
        return Pipeline().run(load_scenarios(path)[0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scheme", choices=sorted(SCHEMES), default="49kb")
    ap.add_argument("--res", type=int, default=128)
    args = ap.parse_args()

    doc = yaml.safe_load((REPO / "scenarios" / "mbv2.yaml").read_text())
    doc["scenarios"] = doc["scenarios"][:1]
    entry = doc["scenarios"][0]
    entry.setdefault("model", {})["input"] = [args.res, args.res, 3]
    entry.setdefault("training", {})["sparse_update"] = SCHEMES[args.scheme]
    entry["budgets"] = {"sram": "320KiB"}
    base = f"bench-mbv2-{args.res}-{args.scheme}"
    out = _run(doc, "auto", base)
    if out.run is None or out.memory is None or out.workload is None:
        print(f"the build or run failed: {out.build_error or out.run_error}", file=sys.stderr)
        return 1
    w, m = out.workload, out.memory
    c = w.compiled
    plan = c.prefix_plan
    variants = {"auto": out}
    if plan is not None:
        other_mode = "recompute" if plan.mode == "slide" else "slide"
        variants[other_mode] = _run(doc, {"until": plan.end, "mode": other_mode}, f"{base}-{other_mode}")
    variants["none"] = _run(doc, "none", f"{base}-layerwise")
    trainable = c.emitted.trainable_bytes
    stack = out.metrics["stack_high_water"]
    other = m.static_sram - c.arena_size - trainable
    full = compile_training(w.qmodel, SparseScheme.full().resolve(w.qmodel.graph), w.options)

    def row(name: str, arena_b: int, train_b: int, flash: str, insns: str, paper: str) -> str:
        peak = arena_b + train_b + other + stack
        return (f"| {name} | {arena_b / 1024:.1f} | {train_b / 1024:.1f} | {(other + stack) / 1024:.1f} | "
                f"**{peak / 1024:.1f}** | {flash} | {insns} | {paper} |")

    def measured(o) -> tuple[str, str]:
        if o.run is None or o.memory is None:
            return "-", f"failed: {o.build_error or o.run_error}"
        st = max(o.run.step_instructions())
        m = o.metrics
        ms = (f" (est. {m['step_ms_m7_low']:.0f}-{m['step_ms_m7_high']:.0f} ms on the M7)"
              if "step_ms_m7_low" in m else "")
        return f"{o.memory.flash / 1024:.1f}", f"{st / 1e6:.2f}M{ms}"

    a = c.arenas
    print(f"MbV2-w0.35 at {args.res}x{args.res}, scheme {args.scheme} ({w.scheme.describe()})\n")
    print("| configuration | arena KiB | trainable params KiB | other static + stack KiB | peak SRAM KiB "
          "| flash KiB | instructions / step | paper (Fig. 10, MbV2) |")
    print("|---|---|---|---|---|---|---|---|")
    print(row("full update, layer by layer, in place (planned)", full.arenas.layerwise_in_place,
              full.emitted.trainable_bytes, "-", "-", PAPER["full"]))
    print(row("sparse, layer by layer, updates after backward (planned)", a.layerwise_deferred, trainable,
              "-", "-", PAPER["deferred"]))
    print(row("sparse, layer by layer, in-place updates (measured)", a.layerwise_in_place, trainable,
              *measured(variants["none"]), ""))
    print(row("sparse, streamed prefix, updates after backward (planned)", a.streamed_deferred, trainable,
              "-", "-", ""))
    for mode, o in variants.items():
        if mode == "none" or o.workload is None:
            continue
        oc = o.workload.compiled
        label = f"sparse, streamed prefix ({oc.prefix_plan.mode}{', chosen' if mode == 'auto' else ''}) + in place (measured)"
        print(row(label, oc.arena_size, trainable, *measured(o), PAPER["inplace"] if mode == "auto" else ""))
    print()
    for mode, o in variants.items():
        if o.workload is not None:
            oc = o.workload.compiled
            print(f"{mode:>9}: {oc.prefix.describe()}" + (f"; {oc.prefix_plan.summary()}" if oc.prefix_plan else ""))
    if variants["none"].run is not None:
        base_step = max(variants["none"].run.step_instructions())
        base_inf = variants["none"].metrics.get("predict_instructions", 0)
        for mode, o in variants.items():
            if mode != "none" and o.run is not None:
                d = max(o.run.step_instructions()) - base_step
                di = o.metrics.get("predict_instructions", 0) - base_inf
                print(f"streaming cost ({o.workload.compiled.prefix_plan.mode}): {d:+,} instructions per training "
                      f"step, {di:+,} per inference, against layer by layer (exact, QEMU)")
    print(f"\ntraining arena {c.train_plan.arena_size} B; inference arena {c.infer_plan.arena_size} B; inference "
          f"{out.metrics.get('predict_instructions', 0) / 1e6:.1f}M instructions per sample; stack high-water "
          f"{stack} B; counted by {out.run.method}")
    largest = sorted(c.train_plan.placements, key=lambda p: -p.buf.size)[:3]
    print("largest live buffers: " + ", ".join(f"{p.buf.name} {p.buf.size} B (steps {p.buf.first}-{p.buf.last})"
                                              for p in largest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
