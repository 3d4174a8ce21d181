"""Scenario files: schema, loading, validation (errors carry ``file:line``), ``common:`` merging.

A scenario file has an optional ``common:`` mapping of defaults and a ``scenarios:`` list.
Each entry is merged over ``common`` (mappings merge key by key, the entry wins) and then
validated against ``SCHEMA``. A ``board:`` list expands into one scenario per board.
``scenarios/README.md`` documents every key; ``SCHEMA`` is the source of truth.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import ScenarioError
from .units import Comparison, parse_comparison, parse_count, parse_size
from .yamlsrc import LineDict, load_yaml


@dataclass(frozen=True)
class Key:
    """One key of the schema: how to parse it, its default, and what it means."""

    parse: Callable[[Any], Any] | None  # None for a nested mapping
    default: Any = None
    doc: str = ""
    children: dict[str, "Key"] | None = None
    required: bool = False


def _str(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"expected a non-empty string, got {v!r}")
    return v


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"expected an integer, got {v!r}")
    return v


def _pos_seconds(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
        raise ValueError(f"expected a positive number of seconds, got {v!r}")
    return float(v)


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(v: Any) -> str:
        if v not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {v!r}")
        return v
    return parse


def _str_list(v: Any) -> tuple[str, ...]:
    if isinstance(v, str):
        return (v,)
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise ValueError(f"expected a string or a list of strings, got {v!r}")
    return tuple(v)


def _pos_size(v: Any) -> int:
    n = parse_size(v)
    if n <= 0:
        raise ValueError(f"expected a positive size, got {v!r}")
    return n


def _pos_count(v: Any) -> int:
    n = parse_count(v)
    if n <= 0:
        raise ValueError(f"expected a positive count, got {v!r}")
    return n


def _cmp_count(v: Any) -> Comparison:
    return parse_comparison(v, parse_count)


def _cmp_size(v: Any) -> Comparison:
    return parse_comparison(v, parse_size)


SCHEMA: dict[str, Key] = {
    "name": Key(_str, required=True, doc="unique name of the scenario within its file"),
    "description": Key(_str, "", doc="one sentence for reports"),
    "board": Key(_str_list, ("stm32f746",), doc="board profile name, or a list of them"),
    "tags": Key(_str_list, (), doc="free tags, usable with pytest -k"),
    "timeout": Key(_pos_seconds, 60.0, doc="wall-clock seconds before a hung guest is killed"),
    "firmware": Key(None, doc="a hand-written firmware application", children={
        "app": Key(_str, required=True, doc="directory under firmware_src/app/"),
        "case": Key(_str, "", doc="passed to the C code as -DTT_CASE_<CASE>"),
    }),
    "stack": Key(_pos_size, 16 * 1024, doc="bytes reserved for the stack (linked after .bss)"),
    "budgets": Key(None, doc="limits that fail the scenario when exceeded", children={
        "sram": Key(_pos_size, None, doc="peak SRAM: .data + .bss + stack high-water (default: the part's SRAM)"),
        "flash": Key(_pos_size, None, doc="flash: text + rodata + .data init (default: the part's flash)"),
        "step_instructions": Key(_pos_count, None, doc="instructions per training step (max over steps)"),
    }),
    "expect": Key(None, doc="what the run must show", children={
        "status": Key(_choice("ok", "exit", "fault", "timeout"), "ok",
                      doc="how the run ends: ok (exit 0), exit (nonzero exit), fault, timeout"),
        "exit_code": Key(_int, None, doc="exact exit code (with status exit)"),
        "fault": Key(_str, None, doc="fault kind, e.g. stack_overflow (with status fault)"),
        "region_instructions": Key(_cmp_count, None,
                                   doc="instructions between tt_mark_region_begin/end, e.g. '== 10245'"),
        "step_instructions": Key(_cmp_count, None, doc="instructions of every training step"),
        "stack": Key(_cmp_size, None, doc="stack high-water mark, e.g. '<= 4KiB'"),
    }),
}

TOP_KEYS = {"common", "scenarios"}


def _did_you_mean(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def _merge(base: Any, over: Any) -> Any:
    """Deep merge of mappings; ``over`` wins. Line info of ``over`` is kept where it has it."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = LineDict()
        out.line = getattr(over, "line", getattr(base, "line", 0))
        out.key_lines = {**getattr(base, "key_lines", {}), **getattr(over, "key_lines", {})}
        for k in base:
            out[k] = base[k]
        for k, v in over.items():
            out[k] = _merge(base[k], v) if k in base else v
        return out
    return over


def _validate(raw: Any, schema: dict[str, Key], where: str, path: Path, line: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}:{line}: {where or 'scenario'} must be a mapping, got {raw!r}",
                            "write it as 'key: value' lines")
    out: dict[str, Any] = {}
    lines = raw if isinstance(raw, LineDict) else None
    for key, value in raw.items():
        kline = lines.line_of(key) if lines is not None else line
        dotted = f"{where}.{key}" if where else str(key)
        if key not in schema:
            known = sorted(schema)
            raise ScenarioError(
                f"{path}:{kline}: unknown key {dotted!r}",
                f"{_did_you_mean(str(key), known)}known keys here: {', '.join(known)}")
        spec = schema[key]
        if spec.children is not None:
            out[key] = _validate(value, spec.children, dotted, path, kline)
            continue
        if value is None:
            raise ScenarioError(f"{path}:{kline}: {dotted} has no value",
                                f"give it a value ({spec.doc}) or remove the line")
        try:
            out[key] = spec.parse(value)
        except ValueError as e:
            raise ScenarioError(f"{path}:{kline}: {dotted}: {e}",
                                f"see scenarios/README.md for the format of {dotted!r}") from None
    for key, spec in schema.items():
        if key in out:
            continue
        if spec.required:
            dotted = f"{where}.{key}" if where else key
            raise ScenarioError(f"{path}:{line}: missing required key {dotted!r}",
                                f"add '{key}: ...' ({spec.doc})")
        if spec.children is not None:
            out[key] = None
        else:
            out[key] = spec.default
    return out


@dataclass(frozen=True)
class Budgets:
    sram: int | None = None
    flash: int | None = None
    step_instructions: int | None = None


@dataclass(frozen=True)
class Expect:
    status: str = "ok"
    exit_code: int | None = None
    fault: str | None = None
    region_instructions: Comparison | None = None
    step_instructions: Comparison | None = None
    stack: Comparison | None = None


@dataclass(frozen=True)
class FirmwareSpec:
    app: str
    case: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    file: Path
    line: int
    board: str
    description: str = ""
    tags: tuple[str, ...] = ()
    timeout: float = 60.0
    stack: int = 16 * 1024
    firmware: FirmwareSpec | None = None
    budgets: Budgets = field(default_factory=Budgets)
    expect: Expect = field(default_factory=Expect)

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"


def load_scenarios(path: Path) -> list[Scenario]:
    """All scenarios of one file, validated; raises ScenarioError with ``file:line``."""
    path = Path(path)
    doc = load_yaml(path)
    if not isinstance(doc, dict) or "scenarios" not in doc:
        raise ScenarioError(f"{path}:1: a scenario file needs a top-level 'scenarios:' list",
                            "see scenarios/README.md for the format")
    for key in doc:
        if key not in TOP_KEYS:
            raise ScenarioError(f"{path}:{doc.line_of(key)}: unknown top-level key {key!r}",
                                f"{_did_you_mean(str(key), sorted(TOP_KEYS))}top level takes only "
                                "'common:' and 'scenarios:'")
    common = doc.get("common") or LineDict()
    entries = doc["scenarios"]
    if not isinstance(entries, list) or not entries:
        raise ScenarioError(f"{path}:{doc.line_of('scenarios')}: 'scenarios:' must be a non-empty list",
                            "add entries starting with '- name: ...'")
    if "name" in common:
        raise ScenarioError(f"{path}:{common.line_of('name')}: 'name' cannot be in common:",
                            "give each scenario its own name")
    out: list[Scenario] = []
    seen: dict[str, int] = {}
    for entry in entries:
        line = getattr(entry, "line", doc.line_of("scenarios"))
        merged = _merge(common, entry) if isinstance(entry, dict) else entry
        v = _validate(merged, SCHEMA, "", path, line)
        if v["name"] in seen:
            raise ScenarioError(f"{path}:{line}: scenario name {v['name']!r} is used twice "
                                f"(first at line {seen[v['name']]})", "give each scenario a unique name")
        seen[v["name"]] = line
        boards = v["board"]
        for board in boards:
            out.append(_build(v, path, line, board, multi=len(boards) > 1))
    return out


def _build(v: dict[str, Any], path: Path, line: int, board: str, multi: bool) -> Scenario:
    from .boards import load_board  # late: boards import nothing from here

    try:
        part = load_board(board)
    except ScenarioError as e:
        raise ScenarioError(f"{path}:{line}: {e.message}", e.fix) from None
    budgets = Budgets(**(v["budgets"] or {}))
    for key, part_size in (("sram", part.sram), ("flash", part.flash)):
        value = getattr(budgets, key)
        if value is not None and value > part_size:
            raise ScenarioError(
                f"{path}:{line}: budgets.{key} = {value} B is larger than the part's {key} "
                f"({part_size} B on {board})",
                f"use at most {part_size // 1024}KiB, or a board with more {key}")
    if v["stack"] >= part.sram:
        raise ScenarioError(f"{path}:{line}: stack = {v['stack']} B does not fit the part's "
                            f"{part.sram} B of SRAM", "reserve a smaller stack")
    fw = v["firmware"]
    if fw is None:
        raise ScenarioError(f"{path}:{line}: scenario {v['name']!r} says nothing to run",
                            "add 'firmware: {app: ...}'")
    exp = Expect(**(v["expect"] or {}))
    if exp.exit_code is not None and exp.status != "exit":
        raise ScenarioError(f"{path}:{line}: expect.exit_code needs expect.status: exit",
                            "add 'status: exit' under expect")
    if exp.fault is not None and exp.status != "fault":
        raise ScenarioError(f"{path}:{line}: expect.fault needs expect.status: fault",
                            "add 'status: fault' under expect")
    name = f"{v['name']}[{board}]" if multi else v["name"]
    return Scenario(
        name=name, file=path, line=line, board=board, description=v["description"],
        tags=v["tags"], timeout=v["timeout"], stack=v["stack"],
        firmware=FirmwareSpec(**fw), budgets=budgets, expect=exp)
