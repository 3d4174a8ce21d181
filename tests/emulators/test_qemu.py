"""harness/emulators/qemu.py: the self-test firmware on real QEMU (mps2-an500), every way a run ends.

Expected instruction counts, from the disassembly of the LOOP build (arm-none-eabi-gcc 12.2, -O2,
cortex-m7). The mark count is the number of instructions executed before the marker's first one.
  dot_s8(n) = 6 (prologue) + 5 n (ldrsb, ldrsb, cmp, smlabb, bne) + 1 (pop pc) = 5 n + 7
  region    = 4 (tt_mark_region_begin body) + 4 (ldr, mov.w, ldr, bl) + dot_s8(1024) + 2 (mov, bl)
            = 5 * 1024 + 17 = 5137
  step(n)   = 4 (tt_mark_step_begin body) + 5 (ldr.w, mov, mov, mov, bl) + dot_s8(n) + 2 = 5 n + 18
A different compiler may schedule differently; the linearity checks below hold regardless.
"""
from dataclasses import replace
from pathlib import Path

import pytest

from harness.boards import REPO, load_board
from harness.elf import function_ranges
from harness.emulators.qemu import QemuEmulator
from harness.errors import RecordError, ToolMissing
from harness.toolchain import build_firmware

SELFTEST = REPO / "harness" / "firmware_src" / "app" / "selftest" / "main.c"
BOARD = load_board("stm32f746")
STEP_N = (128, 256, 512)


def dot(n: int) -> int:
    return sum((((i * 37 + 11) % 251) - 125) * (((i * 91 + 5) % 241) - 120) for i in range(n))


def build(case: str, **kw):
    return build_firmware(BOARD, [SELFTEST], defines={f"TT_CASE_{case}": 1},
                          name=f"selftest-{case.lower()}", **kw)


@pytest.fixture(scope="module")
def qemu():
    return QemuEmulator()


@pytest.fixture(scope="module")
def loop_runs(qemu):
    fw = build("LOOP")
    return [qemu.run(fw.elf, BOARD, timeout_s=10, profile=True) for _ in range(2)]


def test_known_loop_counts_are_exact_and_repeatable(loop_runs):
    a, b = loop_runs
    assert a.status == "ok", a.reason()
    assert a.region_instructions() == [5 * 1024 + 17] == b.region_instructions()
    assert a.step_instructions() == [5 * n + 18 for n in STEP_N] == b.step_instructions()
    assert a.marks == b.marks and a.insn_total == b.insn_total > 0
    assert a.method.startswith("qemu-plugin") and a.emulator_version.startswith("7.2")


def test_step_counts_are_linear_in_the_work(loop_runs):
    s = loop_runs[0].step_instructions()
    assert s[2] - s[1] == 2 * (s[1] - s[0]) == 5 * 256  # 5 instructions per element


def test_loop_reads_the_samples_from_the_data_region(loop_runs):
    r = loop_runs[0]
    assert r.records[0] == {"t": "boot", "n": 1024} and r.records[-1] == {"t": "done"}
    assert r.records_of("result") == [{"t": "result", "dot": dot(1024)}]
    assert [x["dot"] for x in r.records_of("step")] == [dot(n) for n in STEP_N]


def test_profile_attributes_every_instruction_to_a_function(loop_runs):
    r = loop_runs[0]
    assert sum(r.profile.values()) == r.insn_total
    assert r.profile["dot_s8"] == (5 * 1024 + 7) + sum(5 * n + 7 for n in STEP_N)  # 9628
    # the startup paints the 16 KiB stack word by word: 4 instructions per word
    assert r.profile["Reset_Handler"] == 4 * 4096 + 10


def test_recursion_stack_high_water_matches_the_compilers_frames(qemu):
    fw = build("STACK")
    r = qemu.run(fw.elf, BOARD, timeout_s=10)
    assert r.status == "ok", r.reason()
    frames = {}
    for su in fw.su_files:
        for line in su.read_text().splitlines():
            loc, size, _ = line.split("\t")
            frames[loc.rsplit(":", 1)[1]] = int(size)
    # recurse(0..50) = 51 frames under main, under tt_board_start (the reset's C part).
    expected = 51 * frames["recurse"] + frames["main"] + frames["tt_board_start"]
    (mem,) = r.records_of("mem")
    assert mem["stack"] == expected
    assert 51 * 56 <= expected <= 51 * 64 + 64  # 48 B of padding + lr, 8-byte aligned


def test_nonzero_exit(qemu):
    r = qemu.run(build("EXIT").elf, BOARD, timeout_s=10)
    assert (r.status, r.exit_code, r.reason()) == ("exit", 3, "exit code 3")


def test_bus_fault_reports_kind_pc_and_address(qemu):
    fw = build("FAULT")
    r = qemu.run(fw.elf, BOARD, timeout_s=10)
    assert (r.status, r.exit_code) == ("fault", 127)
    f = r.fault
    assert f["kind"] == "busfault" and f["addr"] == 0x30000000
    (func,) = [name for lo, hi, name in function_ranges(fw.elf) if lo <= f["pc"] < hi]
    assert func == "main"  # run_case is inlined into main
    assert r.reason().startswith("fault: busfault at pc=0x")
    assert not r.records_of("done")


def test_division_by_zero_is_a_usage_fault(qemu):
    r = qemu.run(build("DIVZERO").elf, BOARD, timeout_s=10)
    assert r.status == "fault" and r.fault["kind"] == "usagefault"
    assert r.fault["cfsr"] & (1 << 25)  # UFSR.DIVBYZERO


@pytest.mark.parametrize("stack", [4096, 16384])
def test_stack_overflow_hits_the_mpu_guard(qemu, stack):
    # Two sizes: with a 32-byte guard, one of them let a 56-byte frame step over it.
    fw = build("OVERFLOW", stack_size=stack)
    r = qemu.run(fw.elf, BOARD, timeout_s=10)
    assert r.status == "fault", r.reason()
    assert r.fault["kind"] == "stack_overflow"
    assert r.reason().startswith(
        "fault: stack_overflow at an unknown pc (no exception frame could be stacked)")
    assert r.fault["addr"] - 0x20000000 < 256  # the guard: the first 256 B of RAM


def test_hang_is_killed_at_the_timeout(qemu):
    r = qemu.run(build("HANG").elf, BOARD, timeout_s=1.0)
    assert r.status == "timeout" and r.exit_code is None
    assert r.reason() == "timeout after 1 s (guest hung)"
    assert 1.0 <= r.wall_s < 1.0 + 10  # killed after the timeout, not long after (loose: shared CI)
    assert r.insn_total > 1_000_000  # QEMU was stopped cleanly, so the plugin still reported


def test_hang_is_stopped_by_the_instruction_limit(qemu):
    r = qemu.run(build("HANG").elf, BOARD, timeout_s=30, insn_limit=2_000_000)
    assert r.status == "timeout" and r.insn_limit == 2_000_000
    assert 2_000_000 <= r.insn_total < 2_000_100  # checked at each block start
    assert r.reason() == "instruction limit of 2000000 reached (guest hung?)"


def test_malformed_record_is_reported_with_its_line(qemu):
    r = qemu.run(build("MALFORMED").elf, BOARD, timeout_s=10)
    assert r.status == "ok"
    assert r.record_error.startswith("console line 3: malformed record (invalid JSON")
    with pytest.raises(RecordError, match='@tt {"t":"result","dot":}'):
        r.raise_for_records()


def test_emulator_failure_is_status_error(qemu):
    host = replace(BOARD.host("qemu"), machine="no-such-machine")
    board = replace(BOARD, hosts=(host,))
    r = qemu.run(build("EXIT").elf, board, timeout_s=10)
    assert r.status == "error"
    assert "no-such-machine" in r.reason()


def test_missing_qemu_names_the_package(tmp_path: Path):
    with pytest.raises(ToolMissing, match="apt-get install --no-install-recommends qemu-system-arm"):
        QemuEmulator(binary="qemu-system-nonexistent").run(tmp_path / "x.elf", BOARD)


def test_a_plugin_qemu_cannot_load_falls_back_and_says_so(tmp_path: Path):
    bogus = tmp_path / "libnotaplugin.so"
    bogus.write_text("not a plugin\n")
    r = QemuEmulator(plugin=bogus).run(build("EXIT").elf, BOARD, timeout_s=10)
    assert (r.status, r.exit_code) == ("exit", 3)  # the firmware still ran
    assert r.method.startswith("none: QEMU 7.2") and "could not load the counting plugin" in r.method
    assert r.insn_total == 0 and r.marks == ()
