"""The ARMv7E-M DSP paths of the int8 forward conv kernels against the portable C, bit for bit.

harness/firmware_src/app/kerneltest/main.c runs tt_pwconv_s8, tt_dwconv2d_s8 and tt_conv2d_s8 on
pseudo-random data over many shapes (odd / even channels, k = 0, 0 < k < C_in, k = C_in,
strides, pads, kernels 1..7, depthwise 3/5/7, with and without bias and mask, extreme
x - x_zp) and prints checksums of every output (plus guard bytes) and mask byte; then it
computes layers in row strips from input tiles (the row-range fields of tt_conv_params) and
says whether they equal the whole layer. Built for the
host it runs the portable kernels; built for a Cortex-M7 / Cortex-M4F board (where GCC defines
__ARM_FEATURE_DSP) the SIMD paths of harness/firmware_src/runtime/kernels/tt_simd.h. The records must
be identical.
"""
from __future__ import annotations

import json
import re
import subprocess

import pytest

from harness.boards import REPO, load_board
from harness.emulators import get_emulator
from harness.records import PREFIX
from harness.toolchain import CROSS_CC, build_firmware, build_host_program

APP = REPO / "harness" / "firmware_src" / "app" / "kerneltest" / "main.c"
#: Each kernel and the static helpers its DSP path is compiled into.
KERNELS = {"tt_pwconv_s8": ("pw_run_fast", "pw_run_fast_mask", "pw_fast", "pw_any",
                            "pw_run_split"),
           "tt_dwconv2d_s8": ("dw_fast", "dw_any", "dw_plane_fast", "dw_plane_mask"),
           "tt_conv2d_s8": ("conv_patch_fast", "conv_patch_any", "conv_dsp_runs"),
           "tt_add_s8": ()}


def _records(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.startswith(PREFIX + " ")]


@pytest.fixture(scope="module")
def host_records() -> list[str]:
    exe = build_host_program([APP], name="kerneltest")
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=60).stdout
    recs = _records(out)
    assert recs and '"t":"kt_done"' in recs[-1]
    return recs


def test_row_strips_equal_whole_layer(host_records):
    """The portable kernels' row-range cases: strips from input tiles == the whole layer."""
    strips = [json.loads(r[len(PREFIX) + 1:]) for r in host_records if '"t":"kt_strip"' in r]
    assert {s["op"] for s in strips} == {0, 1, 2}  # pointwise, depthwise, conv
    bad = [s["case"] for s in strips if s["eq"] != 1]
    assert not bad, f"row-strip case(s) {bad} differ from the whole layer"


def _disassembly(elf, symbol: str) -> str:
    objdump = CROSS_CC.replace("gcc", "objdump")
    out = subprocess.run([objdump, "-d", f"--disassemble={symbol}", str(elf)],
                         capture_output=True, text=True, check=True).stdout
    return out


@pytest.mark.parametrize("board_name", ["stm32f746", "stm32f4"])
def test_dsp_kernels_match_host(board_name, host_records):
    board = load_board(board_name)
    fw = build_firmware(board, [APP], name="kerneltest")
    # The firmware really runs the SIMD paths.
    for sym, helpers in KERNELS.items():
        dis = "".join(_disassembly(fw.elf, name) for name in (sym, *helpers))
        assert re.search(r"\b(sxtab16|sxtb16|smlad|smlabb|smlal)\b", dis), \
            f"{sym} has no DSP path on {board_name}"
    run = get_emulator("qemu").run(fw.elf, board, timeout_s=120.0)
    assert run.status == "ok", run.reason()
    dev = _records(run.console)
    assert len(dev) == len(host_records)
    diff = [(h, d) for h, d in zip(host_records, dev) if h != d]
    assert not diff, f"{len(diff)} case(s) differ, first: host {diff[0][0]} device {diff[0][1]}"
    strips = [r for r in dev if '"t":"kt_strip"' in r]
    assert strips and all('"eq":1' in r for r in strips), "a row-strip case differs on the device"
