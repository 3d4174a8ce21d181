"""harness/boards: profiles are data; a second board is only a YAML file."""
from pathlib import Path

import pytest

from harness.boards import BOARDS_DIR, REPO, list_boards, load_board, load_board_file
from harness.emulators.qemu import QemuEmulator
from harness.errors import ScenarioError
from harness.toolchain import build_firmware

SELFTEST = REPO / "harness" / "firmware_src" / "app" / "selftest" / "main.c"


def test_stm32f746_profile():
    b = load_board("stm32f746")
    assert (b.core, b.fpu, b.float_abi, b.clock_hz) == ("cortex-m7", "fpv5-sp-d16", "hard", 216_000_000)
    assert (b.sram, b.flash) == (320 * 1024, 1024 * 1024)
    q = b.host("qemu")
    assert q.machine == "mps2-an500"
    assert (q.flash_origin, q.sram_origin) == (0x0, 0x20000000)
    assert (q.data_origin, q.data_size) == (0x60000000, 16 * 1024 * 1024)
    assert (q.console_kind, q.console_base) == ("cmsdk-uart", 0x40004000)
    assert q.startup_dir == REPO / "harness" / "firmware_src" / "boards" / "mps2"
    assert b.cpu_flags() == ("-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard")


def test_unknown_board_lists_known_ones():
    assert "stm32f746" in list_boards()
    with pytest.raises(ScenarioError) as e:
        load_board("stm32f999")
    assert "unknown board 'stm32f999'" in str(e.value)
    assert "stm32f746" in str(e.value)


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ScenarioError, match="has no 'renode' host"):
        load_board("stm32f746").host("renode")


M4F = (BOARDS_DIR / "stm32f746.yaml").read_text() \
    .replace("name: stm32f746", "name: stm32f407") \
    .replace("core: cortex-m7", "core: cortex-m4") \
    .replace("fpu: fpv5-sp-d16", "fpu: fpv4-sp-d16") \
    .replace("sram: 320KiB", "sram: 192KiB") \
    .replace("machine: mps2-an500", "machine: mps2-an386") \
    .replace("name: PSRAM", "name: SSRAM-upper") \
    .replace("origin: 0x60000000", "origin: 0x20200000") \
    .replace("size: 16MiB", "size: 2MiB")


def test_profile_errors_name_the_key(tmp_path: Path):
    p = tmp_path / "stm32f407.yaml"
    p.write_text(M4F.replace("clock_hz:", "clock:"))
    with pytest.raises(ScenarioError) as e:
        load_board_file(p)
    assert "unknown key(s) in the profile: clock" in str(e.value)


def test_a_second_board_is_only_a_yaml_file(tmp_path: Path):
    """A Cortex-M4F part on mps2-an386 from a YAML file alone: builds, runs, counts exactly.

    The M4 build's dot_s8 loop is also 5 instructions per element, so the region count equals
    the M7's within the few instructions of call set-up the compiler schedules differently."""
    p = tmp_path / "stm32f407.yaml"
    p.write_text(M4F)
    b = load_board_file(p)
    assert b.cpu_flags() == ("-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")
    assert b.sram == 192 * 1024 and b.host().machine == "mps2-an386"
    fw = build_firmware(b, [SELFTEST], defines={"TT_CASE_LOOP": 1}, name="selftest-m4f")
    run = QemuEmulator().run(fw.elf, b, timeout_s=10)
    assert run.status == "ok", run.reason()
    assert run.records_of("result") == [{"t": "result", "dot": -51992}]
    (region,) = run.region_instructions()
    assert abs(region - (5 * 1024 + 17)) <= 8
