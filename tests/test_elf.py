"""harness/elf.py: memory accounting of a real self-test firmware, classified by type and flags."""

import pytest

from harness.boards import REPO, load_board
from harness.elf import DATA_REGION, FLASH, SRAM, memory_report, symbol_table
from harness.toolchain import build_firmware

SELFTEST = REPO / "harness" / "firmware_src" / "app" / "selftest" / "main.c"


@pytest.fixture(scope="module")
def board():
    return load_board("stm32f746")


@pytest.fixture(scope="module")
def report(board):
    fw = build_firmware(board, [SELFTEST], defines={"TT_CASE_LOOP": 1}, stack_size=8192,
                        name="selftest-loop-8k")
    return memory_report(fw.elf, board)


def test_stack_reservation_comes_from_the_linker_symbols(report):
    assert report.stack_reserved == 8192
    (stack,) = [s for s in report.sections if s.kind == "stack"]
    assert (stack.name, stack.region, stack.size, stack.in_flash) == (".stack", SRAM, 8192, 0)


def test_samples_are_in_the_data_region_not_in_flash(report):
    # selftest_a and selftest_b: 2 x 1024 int8 samples in .tt_data (PSRAM at 0x60000000).
    assert report.data_region == 2048
    assert {s.name for s in report.symbols[:2]} == {"selftest_a", "selftest_b"}
    assert all(s.region == DATA_REGION for s in report.symbols[:2])
    (tt,) = [s for s in report.sections if s.region == DATA_REGION]
    assert tt.in_flash == 0 and tt.addr == 0x60000000
    assert report.flash < 4096  # code only: the 2 KiB of samples would not fit this bound with it


def test_flash_is_code_constants_and_data_init(report):
    flash_sections = sum(s.size for s in report.sections if s.region == FLASH)
    assert report.flash == flash_sections + report.data  # .data's initial image lives in flash
    # .data holds one initialised word (tt_io.c's line-start flag); .bss the marks, etc.
    assert report.data == 4
    assert 0 < report.bss < 256
    assert report.static_sram == report.data + report.bss


def test_peak_sram_is_static_plus_stack_high_water(report):
    assert report.peak_sram(104) == report.static_sram + 104


def test_symbols_have_regions(report):
    regions = {s.name: s.region for s in report.symbols}
    assert regions["tt_fault_report"] == FLASH
    assert regions["main"] == FLASH


def test_thumb_bit_is_cleared_for_functions(report):
    syms = symbol_table(report.elf)
    assert syms["tt_mark_step_begin"] % 2 == 0
    assert syms["_estack"] - syms["_sstack"] == 8192
    assert syms["_ett_data"] - syms["_stt_data"] == 2048
