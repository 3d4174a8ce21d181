"""Board profiles: the real part (core, FPU, clock, SRAM, flash) and where each emulator hosts it.

Profiles are data: one YAML file per board in this folder. Nothing here is specific to a core,
an FPU or a machine, so a second board (e.g. a Cortex-M4F part on ``mps2-an386``) is a new file.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ScenarioError
from ..units import parse_size

log = logging.getLogger(__name__)

from ..paths import BOARD_STARTUP_DIR, BOARDS_DIR, PACKAGE  # noqa: F401 - BOARDS_DIR: the package's profiles

REPO = PACKAGE.parent  # the source checkout when run from one (tests)

_BOARD_KEYS = {"name", "description", "core", "fpu", "float_abi", "clock_hz", "sram", "flash", "hosts"}
_HOST_KEYS = {"machine", "flash_origin", "sram_origin", "data_region", "console", "startup"}
_FLOAT_ABIS = {"hard", "softfp", "soft"}


@dataclass(frozen=True)
class Host:
    """One emulator's model of the part: its machine, memory map, console and startup code."""

    backend: str            # "qemu", later "renode"
    machine: str            # e.g. "mps2-an500"
    flash_origin: int
    sram_origin: int
    data_name: str          # name of the data region (e.g. "PSRAM"); samples live there
    data_origin: int
    data_size: int
    console_kind: str       # e.g. "cmsdk-uart"
    console_base: int
    startup_dir: Path       # absolute: startup.c, console, fault handlers, link.ld.in


@dataclass(frozen=True)
class Board:
    """A real part. ``sram`` and ``flash`` are its sizes in bytes: the budgets the linker enforces."""

    name: str
    description: str
    core: str               # GCC -mcpu name, e.g. "cortex-m7"
    fpu: str | None         # GCC -mfpu name, or None for a part without an FPU
    float_abi: str          # "hard" | "softfp" | "soft"
    clock_hz: int
    sram: int
    flash: int
    hosts: tuple[Host, ...]
    source: Path            # the YAML file

    def host(self, backend: str = "qemu") -> Host:
        for h in self.hosts:
            if h.backend == backend:
                return h
        known = ", ".join(h.backend for h in self.hosts) or "none"
        raise ScenarioError(f"board {self.name!r} has no {backend!r} host (it has: {known})",
                            f"add a 'hosts: {backend}:' entry to {self.source}, or use another emulator")

    def cpu_flags(self) -> tuple[str, ...]:
        """The GCC flags that select this part's core and floating-point unit."""
        flags = [f"-mcpu={self.core}", "-mthumb"]
        if self.fpu is None:
            flags.append("-mfloat-abi=soft")
        else:
            flags += [f"-mfpu={self.fpu}", f"-mfloat-abi={self.float_abi}"]
        return tuple(flags)


def _board_dirs() -> tuple[Path, ...]:
    from ..project import current

    return current().board_dirs()


def list_boards() -> list[str]:
    """Names of all board profiles (the package's and the project's ``boards`` folders), sorted."""
    return sorted({p.stem for d in _board_dirs() for p in d.glob("*.yaml")})


def load_board(name: str) -> Board:
    """The profile ``<name>.yaml`` of the package (harness/boards/) or of a project ``boards`` folder;
    ScenarioError naming the known boards if absent, or the files if the name is defined twice."""
    dirs = _board_dirs()
    known = list_boards()
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name) or name not in known:
        raise ScenarioError(f"unknown board {name!r}",
                            f"use one of: {', '.join(known)} (profiles are in {' and '.join(map(str, dirs))})")
    hits = [d / f"{name}.yaml" for d in dirs if (d / f"{name}.yaml").is_file()]
    if len(hits) > 1:
        raise ScenarioError(f"board {name!r} is defined twice: {', '.join(map(str, hits))}",
                            "rename the project's profile (its file name and its name: key)")
    return load_board_file(hits[0])


def load_board_file(path: Path) -> Board:
    """A profile from any YAML file (its ``name`` must equal the file name)."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        raise ScenarioError(f"cannot read board profile {path}: {e}", "fix the YAML file") from None
    return _parse_board(raw, path)


def _fail(path: Path, what: str, fix: str) -> ScenarioError:
    return ScenarioError(f"board profile {path}: {what}", fix)


def _check_keys(raw: Any, allowed: set[str], where: str, path: Path) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _fail(path, f"{where} must be a mapping", "write it as 'key: value' lines")
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise _fail(path, f"unknown key(s) in {where}: {', '.join(map(str, unknown))}",
                    f"known keys: {', '.join(sorted(allowed))}")
    missing = sorted(allowed - set(raw))
    if missing:
        raise _fail(path, f"missing key(s) in {where}: {', '.join(missing)}", "add them")
    return raw


def _int(v: Any, key: str, path: Path) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise _fail(path, f"{key} must be a non-negative integer, got {v!r}", "e.g. 0x20000000")
    return v


def _size(v: Any, key: str, path: Path) -> int:
    try:
        n = parse_size(v)
    except ValueError as e:
        raise _fail(path, f"{key}: {e}", "write a size such as 320KiB") from None
    if n <= 0:
        raise _fail(path, f"{key} must be positive, got {v!r}", "write a size such as 320KiB")
    return n


def _parse_host(backend: str, raw: Any, path: Path) -> Host:
    h = _check_keys(raw, _HOST_KEYS, f"hosts.{backend}", path)
    data = _check_keys(h["data_region"], {"name", "origin", "size"}, f"hosts.{backend}.data_region", path)
    console = _check_keys(h["console"], {"kind", "base"}, f"hosts.{backend}.console", path)
    startup = _startup_dir(h["startup"], backend, path)
    return Host(backend=backend, machine=str(h["machine"]),
                flash_origin=_int(h["flash_origin"], "flash_origin", path),
                sram_origin=_int(h["sram_origin"], "sram_origin", path),
                data_name=str(data["name"]), data_origin=_int(data["origin"], "data_region.origin", path),
                data_size=_size(data["size"], "data_region.size", path),
                console_kind=str(console["kind"]), console_base=_int(console["base"], "console.base", path),
                startup_dir=startup)


def _startup_dir(value: Any, backend: str, path: Path) -> Path:
    """``startup``: a plain name is one of the package's startup folders (harness/firmware_src/boards/,
    e.g. ``mps2``); a relative path (``./my_startup``) is a folder beside the profile, which must stay
    inside the profile's folder."""
    key = f"hosts.{backend}.startup"
    text = str(value)

    def fail(what: str) -> ScenarioError:
        packaged = sorted(p.name for p in BOARD_STARTUP_DIR.iterdir() if p.is_dir() and p.name != "host")
        return _fail(path, f"{key}: {what}", f"write one of the package's startup folders "
                     f"({', '.join(packaged)}), or a relative path such as ./startup to a folder "
                     f"beside {path.name}")

    if re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", text):
        startup = BOARD_STARTUP_DIR / text
        if text == "host" or not startup.is_dir():
            raise fail(f"no startup folder {text!r} in the package")
        return startup
    if Path(text).is_absolute() or not text.startswith("./"):
        raise fail(f"{text!r} is neither a startup folder's name nor a relative path starting with ./")
    startup = (path.parent / text).resolve()
    if path.parent.resolve() not in startup.parents:
        raise fail(f"{text!r} leads out of the profile's folder (to {startup})")
    if not startup.is_dir():
        raise fail(f"no folder {startup}")
    return startup


def _parse_board(raw: Any, path: Path) -> Board:
    b = _check_keys(raw, _BOARD_KEYS, "the profile", path)
    if b["name"] != path.stem:
        raise _fail(path, f"name {b['name']!r} differs from the file name {path.stem!r}",
                    "make them equal")
    fpu = b["fpu"]
    fpu = None if fpu in (None, "none", False) else str(fpu)
    if b["float_abi"] not in _FLOAT_ABIS:
        choices = ", ".join(sorted(_FLOAT_ABIS))
        raise _fail(path, f"float_abi must be one of {choices}, got {b['float_abi']!r}",
                    "hard for parts with an FPU")
    if not isinstance(b["hosts"], dict) or not b["hosts"]:
        raise _fail(path, "hosts must map an emulator name to its machine", "add 'hosts: qemu: ...'")
    hosts = tuple(_parse_host(str(k), v, path) for k, v in b["hosts"].items())
    return Board(name=str(b["name"]), description=str(b["description"]), core=str(b["core"]), fpu=fpu,
                 float_abi=str(b["float_abi"]) if fpu else "soft",
                 clock_hz=_int(b["clock_hz"], "clock_hz", path),
                 sram=_size(b["sram"], "sram", path), flash=_size(b["flash"], "flash", path),
                 hosts=hosts, source=path)
