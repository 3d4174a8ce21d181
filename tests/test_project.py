"""The project configuration ([tool.mcutrain], mcutrain_* ini options) and the typed run result."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness import project as projmod
from harness.boards import load_board
from harness.errors import ScenarioError
from harness.pipeline import REPO, Pipeline
from harness.project import ProjectError, load_project
from harness.pytest_plugin import pick_scenario
from harness.result import RunResult

PROFILE = """\
name: {name}
description: a project board
core: cortex-m7
fpu: fpv5-sp-d16
float_abi: hard
clock_hz: 216000000
sram: 320KiB
flash: 1MiB
hosts:
  qemu:
    machine: mps2-an500
    flash_origin: 0x00000000
    sram_origin: 0x20000000
    data_region: {{name: PSRAM, origin: 0x60000000, size: 16MiB}}
    console: {{kind: cmsdk-uart, base: 0x40004000}}
    startup: {startup}
"""


@pytest.fixture
def use_project(monkeypatch):
    """Activate the project at a folder for one test (restored afterwards)."""

    def use(root: Path) -> projmod.Project:
        p = load_project(root)
        monkeypatch.setattr(projmod, "_active", p)
        return p

    return use


def test_defaults_keep_the_folder_convention(tmp_path):
    p = load_project(tmp_path)
    assert p.scenarios == () and p.boards == () and p.apps == ()
    assert p.baseline == tmp_path / "reports" / "baseline.json" and p.history == tmp_path / "reports" / "history.jsonl"
    assert p.is_scenario_file(tmp_path / "x" / "scenarios" / "a.yaml")
    assert not p.is_scenario_file(tmp_path / "x" / "a.yaml")
    assert not p.is_scenario_file(tmp_path / "scenarios" / "README.yaml")


def test_table_sets_every_location(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "fw").mkdir()
    (tmp_path / "pyproject.toml").write_text('[tool.mcutrain]\nscenarios = ["checks", "one.yaml"]\n'
                                             'boards = ["b"]\napps = ["fw"]\nbaseline = "ci/base.json"\n'
                                             'reports = "out"\n')
    p = load_project(tmp_path)
    assert p.scenarios == (tmp_path / "checks", tmp_path / "one.yaml")
    assert p.boards == (tmp_path / "b",) and p.apps == (tmp_path / "fw",)
    assert p.baseline == tmp_path / "ci" / "base.json" and p.reports == tmp_path / "out"
    assert p.is_scenario_file(tmp_path / "checks" / "deep" / "a.yml")
    assert p.is_scenario_file(tmp_path / "one.yaml")
    assert not p.is_scenario_file(tmp_path / "scenarios" / "a.yaml")  # configured: the convention is off
    # an ini option overrides its key only
    q = load_project(tmp_path, {"reports": "elsewhere", "scenarios": []})
    assert q.reports == tmp_path / "elsewhere" and q.scenarios == p.scenarios


@pytest.mark.parametrize("table, words", [
    ('scenario = ["x"]\n', ("unknown key", "'scenario'", "the keys are")),
    ('boards = ["missing"]\n', ("boards: no folder", "missing")),
    ('apps = 3\n', ("apps must be a list of paths",)),
    ('baseline = 1\n', ("baseline must be a path",)),
    ('baseline = nan\n', ("baseline must be a path, got nan",)),
    ('boards = ["' + "b" * 5000 + '"]\n', ("boards: no folder", "...")),
    ('scenarios = ["' + "s" * 5000 + '", 1]\n', ("scenarios must be a list of paths", "...")),
])
def test_bad_table_is_one_clear_error(tmp_path, table, words):
    (tmp_path / "pyproject.toml").write_text("[tool.mcutrain]\n" + table)
    with pytest.raises(ProjectError) as err:
        load_project(tmp_path)
    text = str(err.value)
    assert "pyproject.toml" in text and "fix:" in text and len(text) < 1000  # a huge value is cut
    for w in words:
        assert w in text


def test_bad_toml_names_the_file(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.mcutrain\n")
    with pytest.raises(ProjectError, match="cannot read it as TOML"):
        load_project(tmp_path)


def test_project_board_uses_the_package_startup_or_its_own_folder(tmp_path, use_project):
    boards = tmp_path / "boards"
    (boards / "start").mkdir(parents=True)
    (boards / "mine.yaml").write_text(PROFILE.format(name="mine", startup="mps2"))
    (boards / "own.yaml").write_text(PROFILE.format(name="own", startup="./start"))
    (tmp_path / "pyproject.toml").write_text('[tool.mcutrain]\nboards = ["boards"]\n')
    use_project(tmp_path)
    assert load_board("mine").hosts[0].startup_dir == REPO / "harness" / "firmware_src" / "boards" / "mps2"
    assert load_board("own").hosts[0].startup_dir == (boards / "start").resolve()
    assert load_board("stm32f746").name == "stm32f746"  # the package's boards stay available


@pytest.mark.parametrize("startup, words", [
    ("./../../etc", "leads out of the profile's folder"),
    ("/etc", "neither a startup folder's name nor a relative path"),
    ("host", "no startup folder 'host'"),
    ("nonesuch", "no startup folder 'nonesuch'"),
])
def test_board_startup_stays_confined(tmp_path, use_project, startup, words):
    (tmp_path / "boards").mkdir()
    (tmp_path / "boards" / "bad.yaml").write_text(PROFILE.format(name="bad", startup=startup))
    (tmp_path / "pyproject.toml").write_text('[tool.mcutrain]\nboards = ["boards"]\n')
    use_project(tmp_path)
    with pytest.raises(ScenarioError) as err:
        load_board("bad")
    assert words in str(err.value) and "bad.yaml" in str(err.value)


def test_a_board_defined_twice_is_refused(tmp_path, use_project):
    (tmp_path / "boards").mkdir()
    (tmp_path / "boards" / "stm32f746.yaml").write_text(PROFILE.format(name="stm32f746", startup="mps2"))
    (tmp_path / "pyproject.toml").write_text('[tool.mcutrain]\nboards = ["boards"]\n')
    use_project(tmp_path)
    with pytest.raises(ScenarioError, match="defined twice"):
        load_board("stm32f746")


def test_an_app_in_two_folders_is_refused(tmp_path, use_project):
    (tmp_path / "fw" / "selftest").mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text('[tool.mcutrain]\napps = ["fw"]\n')
    use_project(tmp_path)
    with pytest.raises(ValueError, match="more than one apps folder"):
        projmod.find_app("selftest")


def test_an_app_source_linked_out_of_its_folder_is_not_built(tmp_path, use_project):
    from harness.errors import BuildError
    from harness.pipeline import _app_dir, _app_sources

    (tmp_path / "fw" / "leaky").mkdir(parents=True)
    (tmp_path / "secret.c").write_text("int x;\n")
    (tmp_path / "fw" / "leaky" / "main.c").symlink_to(tmp_path / "secret.c")
    (tmp_path / "pyproject.toml").write_text('[tool.mcutrain]\napps = ["fw"]\n')
    use_project(tmp_path)
    with pytest.raises(BuildError, match="link out of the app folder"):
        _app_sources(_app_dir("leaky"))


def test_pick_scenario_by_name_and_board():
    f = REPO / "scenarios" / "selftest.yaml"
    s = pick_scenario(REPO, "scenarios/selftest.yaml", "selftest-stack", None)
    assert (s.name, s.board) == ("selftest-stack", "stm32f746")
    t = pick_scenario(REPO, f, "selftest-stack", "stm32f4")
    assert (t.name, t.board) == ("selftest-stack[stm32f4]", "stm32f4")
    with pytest.raises(LookupError, match="give name="):
        pick_scenario(REPO, f, None, None)
    with pytest.raises(LookupError, match="no scenario 'nope'"):
        pick_scenario(REPO, f, "nope", None)
    with pytest.raises(LookupError, match="no scenario file"):
        pick_scenario(REPO, "scenarios/none.yaml", None, None)


def test_run_result_of_a_selftest():
    pipeline = Pipeline()
    s = pick_scenario(REPO, "scenarios/selftest.yaml", "selftest-stack", None)
    r = RunResult.from_outcome(pipeline.run(s))
    assert r.status == "ok" and r.error is None
    assert r.stack_high_water == 2880  # known from the .su files (scenarios/selftest.yaml)
    assert r.peak_sram == r.static_sram + 2880
    assert r.flash > 0 and r.accuracy_after is None and r.epoch_loss == () and not r.trained
    assert r.largest_symbols and {x.region for x in r.largest_symbols} <= {"sram", "flash"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.flash = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        r.metrics["flash"] = 0  # type: ignore[index]


def test_run_result_of_a_failed_build(tmp_path):
    pipeline = Pipeline()
    (tmp_path / "s.yaml").write_text("scenarios:\n  - name: big\n    firmware: {app: selftest, case: overbudget}\n")
    s = pick_scenario(tmp_path, "s.yaml", None, None)
    r = RunResult.from_outcome(pipeline.run(s))
    assert r.status == "build-failed" and r.flash is None and r.peak_sram is None
    assert "fix:" in r.error


def test_plugin_reads_the_project_config(pytester):
    outer = projmod._active
    pytester.makepyprojecttoml('[tool.mcutrain]\nscenarios = ["checks"]\nreports = "out"\n')
    (pytester.path / "checks").mkdir()
    (pytester.path / "checks" / "a.yaml").write_text(
        (REPO / "scenarios" / "selftest.yaml").read_text())
    (pytester.path / "scenarios").mkdir()  # not configured: not collected
    (pytester.path / "scenarios" / "b.yaml").write_text("scenarios: [oops]\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--gate", "-rA", "-k", "selftest-loop")
    result.assert_outcomes(passed=4)  # build and memory of selftest-loop and selftest-loop-m4f
    result.stdout.fnmatch_lines(["PASSED checks/a.yaml::selftest-loop::build"])
    assert list((pytester.path / "out").glob("*/report.json"))
    assert projmod._active is outer  # the in-process run gave back this session's project
    bad = pytester.runpytest("-p", "no:cacheprovider", "-o", "mcutrain_apps=nowhere", "--co", "-q")
    assert bad.ret != 0
    assert "mcutrain: ini option mcutrain_apps: apps: no folder" in bad.stderr.str()


def test_mcutrain_run_shares_the_items_build_and_run(pytester):
    text = (REPO / "scenarios" / "selftest.yaml").read_text()
    head, _, rest = text.partition("scenarios:\n")
    stack = rest[rest.index("  - name: selftest-stack\n"):rest.index("  - name: selftest-exit-code")]
    (pytester.path / "checks").mkdir()
    (pytester.path / "checks" / "a.yaml").write_text(head + "scenarios:\n" + stack)
    pytester.makepyprojecttoml('[tool.mcutrain]\nscenarios = ["checks"]\n')
    pytester.makepyfile(test_user="""
        def test_shared(mcutrain_run, mcutrain_pipeline):
            before = dict(mcutrain_pipeline._outcomes)
            assert len(before) == 1  # the scenario's items ran first, in this process
            r = mcutrain_run("checks/a.yaml")
            assert mcutrain_pipeline._outcomes == before  # no second build or run
            assert (r.scenario, r.status, r.stack_high_water) == ("selftest-stack", "ok", 2880)
    """)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:xdist", "checks", "test_user.py")
    # build, memory, run, stack and test_shared pass; baseline skips (this project records none)
    result.assert_outcomes(passed=5, skipped=1)


def test_cli_names_a_path_the_system_will_not_look_up(tmp_path, monkeypatch, capsys):
    from harness.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(projmod, "_active", None)
    (tmp_path / "pyproject.toml").write_text(f'[tool.mcutrain]\nscenarios = ["{"s" * 5000}"]\n')
    assert main(["list"]) == 2
    err = capsys.readouterr().err
    assert "cannot look up the scenario path" in err and "fix:" in err and len(err) < 1000
