"""benchmarks/bench_paper.py: its 18 configurations are valid scenarios of the right models and
schemes, and its table cells stay one line (the benchmark itself runs minutes: not run here)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from harness.scenario import load_scenarios
from harness.sparse.paper_schemes import PAPER_SCHEMES

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_paper", REPO / "benchmarks" / "bench_paper.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_paper"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_every_configuration_is_a_valid_scenario(bench, tmp_path):
    entries = [bench.scenario_entry(m, s) for m, (name, _) in bench.MODELS.items()
               for s in [*PAPER_SCHEMES[name], "full"]]
    scenarios = load_scenarios(bench.scenario_file(entries, tmp_path))
    assert len(scenarios) == 18
    for sc in scenarios:
        assert sc.model.input == (128, 128, 3) and sc.board == "stm32f746" and sc.stack == bench.STACK
    su = {sc.name: sc.training.sparse_update for sc in scenarios}
    assert su["bench-paper-proxyless-128-98kb"] == {"paper": "proxyless-w0.3/98kb"}
    assert su["bench-paper-mcunet-128-full"] == "full"


def test_paper_figures_and_cells(bench):
    assert bench.PAPER_FIG10 == {"mbv2-w0.35": (141, 373), "proxyless-w0.3": (135, 443),
                                 "mcunet-5fps": (173, 546)}
    assert bench.one_line("a | b\nsecond line") == "a / b"
    row = bench.Row("mbv2-w0.35", "49kb", step_insns=216_000_000)
    assert bench.ms_text(row) == "1000 (insns/216MHz)" and bench.step_ms(row) == 1000.0
    row.ms = {"step_ms_m4": 500.0, "step_ms_m7_low": 300.0, "step_ms_m7_high": 420.0}
    assert bench.ms_text(row) == "M7 300-420, M4 500" and bench.step_ms(row) == 420.0


def test_torch_spec_is_the_zoo_graph(bench):
    spec = bench.torch_spec("mcunet")
    convs = [op for op in spec["ops"] if op["type"] == "conv"]
    assert len(convs) == 42 and spec["input"] == [128, 128, 3]
    assert sum(op["type"] == "add" for op in spec["ops"]) == 7  # b2, b4, b6, b8, b9, b11, b12
