"""``mcutrain merge DIR...``: the reports of ``--mcutrain-shard=i/N`` runs joined into one
``report.json`` (with ``summary.md`` and ``report.html``), and the baseline comparison run once
over the joined result.

The shards must be one split of one suite: the same ``N``, every index from 1 to ``N`` once, the
same suite fingerprint, no scenario twice, and the same cross-compiler and emulator (the numbers
are only comparable from identical toolchains). Anything else is refused before a file is written.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .baseline import Baseline, Tolerance, baseline_key, parse_bytes_tolerance, parse_count_tolerance, \
    parse_pp_tolerance
from .errors import MctError
from .fsutil import write_text_atomic
from .report import REPORT_HTML, REPORT_JSON, SUMMARY_MD, new_report_dir, render_html, render_summary, \
    scenario_result
from .shard import OPTION

#: Environment entries that must be equal in every shard: they make the numbers.
TOOLCHAIN = ("cross_compiler", "emulator")
_TOLERANCE_PARSERS = {"sram": parse_bytes_tolerance, "flash": parse_bytes_tolerance,
                      "step_instructions": parse_count_tolerance, "accuracy": parse_pp_tolerance}
_RERUN = f"run every shard of one CI run with the same {OPTION}=i/N, N and checkout"


class MergeError(MctError):
    """Shard reports that cannot be joined into one report."""


@dataclass(frozen=True)
class ShardReport:
    path: Path          # its report.json
    doc: dict
    index: int
    total: int
    files: tuple[str, ...]
    suite_sha256: str | None
    rootdir: str | None


def load_shard(path: Path) -> ShardReport:
    """A shard's ``report.json`` (``path`` is the file or its folder), checked for its ``shard`` record."""
    path = Path(path)
    target = path / REPORT_JSON if path.is_dir() else path
    if not target.is_file():
        raise MergeError(f"no shard report at {target}",
                         "give each shard's report folder (its --report-dir) or its report.json; "
                         "in CI, download every shard's artifact before merging")
    try:
        doc = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MergeError(f"cannot read the shard report {target}: {e}",
                         "re-run that shard (the file is damaged or was cut off)") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("scenarios"), list):
        raise MergeError(f"{target} is not an mcutrain report (no 'scenarios' list)",
                         "give the report.json a shard run of pytest wrote")
    shard = doc.get("shard")
    if not isinstance(shard, dict):
        raise MergeError(f"{target} is not a shard's report (no 'shard' record)",
                         f"merge the reports of `pytest {OPTION}=i/N --report-dir DIR` runs")
    index, total, files = shard.get("index"), shard.get("total"), shard.get("files")
    if not (isinstance(index, int) and isinstance(total, int) and 1 <= index <= total):
        raise MergeError(f"{target}: the shard record has no valid index/total ({index!r}/{total!r})",
                         "re-run that shard")
    if not isinstance(files, list):
        raise MergeError(f"{target}: shard {index}/{total} does not know its files (its collection failed)",
                         "fix the collection error that shard printed and re-run it")
    return ShardReport(target, doc, index, total, tuple(files), shard.get("suite_sha256"),
                       shard.get("rootdir"))


def _scenario_key(entry: dict, shard: ShardReport) -> tuple[str, str]:
    """(file relative to the shard's rootdir, scenario): the same on every runner's checkout."""
    file = Path(str(entry.get("file", "?")))
    if shard.rootdir:
        try:
            file = file.relative_to(shard.rootdir)
        except ValueError:
            pass
    return file.as_posix(), str(entry.get("scenario", "?"))


def check_shards(shards: list[ShardReport]) -> None:
    """MergeError unless the shards are one complete, disjoint split of one suite on one toolchain."""
    if not shards:
        raise MergeError("no shard reports given", "give every shard's report folder")
    first = shards[0]
    for s in shards[1:]:
        if s.total != first.total:
            raise MergeError(f"shards of different splits: {first.path} is shard {first.index}/{first.total}, "
                             f"{s.path} is shard {s.index}/{s.total}", _RERUN)
    seen: dict[int, ShardReport] = {}
    for s in shards:
        if s.index in seen:
            raise MergeError(f"shard {s.index}/{s.total} given twice: {seen[s.index].path} and {s.path}",
                             "give each shard's report once")
        seen[s.index] = s
    missing = [i for i in range(1, first.total + 1) if i not in seen]
    if missing:
        raise MergeError(f"missing shard{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(f'{i}/{first.total}' for i in missing)}: got only "
                         f"{', '.join(str(i) for i in sorted(seen))}",
                         "give the report of every shard (a failed CI job still uploads its report; "
                         "re-run it if it did not)")
    for s in shards[1:]:
        if s.suite_sha256 != first.suite_sha256:
            raise MergeError(f"the shards split different suites: {first.path} and {s.path} collected "
                             "different files or item counts", f"{_RERUN} (and the same paths and options)")
    owner: dict[str, ShardReport] = {}
    for s in shards:
        for f in s.files:
            if f in owner:
                raise MergeError(f"the file {f} ran in two shards: {owner[f].path} and {s.path}", _RERUN)
            owner[f] = s
    where: dict[tuple[str, str], ShardReport] = {}
    for s in shards:
        for entry in s.doc["scenarios"]:
            key = _scenario_key(entry, s)
            if key in where:
                raise MergeError(f"scenario {key[1]!r} of {key[0]} is in two shards: {where[key].path} and "
                                 f"{s.path}", _RERUN)
            where[key] = s
    for name in TOOLCHAIN:
        values = {str(s.doc.get("environment", {}).get(name)): s for s in shards}
        if len(values) > 1:
            listed = "; ".join(f"{v!r} ({s.path})" for v, s in values.items())
            raise MergeError(f"the shards ran with different {name.replace('_', ' ')}s: {listed}. Sizes and "
                             "instruction counts are only comparable from one toolchain",
                             "run every shard on the same image (pin the toolchain version in the CI "
                             "cache key or container) and re-run the shards")


def _tolerance(entry: dict, report: Path) -> Tolerance:
    written = entry.get("tolerance")
    if not isinstance(written, dict):
        raise MergeError(f"{report}: scenario {entry.get('scenario')!r} has no 'tolerance' record "
                         "(written by an older mcutrain)",
                         "re-run the shards with this version of mcutrain")
    try:
        return Tolerance(**{k: _TOLERANCE_PARSERS[k](v) for k, v in written.items() if k in _TOLERANCE_PARSERS})
    except ValueError as e:
        raise MergeError(f"{report}: scenario {entry.get('scenario')!r}: bad tolerance in the report: {e}",
                         "re-run that shard") from None


@dataclass(frozen=True)
class _Subject:
    """What ``Baseline.check`` reads of a scenario, rebuilt from a report entry."""

    file: str
    name: str
    board: str
    tolerance: Tolerance


def compare_with_baseline(doc: dict, baseline: Path, sources: dict[int, Path]) -> dict:
    """The ``baseline`` record of a merged report: each scenario's verdict from
    ``harness.baseline.Baseline.check`` (the per-scenario check's logic), and the totals.
    ``sources[i]`` is the report the i-th scenario came from (named in errors)."""
    base = Baseline(Path(baseline))
    rows = []
    for i, entry in enumerate(doc["scenarios"]):
        subject = _Subject(str(entry["file"]), str(entry["scenario"]), str(entry.get("board", "?")),
                           _tolerance(entry, sources[i]))
        metrics = entry.get("metrics", {})
        try:
            # The report keeps each region's largest symbols only (the ELF stays on the runner):
            # they explain a change in the details; the verdict reads the metrics alone.
            v = base.check(subject, metrics, metrics.get("largest_symbols", {}))
            verdict = "skipped" if v.skipped else "ok" if v.ok else "regressed"
            summary, details = v.summary, v.details
        except MctError as e:  # an unreadable baseline file: the same for every scenario
            raise MergeError(e.message, e.fix) from None
        rows.append({"key": baseline_key(subject.file, subject.name, subject.board),
                     "scenario": subject.name, "board": subject.board, "verdict": verdict,
                     "summary": summary, "details": details})
    counts = {"within": sum(r["verdict"] == "ok" for r in rows),
              "regressed": sum(r["verdict"] == "regressed" for r in rows),
              "skipped": sum(r["verdict"] == "skipped" for r in rows)}
    return {"path": str(baseline), "ok": counts["regressed"] == 0, **counts, "scenarios": rows}


def merge_reports(shards: list[ShardReport], baseline: Path) -> dict:
    """The merged document (``check_shards`` first)."""
    check_shards(shards)
    shards = sorted(shards, key=lambda s: s.index)
    tagged = sorted(((_scenario_key(e, s), e, s.path) for s in shards for e in s.doc["scenarios"]),
                    key=lambda t: t[0])
    first_env = dict(shards[0].doc.get("environment", {}))
    doc: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "environment": first_env,
        "merged_from": [{"index": s.index, "total": s.total, "report": str(s.path),
                         "created": s.doc.get("created"), "environment": s.doc.get("environment", {}),
                         "files": list(s.files), "scenarios": len(s.doc["scenarios"])} for s in shards],
        "scenarios": [e for _, e, _ in tagged],
    }
    doc["baseline"] = compare_with_baseline(doc, baseline, {i: p for i, (_, _, p) in enumerate(tagged)})
    return doc


@dataclass(frozen=True)
class MergeResult:
    report: Path
    doc: dict
    failed_checks: list[str]      # "scenario: check" of every failed check in any shard

    @property
    def exit_code(self) -> int:
        return 0 if self.doc["baseline"]["ok"] and not self.failed_checks else 1


def merge(paths: list[Path], out: Path | None, baseline: Path, reports_parent: Path) -> MergeResult:
    """Load, check, merge and compare; then write report.json, summary.md and report.html into
    ``out`` (default: a new ``reports_parent/merged-<timestamp>-<random>``). Every view is
    rendered before the first file is written, so an error leaves nothing behind."""
    shards = [load_shard(p) for p in paths]
    doc = merge_reports(shards, baseline)
    texts = {REPORT_JSON: json.dumps(doc, indent=2, default=str) + "\n",
             SUMMARY_MD: render_summary(doc), REPORT_HTML: render_html(doc)}
    if out is not None and (Path(out) / REPORT_JSON).resolve() in {s.path.resolve() for s in shards}:
        raise MergeError(f"the output folder {out} holds one of the shard reports being merged",
                         "give another folder with -o")
    try:
        folder = Path(out) if out is not None else new_report_dir(reports_parent, "merged-" + time.strftime(
            "%Y%m%d-%H%M%S"))
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            write_text_atomic(folder / name, text)
    except OSError as e:
        raise MergeError(f"cannot write the merged report: {e}", "give a writable folder with -o") from None
    failed = [f"{e['scenario']}: {name}" for e in doc["scenarios"]
              for name, c in e.get("checks", {}).items() if c.get("outcome") == "failed"]
    failed += [f"{e['scenario']}" for e in doc["scenarios"] if not e.get("checks") and not e.get("ok", True)]
    return MergeResult(folder / REPORT_JSON, doc, failed)


def format_result(result: MergeResult) -> str:
    """What ``mcutrain merge`` prints: each scenario's baseline verdict, then the totals."""
    doc, b = result.doc, result.doc["baseline"]
    lines = [f"merged {len(doc['merged_from'])} shard(s), {len(doc['scenarios'])} scenario(s); "
             f"baseline {b['path']}:"]
    mark = {"ok": "ok       ", "regressed": "REGRESSED", "skipped": "skipped  "}
    for row, entry in zip(b["scenarios"], doc["scenarios"]):
        lines.append(f"  {mark[row['verdict']]} {row['key']} [{scenario_result(entry)}]: {row['summary']}")
        if row["verdict"] == "regressed" and row["details"]:
            lines += ["      " + line for line in row["details"].splitlines()]
    lines.append(f"baseline: {b['within']} within, {b['regressed']} regressed, {b['skipped']} not compared; "
                 f"checks failed in the shards: {len(result.failed_checks)}"
                 + (f" ({', '.join(result.failed_checks[:10])}{', ...' if len(result.failed_checks) > 10 else ''})"
                    if result.failed_checks else ""))
    lines.append(f"report: {result.report}")
    lines.append(f"HTML report: {result.report.parent / REPORT_HTML}  (CI summary: "
                 f"{result.report.parent / SUMMARY_MD})")
    return "\n".join(lines)


def add_parser(sub) -> None:
    p = sub.add_parser("merge", help=f"join the reports of {OPTION}=i/N runs and compare the result with "
                                     "the baseline once; exit 1 on a regression or a failed check",
                       description=__doc__)
    p.add_argument("reports", nargs="+", metavar="DIR", help="each shard's report folder or report.json")
    p.add_argument("-o", "--output", help="folder of the merged report (default: merged-<timestamp>-<random> "
                                          "in the project's reports folder, [tool.mcutrain] reports)")
    p.add_argument("--baseline", default=None,
                   help="the baseline to compare with (default: the project's, [tool.mcutrain] baseline, "
                        "reports/baseline.json unless configured)")
    p.set_defaults(fn=cmd_merge)


def cmd_merge(args) -> int:
    from .project import for_cli

    project = for_cli()
    result = merge([Path(p) for p in args.reports], Path(args.output) if args.output else None,
                   Path(args.baseline) if args.baseline else project.baseline, project.reports)
    print(format_result(result))
    return result.exit_code
