"""harness/report.py: summary.md, report.html and compare, on a report.json built here (no emulator),
plus the two ends that users touch: `mcutrain report DIR` and pytest's JUnit XML."""
import base64
import copy
import json
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import report
from harness.cli import main as mcutrain

REPO = Path(__file__).resolve().parent.parent

TRAINED = {
    "file": "scenarios/fashion.yaml", "scenario": "fashion-new-classes", "board": "stm32f746",
    "line": 29, "description": "Learn five new classes on the device.",
    "budgets": {"sram": 262144, "flash": 1048576, "step_instructions": None},
    "checks": {name: {"outcome": "passed", "summary": f"{name} ok"}
               for name in ("build", "memory", "run", "instructions", "stack", "accuracy", "parity")},
    "metrics": {
        "arena_planned": 39400, "trainable_bytes": 7316, "scheme": "3:bias, 6:w 64/64, classifier",
        "flash": 24540, "static_sram": 46756, "stack_reserved": 8192, "status": "ok",
        "insn_total": 18152288833, "wall_s": 37.58, "step_instructions": 15560862,
        "stack_high_water": 328, "peak_sram": 47084,
        "profile": {"tt_pwconv_s8": 5238544407, "tt_pwconv_grad_weight_one": 3322368000,
                    "tt_dwconv2d_s8": 2797499169, "tt_add_s8": 572782320},
        "accuracy_before": 0.2, "accuracy_after": 0.74,
        "epoch_loss": [1.239655, 0.912037, 0.795063], "epoch_train_correct": [142, 191, 210],
        "sram_breakdown": {"arena": 39400, "trainable_params": 7316, "other_static": 40, "stack": 328},
        "step_instructions_mean": 15559549, "predict_instructions": 6914238,
        "reference_accuracy_after": 0.74, "reference_epoch_loss": [1.239655, 0.912038, 0.795063],
    },
}
OVER_BUDGET_SUMMARY = ("SRAM (static + reserved stack) 300.0 KiB (307200 B) exceeds the budget "
                       "256.0 KiB (262144 B) by 45056 B")
OVER_BUDGET = {
    "file": "scenarios/fashion.yaml", "scenario": "fashion-too-big", "board": "stm32f746", "line": 60,
    "budgets": {"sram": 262144, "flash": 1048576},
    "checks": {"build": {"outcome": "passed", "summary": "built"},
               "memory": {"outcome": "failed", "summary": OVER_BUDGET_SUMMARY},
               "run": {"outcome": "skipped", "summary": "not run: memory failed"}},
    "metrics": {"scheme": "all layers", "arena_planned": 250000, "flash": 30000,
                "static_sram": 299008, "stack_reserved": 8192},
}
SELFTEST = {  # a CLI-written entry: no checks, only ``ok``; no training, so no plots
    "file": "scenarios/selftest.yaml", "scenario": "selftest-loop", "board": "stm32f746", "ok": True,
    "metrics": {"flash": 2100, "static_sram": 1200, "stack_reserved": 8192, "region_instructions": 5137},
}


def make_doc(*entries: dict) -> dict:
    return {"created": "2026-11-27T22:30:23+0000",
            "environment": {"python": "3.11.7", "cross_compiler": "arm-none-eabi-gcc 12.2.1",
                            "emulator": "QEMU emulator version 7.2.22"},
            "scenarios": [copy.deepcopy(e) for e in entries]}


def write_doc(directory: Path, doc: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(doc))
    return directory


# -- summary.md ----------------------------------------------------------------------------------
def test_summary_states_the_numbers_of_the_report():
    md = report.render_summary(make_doc(TRAINED, OVER_BUDGET, SELFTEST))
    assert md.startswith("## mcutrain — 3 scenarios: 2 passed, 1 failed")
    row = next(line for line in md.splitlines() if line.startswith("| fashion-new-classes |"))
    # peak SRAM 47084 B = 46.0 KiB of the 256 KiB budget (18%); flash 24540 B = 24.0 KiB of 1 MiB;
    # 15559549 instructions per step (mean); test accuracy 0.2 -> 0.74
    for cell in ("✅ passed", "7/7", "46.0 KiB / 256 KiB (18%)", "24.0 KiB / 1 MiB", "15.56 M",
                 "20.0% → 74.0%"):
        assert cell in row, (cell, row)
    # without a run the gate's plan is shown: static 299008 B + reserved stack 8192 B = 300 KiB
    over = next(line for line in md.splitlines() if line.startswith("| fashion-too-big |"))
    assert "❌ failed" in over and "1/2" in over and "300 KiB planned / 256 KiB (117%)" in over
    assert "### ❌ fashion-too-big · stm32f746 · `scenarios/fashion.yaml:60`" in md
    assert "| build | memory | run |" in md and "| ✅ passed | ❌ failed | ⏭️ skipped |" in md
    assert f"- **memory**: {OVER_BUDGET_SUMMARY}" in md
    assert "- **build**" not in md  # only failing checks get their summary: it stays concise
    assert "| selftest-loop | stm32f746 | ✅ passed | — | 9.2 KiB planned |" in md  # 1200 + 8192 B


def test_summary_escapes_pipes_in_check_summaries():
    entry = copy.deepcopy(OVER_BUDGET)
    entry["checks"]["memory"]["summary"] = "a | b\nc"
    md = report.render_summary(make_doc(entry))
    assert "- **memory**: a \\| b c" in md


# -- report.html ---------------------------------------------------------------------------------
def _images(page: str) -> dict[str, list[bytes]]:
    found: dict[str, list[bytes]] = {}
    for section in re.findall(r'<section id="(.*?)">(.*?)</section>', page, re.S):
        found[section[0]] = [base64.b64decode(b64) for b64 in
                             re.findall(r'data-plot="\w+" src="data:image/png;base64,([^"]+)"', section[1])]
    return found


def test_html_has_one_png_per_plot_of_each_training_scenario():
    page = report.render_html(make_doc(TRAINED, OVER_BUDGET, SELFTEST))
    images = _images(page)
    assert len(images["s-fashion-new-classes"]) == 4  # loss, accuracy, SRAM, profile
    assert re.findall(r'data-plot="(\w+)"', page) == ["loss", "accuracy", "sram", "profile"]
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in images["s-fashion-new-classes"])
    assert images["s-fashion-too-big"] == [] and images["s-selftest-loop"] == []
    assert "No plots: the run produced no training data" in page  # only for the training scenario
    assert page.count("No plots") == 1
    assert not re.search(r'(src|href)="(https?:|//)', page)  # self-contained
    assert "QEMU emulator version 7.2.22" in page and "arm-none-eabi-gcc 12.2.1" in page
    assert OVER_BUDGET_SUMMARY in page and "3:bias, 6:w 64/64, classifier" in page


def test_each_plot_has_its_title_and_units():
    figures = report.scenario_figures(copy.deepcopy(TRAINED))
    titles = {name: (fig.axes[0].get_title(), fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel())
              for name, fig in figures.items()}
    assert titles["loss"] == ("Training loss per epoch", "epoch", "mean cross-entropy loss")
    assert titles["accuracy"][2] == "test accuracy (%)"
    # peak 47084 B = 46.0 KiB, 18% of 262144 B
    assert titles["sram"][:2] == ("SRAM: peak 46.0 KiB, 18% of the budget", "SRAM (KiB)")
    assert titles["profile"][1] == "instructions (billions); % of the whole run"
    legend = [t.get_text() for t in figures["sram"].axes[0].get_legend().get_texts()]
    assert legend == ["activation arena: 38.5 KiB", "trainable parameters: 7.1 KiB",
                      "other static data: 40 B", "stack: 328 B used, 8 KiB reserved"]
    for fig in figures.values():
        fig.clf()


def test_write_views_writes_both_files_beside_report_json(tmp_path):
    d = write_doc(tmp_path / "run", make_doc(TRAINED))
    views = report.write_views(d / "report.json")
    assert views == report.ReportViews(d / "summary.md", d / "report.html")
    assert "46.0 KiB / 256 KiB (18%)" in views.summary.read_text()
    assert views.html.read_text().count("<img ") == 4
    assert sorted(p.name for p in d.iterdir()) == ["report.html", "report.json", "summary.md"]  # no temp


def test_a_rendering_failure_is_said_not_raised(tmp_path):
    d = write_doc(tmp_path / "run", {"scenarios": "not a list"})
    said = report.write_views_and_say(d / "report.json")
    assert said.startswith("HTML report: not written (MctError:") and f"mcutrain report {d}" in said


def test_newest_report_is_the_last_written(tmp_path):
    import os

    for name, mtime in (("20260101-000000", 100), ("20250101-000000", 300), ("20270101-000000", 200)):
        write_doc(tmp_path / name, make_doc(SELFTEST))
        os.utime(tmp_path / name / "report.json", (mtime, mtime))
    (tmp_path / "baseline.json").write_text("{}")
    assert report.newest_report(tmp_path) == tmp_path / "20250101-000000" / "report.json"


# -- compare -------------------------------------------------------------------------------------
def _worse_and_better() -> dict:
    new = make_doc(TRAINED, SELFTEST)
    m = new["scenarios"][0]["metrics"]
    m["peak_sram"] = 47084 + 916                  # +916 B = +1.95%: worse
    m["step_instructions_mean"] = 15092762         # -3.00%: better
    m["accuracy_after"] = 0.76                     # +2.0 points: better
    m["wall_s"] = 99.0                             # host-dependent: reported, never judged
    return new


def test_compare_gives_deltas_in_bytes_percent_and_points():
    deltas = {(d.scenario, d.metric): d for d in
              report.compare_reports(make_doc(TRAINED, SELFTEST), _worse_and_better())}
    peak = deltas["fashion-new-classes", "peak_sram"]
    assert (peak.old, peak.new, peak.verdict, peak.change) == (47084, 48000, "worse", "+916 B (+1.95%)")
    step = deltas["fashion-new-classes", "step_instructions_mean"]
    assert (step.verdict, step.change) == ("better", "-3.00%")
    acc = deltas["fashion-new-classes", "accuracy_after"]
    assert (acc.verdict, acc.change) == ("better", "+2.0 pt")
    assert deltas["fashion-new-classes", "wall_s"].verdict == "changed"
    assert deltas["fashion-new-classes", "flash"].change == "="
    assert deltas["selftest-loop", "region_instructions"].verdict == "same"
    assert report.any_worse(deltas.values())


def test_a_scenario_that_now_fails_or_lost_a_metric_is_worse():
    new = make_doc(TRAINED)
    entry = new["scenarios"][0]
    entry["checks"]["parity"] = {"outcome": "failed", "summary": "device != reference"}
    del entry["metrics"]["peak_sram"]
    deltas = {d.metric: d for d in report.compare_reports(make_doc(TRAINED), new)}
    result = deltas["result"]
    assert (result.old, result.new, result.verdict) == ("passed", "failed", "worse")
    assert (deltas["peak_sram"].new, deltas["peak_sram"].verdict) == (None, "worse")


def test_added_and_removed_scenarios_are_listed_not_failed():
    deltas = report.compare_reports(make_doc(TRAINED), make_doc(SELFTEST))
    assert [(d.scenario, d.verdict) for d in deltas] == [("fashion-new-classes", "removed"),
                                                        ("selftest-loop", "added")]
    assert not report.any_worse(deltas)


def test_mcutrain_compare_prints_the_table_and_exits_1_when_worse(tmp_path, capsys):
    old = write_doc(tmp_path / "old", make_doc(TRAINED, SELFTEST))
    new = write_doc(tmp_path / "new", _worse_and_better())
    assert mcutrain(["compare", str(old), str(new / "report.json")]) == 1
    out = capsys.readouterr().out
    assert re.search(r"peak_sram\s+47,084 B\s+48,000 B\s+\+916 B \(\+1\.95%\)\s+WORSE", out), out
    assert re.search(r"accuracy_after\s+74\.0%\s+76\.0%\s+\+2\.0 pt\s+better", out), out
    # 17 rows of fashion-new-classes (result and 16 metrics) of which 4 moved (wall_s: "changed"),
    # and 4 unchanged rows of selftest-loop
    assert out.rstrip().endswith("1 worse, 2 better, 17 unchanged, 1 other")
    assert mcutrain(["compare", str(old), str(old)]) == 0
    assert mcutrain(["compare", str(old), str(tmp_path / "missing")]) == 2  # a clear error


# -- the ends users touch ------------------------------------------------------------------------
def test_mcutrain_report_renders_a_report_dir(tmp_path):
    d = write_doc(tmp_path / "run", make_doc(TRAINED, OVER_BUDGET))
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "report", str(d)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"summary: {d / 'summary.md'}", f"report:  {d / 'report.html'}"]
    page = (d / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 4
    assert "fashion-too-big" in (d / "summary.md").read_text()


@pytest.mark.gate
def test_pytest_run_writes_views_and_junit_carries_the_failure(pytester):
    """A scenario over its SRAM budget (gate checks only: build, no emulator): the JUnit XML
    carries the failure's numbers, and the session writes summary.md and report.html."""
    d = pytester.mkdir("scenarios")
    (d / "tight.yaml").write_text(textwrap.dedent("""
    scenarios:
      - name: tight
        firmware: {app: selftest, case: loop}
        stack: 8KiB
        budgets: {sram: 4KiB}
    """))
    junit, reports = pytester.path / "junit.xml", pytester.path / "reports"
    result = pytester.runpytest("-p", "no:cacheprovider", "--gate",
                                "--report-dir", str(reports), f"--junitxml={junit}", str(d))
    assert result.ret == 1
    failures = {(case.get("classname"), case.get("name")): case.find("failure")
                for case in ET.parse(junit).iter("testcase")}
    memory = failures["scenarios.tight.yaml.tight", "memory"]
    assert memory is not None and failures["scenarios.tight.yaml.tight", "build"] is None
    assert "exceeds the budget 4.0 KiB (4096 B) by" in memory.text
    assert "tight.yaml:3" in memory.text  # the scenario's file:line, as in the terminal
    summary = (reports / "summary.md").read_text()
    assert "| tight | stm32f746 | ❌ failed | 1/2 |" in summary and "/ 4 KiB (" in summary
    assert (reports / "report.html").is_file()
    assert f"HTML report: {reports / 'report.html'}" in result.stdout.str()


def test_estimated_ms_are_compared_in_percent_and_shown_in_the_html():
    old, new = make_doc(TRAINED), make_doc(TRAINED)
    old["scenarios"][0]["metrics"].update(step_ms=1349.2, step_ms_m4=1618.7)
    new["scenarios"][0]["metrics"].update(step_ms=1214.3, step_ms_m4=1618.7, step_ms_m7_low=481.0)
    deltas = {d.metric: d for d in report.compare_reports(old, new)}
    assert (deltas["step_ms"].verdict, deltas["step_ms"].change) == ("better", "-10.00%")
    assert deltas["step_ms_m4"].verdict == "same" and deltas["step_ms_m7_low"].verdict == "added"
    html = report.render_html(new)
    assert "estimated ms per training step, this board (harness/cycles.py)" in html and "1,214 ms" in html
