"""The QEMU backend: runs a firmware ELF on the board's QEMU machine, deterministically
(``-icount shift=0``), with the counting plugin, a wall-clock timeout that kills a hung guest,
a cap on console output that stops a flooding one, and turns the exit record, console and
plugin output into a ``Run``. The plugin counts every instruction, and by class (``classes=1``:
the counters at each mark become ``Run.mark_classes``, for harness/cycles.py).

Isolation (what a firmware can reach on the host): QEMU runs without semihosting, so every
``bkpt 0xab`` traps in the guest (the fault record says ``semihosting`` with its operation)
and no host file, command, environment or command line is ever served; the firmware ends a
run by printing an ``exit`` record and resetting the board (``-no-reboot`` turns the reset
into QEMU's exit). ``-nodefaults`` leaves the board's Ethernet controller without a host
network; the only host-facing device is the UART on QEMU's stdout, which the harness reads
through a byte cap. As a second wall, QEMU runs under its seccomp sandbox (no process spawning,
no privilege changes, no obsolete or resource-control system calls) in an empty temporary
working directory with a minimal environment. See README.md, "What a firmware can reach"."""
from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from bisect import bisect_right
from pathlib import Path

from ..boards import Board
from ..elf import function_ranges, symbol_table
from ..errors import EmulatorError, ToolMissing
from ..records import scan_records
from .base import CONSOLE_LIMIT, Emulator, Run
from .plugin import ensure_plugin

log = logging.getLogger(__name__)

QEMU = "qemu-system-arm"
FAULT_EXIT_CODE = 127         # harness/firmware_src/boards/mps2/board.h
LIMIT_EXIT_CODE = 125         # insncount.c, when limit=N is reached
TESTED_VERSIONS = ("7.2",)    # plugin API v1; others may refuse the plugin
METHOD_PLUGIN = "qemu-plugin (exact, per instruction, -icount shift=0)"
MARK_PREFIX = "tt_mark_"
#: The exit record the firmware prints before it resets the board (boards/mps2/startup.c).
EXIT_RECORD = "exit"
#: Of a console past its cap (base.CONSOLE_LIMIT), the last CONSOLE_TAIL bytes are kept, and the head.
CONSOLE_TAIL = 64 * 1024
STDERR_LIMIT = 1024 * 1024
#: QEMU's seccomp filter: the guest cannot make QEMU spawn processes (e.g. a semihosting
#: SYS_SYSTEM, were semihosting on), change privileges, or use obsolete or resource-control calls.
SANDBOX = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
ISOLATION = ("no semihosting, no network, seccomp sandbox (spawn, elevateprivileges, obsolete, "
             "resourcecontrol denied), empty working directory, minimal environment")


class QemuEmulator(Emulator):
    name = "qemu"

    def __init__(self, binary: str = QEMU, plugin: Path | None = None):
        self.binary = binary
        self._plugin = plugin
        self._version: str | None = None

    def _require(self) -> str:
        path = shutil.which(self.binary)
        if path is None:
            raise ToolMissing(f"{self.binary} not found on PATH",
                              "sudo apt-get install --no-install-recommends qemu-system-arm "
                              "(or run ./bootstrap.sh)")
        return path

    def version(self) -> str:
        if self._version is None:
            self._require()
            out = subprocess.run([self.binary, "--version"], capture_output=True, text=True,
                                 check=False).stdout
            m = re.search(r"version (\d+\.\d+(?:\.\d+)?)", out)
            self._version = m.group(1) if m else "unknown"
            if not self._version.startswith(TESTED_VERSIONS):
                log.warning("QEMU %s: the counting plugin targets API v1 (QEMU %s); if it does not "
                            "load, runs fall back to no instruction counts", self._version,
                            ", ".join(TESTED_VERSIONS))
        return self._version

    def command(self, elf: Path, board: Board, plugin_args: str | None, sandbox: bool = True) -> list[str]:
        host = board.host(self.name)
        cmd = [self.binary, "-M", host.machine, "-nodefaults", "-nographic", "-monitor", "none",
               "-serial", "stdio", "-semihosting-config", "enable=off", "-no-reboot",
               "-icount", "shift=0,align=off,sleep=off"]
        if sandbox:
            cmd += ["-sandbox", SANDBOX]
        if plugin_args is not None:
            cmd += ["-plugin", plugin_args]
        return cmd + ["-kernel", str(elf)]

    def run(self, elf: Path, board: Board, timeout_s: float = 60.0, profile: bool = False,
            insn_limit: int | None = None, console_limit: int = CONSOLE_LIMIT) -> Run:
        self._require()
        version = self.version()
        elf = Path(elf)
        if not elf.is_file():
            raise EmulatorError(f"no firmware ELF at {elf}", "build the firmware first")
        plugin = self._plugin or ensure_plugin()
        marks = {addr: name for name, addr in symbol_table(elf).items() if name.startswith(MARK_PREFIX)}

        with tempfile.TemporaryDirectory(prefix="mcutrain-qemu-") as td:
            out_file = Path(td) / "counts.txt"
            cwd = Path(td) / "cwd"  # empty: QEMU has nothing to find relative to it
            cwd.mkdir()
            args = [str(plugin), f"out={out_file}", "mode=insn", "classes=1"]
            args += [f"mark={addr:#x}" for addr in sorted(marks)]
            if profile:
                args.append("profile=1")
            if insn_limit:
                args.append(f"limit={insn_limit}")
            sandbox, isolation = True, ISOLATION
            cmd = self.command(elf, board, ",".join(args), sandbox)
            proc = _execute(cmd, timeout_s, console_limit, cwd)
            if _sandbox_refused(proc):
                reason = _first_line(proc.stderr)
                log.warning("QEMU %s cannot enable its seccomp sandbox (%s); running without it "
                            "(semihosting and networking stay off)", version, reason)
                sandbox, isolation = False, f"no semihosting, no network; no seccomp sandbox ({reason})"
                cmd = self.command(elf, board, ",".join(args), sandbox)
                proc = _execute(cmd, timeout_s, console_limit, cwd)
            method = METHOD_PLUGIN
            if _plugin_refused(proc):
                reason = _first_line(proc.stderr)
                log.warning("QEMU %s refused the counting plugin (%s); running without counts",
                            version, reason)
                cmd = self.command(elf, board, None, sandbox)
                proc = _execute(cmd, timeout_s, console_limit, cwd)
                method = f"none: QEMU {version} could not load the counting plugin ({reason})"
            counts = _read_counts(out_file) if out_file.is_file() else _Counts()

        return _make_run(proc, counts, marks, elf, method, version, timeout_s,
                         function_ranges(elf) if profile else [], tuple(cmd), isolation)


class _Capture:
    """One output stream, at most ``limit`` bytes of it kept: everything while it fits, then
    the head and the last ``tail`` bytes, with a line saying how much was left out between."""

    def __init__(self, limit: int, tail: int):
        self.tail_keep = min(tail, limit // 2)
        self.head_keep = max(limit - self.tail_keep - 128, 0)  # 128: room for the gap line
        self.limit = limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> bool:
        """Keep what fits of ``chunk``; True once more than ``limit`` bytes came in."""
        self.total += len(chunk)
        room = self.head_keep - len(self.head)
        if room > 0 and not self.tail:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > 2 * self.tail_keep:
                del self.tail[:len(self.tail) - self.tail_keep]
        return self.total > self.limit

    @property
    def dropped(self) -> int:
        return self.total - len(self.head) - min(len(self.tail), self.tail_keep)

    def text(self) -> str:
        if self.dropped <= 0:
            return (bytes(self.head) + bytes(self.tail)).decode("utf-8", "replace")
        tail = bytes(self.tail[-self.tail_keep:]) if self.tail_keep else b""
        # Whole lines only on both sides of the gap: a cut record must not look malformed.
        head = bytes(self.head)
        head = head[:head.rfind(b"\n") + 1]
        tail = tail[tail.find(b"\n") + 1:]
        gap = f"[mcutrain: {self.total - len(head) - len(tail)} bytes of output not kept]\n"
        return (head + gap.encode() + tail).decode("utf-8", "replace")


class _Proc:
    def __init__(self, rc: int | None, stdout: str, stderr: str, wall_s: float, timed_out: bool,
                 flooded: bool = False, console_bytes: int = 0, console_limit: int = CONSOLE_LIMIT):
        self.rc, self.stdout, self.stderr, self.wall_s, self.timed_out = rc, stdout, stderr, wall_s, timed_out
        self.flooded, self.console_bytes, self.console_limit = flooded, console_bytes, console_limit


def _execute(cmd: list[str], timeout_s: float, console_limit: int = CONSOLE_LIMIT,
             cwd: Path | None = None) -> _Proc:
    """Run QEMU in its own process group, in ``cwd`` with a minimal environment, reading its
    output as it comes. On timeout, or once the console passes ``console_limit`` bytes, stop
    the whole group (TERM, so the plugin still writes its counts, then KILL)."""
    log.debug("run: %s", " ".join(cmd))
    env = {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C"}
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         cwd=cwd, env=env, start_new_session=True)
    out, err = _Capture(console_limit, CONSOLE_TAIL), _Capture(STDERR_LIMIT, CONSOLE_TAIL)
    flooded, ended = threading.Event(), threading.Event()

    def pump(stream, cap: _Capture, stop_on_overflow: bool) -> None:
        fd = stream.fileno()
        while chunk := os.read(fd, 1 << 16):
            if cap.feed(chunk) and stop_on_overflow and not flooded.is_set():
                flooded.set()
                ended.set()
        stream.close()

    readers = [threading.Thread(target=pump, args=(p.stdout, out, True), daemon=True),
               threading.Thread(target=pump, args=(p.stderr, err, False), daemon=True)]
    waiter = threading.Thread(target=lambda: (p.wait(), ended.set()), daemon=True)
    for t in (*readers, waiter):
        t.start()
    ended.wait(timeout_s)
    timed_out = p.poll() is None and not flooded.is_set()
    if p.poll() is None:
        # SIGTERM first: QEMU then shuts down cleanly and the plugin still writes its counts.
        _signal_group(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            _signal_group(p.pid, signal.SIGKILL)
            p.wait()
    for t in (*readers, waiter):
        t.join()
    wall = time.monotonic() - t0
    return _Proc(None if timed_out or flooded.is_set() else p.returncode, out.text(), err.text(), wall,
                 timed_out, flooded.is_set(), out.total, console_limit)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else "no message"


def _sandbox_refused(proc: _Proc) -> bool:
    """QEMU stopped at start-up because it could not install its seccomp filter (a build or
    kernel without seccomp)."""
    low = proc.stderr.lower()
    return (not proc.timed_out and proc.rc not in (0, None) and not proc.stdout
            and ("sandbox" in low or "seccomp" in low))


def _plugin_refused(proc: _Proc) -> bool:
    return (not proc.timed_out and proc.rc not in (0, None) and not proc.stdout
            and "plugin" in proc.stderr.lower())


class _Counts:
    def __init__(self) -> None:
        self.marks: list[tuple[int, int]] = []
        self.mark_classes: list[tuple[int, ...]] = []
        self.class_names: tuple[str, ...] = ()
        self.class_total: dict[str, int] = {}
        self.total = 0
        self.tbs: dict[int, int] = {}
        self.limit: int | None = None


def _read_counts(path: Path) -> _Counts:
    """The plugin's output (format: the comment at the top of plugin/insncount.c)."""
    c = _Counts()
    for line in path.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "classes":
            c.class_names = tuple(parts[1:])
        elif len(parts) >= 3 and parts[0] == "mark":
            c.marks.append((int(parts[1], 16), int(parts[2])))
            if c.class_names and len(parts) == 3 + len(c.class_names):
                c.mark_classes.append(tuple(int(x) for x in parts[3:]))
        elif parts and parts[0] == "classcounts" and len(parts) == 1 + len(c.class_names):
            c.class_total = dict(zip(c.class_names, (int(x) for x in parts[1:])))
        elif len(parts) == 3 and parts[0] == "tb":
            addr = int(parts[1], 16)
            c.tbs[addr] = c.tbs.get(addr, 0) + int(parts[2])
        elif len(parts) == 2 and parts[0] == "total":
            c.total = int(parts[1])
        elif len(parts) == 2 and parts[0] == "limit":
            c.limit = int(parts[1])
    return c


def _profile(tbs: dict[int, int], funcs: list[tuple[int, int, str]]) -> dict[str, int]:
    """Sum per-block counts into the function whose [start, end) holds each block's first address."""
    starts = [f[0] for f in funcs]
    out: dict[str, int] = {}
    for addr, n in tbs.items():
        i = bisect_right(starts, addr) - 1
        name = funcs[i][2] if i >= 0 and addr < funcs[i][1] else f"?{addr:#x}"
        out[name] = out.get(name, 0) + n
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def _qemu_error(stderr: str) -> str | None:
    for line in stderr.splitlines():
        if "warning:" in line:
            continue  # e.g. "nic lan9118.0 has no peer": -nodefaults leaves the board offline on purpose
        if line.startswith(("qemu-system-arm:", "qemu:")) or "fatal" in line.lower():
            return line.strip()
    return None


def _machine(cmd: tuple[str, ...]) -> str:
    return cmd[cmd.index("-M") + 1] if "-M" in cmd else "?"


def _signal_name(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def _split_exit(stdout: str) -> tuple[str, int | None]:
    """The console without its last line, and the exit code, if that line is the exit record
    (the firmware's last words before the reset that ends QEMU); else (stdout, None)."""
    body, _, last = stdout.rstrip("\n").rpartition("\n")
    records, err = scan_records(last)
    if err is None and len(records) == 1 and records[0].get("t") == EXIT_RECORD \
            and isinstance(records[0].get("code"), int):
        return (body + "\n" if body else ""), int(records[0]["code"])
    return stdout, None


def _make_run(proc: _Proc, counts: _Counts, marks: dict[int, str], elf: Path, method: str,
              version: str, timeout_s: float, funcs: list[tuple[int, int, str]],
              cmd: tuple[str, ...], isolation: str = ISOLATION) -> Run:
    console, exit_code = _split_exit(proc.stdout)
    # A guest stopped from outside may be cut mid-line: that last line is no record.
    stopped = proc.flooded or proc.timed_out
    records, rec_err = scan_records(console[:console.rfind("\n") + 1] if stopped else console)
    has_fault = any(r.get("t") == "fault" for r in records)
    detail = ""
    limit = None
    if proc.flooded:
        status = "flood"
    elif proc.timed_out:
        status = "timeout"
    elif counts.limit is not None and proc.rc == LIMIT_EXIT_CODE:
        status, limit, exit_code = "timeout", counts.limit, proc.rc
    elif has_fault:
        status = "fault"
    elif proc.rc is not None and proc.rc < 0:
        err = _qemu_error(proc.stderr)
        status, detail = "error", f"QEMU was killed by {_signal_name(-proc.rc)}" + (f": {err}" if err else "")
        if -proc.rc == signal.SIGSYS:
            detail += " (its seccomp sandbox stopped a system call the firmware made it attempt)"
        exit_code = proc.rc
    elif proc.rc == 0 and exit_code is not None:
        status = "ok" if exit_code == 0 else "exit"
    elif proc.rc == 0:
        status = "exit"
        detail = "the firmware reset the board without printing an exit record"
    elif (err := _qemu_error(proc.stderr)) is not None:
        status, detail, exit_code = "error", f"{err} (machine {_machine(cmd)!r})", proc.rc
    else:
        status, exit_code = "error", proc.rc
    if status == "error" and not detail:
        detail = proc.stderr.strip()[:500] or f"QEMU exited with status {proc.rc}"
    return Run(
        status=status, exit_code=exit_code, console=console, records=tuple(records),
        record_error=rec_err.message if rec_err else None,
        marks=tuple((marks.get(addr, f"{addr:#x}"), n) for addr, n in counts.marks),
        insn_total=counts.total, profile=_profile(counts.tbs, funcs) if funcs else {},
        method=method, wall_s=proc.wall_s, emulator="qemu", emulator_version=version, elf=elf,
        timeout_s=timeout_s, insn_limit=limit, stderr=proc.stderr, detail=detail, command=cmd,
        console_bytes=proc.console_bytes, console_limit=proc.console_limit if proc.flooded else None,
        isolation=isolation,
        # A run cut off mid-line may lack some mark's counters: then no classes at all.
        class_names=counts.class_names if len(counts.mark_classes) == len(counts.marks) else (),
        class_total=counts.class_total, mark_classes=tuple(counts.mark_classes))
