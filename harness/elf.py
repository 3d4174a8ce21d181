"""Memory accounting from the ELF (pyelftools): flash, static SRAM, the reserved stack, the data
region and the largest symbols, with sections classified by type, flags and address (never by name).

Rules: an allocated section of type NOBITS occupies RAM only; an allocated, writable section with
contents occupies RAM and, for its initial image, flash; an allocated read-only or executable
section occupies flash; anything placed in the board's data region (samples) counts there only.
The stack is the reservation ``[_sstack, _estack)`` and is reported apart from static SRAM.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from .boards import Board
from .errors import BuildError

log = logging.getLogger(__name__)

FLASH, SRAM, DATA_REGION, OTHER = "flash", "sram", "data_region", "other"


@dataclass(frozen=True)
class SectionInfo:
    name: str
    addr: int
    size: int
    region: str          # where it lives at run time: flash | sram | data_region | other
    in_flash: int        # bytes it takes in flash (code, constants, or a .data init image)
    kind: str            # "code/const" | "data" (initialised RAM) | "bss" | "stack" | "data_region"


@dataclass(frozen=True)
class SymbolInfo:
    name: str
    addr: int
    size: int
    region: str          # flash | sram | data_region | other
    kind: str            # "func" | "object"


@dataclass(frozen=True)
class MemoryReport:
    """What a firmware occupies, in bytes. ``static_sram`` excludes the stack reservation."""

    elf: Path
    board: str
    flash: int           # everything loaded into flash: code, constants, .data init
    data: int            # initialised RAM (.data)
    bss: int             # zeroed RAM (.bss), without the stack
    static_sram: int     # data + bss
    stack_reserved: int  # _estack - _sstack
    data_region: int     # samples in the data region; not part of the flash budget
    sram_size: int       # the part's SRAM
    flash_size: int      # the part's flash
    sections: tuple[SectionInfo, ...]
    symbols: tuple[SymbolInfo, ...]  # largest first

    def peak_sram(self, stack_high_water: int) -> int:
        """Peak SRAM of a run: static data + bss + the stack it actually used."""
        return self.static_sram + stack_high_water

    def table(self) -> str:
        """A human-readable summary (for the CLI and failure reports)."""
        rows = [
            f"flash           {self.flash:>9} B of {self.flash_size} B",
            f"static SRAM     {self.static_sram:>9} B (.data {self.data} + .bss {self.bss})",
            f"reserved stack  {self.stack_reserved:>9} B",
            f"SRAM planned    {self.static_sram + self.stack_reserved:>9} B of {self.sram_size} B",
            f"data region     {self.data_region:>9} B (samples; not counted as flash)",
        ]
        rows += [f"  {s.size:>9} B  {s.region:<11} {s.name}" for s in self.symbols[:10]]
        return "\n".join(rows)


def _open(elf: Path) -> ELFFile:
    try:
        return ELFFile(open(elf, "rb"))  # noqa: SIM115 - closed by callers via .stream
    except (OSError, ELFError) as e:
        raise BuildError(f"cannot read ELF {elf}: {e}", "rebuild the firmware") from None


def symbol_table(elf: Path) -> dict[str, int]:
    """Global and local symbol name -> address (Thumb bit cleared for functions)."""
    f = _open(elf)
    try:
        out: dict[str, int] = {}
        symtab = f.get_section_by_name(".symtab")
        if symtab is None:
            return out
        for sym in symtab.iter_symbols():
            if sym.name:
                addr = sym["st_value"]
                if sym["st_info"]["type"] == "STT_FUNC":
                    addr &= ~1
                out.setdefault(sym.name, addr)
        return out
    finally:
        f.stream.close()


def symbol_sizes(elf: Path) -> list[tuple[str, int]]:
    """(name, size) of every sized function and object, largest first."""
    f = _open(elf)
    try:
        symtab = f.get_section_by_name(".symtab")
        rows = []
        if symtab is not None:
            for sym in symtab.iter_symbols():
                if sym["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT") and sym["st_size"] > 0 and sym.name:
                    rows.append((sym.name, sym["st_size"]))
        return sorted(rows, key=lambda r: (-r[1], r[0]))
    finally:
        f.stream.close()


def function_ranges(elf: Path) -> list[tuple[int, int, str]]:
    """(start, end, name) of every sized function, sorted by start (Thumb bit cleared)."""
    f = _open(elf)
    try:
        symtab = f.get_section_by_name(".symtab")
        funcs = []
        if symtab is not None:
            for sym in symtab.iter_symbols():
                if sym["st_info"]["type"] == "STT_FUNC" and sym["st_size"] > 0 and sym.name:
                    start = sym["st_value"] & ~1
                    funcs.append((start, start + sym["st_size"], sym.name))
        return sorted(set(funcs))
    finally:
        f.stream.close()


def memory_report(elf: Path, board: Board, backend: str = "qemu", top_symbols: int = 20) -> MemoryReport:
    """Classify the ELF's sections and symbols against the board's memory map."""
    host = board.host(backend)
    ranges = {
        FLASH: (host.flash_origin, host.flash_origin + board.flash),
        SRAM: (host.sram_origin, host.sram_origin + board.sram),
        DATA_REGION: (host.data_origin, host.data_origin + host.data_size),
    }

    def region_of(addr: int) -> str:
        for name, (lo, hi) in ranges.items():
            if lo <= addr < hi:
                return name
        return OTHER

    syms = symbol_table(elf)
    if "_sstack" in syms and "_estack" in syms:
        stack_lo, stack_hi = syms["_sstack"], syms["_estack"]
    else:
        log.warning("%s: no _sstack/_estack symbols; stack reservation unknown", elf)
        stack_lo = stack_hi = 0

    f = _open(elf)
    try:
        sections: list[SectionInfo] = []
        for sec in f.iter_sections():
            flags, size, addr = sec["sh_flags"], sec["sh_size"], sec["sh_addr"]
            if not flags & SH_FLAGS.SHF_ALLOC or size == 0:
                continue
            region = region_of(addr)
            nobits = sec["sh_type"] == "SHT_NOBITS"
            if region == DATA_REGION:
                kind, in_flash = "data_region", 0
            elif nobits:
                kind = "stack" if addr < stack_hi and addr + size > stack_lo else "bss"
                in_flash = 0
            elif flags & SH_FLAGS.SHF_WRITE:
                kind, in_flash = "data", size
            else:
                kind, in_flash = "code/const", size
            sections.append(SectionInfo(sec.name, addr, size, region, in_flash, kind))

        symbols: list[SymbolInfo] = []
        symtab = f.get_section_by_name(".symtab")
        if symtab is not None:
            for sym in symtab.iter_symbols():
                stype = sym["st_info"]["type"]
                if stype not in ("STT_FUNC", "STT_OBJECT") or sym["st_size"] == 0 or not sym.name:
                    continue
                addr = sym["st_value"] & ~1 if stype == "STT_FUNC" else sym["st_value"]
                symbols.append(SymbolInfo(sym.name, addr, sym["st_size"], region_of(addr),
                                          "func" if stype == "STT_FUNC" else "object"))
    finally:
        f.stream.close()

    symbols.sort(key=lambda s: (-s.size, s.name))
    data = sum(s.size for s in sections if s.kind == "data" and s.region == SRAM)
    bss = sum(s.size for s in sections if s.kind == "bss" and s.region == SRAM)
    return MemoryReport(
        elf=Path(elf), board=board.name,
        flash=sum(s.in_flash for s in sections), data=data, bss=bss, static_sram=data + bss,
        stack_reserved=stack_hi - stack_lo,
        data_region=sum(s.size for s in sections if s.kind == "data_region"),
        sram_size=board.sram, flash_size=board.flash,
        sections=tuple(sections), symbols=tuple(symbols[:top_symbols]))
