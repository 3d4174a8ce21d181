"""``mcutrain``: run scenarios without pytest, list them, render and compare their reports, and check
the installation."""
from __future__ import annotations

import argparse
import errno
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import cli_export, cli_pretrain, merge
from .search import cli_search
from .errors import MctError
from .paths import SOURCE_TREE
from .pipeline import REPO, Pipeline, applicable_checks
from .project import Project, activate, for_cli
from .report import any_worse, check_report_targets, compare_reports, format_comparison, load_report, \
    new_report_dir, newest_report, scenario_info, write_views, write_views_and_say
from .scenario import Scenario, load_scenarios
from .units import fmt_count
from .yamlsrc import excerpt

DEFAULT_SCENARIO = REPO / "scenarios" / "fashion.yaml"
DEFAULT_NAME = "fashion-new-classes"


def _project() -> Project:
    """The working directory's project (harness/project.py), made the active one."""
    project = for_cli()
    activate(project)
    return project


def _default_paths(project: Project) -> list[str]:
    """Without paths: the project's configured scenarios, else its ``scenarios`` folder."""
    return [str(p) for p in project.scenarios] or [str(project.root / "scenarios")]


def _scenario_files(paths: list[str]) -> list[Path]:
    if not paths:
        return [DEFAULT_SCENARIO]
    files: list[Path] = []
    for p in map(Path, paths):
        try:
            p.lstat()
        except OSError as e:  # missing (said below), or a path the system will not look up at all
            if e.errno not in (errno.ENOENT, errno.ENOTDIR):
                raise MctError(f"cannot look up the scenario path {excerpt(str(p), 200)}: {e.strerror}",
                               "give a path to a .yaml file or a folder of them") from None
        if p.is_dir():
            found = sorted(q for q in p.rglob("*.y*ml") if q.suffix in (".yaml", ".yml"))
            if not found:
                raise MctError(f"no scenario files (*.yaml) in the folder {p}",
                               "give a scenario file, or a folder that holds some")
            files += found
        elif p.exists() or p.is_symlink():
            files.append(p)  # load_yaml names what is wrong with it (a symlink loop, not a file...)
        else:
            raise MctError(f"no such scenario file or directory: {p}",
                           "give a path to a .yaml file or a folder of them (see `mcutrain list`)")
    return files


def _load_file(path: Path) -> list[Scenario]:
    """``load_scenarios``; anything but an MctError (a bug in the loader) becomes one MctError."""
    try:
        return load_scenarios(path)
    except MctError:
        raise
    except Exception as e:  # noqa: BLE001 - one clear message instead of a traceback
        raise MctError(f"{path}: the scenario loader failed on this file ({type(e).__name__}: "
                       f"{excerpt(str(e))})",
                       "this is a bug in mcutrain's validation: report it with the file; meanwhile "
                       "check the file against scenarios/README.md") from None


def _load(project: Project, paths: list[str], select: str | None) -> list[Scenario]:
    if not paths and (SOURCE_TREE is None or project.root != SOURCE_TREE):
        paths = _default_paths(project)  # a user's project: its own scenarios
    scenarios = [s for f in _scenario_files(paths) for s in _load_file(f)]
    if not paths and select is None:  # the main job: exactly the default scenario
        return [s for s in scenarios if s.name == DEFAULT_NAME]
    if select:
        scenarios = [s for s in scenarios if select in s.name]
        if not scenarios:
            raise MctError(f"no scenario name contains {select!r}", "see `mcutrain list`")
    return scenarios


def cmd_list(args: argparse.Namespace) -> int:
    project = _project()
    for s in _load(project, args.paths or _default_paths(project), args.k):
        print(f"{s.location:<45} {s.name:<32} {s.board:<10} {s.description}")
    return 0


def _print_outcome(pipeline: Pipeline, s: Scenario, gate: bool) -> tuple[bool, dict]:
    ok = True
    checks: dict[str, dict] = {}
    print(f"\n== {s.name} [{s.board}]  ({s.location})")
    if s.description:
        print(f"   {s.description}")
    for name, is_gate in applicable_checks(s):
        if gate and not is_gate:
            continue
        check = pipeline.check(s, name)
        mark = "skip" if check.skipped else ("PASS" if check.ok else "FAIL")
        ok &= check.ok
        checks[name] = {"outcome": "skipped" if check.skipped else ("passed" if check.ok else "failed"),
                        "summary": check.summary}
        print(f"  [{mark}] {name:<13} {check.summary}")
        if check.details and (not check.ok or name in ("memory", "instructions", "stack", "baseline")):
            print("\n".join("      " + line for line in check.details.splitlines()))
    out = pipeline.outcome(s)
    if out.run is not None and out.run.profile:
        top = sorted(out.run.profile.items(), key=lambda kv: -kv[1])[:8]
        total = max(out.run.insn_total, 1)
        print("  instruction profile (top functions):")
        for fn, n in top:
            print(f"      {fmt_count(n):>20}  {100 * n / total:5.1f}%  {fn}")
    return ok, checks


def cmd_run(args: argparse.Namespace) -> int:
    from .baseline import append_history, update_baseline
    from .pytest_plugin import write_report

    stamp = time.strftime("%Y%m%d-%H%M%S")
    project = _project()
    report_parent = Path(args.report_dir) if args.report_dir else project.reports
    check_report_targets(report_parent, project.history, "--report-dir")  # before any work
    scenarios = _load(project, args.paths, args.k)
    t0 = time.monotonic()

    def progress(msg: str) -> None:
        print(f"      {time.monotonic() - t0:7.1f} s  {msg} ...", flush=True)

    pipeline = Pipeline(emulator=args.emulator, update_baseline=args.update_baseline, baseline=project.baseline,
                        progress=None if args.quiet else progress)
    all_ok = True
    results = {}
    for i, s in enumerate(scenarios, 1):
        print(f"[{i}/{len(scenarios)}] {s.name} ...", flush=True)
        ok, checks = _print_outcome(pipeline, s, args.gate)
        all_ok &= ok
        out = pipeline.outcome(s)
        results[(str(s.file), s.name)] = {
            "file": str(s.file), "scenario": s.name, "board": s.board,
            "ok": ok, "checks": checks, "metrics": out.metrics, **scenario_info(s, out.board)}
    try:
        report_dir = report_parent if args.report_dir else new_report_dir(report_parent, stamp)
        path = write_report(results, report_dir)
        append_history(project.history, results.values(), "cli", project.root)
    except OSError as e:  # checked before the run; this is the folder changing under it
        raise MctError(f"cannot write the report or the history: {e}",
                       f"make {report_parent} and {project.history} writable, or give another "
                       "folder with --report-dir") from None
    if args.update_baseline:
        updated, refused = update_baseline(project.baseline, results.values())
        print(f"baseline: {len(updated)} scenario(s) recorded in {project.baseline}"
              + (f"; not recorded (checks failed): {', '.join(refused)}" if refused else ""))
    verdict = "all checks passed" if all_ok else "SOME CHECKS FAILED"
    print(f"\n{len(scenarios)} scenario(s), {verdict} in {time.monotonic() - t0:.1f} s")
    print(f"report: {path}")
    print(write_views_and_say(path))
    return 0 if all_ok else 1


def cmd_report(args: argparse.Namespace) -> int:
    """Redo summary.md and report.html from a report.json (default: the newest run's)."""
    views = write_views(Path(args.report) if args.report else newest_report(_project().reports))
    print(f"summary: {views.summary}")
    print(f"report:  {views.html}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Old -> new per scenario and metric; exit 1 when any metric got worse."""
    (old, old_path), (new, new_path) = load_report(Path(args.old)), load_report(Path(args.new))
    deltas = compare_reports(old, new)
    print(format_comparison(deltas, str(old_path), str(new_path)))
    return 1 if any_worse(deltas) else 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check the tools and build the emulator plugin; print versions."""
    from .emulators.plugin import ensure_plugin

    ok = True
    for tool, pkg in (("arm-none-eabi-gcc", "gcc-arm-none-eabi"), ("qemu-system-arm", "qemu-system-arm"),
                      ("gcc", "gcc")):
        path = shutil.which(tool)
        if path is None:
            print(f"  missing  {tool:<20} fix: apt-get install --no-install-recommends {pkg}")
            ok = False
            continue
        version = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
        print(f"  ok       {tool:<20} {version.splitlines()[0] if version else '?'}")
    if ok:
        plugin = ensure_plugin()
        print(f"  ok       {'qemu plugin':<20} {plugin}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mcutrain", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log diagnostics")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="build, emulate and check scenarios (default: "
                                       f"{DEFAULT_NAME} in {DEFAULT_SCENARIO.relative_to(REPO)})")
    p_run.add_argument("paths", nargs="*", help="scenario files or folders")
    p_run.add_argument("-k", help="only scenarios whose name contains this text")
    p_run.add_argument("--gate", action="store_true", help="build and memory checks only")
    p_run.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p_run.add_argument("--emulator", default="qemu", choices=["qemu", "renode"])
    p_run.add_argument("--report-dir", help="where to write report.json")
    p_run.add_argument("--update-baseline", action="store_true",
                       help="record these scenarios' metrics in reports/baseline.json")
    p_run.set_defaults(fn=cmd_run)
    p_list = sub.add_parser("list", help="list scenarios")
    p_list.add_argument("paths", nargs="*")
    p_list.add_argument("-k", help="only names containing this text")
    p_list.set_defaults(fn=cmd_list)
    p_rep = sub.add_parser("report", help="write summary.md and report.html of a run")
    p_rep.add_argument("report", nargs="?", help="report directory or report.json (default: the newest "
                                                 "under reports/)")
    p_rep.set_defaults(fn=cmd_report)
    p_cmp = sub.add_parser("compare", help="old -> new per scenario and metric; exit 1 if any got worse")
    p_cmp.add_argument("old", help="report directory or report.json")
    p_cmp.add_argument("new", help="report directory or report.json")
    p_cmp.set_defaults(fn=cmd_compare)
    p_doc = sub.add_parser("doctor", help="check tools, build the emulator plugin")
    p_doc.set_defaults(fn=cmd_doctor)
    cli_pretrain.add_parser(sub)
    cli_export.add_parser(sub)
    cli_search.add_parser(sub)
    merge.add_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.fn(args)
    except MctError as e:
        print(f"mcutrain: error: {e.message}", file=sys.stderr)
        if e.fix:
            print(f"  fix: {e.fix}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mcutrain: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
