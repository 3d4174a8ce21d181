"""The training keys shuffle / schedule / warmup / decay / step_epochs / momentum: parsed from a
scenario file into the compiler's options and the reference's config (harness/scenario_sgd.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.scenario import load_scenarios
from harness.sgd.lr_schedule import LrSchedule
from harness.workload import sgd_config, sgd_options

REPO = Path(__file__).resolve().parents[2]


def scenario(name: str):
    return next(s for s in load_scenarios(REPO / "scenarios" / "fashion.yaml") if s.name == name)


def test_fashion_sgd_scenario_asks_for_all_three():
    t = scenario("fashion-new-classes-sgd").training
    assert (t.shuffle, t.schedule, t.warmup, t.momentum) == (True, "cosine", 90, 0.9)
    opts = sgd_options(t, 300)
    assert len(opts["lr_factors"]) == 3 * 300 and opts["lr_factors"][0] == float(np.float32(1 / 90))  # float32 values
    assert opts["momentum"] == 0.9
    cfg = sgd_config(t, 300)
    assert cfg["shuffle_seed"] == 0x9E3779B9
    assert cfg["schedule"] == LrSchedule("cosine", warmup=90)


def test_defaults_are_cosine_with_a_tenth_of_warm_up():
    """The measured best (benchmarks/bench_schedule.py): cosine, warm-up 10 % of the steps."""
    t = scenario("fashion-new-classes").training
    assert (t.schedule, t.warmup, t.shuffle, t.momentum) == ("cosine", "auto", False, 0.0)
    assert sgd_config(t, 300)["schedule"] == LrSchedule("cosine", warmup=90)
    f = sgd_options(t, 300)["lr_factors"]
    assert len(f) == 900 and f[89] == 1.0 and f[0] == float(np.float32(1 / 90)) and f[-1] < 1e-4
    assert sgd_config(t, 300)["shuffle_seed"] == 0


def test_constant_rate_keeps_the_device_as_it_was(tmp_path):
    """schedule: constant: no table, no warm-up (auto is none), const update parameters."""
    (tmp_path / "s.yaml").write_text(
        "scenarios:\n  - name: t\n    model: {arch: small, width: 8, input: [16, 16, 1]}\n"
        "    dataset: {name: digits, classes: [0, 1, 2], train: 12, test: 6}\n"
        "    training: {epochs: 2, lr: 0.001, schedule: constant}\n")
    t = load_scenarios(tmp_path / "s.yaml")[0].training
    assert sgd_options(t, 12) == {"lr_factors": (), "momentum": 0.0}
    assert sgd_config(t, 12)["schedule"].constant


@pytest.mark.parametrize("warmup,steps", [("10%", 2), ("25%", 6), ("0%", 0), (5, 5), ("99%", 23)])
def test_warmup_as_a_share_of_the_run(tmp_path, warmup, steps):
    (tmp_path / "s.yaml").write_text(
        "scenarios:\n  - name: t\n    model: {arch: small, width: 8, input: [16, 16, 1]}\n"
        "    dataset: {name: digits, classes: [0, 1, 2], train: 12, test: 6}\n"
        f"    training: {{epochs: 2, lr: 0.001, warmup: '{warmup}'}}\n" if isinstance(warmup, str) else
        "scenarios:\n  - name: t\n    model: {arch: small, width: 8, input: [16, 16, 1]}\n"
        "    dataset: {name: digits, classes: [0, 1, 2], train: 12, test: 6}\n"
        f"    training: {{epochs: 2, lr: 0.001, warmup: {warmup}}}\n")
    t = load_scenarios(tmp_path / "s.yaml")[0].training
    assert sgd_config(t, 12)["schedule"].warmup == steps


def test_step_schedule_keys(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "scenarios:\n  - name: t\n    model: {arch: small, width: 8, input: [16, 16, 1]}\n"
        "    dataset: {name: digits, classes: [0, 1, 2], train: 12, test: 6}\n"
        "    training: {epochs: 4, lr: 0.001, schedule: step, decay: 0.5, step_epochs: 2, warmup: 3}\n")
    t = load_scenarios(tmp_path / "s.yaml")[0].training
    f = sgd_options(t, 12)["lr_factors"]
    assert f[:3] == (float(np.float32(1 / 3)), float(np.float32(2 / 3)), 1.0) and f[24] == 0.5 and f[-1] == 0.5
