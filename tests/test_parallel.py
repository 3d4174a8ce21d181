"""pytest -n (xdist) gives the same scenario results as a serial run."""
import json
import shutil

from harness.pipeline import REPO

DETERMINISTIC = ("flash", "static_sram", "stack_reserved", "status", "exit_code", "insn_total",
                 "step_instructions", "region_instructions", "stack_high_water", "peak_sram")


def _metrics(pytester, *args):
    d = pytester.mkdir("scenarios") if not (pytester.path / "scenarios").exists() else pytester.path / "scenarios"
    shutil.copy(REPO / "scenarios" / "selftest.yaml", d / "selftest.yaml")
    out = pytester.path / f"reports{len(args)}"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                           "--report-dir", str(out), str(d), *args)
    assert result.ret == 0, result.stdout.str()
    doc = json.loads((out / "report.json").read_text())
    # A hung or flooding guest is killed after a wall-clock timeout or a byte count: how far it
    # got is not deterministic.
    return {s["scenario"]: {k: s["metrics"].get(k) for k in DETERMINISTIC
                            if not (k == "insn_total" and s["metrics"].get("status") in ("timeout", "flood"))}
            for s in doc["scenarios"]}


def test_xdist_matches_serial(pytester):
    serial = _metrics(pytester)
    parallel = _metrics(pytester, "-n", "2", "--dist", "loadfile")
    assert serial == parallel
    assert serial["selftest-loop"]["region_instructions"] == 5137
