"""Benchmark: wall time of the memory-budget gate and of the full scenario suite. Prints a table.

    python benchmarks/bench_gate.py           # the gate: build + memory checks, no emulator
    python benchmarks/bench_gate.py --full    # also the full scenario run (emulator, parity)

Run it twice: the first run fills the caches (pretraining, builds); the second is what CI
and a developer see on every change ("warm").
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

from harness.pipeline import REPO


def timed(args: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=REPO,
                       capture_output=True, text=True)
    last = (p.stdout.strip().splitlines() or ["?"])[-1]
    return time.perf_counter() - t0, last


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="also time the full scenario suite")
    args = ap.parse_args()
    rows = [("gate: pytest scenarios/ --gate", *timed(["scenarios/", "--gate"]))]
    if args.full:
        rows.append(("full: pytest scenarios/", *timed(["scenarios/"])))
        rows.append(("full, 2 workers: pytest scenarios/ -n 2", *timed(["scenarios/", "-n", "2"])))
    print("| command | wall s | result |\n|---|---|---|")
    for name, secs, last in rows:
        print(f"| {name} | {secs:.1f} | {last} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
