"""harness/toolchain.py: real cross and host builds, the cache, and the error messages."""
import ctypes
import re
import shutil
import subprocess
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from harness.boards import REPO, load_board
from harness.errors import BudgetExceeded, BuildError, ToolMissing
from harness.toolchain import build_firmware, build_host_library, build_host_program, compiler_version

SELFTEST = REPO / "harness" / "firmware_src" / "app" / "selftest" / "main.c"
BOARD = load_board("stm32f746")


def _build_loop(nonce: str) -> str:
    # A define no other build uses: a cold application build over the warm runtime objects.
    return str(build_firmware(load_board("stm32f746"), [SELFTEST], name="race",
                              defines={"TT_CASE_LOOP": 1, "TT_TEST_NONCE": nonce}).elf)


def test_firmware_artifacts_and_flags():
    fw = build_firmware(BOARD, [SELFTEST], defines={"TT_CASE_LOOP": 1}, name="selftest-loop")
    assert fw.elf.is_file() and fw.map_file.is_file()
    assert {p.name for p in fw.su_files} >= {"00_main.su"}
    for flag in ("-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard", "-O2", "-std=c11",
                 "-Werror", "-ffp-contract=off", "-fstack-usage", "-ffunction-sections", "-ffreestanding"):
        assert flag in fw.flags
    # The linker script was generated from the profile: the part's sizes, not the emulator's.
    assert "LENGTH = 327680" in (fw.build_dir / "link.ld").read_text()


def test_cache_hits_and_misses():
    a = build_firmware(BOARD, [SELFTEST], defines={"TT_CASE_LOOP": 1}, name="selftest-loop")
    mtime = a.elf.stat().st_mtime_ns
    b = build_firmware(BOARD, [SELFTEST], defines={"TT_CASE_LOOP": 1}, name="selftest-loop")
    assert b == a and b.elf.stat().st_mtime_ns == mtime
    c = build_firmware(BOARD, [SELFTEST], defines={"TT_CASE_LOOP": 1}, name="selftest-loop", stack_size=4096)
    d = build_firmware(BOARD, [SELFTEST], generated={"extra.h": "#define X 1\n"},
                       defines={"TT_CASE_LOOP": 1}, name="selftest-loop")
    assert len({a.build_dir, c.build_dir, d.build_dir}) == 3


def test_parallel_cold_builds_agree_and_leave_no_temporaries():
    nonce = uuid.uuid4().hex
    with ProcessPoolExecutor(2) as pool:
        elves = list(pool.map(_build_loop, [nonce] * 2))
    build_dir = Path(elves[0]).parent
    try:
        assert elves[0] == elves[1] and Path(elves[0]).is_file()
        assert not list(build_dir.parent.glob(f".tmp-{build_dir.name[:8]}-*"))
    finally:
        shutil.rmtree(build_dir)


def test_compile_error_is_readable():
    bad = "#include <stdint.h>\nint32_t f(void) { return undefined_thing; }\n"
    with pytest.raises(BuildError) as e:
        build_firmware(BOARD, [SELFTEST], generated={"bad.c": bad}, name="bad")
    msg = str(e.value)
    # GCC reports the undeclared name, then (as -Werror) the missing return value.
    assert "compiling bad.c: 2 error(s)" in msg
    assert "<generated>/bad.c:2:" in msg and "undefined_thing" in msg
    assert "arm-none-eabi-gcc" in e.value.fix


def test_warnings_are_errors():
    with pytest.raises(BuildError, match="unused variable"):
        build_firmware(BOARD, [SELFTEST], generated={"warn.c": "void g(void);\nvoid g(void) { int x; }\n"},
                       name="warn")


def test_link_error_is_readable():
    src = "void tt_nowhere(void);\nvoid tt_caller(void);\nvoid tt_caller(void) { tt_nowhere(); }\n"
    app = "void tt_caller(void);\nint main(void);\nint main(void) { tt_caller(); return 0; }\n"
    with pytest.raises(BuildError) as e:
        build_firmware(BOARD, [], generated={"caller.c": src, "app.c": app}, name="undefined")
    assert str(e.value).startswith("linking failed:")
    assert "undefined reference to `tt_nowhere'" in str(e.value)


def test_ram_overflow_is_a_budget_failure_with_the_bytes_over():
    with pytest.raises(BudgetExceeded) as e:
        build_firmware(BOARD, [SELFTEST], defines={"TT_CASE_OVERBUDGET": 1}, name="selftest-overbudget")
    msg = str(e.value)
    over = int(re.search(r"region RAM overflowed by (\d+) bytes", msg).group(1))
    # 400 KiB array + 16 KiB stack - 320 KiB SRAM = 98304 B, plus the other statics (< 256 B).
    assert 98304 < over < 98304 + 256
    assert "selftest_big" in msg  # the largest symbols explain the overflow
    assert f"free {over} B of SRAM" in e.value.fix


def test_host_library_through_ctypes():
    src = ('#include <stdint.h>\n#include "tt_io.h"\n'
           "int32_t tt_test_mac(int32_t a, int32_t b, int32_t c);\n"
           "int32_t tt_test_mac(int32_t a, int32_t b, int32_t c) { return a * b + c; }\n")
    lib = ctypes.CDLL(str(build_host_library([], generated={"mac.c": src}, name="mac")))
    lib.tt_test_mac.restype = ctypes.c_int32
    assert lib.tt_test_mac(7, -6, 100) == 58
    lib.tt_stack_high_water.restype = ctypes.c_uint32
    assert lib.tt_stack_high_water() == 0  # host builds paint no stack


def test_host_program_prints_the_same_records_as_the_firmware():
    exe = build_host_program([SELFTEST], defines={"TT_CASE_LOOP": 1}, name="selftest-host")
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    expect = sum((((i * 37 + 11) % 251) - 125) * (((i * 91 + 5) % 241) - 120) for i in range(1024))
    assert f'@tt {{"t":"result","dot":{expect}}}' in out.splitlines()


def test_missing_compiler_names_the_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolMissing, match="apt-get install --no-install-recommends gcc-arm-none-eabi"):
        compiler_version("arm-none-eabi-gcc")
