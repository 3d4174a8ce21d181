"""harness/cycles.py: the cycle model's arithmetic, per core, and the metrics a run records."""
import pytest

from harness.boards import load_board
from harness.cycles import CLASSES, EXTRAS, estimate, fmt_ms, run_metrics, to_ms
from harness.units import parse_ms


def counts(**kw: float) -> dict[str, float]:
    return {k: 0 for k in (*CLASSES, *EXTRAS)} | kw


def test_m4_costs_follow_the_trm_table():
    # 10 loads (4 pipelined): 2 each, 1 when pipelined
    assert estimate(counts(load_store=10, load_store_pipelined=4))["m4"] == 16
    # 3 LDM/PUSH moving 12 words: 1 + N each
    assert estimate(counts(load_store_multiple=3, multiple_regs=12))["m4"] == 15
    # MUL/MLA/SMULL and DSP (SMLAD...) 1, VADD/VMUL 1, VMLA/VFMA 3, VDIV/VSQRT 14, SDIV 12
    assert estimate(counts(multiply=5, dsp=7, fpu=3, fpu_mac=2, fpu_div=1, divide=1))["m4"] == \
        5 + 7 + 3 + 6 + 14 + 12
    # 8 branches, 6 taken: 1 + P (P = 2) when taken
    assert estimate(counts(branch=8, branch_taken=6))["m4"] == 8 + 12
    assert estimate(counts(other=100))["m4"] == 100


def test_m7_high_is_single_issue_and_low_dual_issues_within_its_limits():
    c = counts(load_store=400, load_store_pipelined=100, other=500, branch=100, branch_taken=80)
    e = estimate(c)
    assert e["m7_high"] == e["m4"] == 800 - 100 + 500 + 100 + 160
    assert e["m7_low"] == 500  # 1000 instructions, two a cycle, taken branches predicted
    # one multiply/DSP instruction a cycle: 600 SMLADs and 200 ALU ops cannot pair better
    assert estimate(counts(dsp=600, other=200))["m7_low"] == 600
    # one FPU data-processing instruction a cycle; VDIV's 14 cycles overlap nothing
    assert estimate(counts(fpu=300, fpu_mac=100, load_store=100))["m7_low"] == 400
    assert estimate(counts(fpu_div=2, other=10))["m7_low"] == 5 + 28
    # multiples move two words a cycle
    assert estimate(counts(load_store_multiple=2, multiple_regs=16))["m7_low"] == 4


@pytest.mark.parametrize("c", [counts(other=1000), counts(dsp=500, load_store=300, load_store_pipelined=200,
                                                          branch=100, branch_taken=90, fpu_div=3)])
def test_the_m7_range_is_ordered(c):
    e = estimate(c)
    assert e["m7_low"] < e["m7_high"]


def test_run_metrics_for_an_m7_board_uses_the_high_end_and_both_clocks():
    steps = [counts(other=216_000), counts(other=432_000)]   # 1 ms and 2 ms at 216 MHz, single issue
    evals = [counts(other=180_000 * 4)]                      # 4 samples of 1 ms each on the M4
    m = run_metrics(steps, evals, 4, load_board("stm32f746"))
    assert m["step_ms_m7_high"] == m["step_ms"] == 2.0
    assert m["step_ms_m7_low"] == 1.0
    assert m["step_ms_m4"] == pytest.approx(432_000 / 180_000)
    assert m["predict_ms_m4"] == 1.0 and m["predict_ms"] == pytest.approx(180 / 216)
    cm = m["cycle_model"]
    assert cm["own"] == "m7_high" and cm["step"]["classes"]["other"] == 432_000
    assert cm["step"]["cycles"] == {"m4": 432_000, "m7_low": 216_000, "m7_high": 432_000}


def test_run_metrics_for_an_m4_board_and_a_run_without_classes():
    m = run_metrics([counts(other=180_000)], [], 0, load_board("stm32f4"))
    assert m["step_ms"] == m["step_ms_m4"] == 1.0 and "predict_ms" not in m
    assert run_metrics([], [], 0, load_board("stm32f4")) == {}


def test_ms_parsing_and_formatting():
    assert parse_ms(400) == parse_ms("400ms") == parse_ms("0.4s") == parse_ms("400 ms") == 400.0
    assert parse_ms("250us") == 0.25 and parse_ms(1.5) == 1.5
    for bad in ("400 cycles", "fast", True, None, [400], "1e3ms", float("inf"), 10**30):
        with pytest.raises(ValueError):
            parse_ms(bad)
    assert to_ms(216_000_000, 216_000_000) == 1000.0
    assert (fmt_ms(953.14), fmt_ms(0.019091), fmt_ms(1234.6)) == ("953.1", "0.01909", "1235")
