"""The training keys shuffle / schedule / warmup / decay / step_epochs / momentum: parsed from a
scenario file into the compiler's options and the reference's config (harness/scenario_sgd.py)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

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
    cfg = sgd_config(t)
    assert cfg["shuffle_seed"] == 0x9E3779B9
    assert cfg["schedule"] == LrSchedule("cosine", warmup=90)


def test_defaults_keep_the_device_as_it_was():
    t = scenario("fashion-new-classes").training
    assert sgd_options(t, 300) == {"lr_factors": (), "momentum": 0.0}
    assert sgd_config(t)["shuffle_seed"] == 0 and sgd_config(t)["schedule"].constant


def test_step_schedule_keys(tmp_path):
    (tmp_path / "s.yaml").write_text(
        "scenarios:\n  - name: t\n    model: {arch: small, width: 8, input: [16, 16, 1]}\n"
        "    dataset: {name: digits, classes: [0, 1, 2], train: 12, test: 6}\n"
        "    training: {epochs: 4, lr: 0.001, schedule: step, decay: 0.5, step_epochs: 2, warmup: 3}\n")
    t = load_scenarios(tmp_path / "s.yaml")[0].training
    f = sgd_options(t, 12)["lr_factors"]
    assert f[:3] == (float(np.float32(1 / 3)), float(np.float32(2 / 3)), 1.0) and f[24] == 0.5 and f[-1] == 0.5
