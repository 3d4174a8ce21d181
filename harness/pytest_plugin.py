"""pytest integration: scenario YAML files become test items that share one build and one run.

Installed with mcutrain, pytest loads this plugin through the ``pytest11`` entry point in any
repository: scenario files are found where the project says (``[tool.mcutrain]`` in pyproject.toml,
or the ``mcutrain_*`` ini options; harness/project.py), and tests get the ``mcutrain_run`` fixture,
whose typed ``RunResult`` (harness/result.py) shares the scenario items' build and run.

Each scenario yields one item per check of ``harness.pipeline.CHECKS`` (``build``, ``memory``,
``run``, ...). Build and memory items carry the ``gate`` marker (no emulator needed); the
others carry ``emulate``. A failing item reports the numbers against the budget, the
reason and the console tail, and points at the scenario's ``file:line``.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from . import shard_plugin
from .baseline import append_history, update_baseline
from .errors import MctError
from .fsutil import write_text_atomic
from .pipeline import Pipeline, applicable_checks
from .project import KEYS as PROJECT_KEYS
from .project import Project, ProjectError, activate, load_project
from .result import RunResult
from .report import check_report_targets, new_report_dir, scenario_info, write_views_and_say
from .scenario import Scenario, load_scenarios
from .yamlsrc import excerpt

_PIPELINE = pytest.StashKey[Pipeline]()
_REPORT_STAMP = pytest.StashKey[str]()
_PROJECT = pytest.StashKey[Project]()
_OUTER_PROJECT = pytest.StashKey["Project | None"]()
_INI_HELP = {
    "scenarios": "scenario files or folders (default: any *.yaml below a folder named scenarios)",
    "boards": "folders of extra board profiles (<name>.yaml)",
    "apps": "folders of firmware apps (one sub-folder per app)",
    "baseline": "the baseline file (default: reports/baseline.json)",
    "reports": "the folder each run makes its report folder in (default: reports)",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mcutrain")
    group.addoption("--emulator", default="qemu", choices=["qemu", "renode"],
                    help="emulator backend for scenario runs (default: qemu)")
    group.addoption("--report-dir", default=None,
                    help="where to write report.json (default: reports/<timestamp>)")
    group.addoption("--gate", action="store_true",
                    help="run only the build and memory checks of scenarios (no emulation)")
    group.addoption("--update-baseline", action="store_true",
                    help="record the metrics of the scenarios that ran (and passed) in "
                         "reports/baseline.json instead of failing on a change")
    shard_plugin.add_option(group)
    for key in PROJECT_KEYS:  # override [tool.mcutrain] of pyproject.toml key by key
        parser.addini(f"mcutrain_{key}", f"mcutrain: {_INI_HELP[key]}",
                      type="paths" if key in ("scenarios", "boards", "apps") else "string")


def _report_parent(config: pytest.Config) -> Path:
    """--report-dir itself, or the project's reports folder under which each session makes its own."""
    opt = config.getoption("--report-dir")
    return Path(opt) if opt else config.stash[_PROJECT].reports


def _load_project(config: pytest.Config) -> Project:
    """The project at pytest's rootdir, with the ini options over its [tool.mcutrain] table."""
    overrides = {}
    for key in PROJECT_KEYS:
        value = config.getini(f"mcutrain_{key}")
        overrides[key] = [str(p) for p in value] if isinstance(value, list) else value
    return load_project(Path(config.rootpath), overrides)


def pytest_configure(config: pytest.Config) -> None:
    try:
        project = _load_project(config)
    except ProjectError as e:
        raise pytest.UsageError(f"mcutrain: {e}") from None  # str(MctError): cause, then fix
    config.stash[_PROJECT] = project
    config.stash[_OUTER_PROJECT] = activate(project)
    if not hasattr(config, "workerinput"):  # the controller writes the report: check it can, first
        try:
            check_report_targets(_report_parent(config), project.history, "--report-dir")
        except MctError as e:
            raise pytest.UsageError(f"mcutrain: {e}") from None  # str(MctError): cause, then fix
    config.stash[_REPORT_STAMP] = time.strftime("%Y%m%d-%H%M%S")
    config.addinivalue_line("markers", "mcutrain_tag(word): a scenario's tag (select with -k word)")
    config.addinivalue_line("markers", "gate: a scenario's build and memory checks (no emulator)")
    config.addinivalue_line("markers", "emulate: a scenario check that needs the emulator")
    config.stash[_PIPELINE] = Pipeline(emulator=config.getoption("--emulator"),
                                       baseline=project.baseline,
                                       update_baseline=config.getoption("--update-baseline"))
    config.pluginmanager.register(ResultCollector(config), "mcutrain-results")
    shard_plugin.configure(config)


@pytest.fixture(scope="session")
def mcutrain_pipeline(pytestconfig: pytest.Config) -> Pipeline:
    """The session's pipeline: the same builds and runs the scenario items use.

    ``mcutrain_pipeline.run(scenario)`` returns an ``Outcome`` with ``firmware``, ``memory``
    (the ELF report), ``run`` (the emulator's result) and ``metrics``.
    """
    return pytestconfig.stash[_PIPELINE]


def pytest_unconfigure(config: pytest.Config) -> None:
    """Give back the project that was active before this session (a pytester run inside a test
    session must not leave its temporary project active for the tests after it)."""
    if _OUTER_PROJECT in config.stash:
        activate(config.stash[_OUTER_PROJECT])


@pytest.fixture(scope="session")
def mcutrain_project(pytestconfig: pytest.Config) -> Project:
    """The project's resolved locations: ``root``, ``scenarios``, ``boards``, ``apps``, ``baseline``,
    ``reports`` (harness/project.py)."""
    return pytestconfig.stash[_PROJECT]


@pytest.fixture(scope="session")
def mcutrain_run(pytestconfig: pytest.Config):
    """``mcutrain_run(path, name=None, board=None) -> RunResult``: build and run one scenario and
    return its typed result (harness/result.py: ``flash``, ``static_sram``, ``peak_sram``,
    ``stack_high_water``, ``step_instructions``, ``step_ms``, ``predict_instructions``,
    ``accuracy_before``, ``accuracy_after``, ``epoch_loss``, ``checksum_before``, ``checksum_after``,
    ``largest_symbols``, ``status``, ...).

    ``path`` is relative to the project root (or absolute); ``name`` picks a scenario of the file
    (needed when it holds several); ``board`` retargets it to that board profile. The build and
    the run are the session's: a scenario item of the same scenario in the same process reuses them.
    """
    pipeline = pytestconfig.stash[_PIPELINE]
    root = pytestconfig.stash[_PROJECT].root

    def run(path: str | Path, name: str | None = None, board: str | None = None) -> RunResult:
        scenario = pick_scenario(root, path, name, board)
        return RunResult.from_outcome(pipeline.run(scenario))

    return run


def pick_scenario(root: Path, path: str | Path, name: str | None, board: str | None) -> Scenario:
    """The one scenario of ``path`` named ``name`` (either its own name or ``name[board]``), built for
    ``board``; LookupError naming the choices when none or several match."""
    file = Path(path) if Path(path).is_absolute() else root / path
    if not file.is_file():
        raise LookupError(f"no scenario file {file}")
    file = file.absolute()
    every = load_scenarios(file)
    if name is not None and "[" in name:  # an expanded name, e.g. "kws[stm32f4]"
        exact = [s for s in every if s.name == name and board in (None, s.board)]
        if exact:
            return exact[0]
    bases = list(dict.fromkeys(s.name.split("[")[0] for s in every))
    listed = ", ".join(s.name for s in every)
    if name is None and len(bases) != 1:
        raise LookupError(f"{len(bases)} scenarios in {file} (give name=); it has: {listed}")
    base = bases[0] if name is None else name
    if base not in bases:
        raise LookupError(f"no scenario {name!r} in {file}; it has: {listed}")
    found = [s for s in every if s.name.split("[")[0] == base and board in (None, s.board)]
    if not found:  # a board the file does not list for it: the same scenario retargeted
        found = load_scenarios(file, boards=(board,), only=base)
    if len(found) != 1:
        raise LookupError(f"scenario {base!r} of {file} runs on {', '.join(s.board for s in found)}: "
                          "give board=")
    return found[0]


@pytest.fixture(scope="session")
def load_scenario():
    """``load_scenario(path, name)``: one validated scenario of a YAML file."""

    def load(path: str | Path, name: str) -> Scenario:
        found = [s for s in load_scenarios(Path(path)) if s.name == name]
        if not found:
            raise LookupError(f"no scenario {name!r} in {path}")
        return found[0]

    return load


@pytest.hookimpl(wrapper=True)
def pytest_collect_directory(path: Path, parent: pytest.Collector):
    collector = yield
    if type(collector) is pytest.Dir and parent.config.stash[_PROJECT].is_scenario_dir(path):
        return ScenarioDir.from_parent(parent, path=path)
    return collector


class ScenarioDir(pytest.Dir):
    """A folder of scenario files. pytest's own walk silently skips an entry it cannot stat as a
    file (a symlink loop, a dangling link, a link to a device); a ``*.yaml`` entry of that kind
    is collected here anyway, so its ``load`` item fails and says what is wrong with it."""

    def collect(self):
        yield from super().collect()
        for entry in sorted(os.scandir(self.path), key=lambda e: e.name):
            path = Path(entry.path)
            if path.suffix in (".yaml", ".yml") and not _walkable(entry):
                yield ScenarioFile.from_parent(self, path=path)


def _walkable(entry: os.DirEntry) -> bool:
    """Whether pytest's walk sees ``entry`` as a file or a folder (a symlink loop raises ELOOP)."""
    try:
        return entry.is_file() or entry.is_dir()
    except OSError:
        return False


def pytest_collect_file(file_path: Path, parent: pytest.Collector):
    if parent.config.stash[_PROJECT].is_scenario_file(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioCollectError(Exception):
    pass


def load_for_collection(path: Path) -> list[Scenario]:
    """``load_scenarios``, with any failure turned into one ``ScenarioCollectError`` message:
    an MctError as it is, anything else (a bug in the loader) named as such, so one bad file
    fails its own collection and every other file still runs."""
    try:
        return load_scenarios(path)
    except MctError as e:
        raise ScenarioCollectError(str(e)) from None
    except Exception as e:  # noqa: BLE001 - must not stop the session: reported for this file
        raise ScenarioCollectError(
            f"{path}: the scenario loader failed on this file ({type(e).__name__}: {excerpt(str(e))})\n"
            "  fix: this is a bug in mcutrain's validation, not in your file's format alone: report it "
            "with the file; meanwhile check the file against scenarios/README.md") from None


class ScenarioFile(pytest.File):
    """A scenario file's items. A file that does not load yields one ``load`` item that fails
    with the loader's message: a collection error would stop the whole session (pytest runs
    nothing after one), while a failing item leaves every other file and ``tests/`` running."""

    def collect(self):
        try:
            scenarios = load_for_collection(self.path)
        except ScenarioCollectError as e:
            item = ScenarioLoadFailure.from_parent(self, name="load", message=str(e))
            item.add_marker("gate")
            yield item
            return
        gate_only = self.config.getoption("--gate")
        for scenario in scenarios:
            for check, is_gate in applicable_checks(scenario):
                if gate_only and not is_gate:
                    continue
                item = ScenarioItem.from_parent(self, name=f"{scenario.name}::{check}",
                                                scenario=scenario, check=check)
                item.add_marker("gate" if is_gate else "emulate")
                for tag in scenario.tags:  # namespaced: a tag never acts as one of pytest's marks
                    item.add_marker(pytest.mark.mcutrain_tag(tag))
                    item.extra_keyword_matches.add(tag)
                yield item

    def repr_failure(self, excinfo):  # Collector.repr_failure takes no style
        if excinfo.errisinstance(ScenarioCollectError):
            return f"invalid scenario file:\n{excinfo.value}"
        return super().repr_failure(excinfo)


class ScenarioLoadFailure(pytest.Item):
    """Stands for a scenario file that could not be loaded; fails with the loader's message."""

    def __init__(self, *, message: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.message = message

    def runtest(self) -> None:
        raise ScenarioCollectError(self.message)

    def repr_failure(self, excinfo, style=None):
        if excinfo.errisinstance(ScenarioCollectError):
            return f"invalid scenario file:\n{excinfo.value}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"{self.path.name}::load"


class ScenarioCheckFailed(Exception):
    pass


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, check: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.scenario = scenario
        self.check = check

    def runtest(self) -> None:
        pipeline = self.config.stash[_PIPELINE]
        result = pipeline.check(self.scenario, self.check)
        outcome = pipeline.outcome(self.scenario)
        self.user_properties.append(("mcutrain", json.dumps({
            "file": str(self.scenario.file), "scenario": self.scenario.name,
            "board": self.scenario.board, "check": self.check, "ok": result.ok,
            "summary": result.summary, "metrics": outcome.metrics,
            "info": scenario_info(self.scenario, outcome.board),
        }, default=str)))
        if result.skipped:
            pytest.skip(result.summary)
        if not result.ok:
            raise ScenarioCheckFailed(result.text())

    def repr_failure(self, excinfo, style=None):
        if excinfo.errisinstance(ScenarioCheckFailed):
            return (f"scenario {self.scenario.name!r} ({self.scenario.location}), check "
                    f"{self.check!r} on board {self.scenario.board}:\n{excinfo.value}")
        if excinfo.errisinstance(MctError):
            return f"scenario {self.scenario.name!r} ({self.scenario.location}): {excinfo.value}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.scenario.file, self.scenario.line - 1, f"{self.scenario.name}::{self.check}"


class ResultCollector:
    """Collects per-scenario metrics from test reports (they cross xdist workers)."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.results: dict[tuple[str, str], dict] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and not (report.when == "setup" and report.skipped):
            return
        for key, value in report.user_properties:
            if key != "mcutrain":
                continue
            data = json.loads(value)
            entry = self.results.setdefault((data["file"], data["scenario"]), {
                "file": data["file"], "scenario": data["scenario"], "board": data["board"],
                "checks": {}, "metrics": {}})
            entry["checks"][data["check"]] = {"outcome": report.outcome, "summary": data["summary"]}
            entry.update(data.get("info", {}))
            entry["metrics"].update(data["metrics"])

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        extra = shard_plugin.report_fields(self.config)  # a shard reports even when it ran nothing
        if hasattr(self.config, "workerinput") or not (self.results or extra):
            return  # an xdist worker: the controller writes the report
        parent = _report_parent(self.config)
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        try:
            report_dir = (parent if self.config.getoption("--report-dir")
                          else new_report_dir(parent, self.config.stash[_REPORT_STAMP]))
            path = write_report(self.results, report_dir, extra)
        except OSError as e:  # checked at configure; this is the folder changing during the session
            if tr is not None:
                tr.write_line(f"mcutrain: cannot write the report under {parent}: {e}", red=True)
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
            return
        if tr is not None:
            tr.write_line(f"mcutrain report: {path}")
        views = write_views_and_say(path)
        if tr is not None:
            tr.write_line(f"mcutrain {views}")
        project = self.config.stash[_PROJECT]
        append_history(project.history, self.results.values(), "pytest", project.root)
        if self.config.getoption("--update-baseline"):
            updated, refused = update_baseline(project.baseline, self.results.values())
            if tr is not None:
                tr.write_line(f"mcutrain baseline: {len(updated)} scenario(s) recorded in {project.baseline}"
                              + (f"; not recorded (checks failed): {', '.join(refused)}" if refused else ""))


def _tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
        return out.splitlines()[0].strip() if out else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"


def write_report(results: dict, report_dir: Path, extra: dict | None = None) -> Path:
    """Write ``report.json`` atomically into ``report_dir`` and return its path."""
    report_dir.mkdir(parents=True, exist_ok=True)
    doc = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cross_compiler": _tool_version(["arm-none-eabi-gcc", "--version"]),
            "emulator": _tool_version(["qemu-system-arm", "--version"]),
        },
        "scenarios": sorted(results.values(), key=lambda r: (r["file"], r["scenario"])),
        **(extra or {}),
    }
    path = report_dir / "report.json"
    write_text_atomic(path, json.dumps(doc, indent=2, default=str) + "\n")
    return path
