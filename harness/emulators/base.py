"""What every emulator backend returns (``Run``) and the interface it implements (``Emulator``).

A ``Run`` is one firmware execution: how it ended, the console and its records, the instruction
counts at the marker functions, the total, an optional per-function profile, and how counting
was done. Backends (QEMU now, Renode later) differ only in how they fill it.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ..boards import Board
from ..errors import RecordError
from ..records import Record

#: How a run ended: exit 0, a nonzero exit, a fault record, killed after the timeout or the
#: instruction limit, stopped for printing more than the console cap, or the emulator itself failed.
STATUSES = ("ok", "exit", "fault", "timeout", "flood", "error")

#: Console bytes a run may print before it is stopped with status "flood". Without a cap a
#: firmware stuck printing filled the harness's memory (790 MB in 15 s, through semihosting
#: writes, now off). QEMU's UART prints about 0.3 MB/s, so 4 MiB stops a flood in about 14 s,
#: well before the default 60 s timeout, and is far above what any scenario prints (< 100 KB).
CONSOLE_LIMIT = 4 * 1024 * 1024

STEP = ("tt_mark_step_begin", "tt_mark_step_end")
EVAL = ("tt_mark_eval_begin", "tt_mark_eval_end")
REGION = ("tt_mark_region_begin", "tt_mark_region_end")


@dataclass(frozen=True)
class Run:
    status: str                          # one of STATUSES
    exit_code: int | None                # the firmware's exit code (None when it was stopped)
    console: str                         # what the firmware printed (head and tail past the cap)
    records: tuple[Record, ...]          # the well-formed @tt records, in order
    record_error: str | None             # the first malformed record, if any (with its line)
    marks: tuple[tuple[str, int], ...]   # (marker function, instructions before it), in order
    insn_total: int                      # instructions executed by the whole run (0 if not counted)
    profile: Mapping[str, int]           # function symbol -> instructions (empty unless asked)
    method: str                          # how instructions were counted, e.g. "qemu-plugin (exact, per insn)"
    wall_s: float
    emulator: str                        # "qemu"
    emulator_version: str                # e.g. "7.2.22"
    elf: Path | None = None
    timeout_s: float = 0.0
    insn_limit: int | None = None        # set when the run was stopped by the instruction limit
    stderr: str = ""
    detail: str = ""                     # the emulator's error, when status is "error"
    command: tuple[str, ...] = field(default=(), repr=False)
    console_bytes: int = 0               # bytes the firmware printed, kept or not
    console_limit: int | None = None     # set when the run was stopped for printing more than this
    isolation: str = ""                  # what kept the firmware from the host
    #: Executed instructions by class (insncount.c's classes and extras, e.g. "load_store",
    #: "fpu_div", "branch_taken"): names, the whole run's counts, and the running counts at
    #: each mark (parallel to ``marks``). Empty when the counter did not classify.
    class_names: tuple[str, ...] = ()
    class_total: Mapping[str, int] = field(default_factory=dict)
    mark_classes: tuple[tuple[int, ...], ...] = ()

    @property
    def fault(self) -> Record | None:
        """The firmware's fault record, if it printed one."""
        for rec in reversed(self.records):
            if rec.get("t") == "fault":
                return rec
        return None

    def records_of(self, type_: str) -> list[Record]:
        return [r for r in self.records if r.get("t") == type_]

    def raise_for_records(self) -> None:
        """RecordError if the firmware printed a malformed record."""
        if self.record_error is not None:
            raise RecordError(self.record_error, "see harness/records.py for the record format")

    def mark_pairs(self, begin: str, end: str) -> list[int]:
        """Instructions between each ``begin`` mark and the next ``end`` mark, in order."""
        out: list[int] = []
        start: int | None = None
        for name, count in self.marks:
            if name == begin:
                start = count
            elif name == end and start is not None:
                out.append(count - start)
                start = None
        return out

    def class_pairs(self, begin: str, end: str) -> list[dict[str, int]]:
        """Executed instructions by class between each ``begin`` mark and the next ``end`` mark,
        in order (parallel to ``mark_pairs``); empty when the run was not classified."""
        if not self.class_names or len(self.mark_classes) != len(self.marks):
            return []
        out: list[dict[str, int]] = []
        start: tuple[int, ...] | None = None
        for (name, _), counts in zip(self.marks, self.mark_classes):
            if name == begin:
                start = counts
            elif name == end and start is not None:
                out.append({k: b - a for k, a, b in zip(self.class_names, start, counts)})
                start = None
        return out

    def step_classes(self) -> list[dict[str, int]]:
        """Instructions by class per training step (parallel to ``step_instructions``)."""
        return self.class_pairs(*STEP)

    def eval_classes(self) -> list[dict[str, int]]:
        return self.class_pairs(*EVAL)

    def step_instructions(self) -> list[int]:
        """Per training step (tt_mark_step_begin .. tt_mark_step_end)."""
        return self.mark_pairs(*STEP)

    def eval_instructions(self) -> list[int]:
        return self.mark_pairs(*EVAL)

    def region_instructions(self) -> list[int]:
        return self.mark_pairs(*REGION)

    def reason(self) -> str:
        """How the run ended, in one line."""
        if self.status == "ok":
            return "exit code 0"
        if self.status == "exit":
            if self.exit_code is None:
                return self.detail or "exit without an exit code"
            return f"exit code {self.exit_code}"
        if self.status == "fault":
            f = self.fault
            if f is None:
                return f"fault (exit code {self.exit_code}) without a fault record"
            # pc = lr = 0: the core could not stack the exception frame (the stack was gone).
            where = ("at an unknown pc (no exception frame could be stacked)"
                     if f.get("pc") == 0 and f.get("lr") == 0 else f"at pc={_hex(f.get('pc'))}")
            kind = str(f.get("kind", "?"))
            text = f"fault: {_FAULT_WORDS.get(kind, kind)} {where} (lr={_hex(f.get('lr'))}, cfsr={_hex(f.get('cfsr'))}"
            if "addr" in f:
                text += f", address {_hex(f.get('addr'))}"
            if "op" in f:
                op = f.get("op")
                text += f", operation {_hex(op)} {SEMIHOSTING_OPS.get(op, '') if isinstance(op, int) else ''}".rstrip()
            return text + ")"
        if self.status == "flood":
            return (f"console output exceeded {self.console_limit} bytes; the run was stopped "
                    f"({self.console_bytes} bytes printed by then; the last lines are kept)")
        if self.status == "timeout":
            if self.insn_limit is not None:
                return f"instruction limit of {self.insn_limit} reached (guest hung?)"
            return f"timeout after {self.timeout_s:g} s (guest hung)"
        return f"emulator error: {self.detail or 'unknown'}"


#: How the fault kinds of boards/mps2/fault.c read in a sentence.
_FAULT_WORDS = {
    "null_write": "null_write (a write through a NULL pointer)",
    "flash_write": "flash_write (a write into the read-only code region)",
    "semihosting": "semihosting (a host call, refused: the harness serves none)",
}

#: ARM semihosting operations (r0 of a `bkpt 0xab`), for the fault report.
SEMIHOSTING_OPS = {
    0x01: "SYS_OPEN", 0x02: "SYS_CLOSE", 0x03: "SYS_WRITEC", 0x04: "SYS_WRITE0", 0x05: "SYS_WRITE",
    0x06: "SYS_READ", 0x07: "SYS_READC", 0x08: "SYS_ISERROR", 0x09: "SYS_ISTTY", 0x0A: "SYS_SEEK",
    0x0C: "SYS_FLEN", 0x0D: "SYS_TMPNAM", 0x0E: "SYS_REMOVE", 0x0F: "SYS_RENAME", 0x10: "SYS_CLOCK",
    0x11: "SYS_TIME", 0x12: "SYS_SYSTEM", 0x13: "SYS_ERRNO", 0x15: "SYS_GET_CMDLINE",
    0x16: "SYS_HEAPINFO", 0x18: "SYS_EXIT", 0x20: "SYS_EXIT_EXTENDED", 0x30: "SYS_ELAPSED",
    0x31: "SYS_TICKFREQ",
}


def _hex(v: object) -> str:
    return f"0x{v:08x}" if isinstance(v, int) else "?"


class Emulator(abc.ABC):
    """A backend that runs a firmware ELF for a board and returns a ``Run``."""

    name: str = "?"

    @abc.abstractmethod
    def version(self) -> str:
        """The emulator's version string (ToolMissing when it is not installed)."""

    @abc.abstractmethod
    def run(self, elf: Path, board: Board, timeout_s: float = 60.0, profile: bool = False,
            insn_limit: int | None = None, console_limit: int = CONSOLE_LIMIT) -> Run:
        """Run ``elf`` to its end, or until ``timeout_s`` wall seconds / ``insn_limit``
        instructions / ``console_limit`` bytes of console output."""
