"""The QEMU backend: runs a firmware ELF on the board's QEMU machine, deterministically
(``-icount shift=0``), with the counting plugin, a wall-clock timeout that kills a hung guest,
and turns the exit status, console and plugin output into a ``Run``."""
from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from bisect import bisect_right
from pathlib import Path

from ..boards import Board
from ..elf import function_ranges, symbol_table
from ..errors import EmulatorError, ToolMissing
from ..records import scan_records
from .base import Emulator, Run
from .plugin import ensure_plugin

log = logging.getLogger(__name__)

QEMU = "qemu-system-arm"
FAULT_EXIT_CODE = 127         # firmware_src/boards/mps2/board.h
LIMIT_EXIT_CODE = 125         # insncount.c, when limit=N is reached
TESTED_VERSIONS = ("7.2",)    # plugin API v1; others may refuse the plugin
METHOD_PLUGIN = "qemu-plugin (exact, per instruction, -icount shift=0)"
MARK_PREFIX = "tt_mark_"


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

    def command(self, elf: Path, board: Board, plugin_args: str | None) -> list[str]:
        host = board.host(self.name)
        cmd = [self.binary, "-M", host.machine, "-nographic", "-monitor", "none", "-serial", "stdio",
               "-semihosting-config", "enable=on,target=native",
               "-icount", "shift=0,align=off,sleep=off"]
        if plugin_args is not None:
            cmd += ["-plugin", plugin_args]
        return cmd + ["-kernel", str(elf)]

    def run(self, elf: Path, board: Board, timeout_s: float = 60.0, profile: bool = False,
            insn_limit: int | None = None) -> Run:
        self._require()
        version = self.version()
        elf = Path(elf)
        if not elf.is_file():
            raise EmulatorError(f"no firmware ELF at {elf}", "build the firmware first")
        plugin = self._plugin or ensure_plugin()
        marks = {addr: name for name, addr in symbol_table(elf).items() if name.startswith(MARK_PREFIX)}

        with tempfile.TemporaryDirectory(prefix="mcutrain-qemu-") as td:
            out_file = Path(td) / "counts.txt"
            args = [str(plugin), f"out={out_file}", "mode=insn"]
            args += [f"mark={addr:#x}" for addr in sorted(marks)]
            if profile:
                args.append("profile=1")
            if insn_limit:
                args.append(f"limit={insn_limit}")
            cmd = self.command(elf, board, ",".join(args))
            proc = _execute(cmd, timeout_s)
            method = METHOD_PLUGIN
            if _plugin_refused(proc):
                reason = proc.stderr.strip().splitlines()[0]
                log.warning("QEMU %s refused the counting plugin (%s); running without counts",
                            version, reason)
                cmd = self.command(elf, board, None)
                proc = _execute(cmd, timeout_s)
                method = f"none: QEMU {version} could not load the counting plugin ({reason})"
            counts = _read_counts(out_file) if out_file.is_file() else _Counts()

        return _make_run(proc, counts, marks, elf, method, version, timeout_s,
                         function_ranges(elf) if profile else [], tuple(cmd))


class _Proc:
    def __init__(self, rc: int | None, stdout: str, stderr: str, wall_s: float, timed_out: bool):
        self.rc, self.stdout, self.stderr, self.wall_s, self.timed_out = rc, stdout, stderr, wall_s, timed_out


def _execute(cmd: list[str], timeout_s: float) -> _Proc:
    """Run QEMU in its own process group; on timeout, stop the whole group (TERM, then KILL)."""
    log.debug("run: %s", " ".join(cmd))
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    timed_out = False
    try:
        out, err = p.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        # SIGTERM first: QEMU then shuts down cleanly and the plugin still writes its counts.
        _signal_group(p.pid, signal.SIGTERM)
        try:
            out, err = p.communicate(timeout=2.0)
        except subprocess.TimeoutExpired:
            _signal_group(p.pid, signal.SIGKILL)
            out, err = p.communicate()
    wall = time.monotonic() - t0
    return _Proc(None if timed_out else p.returncode, out.decode("utf-8", "replace"),
                 err.decode("utf-8", "replace"), wall, timed_out)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _plugin_refused(proc: _Proc) -> bool:
    return (not proc.timed_out and proc.rc not in (0, None) and not proc.stdout
            and "plugin" in proc.stderr.lower())


class _Counts:
    def __init__(self) -> None:
        self.marks: list[tuple[int, int]] = []
        self.total = 0
        self.tbs: dict[int, int] = {}
        self.limit: int | None = None


def _read_counts(path: Path) -> _Counts:
    c = _Counts()
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "mark":
            c.marks.append((int(parts[1], 16), int(parts[2])))
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
        if line.startswith(("qemu-system-arm:", "qemu:")) or "fatal" in line.lower():
            return line.strip()
    return None


def _machine(cmd: tuple[str, ...]) -> str:
    return cmd[cmd.index("-M") + 1] if "-M" in cmd else "?"


def _make_run(proc: _Proc, counts: _Counts, marks: dict[int, str], elf: Path, method: str,
              version: str, timeout_s: float, funcs: list[tuple[int, int, str]],
              cmd: tuple[str, ...]) -> Run:
    records, rec_err = scan_records(proc.stdout)
    has_fault = any(r.get("t") == "fault" for r in records)
    detail = ""
    limit = None
    if proc.timed_out:
        status = "timeout"
    elif counts.limit is not None and proc.rc == LIMIT_EXIT_CODE:
        status, limit = "timeout", counts.limit
    elif has_fault:
        status = "fault"
    elif proc.rc is not None and proc.rc < 0:
        err = _qemu_error(proc.stderr)
        status, detail = "error", f"QEMU was killed by signal {-proc.rc}" + (f": {err}" if err else "")
    elif proc.rc == 0:
        status = "ok"
    elif (err := _qemu_error(proc.stderr)) is not None:
        status, detail = "error", f"{err} (machine {_machine(cmd)!r})"
    else:
        status = "exit"
    if status == "error" and not detail:
        detail = proc.stderr.strip()[:500] or f"QEMU exited with status {proc.rc}"
    return Run(
        status=status, exit_code=proc.rc, console=proc.stdout, records=tuple(records),
        record_error=rec_err.message if rec_err else None,
        marks=tuple((marks.get(addr, f"{addr:#x}"), n) for addr, n in counts.marks),
        insn_total=counts.total, profile=_profile(counts.tbs, funcs) if funcs else {},
        method=method, wall_s=proc.wall_s, emulator="qemu", emulator_version=version, elf=elf,
        timeout_s=timeout_s, insn_limit=limit, stderr=proc.stderr, detail=detail, command=cmd)
