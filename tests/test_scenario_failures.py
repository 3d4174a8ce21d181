"""Every failure mode of the plumbing makes a scenario item fail with a message naming the cause.

Each case runs pytest (via pytester) on a scenario that expects a clean run of a self-test
firmware which does not deliver one, and asserts the failure report's words and numbers.
"""
import textwrap

import pytest


def run_scenario(pytester, body: str, *args: str):
    d = pytester.mkdir("scenarios")
    (d / "bad.yaml").write_text(textwrap.dedent(body))
    return pytester.runpytest("-p", "no:cacheprovider",
                              "--report-dir", str(pytester.path / "reports"), str(d), *args)


def one(case: str, extra: str = "") -> str:
    return f"""
    scenarios:
      - name: bad-{case}
        firmware: {{app: selftest, case: {case}}}
        timeout: 3
    {extra}"""


@pytest.mark.parametrize("case,check,needles", [
    ("fault", "run", ["expected the run to end with status 'ok', it ended with 'fault'", "busfault"]),
    ("overflow", "run", ["ended with 'fault'", "stack_overflow"]),
    ("hang", "run", ["ended with 'timeout'", "timeout after 3"]),
    ("exit", "run", ["ended with 'exit'", "exit code 3"]),
    ("malformed", "run", ["malformed record", "line"]),
    ("overbudget", "build", ["build failed", "region RAM overflowed by 98312 bytes", "selftest_big"]),
])
def test_failure_names_the_cause(pytester, case, check, needles):
    result = run_scenario(pytester, one(case))
    out = result.stdout.str()
    assert result.ret == 1, out
    assert f"FAILED scenarios/bad.yaml::bad-{case}::{check}" in out
    section = out[out.index(f"bad-{case}::{check}"):]
    for needle in needles:
        assert needle in section, f"{needle!r} not in:\n{section}"
    assert "bad.yaml:3" in out  # the report points at the scenario's file and line


def test_wrong_instruction_count_shows_both_numbers(pytester):
    result = run_scenario(pytester, """
    scenarios:
      - name: count
        firmware: {app: selftest, case: loop}
        expect: {region_instructions: 5000}
    """)
    out = result.stdout.str()
    assert result.ret == 1
    assert "region 0: 5137 instructions, expected == 5000" in out


def test_sram_budget_failure_states_the_bytes_over(pytester):
    result = run_scenario(pytester, """
    scenarios:
      - name: tight
        firmware: {app: selftest, case: loop}
        stack: 8KiB
        budgets: {sram: 4KiB}
    """)
    out = result.stdout.str()
    assert result.ret == 1
    assert "exceeds the budget 4.0 KiB (4096 B) by" in out
    assert "largest symbols" in out


def test_invalid_scenario_file_is_a_collection_error_with_line(pytester):
    result = run_scenario(pytester, """
    scenarios:
      - name: typo
        firmware: {app: selftest}
        budgets: {sramm: 4KiB}
    """)
    out = result.stdout.str()
    assert result.ret != 0
    assert "bad.yaml:5: unknown key 'budgets.sramm'" in out and "did you mean 'sram'" in out


def test_gate_runs_no_emulator(pytester):
    result = run_scenario(pytester, one("hang"), "--gate")
    result.assert_outcomes(passed=2)  # build and memory only: the hang is never run


def test_diverging_training_stops_with_a_clear_record(pytester):
    result = run_scenario(pytester, """
    scenarios:
      - name: diverge
        model: {arch: small, input: [16, 16, 1]}
        dataset: {name: digits, classes: [0, 1, 2], train: 12, test: 6}
        training: {epochs: 1, lr: 0.001, classifier_lr: 1.0e+30}
        stack: 8KiB
    """)
    out = result.stdout.str()
    assert result.ret == 1
    assert "FAILED scenarios/bad.yaml::diverge::run" in out
    assert "training diverged: the loss became NaN, infinite or above 1e6 at epoch 1" in out
    assert "lower training.lr or training.classifier_lr" in out


def test_faults_the_firmware_makes_are_named(pytester):
    result = run_scenario(pytester, """
    scenarios:
      - name: null-write
        firmware: {app: selftest, case: nullwrite}
      - name: host-call
        firmware: {app: selftest, case: semihost}
    """)
    out = result.stdout.str()
    assert result.ret == 1
    assert "FAILED scenarios/bad.yaml::null-write::run" in out
    assert "fault: null_write (a write through a NULL pointer) at pc=0x" in out
    assert "FAILED scenarios/bad.yaml::host-call::run" in out
    assert ("fault: semihosting (a host call, refused: the harness serves none) at pc=0x" in out
            and "operation 0x00000012 SYS_SYSTEM" in out)


def test_console_flood_says_so_and_keeps_the_tail(pytester):
    result = run_scenario(pytester, """
    scenarios:
      - name: flood
        firmware: {app: selftest, case: flood}
        console_limit: 64KiB
        timeout: 30
    """)
    out = result.stdout.str()
    assert result.ret == 1
    section = out[out.index("flood::run"):]
    assert ("expected the run to end with status 'ok', it ended with 'flood': console output "
            "exceeded 65536 bytes; the run was stopped") in section
    assert "| flood: line " in section  # the console tail is shown


@pytest.mark.parametrize("case,status", [("overflow", "fault"), ("hang", "timeout"), ("exit", "exit"),
                                         ("flood", "flood")])
def test_no_item_passes_on_a_run_that_failed(pytester, case, status):
    # instructions (a step budget), stack and baseline all read the run: none may pass, and
    # none may be skipped as if there were nothing to check.
    result = run_scenario(pytester, f"""
    scenarios:
      - name: broken
        firmware: {{app: selftest, case: {case}}}
        budgets: {{step_instructions: 3k}}
        console_limit: 64KiB
        timeout: 3
    """)
    out = result.stdout.str()
    result.assert_outcomes(passed=2, failed=4)  # build and memory pass; run and the rest fail
    for check in ("run", "instructions", "stack", "baseline"):
        assert f"FAILED scenarios/bad.yaml::broken::{check}" in out
    for check in ("instructions", "stack", "baseline"):
        assert f"{check}: not checked: the run ended with {status}: " in out, check


def test_a_fault_the_scenario_expects_leaves_nothing_to_check_but_the_run(pytester):
    result = run_scenario(pytester, """
    scenarios:
      - name: expected
        firmware: {app: selftest, case: nullwrite}
        expect: {status: fault, fault: null_write}
      - name: other-fault
        firmware: {app: selftest, case: fault}
        budgets: {step_instructions: 3k}
        expect: {status: fault, fault: null_write}
    """)
    out = result.stdout.str()
    # expected: build, memory, run pass; baseline has no entry in this temporary tree (skipped);
    # instructions and stack are not items at all (nothing to measure in a run that must stop).
    assert "bad.yaml::expected::instructions" not in out and "bad.yaml::expected::stack" not in out
    assert "FAILED scenarios/bad.yaml::other-fault::run" in out
    assert "expected fault 'null_write', got 'busfault'" in out
    assert ("instructions: not checked: the run ended with fault: fault: busfault at pc=0x" in out
            and "(expected fault null_write)" in out)
    result.assert_outcomes(passed=5, failed=3, skipped=1)
