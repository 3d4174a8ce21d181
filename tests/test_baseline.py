"""harness/baseline.py: tolerances, the comparison in both directions, the symbol-level
explanation, the baseline file and the history; and, end to end, the issue's "Done when": a copy
of a scenario edited to use more memory fails the baseline check with old -> new and the symbol
that grew."""
import json
import shutil
from pathlib import Path

import pytest
import yaml

from harness.baseline import (TOP_SYMBOLS, Baseline, Tolerance, append_history, baseline_key, compare,
                              parse_limit, read_entries, symbol_diff, update_baseline)
from harness.errors import ScenarioError
from harness.scenario import load_scenarios

REPO = Path(__file__).resolve().parent.parent


# -- tolerances ----------------------------------------------------------------------------------
@pytest.mark.parametrize("text,unit,pct,amount", [
    ("1%", "bytes", 1.0, 0.0),
    ("512B", "bytes", 0.0, 512.0),
    ("1KiB", "bytes", 0.0, 1024.0),
    (512, "bytes", 0.0, 512.0),
    ("1% or 64B", "bytes", 1.0, 64.0),
    ("0.5%, 2KiB", "bytes", 0.5, 2048.0),
    ("2%", "count", 2.0, 0.0),
    ("10k", "count", 0.0, 10_000.0),
    ("1.0pp", "pp", 0.0, 1.0),
    (2, "pp", 0.0, 2.0),
])
def test_tolerance_syntax(text, unit, pct, amount):
    limit = parse_limit(text, unit)
    assert (limit.pct, limit.amount) == (pct, amount)


@pytest.mark.parametrize("text,unit,needle", [
    ("1%", "pp", "accuracy moves in points"),
    ("lots", "bytes", "expected a tolerance such as"),
    ("-1%", "bytes", "cannot be negative"),
    (True, "count", "expected a tolerance"),
    ("1% or 2% or 3%", "bytes", "expected a tolerance"),
])
def test_bad_tolerance_says_the_format(text, unit, needle):
    with pytest.raises(ValueError, match=needle):
        parse_limit(text, unit)


def test_limit_is_the_larger_of_percent_and_amount():
    limit = parse_limit("1% or 64B", "bytes")
    assert limit.allowed(1000) == 64        # 1% would be 10 B: the floor keeps tiny builds stable
    assert limit.allowed(100_000) == 1000


# -- comparison rules ----------------------------------------------------------------------------
def verdict(metric, old, new, tol=Tolerance()):
    (d,) = compare({metric: old}, {metric: new}, tol)
    return d.verdict


@pytest.mark.parametrize("old,new,expected", [
    (100_000, 101_000, "within"),   # +1000 B is exactly the default 1%: within
    (100_000, 101_001, "worse"),
    (100_000, 98_999, "better"),    # smaller beyond tolerance: the baseline is out of date
    (1_000, 1_064, "within"),       # 1% is 10 B, but the floor is 64 B
    (1_000, 1_065, "worse"),
    (1_000, 935, "better"),
])
def test_memory_default_is_one_percent_and_at_least_64_bytes(old, new, expected):
    assert verdict("static_sram", old, new) == expected
    assert verdict("flash", old, new) == expected


def test_bytes_or_percent_per_scenario():
    in_bytes = Tolerance(sram=parse_limit("512B", "bytes"))
    assert verdict("peak_sram", 100_000, 100_512, in_bytes) == "within"
    assert verdict("peak_sram", 100_000, 100_513, in_bytes) == "worse"
    in_pct = Tolerance(sram=parse_limit("5%", "bytes"))
    assert verdict("peak_sram", 100_000, 105_000, in_pct) == "within"
    assert verdict("peak_sram", 100_000, 94_999, in_pct) == "better"


def test_instructions_default_is_two_percent():
    assert verdict("step_instructions", 1_000_000, 1_020_000) == "within"
    assert verdict("step_instructions", 1_000_000, 1_020_001) == "worse"
    assert verdict("predict_instructions", 1_000_000, 979_999) == "better"


def test_accuracy_moves_in_points_and_higher_is_better():
    assert verdict("accuracy_after", 0.74, 0.73) == "within"   # -1.00 pp: exactly the default
    assert verdict("accuracy_after", 0.74, 0.7299) == "worse"
    assert verdict("accuracy_after", 0.74, 0.7501) == "better"
    assert verdict("accuracy_after", 0.74, 0.76, Tolerance(accuracy=parse_limit("3pp", "pp"))) == "within"


def test_describe_gives_old_new_bytes_and_percent():
    (d,) = compare({"static_sram": 46_756}, {"static_sram": 47_780}, Tolerance())
    assert d.describe() == ("static_sram: 46756 B -> 47780 B (+1024 B, +2.19%; tolerance 468 B = 1% or 64B)")
    (d,) = compare({"accuracy_after": 0.74}, {"accuracy_after": 0.71}, Tolerance())
    assert d.describe() == "accuracy_after: 0.7400 -> 0.7100 (-3.00 pp; tolerance 1.00 pp)"


def test_a_metric_on_one_side_only_is_reported_not_compared():
    deltas = {d.metric.name: d.verdict for d in compare({"flash": 10, "peak_sram": 5}, {"flash": 10,
                                                        "step_instructions": 7}, Tolerance())}
    assert deltas == {"flash": "within", "peak_sram": "missing", "step_instructions": "new"}


# -- symbol diff ---------------------------------------------------------------------------------
def test_symbol_diff_sorts_growth_first_and_knows_the_cut_off():
    old = {f"s{i}": 1000 - i for i in range(TOP_SYMBOLS)}          # the baseline's top 20: 1000..981 B
    new = {**old, "s0": 1500, "s5": 100, "big_new": 4000, "small": 900}
    rows = symbol_diff(old, new)
    assert [(r.name, r.delta) for r in rows] == [("big_new", 4000 - 981), ("s0", 500), ("s5", -895)]
    assert "was <= 981 B, not in the baseline's top 20" in rows[0].describe()
    assert rows[1].describe() == "    +500 B  s0 (1000 -> 1500 B)"


def test_symbol_diff_of_a_short_list_knows_new_and_gone():
    rows = symbol_diff({"a": 8, "b": 4}, {"a": 8, "c": 16})
    assert [(r.name, r.delta) for r in rows] == [("c", 16), ("b", -4)]
    assert "(new; now 16 B)" in rows[0].describe() and "(gone; was 4 B)" in rows[1].describe()


# -- the check, on a fake scenario ---------------------------------------------------------------
class FakeScenario:
    def __init__(self, tolerance=Tolerance()):
        self.file, self.name, self.board, self.tolerance = Path("s/x.yaml"), "x", "stm32f746", tolerance


def write_baseline(path: Path, metrics: dict, symbols: dict) -> None:
    results = [{"file": "s/x.yaml", "scenario": "x", "board": "stm32f746", "ok": True,
                "metrics": {**metrics, "largest_symbols": symbols}}]
    update_baseline(path, results)


OLD = {"flash": 24_540, "static_sram": 46_756, "peak_sram": 47_084, "stack_high_water": 328,
       "step_instructions": 15_000_000, "accuracy_after": 0.74}
SYMS = {"sram": {"tt_arena": 39_400, "L6_wlo": 4096, "L4_wlo": 1024}, "flash": {"L4_whi": 1024, "main": 436}}


def test_check_fails_on_growth_with_old_new_and_the_symbol_that_grew(tmp_path):
    write_baseline(tmp_path / "b.json", OLD, SYMS)
    new = {**OLD, "static_sram": 47_780, "peak_sram": 48_108}
    syms = {"sram": {**SYMS["sram"], "L4_wlo": 2048}, "flash": SYMS["flash"]}
    v = Baseline(tmp_path / "b.json").check(FakeScenario(), new, syms)
    assert not v.ok
    assert "worse than the baseline: static_sram: 46756 B -> 47780 B (+1024 B, +2.19%" in v.summary
    assert "peak_sram: 47084 B -> 48108 B (+1024 B, +2.17%" in v.summary
    assert "+1024 B  L4_wlo (1024 -> 2048 B)" in v.details
    assert "--update-baseline" in v.details


def test_check_explains_peak_growth_by_the_stack(tmp_path):
    write_baseline(tmp_path / "b.json", OLD, SYMS)
    v = Baseline(tmp_path / "b.json").check(FakeScenario(), {**OLD, "peak_sram": 48_084,
                                                             "stack_high_water": 1328}, SYMS)
    assert not v.ok
    assert "stack high-water: 328 B -> 1328 B (+1000 B of the peak SRAM change)" in v.details
    assert "none of the largest grew (the growth is the stack)" in v.details


def test_check_fails_on_improvement_and_asks_for_an_update(tmp_path):
    write_baseline(tmp_path / "b.json", OLD, SYMS)
    v = Baseline(tmp_path / "b.json").check(FakeScenario(), {**OLD, "step_instructions": 14_000_000}, SYMS)
    assert not v.ok
    assert "better than the baseline beyond tolerance: step_instructions" in v.summary
    assert "-6.67%" in v.summary and "run with --update-baseline" in v.summary


def test_check_passes_within_tolerance_and_shows_the_deltas(tmp_path):
    write_baseline(tmp_path / "b.json", OLD, SYMS)
    v = Baseline(tmp_path / "b.json").check(FakeScenario(), {**OLD, "flash": 24_600}, SYMS)
    assert v.ok and not v.skipped
    assert "within tolerance of the baseline: flash +60 B, static_sram +0 B" in v.summary


def test_check_uses_the_scenario_tolerance(tmp_path):
    write_baseline(tmp_path / "b.json", OLD, SYMS)
    loose = Tolerance(sram=parse_limit("2KiB", "bytes"))
    v = Baseline(tmp_path / "b.json").check(FakeScenario(loose), {**OLD, "static_sram": 47_780}, SYMS)
    assert v.ok, v.summary


def test_no_entry_is_skipped_and_says_how_to_record_one(tmp_path):
    v = Baseline(tmp_path / "none.json").check(FakeScenario(), OLD, SYMS)
    assert v.skipped and "no baseline yet for x::x@stm32f746" in v.summary and "--update-baseline" in v.summary


def test_update_mode_passes_and_says_what_moves(tmp_path):
    write_baseline(tmp_path / "b.json", OLD, SYMS)
    v = Baseline(tmp_path / "b.json", update=True).check(FakeScenario(), {**OLD, "flash": 30_000}, SYMS)
    assert v.ok and "baseline updated at the end of this session: flash: 24540 B -> 30000 B" in v.summary


# -- the file and the history --------------------------------------------------------------------
def test_key_drops_the_board_suffix_of_a_board_list():
    assert baseline_key("scenarios/fashion.yaml", "fashion-a[stm32f4]", "stm32f4") == "fashion::fashion-a@stm32f4"
    assert baseline_key("scenarios/selftest.yaml", "selftest-loop", "stm32f746") == \
        "selftest::selftest-loop@stm32f746"


def test_update_keeps_other_entries_and_refuses_failed_scenarios(tmp_path):
    path = tmp_path / "reports" / "baseline.json"
    r = {"file": "f.yaml", "board": "b", "metrics": {"flash": 1, "status": "ok"}}
    update_baseline(path, [{**r, "scenario": "keep", "ok": True}])
    updated, refused = update_baseline(path, [{**r, "scenario": "new", "ok": True,
                                               "metrics": {"flash": 2, "status": "ok"}},
                                              {**r, "scenario": "broken", "ok": False}])
    assert (updated, refused) == (["f::new@b"], ["f::broken@b"])
    assert sorted(read_entries(path)) == ["f::keep@b", "f::new@b"]
    assert not list(path.parent.glob(".baseline.json.tmp*"))  # written atomically via a temp file


def test_update_skips_a_scenario_that_measured_nothing(tmp_path):
    """An over-budget scenario fails at link time by design: no entry, and no complaint either."""
    path = tmp_path / "b.json"
    r = {"file": "f.yaml", "scenario": "s", "board": "b", "ok": True, "metrics": {"arena_planned": 9}}
    assert update_baseline(path, [r]) == ([], [])
    assert read_entries(path) == {}


def test_gate_only_update_keeps_the_run_metrics(tmp_path):
    path = tmp_path / "b.json"
    base = {"file": "f.yaml", "scenario": "s", "board": "b", "ok": True}
    update_baseline(path, [{**base, "metrics": {"flash": 1, "step_instructions": 9, "status": "ok"}}])
    update_baseline(path, [{**base, "metrics": {"flash": 2}}])   # --gate: nothing was run
    assert read_entries(path)["f::s@b"]["metrics"] == {"flash": 2, "step_instructions": 9}


def test_pytest_results_count_as_passed_unless_a_check_failed(tmp_path):
    path = tmp_path / "b.json"
    r = {"file": "f.yaml", "scenario": "s", "board": "b", "metrics": {"flash": 1}}
    _, refused = update_baseline(path, [{**r, "checks": {"run": {"outcome": "failed"}}}])
    assert refused == ["f::s@b"]
    updated, _ = update_baseline(path, [{**r, "checks": {"run": {"outcome": "passed"},
                                                          "baseline": {"outcome": "failed"}}}])
    assert updated == ["f::s@b"]


def test_history_appends_one_line_per_scenario(tmp_path):
    path = tmp_path / "reports" / "history.jsonl"
    r = {"file": "f.yaml", "scenario": "s", "board": "b", "ok": True, "metrics": {"flash": 5, "profile": {}}}
    assert append_history(path, [r, {**r, "scenario": "t"}], "cli", REPO) == 2
    append_history(path, [r], "pytest", REPO)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["key"] for x in lines] == ["f::s@b", "f::t@b", "f::s@b"]
    assert lines[0]["metrics"] == {"flash": 5} and lines[2]["source"] == "pytest"
    assert lines[0]["commit"] is None or len(lines[0]["commit"]) == 40


# -- the schema ----------------------------------------------------------------------------------
def test_tolerance_in_a_scenario_file(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text("common:\n  tolerance: {sram: 512B}\nscenarios:\n  - name: a\n    firmware: {app: selftest}\n"
                 "    tolerance: {accuracy: 2pp, step_instructions: 5%}\n")
    (s,) = load_scenarios(p)
    assert (s.tolerance.sram.amount, s.tolerance.accuracy.amount, s.tolerance.step_instructions.pct) == \
        (512, 2.0, 5.0)
    assert s.tolerance.flash.text == "1% or 64B"   # the default


def test_bad_tolerance_in_a_scenario_file_points_at_the_line(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text("scenarios:\n  - name: a\n    firmware: {app: selftest}\n    tolerance:\n"
                 "      accuracy: 1%\n")
    with pytest.raises(ScenarioError, match=r"t.yaml:5: tolerance.accuracy: .*accuracy moves in points"):
        load_scenarios(p)


# -- end to end, with pytest, the emulator and a copy of a real scenario -------------------------
def run_pytest(pytester, *args: str):
    return pytester.runpytest("-p", "no:cacheprovider", "--rootdir",
                              str(pytester.path), "--report-dir", str(pytester.path / "reports" / "run"),
                              str(pytester.path / "scenarios"), *args)


def test_selftest_baseline_record_pass_and_out_of_date(pytester):
    """Record a baseline, pass against it, then fake an older, larger build: the check asks for an
    update. Every session appends one history line per scenario."""
    d = pytester.mkdir("scenarios")
    (d / "st.yaml").write_text("scenarios:\n  - name: loop\n    firmware: {app: selftest, case: loop}\n"
                               "    stack: 4KiB\n")
    result = run_pytest(pytester, "-k", "baseline", "-rs")
    result.assert_outcomes(skipped=1)
    assert "no baseline yet for st::loop@stm32f746" in result.stdout.str()

    run_pytest(pytester, "--update-baseline", "-k", "baseline").assert_outcomes(passed=1)
    path = pytester.path / "reports" / "baseline.json"
    entry = read_entries(path)["st::loop@stm32f746"]
    assert entry["metrics"]["static_sram"] > 0 and entry["largest_symbols"]["flash"]
    run_pytest(pytester, "-k", "baseline").assert_outcomes(passed=1)

    doc = json.loads(path.read_text())
    doc["scenarios"]["st::loop@stm32f746"]["metrics"]["flash"] += 4096
    path.write_text(json.dumps(doc))
    result = run_pytest(pytester, "-k", "baseline")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "better than the baseline beyond tolerance: flash" in out and "--update-baseline" in out
    history = (pytester.path / "reports" / "history.jsonl").read_text().splitlines()
    assert len(history) == 4


def test_more_memory_fails_the_baseline_with_the_symbol_that_grew(pytester):
    """The issue's test: copy the Fashion-MNIST scenario, record its baseline, then edit the copy to
    update all of conv 4's weights instead of half: L4_wlo (its trainable int8 weights, in SRAM)
    doubles from 1024 to 2048 B, static SRAM grows beyond 1%, and the check fails naming the symbol.
    Small data and no parity keep the emulator run to a few seconds."""
    doc = yaml.safe_load((REPO / "scenarios" / "fashion.yaml").read_text())
    (first,) = [s for s in doc["scenarios"] if s["name"] == "fashion-new-classes"]
    first["dataset"].update(train=10, test=10)
    first["expect"] = {"parity": "none"}
    doc["scenarios"] = [first]
    doc["common"]["training"].update(epochs=1, sparse_update={
        "n_bias_update": 4, "manual_weight_idx": [4, 6], "weight_update_ratio": [0.5, 1]})
    d = pytester.mkdir("scenarios")
    shutil.copytree(REPO / "scenarios" / "models", d / "models")
    copy = d / "fashion.yaml"
    copy.write_text(yaml.safe_dump(doc, sort_keys=False))
    run_pytest(pytester, "--update-baseline", "-k", "baseline").assert_outcomes(passed=1)
    old = read_entries(pytester.path / "reports" / "baseline.json")["fashion::fashion-new-classes@stm32f746"]
    assert old["largest_symbols"]["sram"]["L4_wlo"] == 1024

    doc["common"]["training"]["sparse_update"]["weight_update_ratio"] = [1, 1]
    copy.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = run_pytest(pytester, "-k", "baseline")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    s_old = old["metrics"]["static_sram"]
    assert f"worse than the baseline: static_sram: {s_old} B -> " in out
    assert "+1024 B  L4_wlo (1024 -> 2048 B)" in out
    assert "sram symbols that grew or appeared (largest growth first):" in out
    assert "--update-baseline" in out
