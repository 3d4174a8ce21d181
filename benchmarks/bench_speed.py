"""Benchmark: instructions per training step with the portable C kernels and with the fast
ARMv7E-M kernels, per kernel, on QEMU. Prints a before/after table per scenario.

    python benchmarks/bench_speed.py                         # the three paper models, 49kb, 128x128
    python benchmarks/bench_speed.py scenarios/fashion.yaml -k fashion-new-classes

"Before" is the same generated program built with ``TT_PORTABLE_KERNELS``: every kernel runs
its portable reference (the int8 forward's plain C loops, the float backward's ``*_ref``),
which computes the same bits (the in-place depthwise input gradient, which has no separate
reference, runs its blocked code in both); "after" is the normal build (DSP/SIMD int8 forward, VMLA
float backward). Both runs are exact instruction counts from the QEMU plugin: whole-run
counts per kernel family (the run trains on its samples and evaluates before and after),
and the exact instructions per training step and per inference. The fast build is the one
the scenarios run; its scenario's `parity` item proves it computes what the host does.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from harness.emulators import get_emulator
from harness.pipeline import FIRMWARE_SRC, REPO, Pipeline, _app_sources
from harness.scenario import load_scenarios
from harness.toolchain import build_firmware

DEFAULT = [("scenarios/mbv2.yaml", "mbv2-w035-128-49kb"), ("scenarios/proxyless.yaml", "proxyless-w03-128-49kb"),
           ("scenarios/mcunet.yaml", "mcunet-5fps-128-49kb")]

# Kernel families by function name (exported kernels and the fast paths' static helpers).
FAMILIES = (
    ("int8 pointwise conv", ("tt_pwconv_s8", "pw_")),
    ("int8 depthwise conv", ("tt_dwconv2d_s8", "dw_")),
    ("int8 conv (stem)", ("tt_conv2d_s8", "conv_")),
    ("int8 add", ("tt_add_s8",)),
    ("pw grad input (f32)", ("tt_pwconv_grad_input", "tt_pwgi")),
    ("pw grad weight + update", ("tt_pwconv_update_weight", "tt_pwconv_grad_weight", "tt_pwgw")),
    ("dw grad input (f32)", ("tt_dwconv2d_grad_input", "tt_dwgi")),
    ("dw grad weight + update", ("tt_dwconv2d_update_weight", "tt_dwconv2d_grad_weight", "tt_dwgw", "tt_dwup")),
    ("mask apply", ("tt_mask_apply",)),
    ("bias update", ("tt_bias_update",)),
    ("streaming moves", ("tt_move_s8",)),
)


def family(fn: str) -> str:
    for name, prefixes in FAMILIES:
        if fn.startswith(prefixes):
            return name
    return "other"


def measure(out, portable: bool) -> dict:
    """Build (portable or fast) and run with the per-function profile."""
    sc, w = out.scenario, out.workload
    fw = build_firmware(out.board, _app_sources(out.board, "train"), generated=w.files(),
                        include_dirs=[FIRMWARE_SRC / "app" / "train"], defines={},
                        stack_size=sc.stack, name=sc.name + ("-portable" if portable else ""),
                        runtime_defines={"TT_PORTABLE_KERNELS": "1"} if portable else None)
    run = get_emulator("qemu").run(fw.elf, out.board, timeout_s=600.0, profile=True)
    if run.status != "ok":
        raise RuntimeError(run.reason())
    fams: dict[str, int] = defaultdict(int)
    for fn, n in run.profile.items():
        fams[family(fn)] += n
    evals = run.eval_instructions()
    return {"step": max(run.step_instructions()), "predict": round(evals[0] / len(w.test_y)),
            "families": dict(fams), "total": run.insn_total}


def table(name: str, before: dict, after: dict) -> None:
    print(f"\n### {name}\n")
    print("| kernel family (whole run) | portable C | fast | speed-up |")
    print("|---|---|---|---|")
    keys = sorted(set(before["families"]) | set(after["families"]),
                  key=lambda k: -before["families"].get(k, 0))
    for k in keys:
        b, a = before["families"].get(k, 0), after["families"].get(k, 0)
        print(f"| {k} | {b / 1e6:.2f}M | {a / 1e6:.2f}M | {b / a if a else float('inf'):.1f}x |")
    for key, label in (("step", "**per training step**"), ("predict", "**per inference**")):
        b, a = before[key], after[key]
        print(f"| {label} | {b / 1e6:.2f}M | {a / 1e6:.2f}M | {b / a:.1f}x |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", help="scenario files (default: the three paper models' 49kb)")
    ap.add_argument("-k", default=None, help="only scenarios whose name contains this")
    args = ap.parse_args()
    exact = not args.paths  # the defaults name whole scenarios; -k matches part of a name
    wanted: list[tuple[str, str | None]] = ([(p, args.k) for p in args.paths] if args.paths else
                                            [(f, n) for f, n in DEFAULT])
    pipe = Pipeline()
    for path, key in wanted:
        for sc in load_scenarios(REPO / path if not Path(path).is_absolute() else Path(path)):
            if key and (sc.name != key if exact else key not in sc.name):
                continue
            if not sc.trains or sc.expect.over_budget:
                continue
            out = pipe.build(sc)
            if out.workload is None:
                print(f"\n### {sc.name}: not built: {out.build_error}")
                continue
            try:
                before, after = measure(out, True), measure(out, False)
            except Exception as e:  # one scenario's failure must not hide the others
                print(f"\n### {sc.name}: failed: {e}")
                continue
            table(f"{sc.name} ({sc.board})", before, after)
    return 0


if __name__ == "__main__":
    sys.exit(main())
