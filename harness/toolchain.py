"""Compiling and linking: firmware for a board (arm-none-eabi-gcc) and host-native libraries and
programs of the same C (host gcc), with the flags, the linker script generated from the board
profile, a content-hashed build cache and readable compiler and link errors.

Every firmware links the runtime (``harness/firmware_src/runtime/**.c``, compiled once per board and
cached) and the board's startup folder; host builds link the runtime with
``harness/firmware_src/boards/host/``. A build happens in a temporary folder that is renamed into
``<cache>/build/<hash>/`` when complete, with a manifest of its files' hashes (harness.cachedir),
so parallel workers and interrupted runs never see a half-written build, and a damaged entry is
rebuilt. A linked firmware that lacks its vector table, startup or runtime is an error, never
a cache entry.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Callable, Mapping, Sequence

from . import cachedir
from .boards import Board
from .cachedir import cache_root
from .paths import BOARD_STARTUP_DIR, RUNTIME_DIR
from .errors import BudgetExceeded, BuildError, ToolMissing

log = logging.getLogger(__name__)

HOST_BOARD_DIR = BOARD_STARTUP_DIR / "host"

CROSS_CC = "arm-none-eabi-gcc"
HOST_CC = "gcc"
COMMON_CFLAGS = ("-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off")
FIRMWARE_CFLAGS = COMMON_CFLAGS + ("-fstack-usage", "-ffunction-sections", "-fdata-sections",
                                   "-ffreestanding")
HOST_CFLAGS = COMMON_CFLAGS + ("-fPIC",)

Defines = Mapping[str, "str | int | None"]
Progress = Callable[[str], None]

#: Bytes at the bottom of the stack reservation that the MPU guard makes inaccessible
#: (TT_STACK_GUARD in harness/firmware_src/boards/mps2/board.h): usable stack = ``stack`` - this.
STACK_GUARD = 256

#: What every linked firmware must define: the startup (reset and fault handlers), the runtime's
#: record output and the application's main. A link without them is refused, never cached.
REQUIRED_SYMBOLS = ("Reset_Handler", "HardFault_Handler", "tt_board_exit", "tt_fault_report",
                    "tt_rec_begin", "tt_rec_end", "main", "_sstack", "_estack")


@dataclass(frozen=True)
class Firmware:
    """A linked firmware image and what was used to build it."""

    elf: Path
    map_file: Path
    su_files: tuple[Path, ...]   # GCC -fstack-usage output, one per object
    build_dir: Path
    flags: tuple[str, ...]       # compile flags (without -I/-D)
    board: str
    backend: str
    stack_size: int
    name: str


def compiler_version(cc: str) -> str:
    """First line of ``cc --version``; ToolMissing naming the package when absent."""
    if shutil.which(cc) is None:
        pkg = "gcc-arm-none-eabi" if cc == CROSS_CC else "gcc"
        raise ToolMissing(f"{cc} not found on PATH",
                          f"sudo apt-get install --no-install-recommends {pkg} (or run ./bootstrap.sh)")
    out = subprocess.run([cc, "--version"], capture_output=True, text=True, check=False).stdout
    return out.splitlines()[0] if out else cc


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "firmware"


def _define_flags(defines: Defines) -> list[str]:
    out = []
    for k, v in sorted(defines.items()):
        out.append(f"-D{k}" if v is None else f"-D{k}={v}")
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _dedupe(paths: Sequence[Path]) -> list[Path]:
    seen: set[Path] = set()
    out = []
    for p in paths:
        r = Path(p).resolve()
        if r not in seen:
            seen.add(r)
            out.append(r)
    return out


def _check_generated(generated: Mapping[str, str]) -> None:
    for fname in generated:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+\.[ch]", fname):
            raise BuildError(f"generated file name {fname!r} is not a plain .c or .h name",
                             "use names like model.c / model.h (no folders)")


def _cache_key(kind: str, cc_version: str, flags: Sequence[str], sources: Sequence[Path],
               include_dirs: Sequence[Path], generated: Mapping[str, str], extra: str) -> str:
    headers = []
    for d in include_dirs:
        if d.is_dir():
            headers += [(str(h), _sha(h.read_bytes())) for h in sorted(d.glob("*.h"))]
    missing = [str(s) for s in sources if not s.is_file()]
    if missing:
        raise BuildError(f"source file(s) not found: {', '.join(missing)}", "check the paths")
    material = {
        "kind": kind, "cc": cc_version, "flags": list(flags),
        "sources": [(str(s), _sha(s.read_bytes())) for s in sources],
        "headers": headers, "generated": dict(sorted(generated.items())), "extra": extra,
        "format": cachedir.FORMAT,
    }
    return _sha(json.dumps(material, sort_keys=True).encode())[:24]


_DIAG = re.compile(r"^(?P<loc>[^\s:][^:]*:\d+(?::\d+)?): (?P<kind>fatal error|error)\b")


def _compile_error(stderr: str, cmd: Sequence[str], what: str, tmp: Path) -> BuildError:
    text = stderr.replace(str(tmp / "gen") + "/", "<generated>/")
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if _DIAG.match(line)), 0)
    errors = [line for line in lines if _DIAG.match(line)]
    shown = lines[first:first + 12]
    summary = f"{len(errors)} error(s)" if errors else "failed"
    return BuildError(f"compiling {what}: {summary}\n" + "\n".join(f"    {line}" for line in shown),
                      "fix the C error(s) above; the command was: " + " ".join(cmd))


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    log.debug("run: %s", " ".join(cmd))
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def _linker_script(board: Board, backend: str, stack_size: int) -> str:
    host = board.host(backend)
    template = host.startup_dir / "link.ld.in"
    if not template.is_file():
        raise BuildError(f"no linker script template {template}",
                         f"add link.ld.in to {host.startup_dir}")
    if stack_size < 512 or stack_size % 8:
        raise BuildError(f"stack size {stack_size} B must be a multiple of 8 and at least 512 B "
                         "(the MPU guard takes 256)",
                         "set the scenario's 'stack' to e.g. 8KiB")
    try:
        return Template(template.read_text()).substitute(
            FLASH_ORIGIN=hex(host.flash_origin), FLASH_SIZE=board.flash,
            SRAM_ORIGIN=hex(host.sram_origin), SRAM_SIZE=board.sram,
            DATA_ORIGIN=hex(host.data_origin), DATA_SIZE=host.data_size, STACK_SIZE=stack_size)
    except (KeyError, ValueError) as e:
        raise BuildError(f"linker script template {template}: bad placeholder {e}",
                         "use only ${FLASH_ORIGIN} ${FLASH_SIZE} ${SRAM_ORIGIN} ${SRAM_SIZE} "
                         "${DATA_ORIGIN} ${DATA_SIZE} ${STACK_SIZE} (write $$ for a dollar)") from None


_OVERFLOW = re.compile(r"region [`'](?P<region>\w+)' overflowed by (?P<bytes>\d+) bytes")


def _overflow_error(stderr: str, board: Board, stack_size: int, biggest: str) -> BudgetExceeded | None:
    found = {m["region"]: int(m["bytes"]) for m in _OVERFLOW.finditer(stderr)}
    if not found:
        return None
    parts, fixes = [], []
    for region, over in found.items():
        if region == "RAM":
            parts.append(f"region RAM overflowed by {over} bytes: .data + .bss + the {stack_size} B stack "
                         f"exceed the {board.name}'s {board.sram} B of SRAM")
            fixes.append(f"free {over} B of SRAM: shrink static buffers or the stack (scenario key "
                         "'stack'), or use a board with more SRAM")
        elif region == "FLASH":
            parts.append(f"region FLASH overflowed by {over} bytes: code + constants + .data init "
                         f"exceed the {board.name}'s {board.flash} B of flash")
            fixes.append(f"free {over} B of flash (smaller model or code), or use a board with more flash")
        else:
            parts.append(f"region {region} overflowed by {over} bytes")
            fixes.append(f"free {over} B in region {region}")
    msg = "the firmware does not fit the part: " + "; ".join(parts)
    if biggest:
        msg += f"\n  largest symbols:\n{biggest}"
    return BudgetExceeded(msg, "; ".join(fixes))


def _largest_symbols(elf: Path, n: int = 5) -> str:
    from .elf import symbol_sizes  # late: elf.py imports boards only

    try:
        rows = symbol_sizes(elf)[:n]
    except Exception:  # noqa: BLE001 - a best-effort hint inside an error message
        return ""
    return "\n".join(f"    {size:>9} B  {name}" for name, size in rows)


def _runtime_sources() -> list[Path]:
    return sorted(RUNTIME_DIR.rglob("*.c"))


def _compile_objects(srcs: Sequence[Path], flags: Sequence[str], def_flags: Sequence[str],
                     inc_flags: Sequence[str], out_dir: Path, tmp: Path, prefix: str) -> list[Path]:
    objs = []
    for i, src in enumerate(srcs):
        obj = out_dir / f"{prefix}{i:02d}_{src.stem}.o"
        cmd = [CROSS_CC, *flags, *def_flags, *inc_flags, "-c", str(src), "-o", str(obj)]
        r = _run(cmd, tmp)
        if r.returncode != 0:
            raise _compile_error(r.stderr, cmd, src.name, tmp)
        objs.append(obj)
    return objs


def _board_defines(board: Board, backend: str) -> dict[str, str | int | None]:
    host = board.host(backend)
    return {"TT_CONSOLE_BASE": f"{host.console_base:#x}u", "TT_CLOCK_HZ": f"{board.clock_hz}u",
            "TT_HAS_FPU": 1 if board.fpu else 0, f"TT_BOARD_{re.sub(r'[^A-Za-z0-9_]', '_', board.name).upper()}": 1}


def _support_objects(board: Board, backend: str, cc_version: str, flags: Sequence[str],
                     progress: Progress | None = None) -> tuple[str, list[Path]]:
    """The board's startup and the whole runtime, compiled once per board and flags (cached).

    They see only the board's defines: an application's defines and include folders are its own."""
    host = board.host(backend)
    srcs = _dedupe([*sorted(host.startup_dir.glob("*.c")), *_runtime_sources()])
    incs = _dedupe([RUNTIME_DIR, host.startup_dir, *(s.parent for s in srcs)])
    def_flags = _define_flags(_board_defines(board, backend))
    key = _cache_key("support", cc_version, [*flags, *def_flags], srcs, incs, {}, board.name)
    root = cache_root() / "build"
    final = root / key
    listing = final / "objects.txt"
    if not cachedir.lookup(final, [listing.name], f"startup and runtime objects for {board.name}"):
        if progress is not None:
            progress(f"compiling the startup and runtime for {board.name} ({len(srcs)} files, once)")
        tmp = cachedir.new_entry(root, key)
        try:
            objs = _compile_objects(srcs, flags, def_flags, [f"-I{d}" for d in incs], tmp, tmp, "s")
            (tmp / "objects.txt").write_text("".join(f"{o.name}\n" for o in objs))
            cachedir.publish(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return key, [final / n for n in listing.read_text().split()]


def build_firmware(board: Board, sources: Sequence[Path], generated: Mapping[str, str] | None = None,
                   include_dirs: Sequence[Path] = (), defines: Defines | None = None,
                   stack_size: int = 16 * 1024, name: str = "firmware", backend: str = "qemu",
                   progress: Progress | None = None, runtime_defines: Defines | None = None) -> Firmware:
    """Cross-compile ``sources`` + generated files for ``board`` and link them with the board's
    startup and the runtime (``harness/firmware_src/runtime/**.c``; unused functions are dropped).

    ``runtime_defines`` reach every file, the runtime too (e.g. ``TT_PORTABLE_KERNELS`` for
    benchmarks/bench_speed.py); ``defines`` only ``sources``.
    ``progress`` hears what really happens: that the build is cached, or what is compiled."""
    generated = dict(generated or {})
    _check_generated(generated)
    host = board.host(backend)
    cc_version = compiler_version(CROSS_CC)
    cpu = board.cpu_flags()
    flags = tuple(cpu) + FIRMWARE_CFLAGS + tuple(_define_flags(runtime_defines or {}))
    support_key, support = _support_objects(board, backend, cc_version, flags, progress)
    all_defines = {**_board_defines(board, backend), **(defines or {})}
    srcs = _dedupe(list(sources))
    incs = _dedupe([*include_dirs, RUNTIME_DIR, host.startup_dir, *(s.parent for s in srcs)])
    script = _linker_script(board, backend, stack_size)
    safe = _safe_name(name)
    key = _cache_key("firmware", cc_version, [*flags, *_define_flags(all_defines)], srcs, incs,
                     generated, script + safe + support_key)
    root = cache_root() / "build"
    final = root / key
    fw = Firmware(elf=final / f"{safe}.elf", map_file=final / f"{safe}.map",
                  su_files=(), build_dir=final, flags=flags, board=board.name, backend=backend,
                  stack_size=stack_size, name=name)
    if cachedir.lookup(final, [fw.elf.name, fw.map_file.name], f"firmware {name!r}"):
        log.debug("build cache hit: %s", final)
        if progress is not None:
            progress(f"firmware for {board.name} is cached (unchanged sources and flags)")
        return _with_su(fw, support)

    if progress is not None:
        progress(f"cross-compiling {len(srcs) + sum(f.endswith('.c') for f in generated)} file(s) "
                 f"for {board.name} and linking")
    tmp = cachedir.new_entry(root, key)
    try:
        gen_dir, gen_srcs = _write_generated(tmp, generated)
        (tmp / "link.ld").write_text(script)
        objs = _compile_objects([*srcs, *gen_srcs], flags, _define_flags(all_defines),
                                [f"-I{d}" for d in [gen_dir, *incs]], tmp, tmp, "")
        elf, map_file = tmp / f"{safe}.elf", tmp / f"{safe}.map"
        link = [CROSS_CC, *cpu, "-nostdlib", "-T", str(tmp / "link.ld"), "-Wl,--gc-sections",
                f"-Wl,-Map={map_file}", *map(str, [*objs, *support]), "-lgcc", "-o", str(elf)]
        r = _run(link, tmp)
        if r.returncode != 0:
            biggest = ""
            if _OVERFLOW.search(r.stderr):
                # Link once more, keeping the output, only to name the largest symbols.
                probe = tmp / "overflow.elf"
                _run([*link[:-1], str(probe), "-Wl,--noinhibit-exec"], tmp)
                biggest = _largest_symbols(probe) if probe.is_file() else ""
            over = _overflow_error(r.stderr, board, stack_size, biggest)
            if over is not None:
                raise over
            shown = "\n".join(f"    {line}" for line in r.stderr.splitlines()[:12])
            raise BuildError("linking failed:\n" + shown,
                             "fix the link error(s) above; the command was: " + " ".join(link))
        _check_linked(elf, support)
        cachedir.publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("built %s for %s in %s", name, board.name, final)
    return _with_su(fw, support)


def _check_linked(elf: Path, support: Sequence[Path]) -> None:
    """BuildError unless the linked ELF has what every firmware needs: a vector table whose
    first words are the initial stack pointer and the reset handler, and ``REQUIRED_SYMBOLS``
    (startup, runtime, main) defined. Such a link is never published to the cache."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    problem = ""
    try:
        with open(elf, "rb") as f:
            ef = ELFFile(f)
            symtab = ef.get_section_by_name(".symtab")
            syms = {} if symtab is None else {
                sym.name: sym["st_value"] for sym in symtab.iter_symbols()
                if sym.name and sym["st_shndx"] != "SHN_UNDEF"}
            vectors = ef.get_section_by_name(".isr_vector")
            words = vectors.data()[:8] if vectors is not None else b""
    except (OSError, ELFError) as e:
        syms, words, problem = {}, b"", f"it cannot be read ({e})"
    missing = [s for s in REQUIRED_SYMBOLS if s not in syms]
    if problem:
        pass
    elif missing:
        problem = f"it lacks {', '.join(missing)}"
    elif len(words) < 8:
        problem = "it has no vector table (.isr_vector)"
    else:
        sp, reset = int.from_bytes(words[:4], "little"), int.from_bytes(words[4:], "little")
        if sp != syms["_estack"] or reset & ~1 != syms["Reset_Handler"] & ~1:
            problem = (f"its vector table starts {sp:#x}, {reset:#x}, not _estack "
                       f"{syms['_estack']:#x}, Reset_Handler {syms['Reset_Handler']:#x}")
    if problem:
        raise BuildError(f"the linked firmware {elf.name} is incomplete: {problem} (linked with "
                         f"{len(support)} startup and runtime objects)",
                         "check that the board's startup folder and harness/firmware_src/runtime/ compile "
                         "and define these; then build again (an incomplete link is never cached)")


def _write_generated(tmp: Path, generated: Mapping[str, str]) -> tuple[Path, list[Path]]:
    """Write the generated files into ``tmp/gen``; return that folder and its C sources."""
    gen_dir = tmp / "gen"
    gen_dir.mkdir()
    for fname, text in generated.items():
        (gen_dir / fname).write_text(text)
    return gen_dir, [gen_dir / f for f in sorted(generated) if f.endswith(".c")]


def _with_su(fw: Firmware, support: Sequence[Path]) -> Firmware:
    su = [*sorted(fw.build_dir.glob("*.su")), *(o.with_suffix(".su") for o in support)]
    return dataclasses.replace(fw, su_files=tuple(p for p in su if p.is_file()))


def _build_host(kind: str, sources: Sequence[Path], generated: Mapping[str, str] | None,
                include_dirs: Sequence[Path], defines: Defines | None, name: str,
                with_runtime: bool, progress: Progress | None = None) -> Path:
    generated = dict(generated or {})
    _check_generated(generated)
    cc_version = compiler_version(HOST_CC)
    flags = HOST_CFLAGS + (("-shared",) if kind == "lib" else ())
    extra = [*_runtime_sources(), *sorted(HOST_BOARD_DIR.glob("*.c"))] if with_runtime else []
    srcs = _dedupe([*sources, *extra])
    incs = _dedupe([*include_dirs, RUNTIME_DIR, *(s.parent for s in srcs)])
    all_defines = {"TT_HOST": 1, **(defines or {})}
    safe = _safe_name(name)
    key = _cache_key(f"host-{kind}", cc_version, [*flags, *_define_flags(all_defines)], srcs, incs,
                     generated, safe)
    root = cache_root() / "build"
    final = root / key
    out_name = f"lib{safe}.so" if kind == "lib" else safe
    if cachedir.lookup(final, [out_name], f"host {kind} {name!r}"):
        if progress is not None:
            progress(f"host build of {name} is cached")
        return final / out_name
    if progress is not None:
        progress(f"compiling {name} for the host ({len(srcs) + len(generated)} file(s))")
    tmp = cachedir.new_entry(root, key)
    try:
        gen_dir, gen_srcs = _write_generated(tmp, generated)
        cmd = [HOST_CC, *flags, *_define_flags(all_defines), *[f"-I{d}" for d in [gen_dir, *incs]],
               *map(str, [*srcs, *gen_srcs]), "-o", str(tmp / out_name)]
        r = _run(cmd, tmp)
        if r.returncode != 0:
            raise _compile_error(r.stderr, cmd, f"host {kind} {name}", tmp)
        cachedir.publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final / out_name


def build_host_library(sources: Sequence[Path], generated: Mapping[str, str] | None = None,
                       include_dirs: Sequence[Path] = (), defines: Defines | None = None,
                       name: str = "hostlib", with_runtime: bool = True,
                       progress: Progress | None = None) -> Path:
    """A shared library of the same C for the host (load it with ctypes): the parity oracle."""
    return _build_host("lib", sources, generated, include_dirs, defines, name, with_runtime, progress)


def build_host_program(sources: Sequence[Path], generated: Mapping[str, str] | None = None,
                       include_dirs: Sequence[Path] = (), defines: Defines | None = None,
                       name: str = "hostprog", with_runtime: bool = True,
                       progress: Progress | None = None) -> Path:
    """A host executable of the same C (its ``main`` prints records to stdout)."""
    return _build_host("prog", sources, generated, include_dirs, defines, name, with_runtime, progress)
