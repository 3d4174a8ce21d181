"""The general-window kernels on the emulated boards: harness/firmware_src/app/wintest runs every
tt_conv_window.h kernel (forward with mask, input gradient, weight gradient, fused stochastic
update) on the windows of imported models and on random windows, prints FNV-1a checksums, and
on regular windows compares each with the regular kernel of tt_kernels.h bit for bit. Built
for the host (plain C) and for the Cortex-M7 and Cortex-M4F boards (the general conv forward's
SMLAD pairs; the regular kernels' DSP and VFP fast paths) the records must be identical and
every comparison equal. The host build's kernels equal the numpy reference
(tests/runtime/test_kernels_window.py)."""
from __future__ import annotations

import json
import subprocess

import pytest

from harness.boards import REPO, load_board
from harness.emulators import get_emulator
from harness.records import PREFIX
from harness.toolchain import build_firmware, build_host_program

APP = REPO / "harness" / "firmware_src" / "app" / "wintest" / "main.c"
N_CASES = 100


def _records(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.startswith(PREFIX + " ")]


def _check(recs: list[str], where: str) -> None:
    parsed = [json.loads(r[len(PREFIX) + 1:]) for r in recs]
    assert parsed and parsed[-1]["t"] == "wt_done", f"{where}: the run did not finish"
    assert parsed[-1]["n"] == N_CASES and parsed[-1]["differ"] == 0
    cases = [p for p in parsed if p["t"] == "wt"]
    differ = [p for p in cases if p["same"] != 1]
    assert not differ, f"{where}: {len(differ)} regular case(s) differ, first {differ[0]}"
    # every kernel ran on irregular windows, and every kind was compared on regular ones
    assert {p["op"] for p in cases if not p["reg"]} == {0, 1, 2, 3}
    assert {p["op"] for p in cases if p["reg"]} == {0, 1, 2, 3}
    assert sum(p["reg"] for p in cases) >= 60


@pytest.fixture(scope="module")
def host_records() -> list[str]:
    exe = build_host_program([APP], name="wintest")
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=120).stdout
    recs = _records(out)
    _check(recs, "host")
    return recs


def test_general_kernels_run_on_host(host_records):
    assert len(host_records) > 3 * N_CASES


@pytest.mark.parametrize("board_name", ["stm32f746", "stm32f4"])
def test_general_kernels_on_qemu_equal_host(board_name, host_records):
    board = load_board(board_name)
    fw = build_firmware(board, [APP], name="wintest", stack_size=8192)
    run = get_emulator("qemu").run(fw.elf, board, timeout_s=300.0)
    assert run.status == "ok", run.reason()
    dev = _records(run.console)
    _check(dev, board_name)
    assert len(dev) == len(host_records)
    diff = [(h, d) for h, d in zip(host_records, dev) if h != d]
    assert not diff, f"{len(diff)} record(s) differ, first: host {diff[0][0]} device {diff[0][1]}"
