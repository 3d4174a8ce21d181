"""Regression against ``reports/baseline.json``: per-metric tolerances, a comparison that fails in
both directions, the symbol-level explanation of memory growth, and the run history.

A value worse than its tolerance fails with old -> new; a value better than its tolerance fails
too, asking for ``--update-baseline``, so the committed baseline never lags behind what the code
does (twister only *warns* on footprint growth; here it is a failing check).
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .errors import MctError
from .fsutil import write_text_atomic
from .units import fmt_count, parse_count, parse_size

log = logging.getLogger(__name__)

BASELINE = Path("reports") / "baseline.json"   # relative to the repository (pytest: its rootdir)
HISTORY = Path("reports") / "history.jsonl"
TOP_SYMBOLS = 20           # largest symbols kept per region (sram, flash) to explain a change
FORMAT_VERSION = 1
UPDATE_HINT = ("if the change is intended, run with --update-baseline (`pytest scenarios/ "
               "--update-baseline` or `mcutrain run --update-baseline`) and commit reports/baseline.json")


# -- tolerances ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Limit:
    """How far a metric may move from its baseline: ``pct`` percent of the baseline value or
    ``amount`` in the metric's unit (bytes, instructions, accuracy points), whichever is larger."""

    pct: float = 0.0
    amount: float = 0.0
    text: str = "0"

    def allowed(self, old: float) -> float:
        return max(abs(old) * self.pct / 100.0, self.amount)

    def __str__(self) -> str:
        return self.text


def parse_limit(value: Any, unit: str) -> Limit:
    """``1%``, ``512B``, ``1% or 64B`` (bytes); ``2%`` or ``10k`` (instructions); ``1.0pp`` (accuracy).

    Raises ValueError with the expected format (the scenario loader adds ``file:line``)."""
    examples = {"bytes": "1%, 512B or '1% or 64B'", "count": "2% or 10k", "pp": "1.0pp"}[unit]
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a tolerance such as {examples}, got {value!r}")
    terms = [t for t in re.split(r"\s*(?:,|\bor\b)\s*", str(value).strip()) if t]
    if not terms or len(terms) > 2:
        raise ValueError(f"expected a tolerance such as {examples}, got {value!r}")
    if "-" in str(value):
        raise ValueError(f"a tolerance cannot be negative, got {value!r}")
    pct = amount = 0.0
    for term in terms:
        try:
            if term.endswith("%"):
                if unit == "pp":
                    raise ValueError("accuracy moves in points: write e.g. 1.0pp")
                pct = max(pct, float(term[:-1]))
            elif unit == "pp":
                amount = max(amount, float(term[:-2] if term.lower().endswith("pp") else term))
            elif unit == "bytes":
                amount = max(amount, float(parse_size(term)))
            else:
                amount = max(amount, float(parse_count(term)))
        except ValueError as e:
            raise ValueError(f"expected a tolerance such as {examples}, got {value!r} ({e})") from None
    return Limit(pct, amount, str(value).strip())


def parse_bytes_tolerance(v: Any) -> Limit:
    return parse_limit(v, "bytes")


def parse_count_tolerance(v: Any) -> Limit:
    return parse_limit(v, "count")


def parse_pp_tolerance(v: Any) -> Limit:
    return parse_limit(v, "pp")


DEFAULT_SRAM = parse_limit("1% or 64B", "bytes")
DEFAULT_FLASH = parse_limit("1% or 64B", "bytes")
DEFAULT_INSTRUCTIONS = parse_limit("2%", "count")
DEFAULT_ACCURACY = parse_limit("1.0pp", "pp")


@dataclass(frozen=True)
class Tolerance:
    """A scenario's ``tolerance:`` mapping (schema keys of the same names)."""

    sram: Limit = DEFAULT_SRAM
    flash: Limit = DEFAULT_FLASH
    step_instructions: Limit = DEFAULT_INSTRUCTIONS
    accuracy: Limit = DEFAULT_ACCURACY


# -- metrics and their comparison ----------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    name: str
    tolerance: str          # the Tolerance field that bounds it
    unit: str               # "bytes" | "count" | "fraction" (compared in points)
    lower_is_better: bool = True
    region: str | None = None  # memory region whose symbols explain a change


METRICS: tuple[Metric, ...] = (
    Metric("flash", "flash", "bytes", region="flash"),
    Metric("static_sram", "sram", "bytes", region="sram"),
    Metric("peak_sram", "sram", "bytes", region="sram"),
    Metric("step_instructions", "step_instructions", "count"),        # max over the steps
    Metric("predict_instructions", "step_instructions", "count"),     # one inference
    Metric("accuracy_after", "accuracy", "fraction", lower_is_better=False),
)
#: Recorded beside the metrics to explain them; never compared.
CONTEXT = ("stack_high_water", "stack_reserved", "arena_planned", "trainable_bytes")


@dataclass(frozen=True)
class Delta:
    """One metric, baseline against now. ``verdict``: worse | better | within | new | missing."""

    metric: Metric
    old: float | None
    new: float | None
    limit: Limit
    verdict: str

    @property
    def change(self) -> float:
        """new - old, in bytes, instructions or accuracy points."""
        assert self.old is not None and self.new is not None
        scale = 100.0 if self.metric.unit == "fraction" else 1.0
        return (self.new - self.old) * scale

    @property
    def allowed(self) -> float:
        assert self.old is not None
        return self.limit.allowed(self.old * (100.0 if self.metric.unit == "fraction" else 1.0))

    def describe(self) -> str:
        m, old, new = self.metric, self.old, self.new
        if self.verdict == "new":
            return f"{m.name}: {_fmt(m, new)} (not in the baseline)"
        if self.verdict == "missing":
            return f"{m.name}: {_fmt(m, old)} in the baseline, not measured in this run"
        assert old is not None and new is not None
        d = self.change
        if m.unit == "fraction":
            change = f"{d:+.2f} pp"
            tol = f"{self.allowed:.2f} pp"
        else:
            pct = f"{100.0 * d / old:+.2f}%" if old else "new"
            unit = " B" if m.unit == "bytes" else ""
            change = f"{d:+.0f}{unit}, {pct}" if m.unit == "bytes" else f"{pct}, {d:+.0f}"
            tol = f"{self.allowed:.0f}{unit}"
        rule = f" = {self.limit.text}" if self.limit.pct else ""
        return f"{m.name}: {_fmt(m, old)} -> {_fmt(m, new)} ({change}; tolerance {tol}{rule})"


def _fmt(m: Metric, v: float | None) -> str:
    if v is None:
        return "-"
    if m.unit == "fraction":
        return f"{v:.4f}"
    if m.unit == "bytes":
        return f"{int(v)} B"
    return fmt_count(v)


def compare(old: dict[str, Any], new: dict[str, Any], tol: Tolerance) -> list[Delta]:
    """Each metric present on either side, classified against its tolerance."""
    out = []
    for m in METRICS:
        o, n = old.get(m.name), new.get(m.name)
        limit: Limit = getattr(tol, m.tolerance)
        if o is None and n is None:
            continue
        if o is None or n is None:
            out.append(Delta(m, o, n, limit, "new" if o is None else "missing"))
            continue
        d = Delta(m, float(o), float(n), limit, "within")
        worse_by = d.change if m.lower_is_better else -d.change
        slack = d.allowed + 1e-9  # accuracy points are differences of floats: 0.73 - 0.74 != -0.01
        verdict = "worse" if worse_by > slack else "better" if -worse_by > slack else "within"
        out.append(Delta(m, float(o), float(n), limit, verdict))
    return out


# -- symbols -------------------------------------------------------------------------------------
def symbols_by_region(elf: Path, board: Any) -> dict[str, dict[str, int]]:
    """All sized symbols of the ELF in SRAM and in flash: name -> bytes (same-named statics summed)."""
    from .elf import FLASH, SRAM, memory_report

    out: dict[str, dict[str, int]] = {SRAM: {}, FLASH: {}}
    for s in memory_report(elf, board, top_symbols=1 << 30).symbols:
        if s.region in out:
            out[s.region][s.name] = out[s.region].get(s.name, 0) + s.size
    return out


def largest(symbols: dict[str, dict[str, int]], n: int = TOP_SYMBOLS) -> dict[str, dict[str, int]]:
    """The ``n`` largest symbols of each region, largest first."""
    return {region: dict(sorted(syms.items(), key=lambda kv: (-kv[1], kv[0]))[:n])
            for region, syms in symbols.items()}


@dataclass(frozen=True)
class SymbolChange:
    name: str
    old: int | None      # None: not among the baseline's largest (it was at most ``below`` bytes)
    new: int
    below: int = 0

    @property
    def delta(self) -> int:
        return self.new - (self.old if self.old is not None else self.below)

    def describe(self) -> str:
        if self.old is None:
            was = f"was <= {self.below} B, not in the baseline's top {TOP_SYMBOLS}" if self.below else "new"
            return f"{'>= ' if self.below else ''}{self.delta:+8d} B  {self.name} ({was}; now {self.new} B)"
        if self.new == 0:
            return f"{self.delta:+8d} B  {self.name} (gone; was {self.old} B)"
        return f"{self.delta:+8d} B  {self.name} ({self.old} -> {self.new} B)"


def symbol_diff(old: dict[str, int], new: dict[str, int]) -> list[SymbolChange]:
    """Symbols that changed, largest growth first. ``old`` holds the baseline's largest symbols of
    a region; ``new`` every symbol of that region now, so a symbol missing from ``new`` is gone."""
    below = min(old.values()) if len(old) >= TOP_SYMBOLS else 0
    rows = []
    for name in set(old) | set(new):
        o, n = old.get(name), new.get(name, 0)
        if o is None and n <= below:
            continue  # below the baseline's cut-off on both sides: nothing known to compare
        if o == n:
            continue
        rows.append(SymbolChange(name, o, n, below if o is None else 0))
    return sorted(rows, key=lambda r: (-r.delta, r.name))


# -- the baseline file ---------------------------------------------------------------------------
def baseline_key(file: str | Path, scenario: str, board: str) -> str:
    """``<file stem>::<scenario>@<board>``; a board list's ``name[board]`` loses its suffix."""
    suffix = f"[{board}]"
    name = scenario[: -len(suffix)] if scenario.endswith(suffix) else scenario
    return f"{Path(file).stem}::{name}@{board}"


def read_entries(path: Path) -> dict[str, dict]:
    """The entries of a baseline file (empty if there is none)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise MctError(f"cannot read the baseline {path}: {e}",
                       f"restore it (`git checkout -- {path}`) or regenerate it with --update-baseline") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("scenarios"), dict):
        raise MctError(f"{path} is not a baseline file (no 'scenarios' mapping)",
                       "regenerate it with --update-baseline")
    return doc["scenarios"]


def make_entry(result: dict, root: Path) -> dict:
    """A baseline entry from a report result (``file``, ``scenario``, ``board``, ``metrics``)."""
    m = result.get("metrics", {})
    metrics = {k.name: _round(m[k.name]) for k in METRICS if m.get(k.name) is not None}
    metrics.update({k: m[k] for k in CONTEXT if m.get(k) is not None})
    entry = {"file": _rel(result["file"], root), "scenario": result["scenario"], "board": result["board"],
             "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "metrics": metrics,
             "largest_symbols": m.get("largest_symbols", {})}
    if m.get("model_sha256"):
        entry["model"] = {"file": _rel(m.get("model_file", "?"), root), "sha256": m["model_sha256"]}
    return entry


def models_of(entries: dict[str, dict]) -> dict[str, str]:
    """The model files (and their sha256) the entries were recorded with."""
    return dict(sorted({e["model"]["file"]: e["model"]["sha256"] for e in entries.values()
                        if isinstance(e.get("model"), dict)}.items()))


def _round(v: Any) -> Any:
    return round(v, 6) if isinstance(v, float) else v


def _rel(file: str | Path, root: Path) -> str:
    p = Path(file)
    try:
        return str(p.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(p)


def result_passed(result: dict) -> bool:
    """Did every check of a result pass (the baseline check aside)? CLI results carry ``ok``."""
    checks = result.get("checks")
    if checks is None:
        return bool(result.get("ok", False))
    return all(c.get("outcome") != "failed" for name, c in checks.items() if name != "baseline")


def update_baseline(path: Path, results: Iterable[dict]) -> tuple[list[str], list[str]]:
    """Rewrite the entries of these results in ``path`` (others are kept), atomically and under a
    lock. A result whose other checks failed is not recorded. Returns (updated, refused) keys.

    A gate-only result (no emulator run) replaces the memory metrics and keeps the rest."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    updated, refused = [], []
    with _locked(path.with_name(f".{path.name}.lock")):
        entries = read_entries(path)
        for r in results:
            key = baseline_key(r["file"], r["scenario"], r["board"])
            entry = make_entry(r, path.parent.parent)
            if not any(m.name in entry["metrics"] for m in METRICS):
                continue  # nothing measured (e.g. a scenario the gate must reject at link time)
            if not result_passed(r):
                refused.append(key)
                continue
            old = entries.get(key)
            if old is not None and "status" not in r["metrics"]:  # gate only: nothing was run
                entry["metrics"] = {**old.get("metrics", {}), **entry["metrics"]}
            entries[key] = entry
            updated.append(key)
        doc = {"version": FORMAT_VERSION,
               "about": "per-scenario metrics compared by the 'baseline' check; regenerate with "
                        "`pytest scenarios/ --update-baseline`",
               "models": models_of(entries),
               "scenarios": dict(sorted(entries.items()))}
        write_text_atomic(path, json.dumps(doc, indent=2) + "\n")
    return updated, refused


class _locked:
    """An exclusive ``flock`` on a lock file, for read-modify-write of shared report files."""

    def __init__(self, lock: Path):
        self.lock = lock

    def __enter__(self) -> None:
        self.fd = os.open(self.lock, os.O_CREAT | os.O_RDWR, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


# -- the check -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    ok: bool
    summary: str
    details: str = ""
    skipped: bool = False


@dataclass
class Baseline:
    """The baseline file of a session, read once; ``update`` means this session rewrites it."""

    path: Path
    update: bool = False
    _entries: dict[str, dict] | None = field(default=None, repr=False)

    def entry(self, file: str | Path, scenario: str, board: str) -> dict | None:
        if self._entries is None:
            self._entries = read_entries(self.path)
        return self._entries.get(baseline_key(file, scenario, board))

    def check(self, scenario: Any, metrics: dict[str, Any], symbols: dict[str, dict[str, int]]) -> Verdict:
        """Compare a scenario's metrics (and, for memory, its symbols) with its baseline entry."""
        key = baseline_key(scenario.file, scenario.name, scenario.board)
        entry = self.entry(scenario.file, scenario.name, scenario.board)
        if entry is None:
            if self.update:
                return Verdict(True, f"no baseline yet for {key}: recorded at the end of this session")
            return Verdict(True, f"no baseline yet for {key} in {self.path}: run with --update-baseline "
                                 "to record one", skipped=True)
        changed = _model_changed(entry, metrics)
        if changed and not self.update:
            return Verdict(False, changed, f"  {UPDATE_HINT}")
        tol: Tolerance = getattr(scenario, "tolerance", None) or Tolerance()
        deltas = compare(entry.get("metrics", {}), metrics, tol)
        worse = [d for d in deltas if d.verdict == "worse"]
        better = [d for d in deltas if d.verdict == "better"]
        rows = [f"  baseline {key} ({self.path}, updated {entry.get('updated', '?')})"]
        rows += [f"  {_MARK[d.verdict]} {d.describe()}" for d in deltas]
        rows += _explain([d for d in deltas if d.verdict in ("worse", "better")
                          or (d.verdict == "within" and d.change > 0 and d.metric.region)],
                         entry, metrics, symbols, only_growth=not self.update)
        details = "\n".join(rows)
        if self.update:
            moved = [d for d in deltas if d.verdict in ("worse", "better")]
            what = "; ".join(d.describe() for d in moved) if moved else "every metric within tolerance"
            return Verdict(True, f"baseline updated at the end of this session: {what}", details)
        problems = []
        if worse:
            problems.append("worse than the baseline: " + "; ".join(d.describe() for d in worse))
        if better:
            problems.append("better than the baseline beyond tolerance: "
                            + "; ".join(d.describe() for d in better)
                            + ". The baseline is out of date: run with --update-baseline and commit "
                              "reports/baseline.json")
        if problems:
            return Verdict(False, "\n".join(problems), details + f"\n  {UPDATE_HINT}")
        compared = [d for d in deltas if d.verdict == "within"]
        shown = ", ".join(_short(d) for d in compared) or "nothing to compare"
        return Verdict(True, f"within tolerance of the baseline: {shown}", details)


def _model_changed(entry: dict, metrics: dict[str, Any]) -> str | None:
    """Why the numbers are not comparable, when the model file is not the baseline's."""
    old = entry.get("model") if isinstance(entry.get("model"), dict) else None
    new_sha = metrics.get("model_sha256")
    if old is None and new_sha is None:
        return None
    if old is None:
        return (f"the baseline was recorded without a model file; this run uses "
                f"{metrics.get('model_file', '?')} (sha256 {new_sha}): the numbers are not comparable")
    if new_sha is None:
        return (f"the baseline was recorded with the model file {old.get('file')} (sha256 "
                f"{old.get('sha256')}); this run uses seeded random weights")
    if old.get("sha256") != new_sha:
        return (f"the model file changed: the baseline was recorded with {old.get('file')} sha256 "
                f"{old.get('sha256')}, this run uses {metrics.get('model_file', '?')} sha256 {new_sha}. "
                f"The numbers are not comparable: if the new model is intended, re-record the baseline "
                f"with it; if not, restore the committed model file (git checkout -- {old.get('file')})")
    return None


_MARK = {"worse": "WORSE ", "better": "BETTER", "within": "ok    ", "new": "new   ", "missing": "n/a   "}


def _short(d: Delta) -> str:
    if d.metric.unit == "fraction":
        return f"{d.metric.name} {d.change:+.2f} pp"
    if d.metric.unit == "bytes":
        return f"{d.metric.name} {d.change:+.0f} B"
    return f"{d.metric.name} {100.0 * d.change / d.old if d.old else 0.0:+.2f}%"


def _explain(deltas: list[Delta], entry: dict, metrics: dict[str, Any],
             symbols: dict[str, dict[str, int]], only_growth: bool) -> list[str]:
    """Symbol-level diff of each memory region that moved, and the stack's share of peak SRAM."""
    rows: list[str] = []
    old_syms = entry.get("largest_symbols", {})
    done = set()
    for d in deltas:
        region = d.metric.region
        if region is None:
            continue
        if d.metric.name == "peak_sram":
            o, n = entry.get("metrics", {}).get("stack_high_water"), metrics.get("stack_high_water")
            if o is not None and n is not None and o != n:
                rows.append(f"  stack high-water: {o} B -> {n} B ({n - o:+d} B of the peak SRAM change)")
        if region in done:
            continue
        done.add(region)
        changes = symbol_diff(old_syms.get(region, {}), symbols.get(region, {}))
        grew = [c for c in changes if c.delta > 0]
        shrank = [c for c in changes if c.delta < 0]
        if not old_syms.get(region):
            rows.append(f"  {region} symbols: the baseline lists none (regenerate it to get the diff)")
            continue
        if grew:
            rows.append(f"  {region} symbols that grew or appeared (largest growth first):")
            rows += [f"    {c.describe()}" for c in grew[:12]]
        elif d.change > 0:
            rows.append(f"  {region} symbols: none of the largest grew "
                        + ("(the growth is the stack)" if d.metric.name == "peak_sram" else
                           "(the growth is spread over small symbols and alignment)"))
        if shrank and not (only_growth and d.change > 0):
            rows.append(f"  {region} symbols that shrank or went away:")
            rows += [f"    {c.describe()}" for c in sorted(shrank, key=lambda c: c.delta)[:6]]
    return rows


# -- history -------------------------------------------------------------------------------------
def git_commit(repo: Path) -> tuple[str | None, bool]:
    """(HEAD commit, whether tracked files differ from it); (None, False) outside git."""
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return None, False
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip(), bool(dirty.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        return None, False


def append_history(path: Path, results: Iterable[dict], source: str, repo: Path) -> int:
    """Append one JSON line per result to ``path`` in a single write under a lock; returns the count."""
    commit, dirty = git_commit(repo)
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    lines = []
    for r in results:
        m = r.get("metrics", {})
        lines.append(json.dumps({
            "time": now, "commit": commit, "dirty": dirty, "source": source,
            "key": baseline_key(r["file"], r["scenario"], r["board"]),
            "passed": result_passed(r), "status": m.get("status"),
            "metrics": {k: _round(m[k]) for k in [x.name for x in METRICS] + list(CONTEXT)
                        if m.get(k) is not None},
        }, sort_keys=True))
    if not lines:
        return 0
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)  # closing releases the lock
    return len(lines)
