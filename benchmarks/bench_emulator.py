"""Benchmark: the emulator itself and the test suite's wall time. Prints a table.

    python benchmarks/bench_emulator.py                 # QEMU start-up and guest speed
    python benchmarks/bench_emulator.py --test-command  # also times `python3 -m pytest`

Start-up is the wall time of a run of the self-test firmware that exits at once (a few
thousand instructions), median of N. Guest speed is instructions per wall second of a
guest that spins for a few seconds, with the exact counting plugin and -icount on, as
every scenario runs.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness.boards import load_board
from harness.emulators import get_emulator
from harness.pipeline import FIRMWARE_SRC, REPO
from harness.toolchain import build_firmware


def _selftest(case: str) -> Path:
    board = load_board("stm32f746")
    fw = build_firmware(board, [FIRMWARE_SRC / "app" / "selftest" / "main.c"],
                        defines={f"TT_CASE_{case}": "1"}, stack_size=8192, name=f"bench-{case.lower()}")
    return fw.elf


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=20, help="runs for the start-up median")
    ap.add_argument("--spin", type=float, default=3.0, help="seconds of guest spinning")
    ap.add_argument("--test-command", action="store_true", help="also time the README's test command")
    args = ap.parse_args()
    board = load_board("stm32f746")
    qemu = get_emulator("qemu")
    exit_elf, hang_elf = _selftest("EXIT"), _selftest("HANG")

    walls, insns = [], 0
    for _ in range(args.n):
        t0 = time.perf_counter()
        r = qemu.run(exit_elf, board, timeout_s=30)
        walls.append(time.perf_counter() - t0)
        insns = r.insn_total
    r = qemu.run(hang_elf, board, timeout_s=args.spin)
    rows = [
        ("QEMU", f"{qemu.version()} (mps2-an500, -icount shift=0, counting plugin)"),
        ("start-up to exit (median of %d)" % args.n, f"{statistics.median(walls) * 1e3:.1f} ms "
         f"(min {min(walls) * 1e3:.1f}, max {max(walls) * 1e3:.1f}; {insns} guest instructions)"),
        ("guest speed", f"{r.insn_total / r.wall_s / 1e6:.0f} M instructions/s "
         f"({r.insn_total} in {r.wall_s:.2f} s)"),
    ]
    if args.test_command:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=REPO,
                              capture_output=True, text=True)
        last = (proc.stdout.strip().splitlines() or ["?"])[-1]
        rows.append(("python3 -m pytest (warm caches)", f"{time.perf_counter() - t0:.0f} s: {last}"))
    width = max(len(k) for k, _ in rows)
    print(f"| {'what':<{width}} | measured |\n|{'-' * (width + 2)}|---|")
    for k, v in rows:
        print(f"| {k:<{width}} | {v} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
