"""Budget semantics a user can follow, on the real self-test firmware (a recursion whose stack
high-water is 2880 B, 4 B of static SRAM):

- the gate (``memory``, no emulator) checks the reserved layout, static + ``stack:``, against
  budgets.sram, and says to lower ``stack:`` (with a value when a run has measured the stack);
- the run (``stack``) checks the measured high-water against the usable stack and static +
  high-water against budgets.sram, and suggests a ``stack:``;
- a stack overflow names ``stack:``, the MPU guard, and says to raise it.
"""
import json
import textwrap

import pytest

from harness.pipeline import suggested_stack


def run_scenario(pytester, body: str, baseline: dict | None = None, *args: str):
    d = pytester.mkdir("scenarios")
    (d / "budget.yaml").write_text(textwrap.dedent(body))
    if baseline is not None:
        reports = pytester.mkdir("reports")
        (reports / "baseline.json").write_text(json.dumps({"version": 1, "scenarios": baseline}))
    result = pytester.runpytest("-p", "no:cacheprovider",
                                "--report-dir", str(pytester.path / "out"), str(d), *args)
    return result, result.stdout.str()


def section(out: str, item: str) -> str:
    """The failure report of one item."""
    start = out.index(f"check {item.split('::')[1]!r}", out.index(f"_ {item} _"))
    return out[start:out.index("\n_", start) if "\n_" in out[start:] else len(out)]


RECURSION = """
scenarios:
  - name: {name}
    firmware: {{app: selftest, case: stack}}
    stack: {stack}
    timeout: 10
{extra}"""


def test_suggested_stack_is_high_water_plus_guard_plus_margin():
    # + 256 B guard + max(256 B, a quarter), rounded up to 512 B
    assert suggested_stack(0) == 512
    assert suggested_stack(424) == 1024      # 424 + 256 + 256 = 936
    assert suggested_stack(2880) == 4096     # 2880 + 256 + 720 = 3856
    assert suggested_stack(8000) == 10752    # 8000 + 256 + 2000 = 10256


def test_budget_of_peak_plus_512_fails_the_gate_and_says_lower_the_stack(pytester):
    # peak = 4 B static + 2880 B stack = 2884 B; budget 3396 B; the layout is 4 B + 8 KiB
    result, out = run_scenario(pytester, RECURSION.format(
        name="tight", stack="8KiB", extra="    budgets: {sram: 3396B}"))
    assert result.ret == 1
    result.assert_outcomes(passed=3, failed=1, skipped=1)  # build, run, stack pass; baseline skipped
    gate = section(out, "tight::memory")
    assert ("memory (the gate: static + reserved stack, no run): SRAM layout: static 4 B + reserved "
            "stack 8.0 KiB (8192 B) = 8.0 KiB (8196 B) exceeds the budget 3.3 KiB (3396 B) by 4800 B "
            "(budgets.sram)") in gate
    # No run has measured the stack yet: the largest stack that fits, and where the value comes from
    assert ("Fix: lower `stack:` to at most 3KiB (what fits beside the static data; the run measures "
            "the high-water and the stack item suggests a value) or raise budgets.sram to 8196B") in gate
    # The run's own check passes (the stack really used fits) and suggests the value
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    stack = report["scenarios"][0]["checks"]["stack"]
    assert stack["outcome"] == "passed"
    assert stack["summary"] == ("peak SRAM 2.8 KiB (2884 B) (static + stack high-water 2880 B) within "
                                "budget; stack: 8KiB leaves 5056 B unused; stack: 4KiB would do")


def test_gate_uses_the_high_water_recorded_in_the_baseline(pytester):
    baseline = {"budget::tight@stm32f746": {"file": "scenarios/budget.yaml", "scenario": "tight",
                                            "board": "stm32f746", "metrics": {"stack_high_water": 2880}}}
    result, out = run_scenario(pytester, RECURSION.format(
        name="tight", stack="8KiB", extra="    budgets: {sram: 6KiB}"), baseline, "--gate")
    assert result.ret == 1
    gate = section(out, "tight::memory")
    assert ("Fix: lower `stack:` (now 8KiB; the run recorded in baseline.json used 2880 B of stack, so "
            "stack: 4KiB would do: high-water + 256 B MPU guard + margin) or raise budgets.sram to "
            "8196B") in gate


def test_gate_says_when_the_measured_stack_cannot_fit(pytester):
    baseline = {"budget::tight@stm32f746": {"file": "scenarios/budget.yaml", "scenario": "tight",
                                            "board": "stm32f746", "metrics": {"stack_high_water": 2880}}}
    result, out = run_scenario(pytester, RECURSION.format(
        name="tight", stack="8KiB", extra="    budgets: {sram: 3KiB}"), baseline, "--gate")
    assert result.ret == 1
    assert ("Fix: the run recorded in baseline.json used 2880 B of stack, which needs stack: 4KiB (with "
            "the 256 B MPU guard and a margin), but only 2.5KiB fits beside the static data: shrink "
            "static buffers or raise budgets.sram to 4100B") in section(out, "tight::memory")


def test_gate_says_when_static_data_alone_leaves_no_stack(pytester):
    result, out = run_scenario(pytester, RECURSION.format(
        name="tiny", stack="8KiB", extra="    budgets: {sram: 500B}"), None, "--gate")
    assert result.ret == 1
    assert ("Fix: static SRAM alone (4 B) leaves no room for a stack in budgets.sram: shrink static "
            "buffers (largest symbols below) or raise budgets.sram to 8196B") in section(out, "tiny::memory")


def test_run_fails_when_the_used_stack_does_not_fit_the_budget(pytester):
    result, out = run_scenario(pytester, RECURSION.format(
        name="small", stack="8KiB", extra="    budgets: {sram: 2KiB}"))
    assert result.ret == 1
    stack = section(out, "small::stack")
    assert ("stack (measured by the run): peak SRAM: static 4 B + stack high-water 2880 B = 2.8 KiB "
            "(2884 B) exceeds the budget 2.0 KiB (2048 B) by 836 B (budgets.sram): the stack the run "
            "really used does not fit; shrink static buffers or raise budgets.sram to 4100B") in stack
    assert "suggested stack:                       4KiB" in stack


def test_stack_overflow_says_raise_the_stack(pytester):
    result, out = run_scenario(pytester, RECURSION.format(name="overflow", stack="2KiB", extra=""))
    assert result.ret == 1
    hint = ("the stack (stack: 2KiB, of which the lowest 256 B are the MPU guard: 1792 B usable) "
            "overflowed: raise `stack:` (e.g. to 4KiB)")
    assert hint in section(out, "overflow::run")
    assert "stack: not checked: the run ended with fault" in section(out, "overflow::stack")
    assert hint in section(out, "overflow::stack")


def test_expected_stack_overflow_gives_no_advice(pytester):
    result, out = run_scenario(pytester, """
    scenarios:
      - name: expected
        firmware: {app: selftest, case: overflow}
        timeout: 10
        expect: {status: fault, fault: stack_overflow}
    """)
    assert result.ret == 0, out
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    assert "raise `stack:`" not in report["scenarios"][0]["checks"]["run"]["summary"]


@pytest.mark.parametrize("stack,expect", [("4KiB", "stack: 4KiB leaves 960 B unused"),
                                          ("3.5KiB", "stack: 3.5KiB leaves 448 B unused; little margin: "
                                                     "consider stack: 4KiB")])
def test_stack_item_reports_the_headroom(pytester, stack, expect):
    result, out = run_scenario(pytester, RECURSION.format(name="fits", stack=stack, extra=""))
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    summary = report["scenarios"][0]["checks"]["stack"]["summary"]
    assert expect in summary, summary


# -- budgets.step_ms: the board's estimated milliseconds per step (harness/cycles.py) ------------
# The self-test loop's steps are 5n + 18 instructions for n = 128, 256, 512; on the M4 model
# (single issue: two ldrsb.w that update their base, 2 cycles each, never pipelined; cmp 1,
# smlabb 1, bne 1 + 2 when taken; plus the call and mark overhead) 9n + 28 cycles: 1180, 2332,
# 4636.
LOOP = """
scenarios:
  - name: {name}
    board: {board}
    firmware: {{app: selftest, case: loop}}
    timeout: 10
    budgets: {{step_ms: {budget}}}
"""


def test_step_ms_budget_too_small_fails_with_the_numbers_and_the_fix(pytester):
    result, out = run_scenario(pytester, LOOP.format(name="slow", board="stm32f746", budget="0.006ms"))
    assert result.ret == 1
    check = section(out, "slow::instructions")
    # step 0 (1180 cycles = 0.005463 ms at 216 MHz) fits; steps 1 and 2 do not
    assert "step 0:" not in check
    assert ("step 1: an estimated 0.0108 ms on stm32f746 (cortex-m7 at 216 MHz, cycle model m7_high) "
            "exceeds the budget budgets.step_ms = 0.006 ms by 0.004796 ms; make the step faster (the "
            "instruction profile shows the dominant kernels) or raise budgets.step_ms to 0.0108ms") in check
    assert "step 2: an estimated 0.02146 ms" in check
    assert "this board: 0.02146 ms (the M7's conservative end), budget 0.006 ms (budgets.step_ms)" in check
    report = json.loads((pytester.path / "out" / "report.json").read_text())
    m = report["scenarios"][0]["metrics"]
    assert m["step_ms"] == m["step_ms_m7_high"] == round(4636 / 216e3, 6)
    assert m["step_ms_m4"] == round(4636 / 180e3, 6) and m["step_ms_m7_low"] < m["step_ms"]
    assert m["cycle_model"]["step"]["cycles"]["m4"] == 4636
    assert sum(m["cycle_model"]["step"]["classes"][k] for k in
               ("load_store", "load_store_multiple", "dsp", "branch", "other")) == 5 * 512 + 18


@pytest.mark.parametrize("budget,passes", [("0.000026s", True), ("0.0000257s", False)])
def test_step_ms_budget_on_the_m4_board_uses_the_m4_model(pytester, budget, passes):
    # 4636 cycles at 180 MHz = 0.02576 ms: 0.026 ms passes, 0.0257 ms fails
    result, out = run_scenario(pytester, LOOP.format(name="m4", board="stm32f4", budget=budget))
    assert result.ret == (0 if passes else 1), out
    if not passes:
        assert ("step 2: an estimated 0.02576 ms on stm32f4 (cortex-m4 at 180 MHz, cycle model m4) "
                "exceeds the budget budgets.step_ms = 0.0257 ms") in section(out, "m4::instructions")
