"""What a firmware cannot do to the host, or to the harness, on real QEMU.

- Semihosting: the SEMIHOST self-test tries SYS_SYSTEM, SYS_OPEN (create a file, read
  /etc/hostname), SYS_REMOVE, SYS_RENAME and SYS_GET_CMDLINE. A control run with the
  semihosting configuration the harness used before (`enable=on,target=native`) shows that the
  firmware really does all of it; under the harness every call traps in the guest and the
  files in a directory the test watches stay as they were.
- NULL and flash writes fault (the MPU's read-only code region) on both boards.
- A firmware that never stops printing is stopped at the console cap, with the tail kept.
"""
import os
import signal
import subprocess
from pathlib import Path

import pytest

from harness.boards import REPO, load_board
from harness.elf import function_ranges
from harness.emulators.base import CONSOLE_LIMIT
from harness.emulators.qemu import CONSOLE_TAIL, SANDBOX, QemuEmulator, _Capture
from harness.toolchain import build_firmware

SELFTEST = REPO / "harness" / "firmware_src" / "app" / "selftest" / "main.c"
F746, F4 = load_board("stm32f746"), load_board("stm32f4")
SYS_OPEN, SYS_REMOVE, SYS_RENAME, SYS_SYSTEM, SYS_GET_CMDLINE = 0x01, 0x0E, 0x0F, 0x12, 0x15


def build(case: str, board=F746, **defines):
    return build_firmware(board, [SELFTEST], defines={f"TT_CASE_{case}": 1, **defines},
                          name=f"selftest-{case.lower()}", stack_size=8192)


@pytest.fixture(scope="module")
def qemu():
    return QemuEmulator()


@pytest.fixture
def host_dir(tmp_path: Path) -> Path:
    """The directory the firmware aims at: a file to remove, a file to rename, nothing else."""
    d = tmp_path / "host"
    d.mkdir()
    (d / "victim").write_text("remove me\n")
    (d / "keep").write_text("rename me\n")
    return d


def snapshot(d: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(d.iterdir())}


def escape_firmware(host_dir: Path, op: int = 0):
    return build("SEMIHOST", TT_SEMIHOST_DIR=f'"{host_dir}"', TT_SEMIHOST_OP=op)


def test_the_escape_firmware_reaches_the_host_when_semihosting_is_on(qemu, host_dir, tmp_path):
    """The control: with the old QEMU configuration the same firmware runs a host command,
    creates, removes and renames host files and reads /etc/hostname and QEMU's command line.
    Without this, the test below could pass with a firmware that never tried."""
    elf = escape_firmware(host_dir).elf
    cmd = [c for c in qemu.command(elf, F746, None, sandbox=False)]
    i = cmd.index("-semihosting-config")
    cmd[i + 1] = "enable=on,target=native"
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert snapshot(host_dir) == {"created": "written by the firmware\n", "renamed": "rename me\n",
                                  "touched": ""}
    assert "command line: " + str(elf) in p.stdout
    assert "host file: " + Path("/etc/hostname").read_text().strip() in p.stdout


@pytest.mark.parametrize("op", [0, SYS_SYSTEM, SYS_OPEN, SYS_REMOVE, SYS_RENAME, SYS_GET_CMDLINE],
                         ids=["all", "system", "open", "remove", "rename", "get_cmdline"])
def test_semihosting_calls_are_refused_and_nothing_on_the_host_changes(qemu, host_dir, op):
    before = snapshot(host_dir)
    fw = escape_firmware(host_dir, op)
    r = qemu.run(fw.elf, F746, timeout_s=20)
    assert (r.status, r.exit_code) == ("fault", 127), r.reason()
    f = r.fault
    assert f["kind"] == "semihosting" and f["op"] == (op or SYS_SYSTEM)  # the first call it tried
    (func,) = [name for lo, hi, name in function_ranges(fw.elf) if lo <= f["pc"] < hi]
    assert func in ("semihost", "semihost_escape", "main")  # where the bkpt is (inlined or not)
    names = {SYS_SYSTEM: "SYS_SYSTEM", SYS_OPEN: "SYS_OPEN", SYS_REMOVE: "SYS_REMOVE",
             SYS_RENAME: "SYS_RENAME", SYS_GET_CMDLINE: "SYS_GET_CMDLINE"}
    assert r.reason().startswith("fault: semihosting (a host call, refused: the harness serves none) at pc=0x")
    assert f"operation 0x{op or SYS_SYSTEM:08x} {names[op or SYS_SYSTEM]}" in r.reason()
    assert not r.records_of("semihost")  # no call ever returned to the firmware
    assert "host file:" not in r.console and "command line:" not in r.console
    assert snapshot(host_dir) == before


def test_semihosting_traps_on_the_second_board_too(qemu, host_dir):
    before = snapshot(host_dir)
    fw = build("SEMIHOST", F4, TT_SEMIHOST_DIR=f'"{host_dir}"')
    r = qemu.run(fw.elf, F4, timeout_s=20)
    assert (r.status, r.fault["kind"], r.fault["op"]) == ("fault", "semihosting", SYS_SYSTEM)
    assert snapshot(host_dir) == before


def test_qemu_is_isolated_from_network_and_spawning(qemu, tmp_path):
    cmd = qemu.command(tmp_path / "x.elf", F746, None)
    assert "-nodefaults" in cmd  # no default NIC: the board's Ethernet has no host network
    assert cmd[cmd.index("-semihosting-config") + 1] == "enable=off"
    assert cmd[cmd.index("-sandbox") + 1] == SANDBOX and "spawn=deny" in SANDBOX
    r = qemu.run(build("EXIT").elf, F746, timeout_s=10)
    assert (r.status, r.exit_code) == ("exit", 3)
    assert r.isolation.startswith("no semihosting, no network, seccomp sandbox")


def test_the_seccomp_sandbox_alone_stops_a_host_command(qemu, host_dir, tmp_path):
    """The second wall: even with semihosting on, QEMU's sandbox kills it at the spawn."""
    elf = escape_firmware(host_dir, SYS_SYSTEM).elf
    cmd = qemu.command(elf, F746, None, sandbox=True)
    cmd[cmd.index("-semihosting-config") + 1] = "enable=on,target=native"
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=tmp_path)
    if p.returncode != 0 and "seccomp" in p.stderr.lower() and not p.stdout:
        pytest.skip(f"this QEMU or kernel has no seccomp sandbox: {p.stderr.strip()}")
    assert p.returncode == -signal.SIGSYS, (p.returncode, p.stderr)
    assert not (host_dir / "touched").exists()


@pytest.mark.parametrize("board", [F746, F4], ids=lambda b: b.name)
def test_null_write_is_reported_with_its_pc(qemu, board):
    fw = build("NULLWRITE", board)
    r = qemu.run(fw.elf, board, timeout_s=10)
    assert (r.status, r.exit_code) == ("fault", 127), r.reason()
    f = r.fault
    assert f["kind"] == "null_write" and f["addr"] == 0
    assert f["cfsr"] & 0x82 == 0x82  # MMFSR: DACCVIOL with MMARVALID
    (func,) = [name for lo, hi, name in function_ranges(fw.elf) if lo <= f["pc"] < hi]
    assert func == "main"
    assert r.reason().startswith("fault: null_write (a write through a NULL pointer) at pc=0x")
    assert not r.records_of("done")


@pytest.mark.parametrize("board,addr", [(F746, 0x1000), (F746, 0xFFFFC), (F4, 0x7FFFC)],
                         ids=["f746-past-null-window", "f746-flash-end", "f4-flash-end"])
def test_writes_anywhere_in_flash_fault(qemu, board, addr):
    r = qemu.run(build("FLASHWRITE", board, TT_FLASHWRITE_ADDR=f"{addr:#x}u").elf, board, timeout_s=10)
    assert r.status == "fault", r.reason()
    assert (r.fault["kind"], r.fault["addr"]) == ("flash_write", addr)


def test_a_plain_breakpoint_is_named(qemu):
    fw = build("BREAKPOINT")
    r = qemu.run(fw.elf, F746, timeout_s=10)
    assert (r.status, r.fault["kind"]) == ("fault", "breakpoint")
    (func,) = [name for lo, hi, name in function_ranges(fw.elf) if lo <= r.fault["pc"] < hi]
    assert func == "main" and "op" not in r.fault


def test_reads_of_the_vector_table_at_address_0_still_work(qemu):
    # The LOOP run starts (the core reads SP and reset from 0) and every fault test above got
    # its handler from the table; a plain data read of address 0 is allowed too.
    r = qemu.run(build("LOOP").elf, F746, timeout_s=10)
    assert r.status == "ok" and r.records[-1] == {"t": "done"}


@pytest.mark.parametrize("limit", [64 * 1024, 1024 * 1024])
def test_console_flood_is_stopped_at_the_cap_with_its_tail(qemu, limit):
    r = qemu.run(build("FLOOD").elf, F746, timeout_s=60, console_limit=limit)
    assert r.status == "flood", r.reason()
    assert r.exit_code is None and r.console_limit == limit
    assert limit < r.console_bytes
    assert len(r.console.encode()) <= limit  # what the harness keeps is bounded
    assert r.reason().startswith(f"console output exceeded {limit} bytes; the run was stopped")
    assert r.records[0] == {"t": "boot", "n": 1024}  # the head is kept
    lines = r.console.split("\n")[:-1]  # QEMU was stopped mid-line: the last one is cut
    gap = [x for x in lines if x.startswith("[mcutrain: ")]
    assert len(gap) == 1 and gap[0].endswith(" bytes of output not kept]")
    tail = lines[lines.index(gap[0]) + 1:]
    assert len("\n".join(tail)) > min(CONSOLE_TAIL, limit // 2) - 200  # the tail is kept
    numbers = [int(x.split()[2]) for x in tail]
    assert all(x.startswith("flood: line ") for x in tail)  # whole lines only
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    assert r.wall_s < 30
    assert r.insn_total > 0  # stopped cleanly: the plugin still reported
    assert r.record_error is None  # a record cut by the stop is not reported as malformed


def test_default_console_limit_stops_a_flood_before_the_default_timeout(qemu):
    # 4 MiB at the UART's ~0.3 MB/s: about 14 s, under the scenarios' default 60 s timeout.
    r = qemu.run(build("FLOOD").elf, F746, timeout_s=60)
    assert r.status == "flood", r.reason()
    assert r.console_limit == CONSOLE_LIMIT == 4 * 1024 * 1024
    assert len(r.console.encode()) <= CONSOLE_LIMIT < r.console_bytes


def test_capture_keeps_head_and_tail_within_the_limit():
    cap = _Capture(limit=1000, tail=200)
    data = b"".join(f"line {i}\n".encode() for i in range(1000))
    over = [cap.feed(data[i:i + 37]) for i in range(0, len(data), 37)]
    assert over.index(True) == 1000 // 37  # the chunk that passed 1000 bytes
    text = cap.text()
    assert len(text.encode()) <= 1000
    assert text.startswith("line 0\nline 1\n") and text.endswith("line 999\n")
    assert cap.total == len(data)
    kept = [x for x in text.splitlines() if x.startswith("line ")]
    assert all(x == f"line {x.split()[1]}" for x in kept)  # no line cut at the seam


def test_capture_under_the_limit_is_verbatim():
    cap = _Capture(limit=1000, tail=200)
    assert not cap.feed(b"a\n" * 400)
    assert cap.text() == "a\n" * 400 and cap.dropped == 0


def test_qemu_runs_in_an_empty_directory_with_a_minimal_environment(qemu, monkeypatch):
    # A secret in the harness's environment must not reach QEMU's (semihosting is off, but
    # the environment is the last thing a future backend option should be able to leak).
    elf = build("EXIT").elf
    monkeypatch.setenv("MCUTRAIN_TEST_SECRET", "s3cret")
    seen = {}
    real = subprocess.Popen

    def spy(cmd, **kw):
        seen.update(kw)
        return real(cmd, **kw)

    monkeypatch.setattr(subprocess, "Popen", spy)
    r = qemu.run(elf, F746, timeout_s=10)
    assert r.exit_code == 3
    assert set(seen["env"]) == {"PATH", "LC_ALL"} and "s3cret" not in seen["env"].values()
    assert Path(seen["cwd"]).name == "cwd" and not Path(seen["cwd"]).exists()  # removed after
    assert os.getcwd() != str(seen["cwd"])


def test_a_qemu_without_seccomp_runs_unsandboxed_and_says_so(tmp_path, caplog):
    # A wrapper that refuses -sandbox as a QEMU built without seccomp does, else runs QEMU.
    wrapper = tmp_path / "qemu-no-seccomp"
    wrapper.write_text('#!/bin/sh\nfor a in "$@"; do if [ "$a" = "-sandbox" ]; then\n'
                       '  echo "qemu-system-arm: -sandbox on: There is no option group \'sandbox\'" >&2\n'
                       '  exit 1\nfi; done\nexec qemu-system-arm "$@"\n')
    wrapper.chmod(0o755)
    elf = build("SEMIHOST", TT_SEMIHOST_OP=SYS_SYSTEM).elf
    r = QemuEmulator(binary=str(wrapper)).run(elf, F746, timeout_s=20)
    assert "-sandbox" not in r.command
    assert r.isolation.startswith("no semihosting, no network; no seccomp sandbox (qemu-system-arm: "
                                  "-sandbox on: There is no option group 'sandbox')")
    assert "cannot enable its seccomp sandbox" in caplog.text
    assert (r.status, r.fault["kind"]) == ("fault", "semihosting")  # the first wall still holds
