"""The fast float backward and update kernels against their portable references, bit for bit.

harness/firmware_src/app/bwdtest/main.c runs tt_pwconv_grad_input_f32, tt_dwconv2d_grad_input_f32,
tt_pwconv_update_weight_s8 and tt_dwconv2d_update_weight_s8 (nearest and stochastic rounding),
tt_mask_apply_f32 and tt_bias_update_s32 next to their *_ref versions (harness/firmware_src/runtime/tt_kernels_ref.h) on
pseudo-random data over many shapes (the MbV2-w0.35 backward shapes, channel counts that are
and are not multiples of the blocks, k = 0 / partial / all, strides 1-3, depthwise 3/5/7, odd
position counts), and prints per case the checksums of both outputs plus guard words and
whether every bit agrees. Built for the host it runs the plain-C fast paths; built for the
Cortex-M7 and Cortex-M4F boards the VFP assembly inner loops (TT_VFP_ASM). Every case must
agree on each build, and the records must be identical across builds.
"""
from __future__ import annotations

import json
import subprocess

import pytest

from harness.boards import REPO, load_board
from harness.emulators import get_emulator
from harness.records import PREFIX
from harness.toolchain import CROSS_CC, build_firmware, build_host_program

APP = REPO / "harness" / "firmware_src" / "app" / "bwdtest" / "main.c"
#: Kernels whose firmware build must contain their VMLA inner loops: the kernel or one of its
#: static helpers (inlined or not, at GCC's choice).
ASM_KERNELS = {
    "tt_pwconv_grad_input_f32": ("tt_pwconv_grad_input_f32", "tt_pwgi_2x8"),
    "tt_dwconv2d_grad_input_f32": ("tt_dwconv2d_grad_input_f32", "tt_dwgi_blocks", "tt_dwgi_run"),
    "tt_pwconv_update_weight_s8": ("tt_pwconv_update_weight_s8", "tt_pwgw_tile", "tt_pwgw_8x2"),
    "tt_dwconv2d_update_weight_s8": ("tt_dwconv2d_update_weight_s8", "tt_dwgw_blocks",
                                     "tt_dwgw_run8"),
}
N_CASES = 226


def _records(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.startswith(PREFIX + " ")]


def _check_all_same(recs: list[str], where: str) -> None:
    parsed = [json.loads(r[len(PREFIX) + 1:]) for r in recs]
    assert parsed and parsed[-1]["t"] == "bt_done", f"{where}: the run did not finish"
    assert parsed[-1]["n"] == N_CASES
    cases = [p for p in parsed if p["t"] == "bt"]
    differ = [p for p in cases if p["same"] != 1 or p["fast"] != p["ref"]]
    assert not differ, f"{where}: {len(differ)} case(s) differ from the reference, first {differ[0]}"
    assert parsed[-1]["differ"] == 0
    # every kernel was exercised (ops 0-5, plus the rng-state records 102-105 of the updates,
    # and 201: the in-place depthwise gradient against the reference's out-of-place one)
    assert {p["op"] for p in cases} >= {0, 1, 2, 3, 4, 5, 102, 104, 105, 201}


@pytest.fixture(scope="module")
def host_records() -> list[str]:
    exe = build_host_program([APP], name="bwdtest")
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=120).stdout
    recs = _records(out)
    _check_all_same(recs, "host")
    return recs


def test_fast_kernels_match_reference_on_host(host_records):
    assert len(host_records) > N_CASES


@pytest.mark.parametrize("board_name", ["stm32f746", "stm32f4"])
def test_fast_kernels_match_reference_on_qemu(board_name, host_records):
    board = load_board(board_name)
    fw = build_firmware(board, [APP], name="bwdtest", stack_size=8192)
    objdump = CROSS_CC.replace("gcc", "objdump")
    for kernel, symbols in ASM_KERNELS.items():
        dis = "".join(subprocess.run([objdump, "-d", f"--disassemble={sym}", str(fw.elf)],
                                     capture_output=True, text=True, check=True).stdout
                      for sym in symbols)
        assert "vmla.f32" in dis, f"{kernel} has no VMLA inner loop on {board_name}"
    run = get_emulator("qemu").run(fw.elf, board, timeout_s=300.0)
    assert run.status == "ok", run.reason()
    dev = _records(run.console)
    _check_all_same(dev, board_name)
    assert len(dev) == len(host_records)
    diff = [(h, d) for h, d in zip(host_records, dev) if h != d]
    assert not diff, f"{len(diff)} record(s) differ, first: host {diff[0][0]} device {diff[0][1]}"
