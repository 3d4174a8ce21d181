"""``harness/merge.py`` and ``mcutrain merge``: shard reports joined, refused when they are not one
complete split, the baseline compared once; and the end-to-end proof that two shards merged give
exactly the serial run's metrics (real builds and QEMU runs of small scenarios)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.merge import MergeError, merge

REPO = Path(__file__).resolve().parents[1]
ENV = {"python": "3.11.7", "machine": "x86_64", "cross_compiler": "arm-none-eabi-gcc 12.2.1",
       "emulator": "QEMU emulator version 7.2.22"}
TOL = {"sram": "1% or 64B", "flash": "1% or 64B", "step_instructions": "2%", "accuracy": "1.0pp"}


# -- synthetic shard reports ---------------------------------------------------------------------
def entry(file: str, name: str, flash: int = 4000, outcome: str = "passed", **metrics) -> dict:
    return {"file": f"/ci/repo/{file}", "scenario": name, "board": "stm32f746", "line": 3,
            "checks": {"build": {"outcome": "passed", "summary": "built"},
                       "run": {"outcome": outcome, "summary": "ran"}},
            "metrics": {"flash": flash, "static_sram": 1000, "step_instructions": 50_000, **metrics},
            "budgets": {"sram": 262144, "flash": 1048576}, "tolerance": dict(TOL)}


def write_shard(folder: Path, index: int, total: int, entries: list[dict], files: list[str],
                suite: str = "suite-1", env: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"created": "2026-12-01T20:00:00+0000", "environment": env or ENV,
           "scenarios": entries,
           "shard": {"index": index, "total": total, "files": files, "suite_files": 3,
                     "suite_sha256": suite, "rootdir": "/ci/repo"}}
    (folder / "report.json").write_text(json.dumps(doc))
    return folder


def two_shards(tmp_path: Path) -> list[Path]:
    return [write_shard(tmp_path / "s1", 1, 2, [entry("scenarios/b.yaml", "b1")], ["scenarios/b.yaml"]),
            write_shard(tmp_path / "s2", 2, 2, [entry("scenarios/c.yaml", "c1"), entry("scenarios/a.yaml", "a1")],
                        ["scenarios/a.yaml", "scenarios/c.yaml"])]


def write_baseline(path: Path, flash: dict[str, int]) -> Path:
    scenarios = {f"{Path(k.split('::')[0]).stem}::{k.split('::')[1]}@stm32f746": {
        "metrics": {"flash": v, "static_sram": 1000, "step_instructions": 50_000}} for k, v in flash.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"version": 1, "scenarios": scenarios}))
    return path


# -- merging -------------------------------------------------------------------------------------
def test_merge_joins_sorts_and_compares_once(tmp_path, capsys):
    baseline = write_baseline(tmp_path / "base.json", {"a::a1": 4000, "b::b1": 4010, "c::c1": 4000})
    rc = main(["merge", *map(str, two_shards(tmp_path)), "-o", str(tmp_path / "out"),
               "--baseline", str(baseline)])
    out = capsys.readouterr().out
    assert rc == 0, out
    doc = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [e["scenario"] for e in doc["scenarios"]] == ["a1", "b1", "c1"]  # by file, then name
    assert [m["index"] for m in doc["merged_from"]] == [1, 2] and "shard" not in doc
    assert doc["environment"] == ENV
    b = doc["baseline"]
    assert (b["ok"], b["within"], b["regressed"], b["skipped"]) == (True, 3, 0, 0)
    assert [r["key"] for r in b["scenarios"]] == ["a::a1@stm32f746", "b::b1@stm32f746", "c::c1@stm32f746"]
    assert "ok        b::b1@stm32f746 [passed]: within tolerance of the baseline: flash -10 B, static_sram +0 B" in out
    assert "baseline: 3 within, 0 regressed, 0 not compared; checks failed in the shards: 0" in out
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "### Baseline" in summary and "3 within tolerance, 0 regressed, 0 not compared" in summary
    assert "b::b1@stm32f746 | ✅ within" in summary
    assert "<h2>Baseline" in (tmp_path / "out" / "report.html").read_text()


def test_merge_exits_1_when_a_scenario_regressed(tmp_path, capsys):
    # b1's flash 4000 against a baseline of 3000: +33%, beyond "1% or 64B"
    baseline = write_baseline(tmp_path / "base.json", {"a::a1": 4000, "b::b1": 3000, "c::c1": 4000})
    rc = main(["merge", *map(str, two_shards(tmp_path)), "-o", str(tmp_path / "out"),
               "--baseline", str(baseline)])
    out = capsys.readouterr().out
    assert rc == 1, out
    assert "REGRESSED b::b1@stm32f746 [passed]: worse than the baseline: flash: 3000 B -> 4000 B" in out
    assert "baseline: 2 within, 1 regressed, 0 not compared" in out
    b = json.loads((tmp_path / "out" / "report.json").read_text())["baseline"]
    assert (b["ok"], b["regressed"]) == (False, 1)
    assert "❌ regressed" in (tmp_path / "out" / "summary.md").read_text()


def test_merge_uses_each_scenarios_own_tolerance(tmp_path):
    """The tolerance recorded in the report (from the YAML) decides, as the per-scenario check does."""
    shards = two_shards(tmp_path)
    doc = json.loads((shards[0] / "report.json").read_text())
    doc["scenarios"][0]["tolerance"]["flash"] = "40%"
    (shards[0] / "report.json").write_text(json.dumps(doc))
    baseline = write_baseline(tmp_path / "base.json", {"a::a1": 4000, "b::b1": 3000, "c::c1": 4000})
    result = merge(shards, tmp_path / "out", baseline, tmp_path)
    assert result.exit_code == 0 and result.doc["baseline"]["within"] == 3


def test_merge_exits_1_when_a_check_failed_in_a_shard(tmp_path, capsys):
    shards = [write_shard(tmp_path / "s1", 1, 2, [entry("scenarios/b.yaml", "b1", outcome="failed")],
                          ["scenarios/b.yaml"]),
              write_shard(tmp_path / "s2", 2, 2, [], [])]
    rc = main(["merge", *map(str, shards), "-o", str(tmp_path / "out"),
               "--baseline", str(tmp_path / "none.json")])
    out = capsys.readouterr().out
    assert rc == 1, out
    assert "skipped   b::b1@stm32f746 [failed]: no baseline yet" in out  # no baseline file: not compared
    assert "checks failed in the shards: 1 (b1: run)" in out


def test_merge_takes_report_files_too_and_a_default_folder(tmp_path, monkeypatch):
    shards = two_shards(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = merge([s / "report.json" for s in shards], None, tmp_path / "none.json", tmp_path / "reports")
    assert result.report.parent.parent == tmp_path / "reports"
    assert result.report.parent.name.startswith("merged-") and result.report.is_file()
    assert result.doc["baseline"]["skipped"] == 3 and result.exit_code == 0


# -- refusals: one clear error each, nothing written ---------------------------------------------
def refused(tmp_path: Path, capsys, folders: list[Path]) -> str:
    out = tmp_path / "out"
    rc = main(["merge", *map(str, folders), "-o", str(out), "--baseline", str(tmp_path / "none.json")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert not out.exists(), "a refused merge must write nothing"
    assert err.startswith("mcutrain: error: ") and "\n  fix: " in err, err
    return err


def test_refuses_a_missing_report(tmp_path, capsys):
    s1, _ = two_shards(tmp_path)
    err = refused(tmp_path, capsys, [s1, tmp_path / "nowhere"])
    assert f"no shard report at {tmp_path / 'nowhere'}\n" in err
    assert "download every shard's artifact" in err


def test_refuses_bad_json(tmp_path, capsys):
    s1, s2 = two_shards(tmp_path)
    (s2 / "report.json").write_text('{"scenarios": [')
    err = refused(tmp_path, capsys, [s1, s2])
    assert f"cannot read the shard report {s2 / 'report.json'}" in err and "re-run that shard" in err


def test_refuses_a_report_that_is_no_shard(tmp_path, capsys):
    s1, s2 = two_shards(tmp_path)
    doc = json.loads((s2 / "report.json").read_text())
    del doc["shard"]
    (s2 / "report.json").write_text(json.dumps(doc))
    err = refused(tmp_path, capsys, [s1, s2])
    assert "is not a shard's report (no 'shard' record)" in err and "--mcutrain-shard=i/N" in err


def test_refuses_shards_of_different_n(tmp_path, capsys):
    s1 = write_shard(tmp_path / "s1", 1, 2, [entry("scenarios/b.yaml", "b1")], ["scenarios/b.yaml"])
    s2 = write_shard(tmp_path / "s2", 2, 3, [entry("scenarios/a.yaml", "a1")], ["scenarios/a.yaml"])
    err = refused(tmp_path, capsys, [s1, s2])
    assert "shards of different splits" in err and "is shard 1/2" in err and "is shard 2/3" in err


def test_refuses_a_duplicate_shard_index(tmp_path, capsys):
    s1, s2 = two_shards(tmp_path)
    s1b = write_shard(tmp_path / "s1b", 1, 2, [], [])
    err = refused(tmp_path, capsys, [s1, s1b, s2])
    assert f"shard 1/2 given twice: {s1 / 'report.json'} and {s1b / 'report.json'}" in err


def test_refuses_a_missing_shard_and_says_which(tmp_path, capsys):
    s1 = write_shard(tmp_path / "s1", 1, 4, [], [])
    s3 = write_shard(tmp_path / "s3", 3, 4, [], [])
    err = refused(tmp_path, capsys, [s3, s1])
    assert "missing shards 2/4, 4/4: got only 1, 3" in err


def test_refuses_overlapping_scenarios(tmp_path, capsys):
    s1 = write_shard(tmp_path / "s1", 1, 2, [entry("scenarios/a.yaml", "a1")], ["scenarios/a.yaml"])
    s2 = write_shard(tmp_path / "s2", 2, 2, [entry("scenarios/a.yaml", "a1")], ["scenarios/b.yaml"])
    err = refused(tmp_path, capsys, [s1, s2])
    assert "scenario 'a1' of scenarios/a.yaml is in two shards" in err


def test_refuses_overlapping_files(tmp_path, capsys):
    s1 = write_shard(tmp_path / "s1", 1, 2, [], ["scenarios/a.yaml"])
    s2 = write_shard(tmp_path / "s2", 2, 2, [], ["scenarios/a.yaml"])
    err = refused(tmp_path, capsys, [s1, s2])
    assert "the file scenarios/a.yaml ran in two shards" in err


def test_refuses_shards_of_different_suites(tmp_path, capsys):
    s1 = write_shard(tmp_path / "s1", 1, 2, [], ["scenarios/a.yaml"], suite="one")
    s2 = write_shard(tmp_path / "s2", 2, 2, [], ["scenarios/b.yaml"], suite="other")
    err = refused(tmp_path, capsys, [s1, s2])
    assert "the shards split different suites" in err


def test_refuses_shards_built_with_different_toolchains(tmp_path, capsys):
    s1 = write_shard(tmp_path / "s1", 1, 2, [], ["scenarios/a.yaml"])
    s2 = write_shard(tmp_path / "s2", 2, 2, [], ["scenarios/b.yaml"],
                     env={**ENV, "cross_compiler": "arm-none-eabi-gcc 13.3.1"})
    err = refused(tmp_path, capsys, [s1, s2])
    assert "the shards ran with different cross compilers: 'arm-none-eabi-gcc 12.2.1'" in err
    assert "'arm-none-eabi-gcc 13.3.1'" in err and "pin the toolchain version" in err


def test_refuses_an_entry_without_tolerance(tmp_path, capsys):
    s1, s2 = two_shards(tmp_path)
    doc = json.loads((s1 / "report.json").read_text())
    del doc["scenarios"][0]["tolerance"]
    (s1 / "report.json").write_text(json.dumps(doc))
    err = refused(tmp_path, capsys, [s1, s2])
    assert "scenario 'b1' has no 'tolerance' record" in err


def test_refuses_to_write_over_a_shard(tmp_path):
    s1, s2 = two_shards(tmp_path)
    before = (s1 / "report.json").read_text()
    with pytest.raises(MergeError, match="holds one of the shard reports"):
        merge([s1, s2], s1, tmp_path / "none.json", tmp_path)
    assert (s1 / "report.json").read_text() == before


# -- end to end: serial == 2 shards merged -------------------------------------------------------
#: Wall-clock numbers, the only fields allowed to differ between two runs of the same scenarios.
TIME_METRICS = {"wall_s"}
#: The run check's summary ends with the emulator's wall time: "(... instructions, 0.04 s)".
WALL_IN_SUMMARY = re.compile(r", \d+\.\d+ s\)$")

SMALL_SCENARIOS = {
    "a.yaml": """common: {board: stm32f746, stack: 8KiB, timeout: 20}
scenarios:
  - name: loop
    firmware: {app: selftest, case: loop}
    budgets: {step_instructions: 3k}
    expect: {region_instructions: 5137}
  - name: stack
    firmware: {app: selftest, case: stack}
    expect: {stack: "== 2880"}
""",
    "b.yaml": """common: {board: stm32f746, stack: 8KiB, timeout: 20}
scenarios:
  - name: exit-code
    firmware: {app: selftest, case: exit}
    expect: {status: exit, exit_code: 3}
  - name: loop-m4f
    board: stm32f4
    firmware: {app: selftest, case: loop}
    expect: {region_instructions: 5137}
""",
    "c.yaml": """common:
  board: stm32f746
  stack: 8KiB
  timeout: 120
  model: {file: models/small16-fashion-0to4.npz}
  training:
    epochs: 1
    lr: 0.0003
    classifier_lr: 0.05
    sparse_update: {n_bias_update: 4, manual_weight_idx: [4, 6], weight_update_ratio: [0.5, 1]}
scenarios:
  - name: digits-tiny
    description: 32 digits, one epoch; small, but it trains on the device.
    dataset: {file: data/digits8x8.npz, train: 32, test: 32, seed: 1}
""",
}


def small_project(root: Path) -> Path:
    (root / "pytest.ini").write_text("[pytest]\n")
    d = root / "scenarios"
    (d / "models").mkdir(parents=True)
    (d / "data").mkdir()
    shutil.copy(REPO / "scenarios" / "models" / "small16-fashion-0to4.npz", d / "models")
    shutil.copy(REPO / "scenarios" / "data" / "digits8x8.npz", d / "data")
    for name, text in SMALL_SCENARIOS.items():
        (d / name).write_text(text)
    return root


def run(project: Path, *args: str) -> subprocess.CompletedProcess:
    """pytest or the CLI of this checkout, in ``project`` (installed entry points off: an installed
    mcutrain would register the plugin a second time)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run([sys.executable, *args], cwd=project, env=env, capture_output=True, text=True,
                          timeout=900)


def pytest_args(*args: str) -> list[str]:
    return ["-m", "pytest", "-p", "harness.pytest_plugin", "-p", "xdist.plugin", "-p", "no:cacheprovider",
            "scenarios", *args]


def comparable(doc: dict) -> tuple[list, set[str]]:
    """Each scenario without its wall-clock fields, and the names of the fields taken out."""
    out, dropped = [], set()
    for e in doc["scenarios"]:
        e = json.loads(json.dumps(e))
        dropped |= TIME_METRICS & set(e["metrics"])
        for k in TIME_METRICS:
            e["metrics"].pop(k, None)
        for c in e["checks"].values():
            c["summary"] = WALL_IN_SUMMARY.sub(", <wall> s)", c["summary"])
        out.append(e)
    return out, dropped


def test_two_shards_merged_equal_the_serial_run(tmp_path):
    """Record a baseline, run the suite serially, then as shards 1/2 (plain) and 2/2 (with xdist),
    merge: the merged report holds exactly the serial run's scenarios, metrics and check results,
    and the merge's one baseline comparison says what each scenario's own ``baseline`` check said."""
    project = small_project(tmp_path)
    record = run(project, *pytest_args("--report-dir", "record", "--update-baseline"))
    assert record.returncode == 0, record.stdout[-3000:] + record.stderr[-3000:]
    assert (project / "reports" / "baseline.json").is_file()
    serial = run(project, *pytest_args("--report-dir", "serial"))
    shard1 = run(project, *pytest_args("--report-dir", "shard1", "--mcutrain-shard=1/2"))
    shard2 = run(project, *pytest_args("--report-dir", "shard2", "--mcutrain-shard=2/2", "-n", "2"))
    for r in (serial, shard1, shard2):
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    merged = run(project, "-m", "harness.cli", "merge", "shard2", "shard1", "-o", "merged")
    assert merged.returncode == 0, merged.stdout[-3000:] + merged.stderr[-3000:]

    docs = {name: json.loads((project / name / "report.json").read_text())
            for name in ("serial", "shard1", "shard2", "merged")}
    for s in ("shard1", "shard2"):  # each shard ran part of the suite
        assert 0 < len(docs[s]["scenarios"]) < len(docs["serial"]["scenarios"])
    files = [docs[s]["shard"]["files"] for s in ("shard1", "shard2")]
    assert sorted(files[0] + files[1]) == ["scenarios/a.yaml", "scenarios/b.yaml", "scenarios/c.yaml"]
    want, dropped_serial = comparable(docs["serial"])
    got, dropped_merged = comparable(docs["merged"])
    assert dropped_serial == dropped_merged == TIME_METRICS  # only wall-clock time was left out
    assert [e["scenario"] for e in got] == ["loop", "stack", "exit-code", "loop-m4f", "digits-tiny"]
    assert got == want  # every metric, check outcome and summary: exactly the serial run's
    trained = next(e for e in got if e["scenario"] == "digits-tiny")["metrics"]
    assert trained["epoch_loss"] and trained["step_instructions"] > 0  # a real training run compared

    # the comparison made once by the merge == each scenario's own baseline check in its shard
    b = docs["merged"]["baseline"]
    assert (b["ok"], b["within"], b["regressed"], b["skipped"]) == (True, 5, 0, 0), b
    own = {e["scenario"]: e["checks"]["baseline"] for e in docs["serial"]["scenarios"]}
    for row in b["scenarios"]:
        assert own[row["scenario"]] == {"outcome": "passed", "summary": row["summary"]}, row
        assert row["summary"].startswith("within tolerance of the baseline: flash +0 B"), row
    assert "baseline: 5 within, 0 regressed, 0 not compared; checks failed in the shards: 0" in merged.stdout
