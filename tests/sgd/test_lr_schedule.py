"""harness/sgd/lr_schedule.py: the factor table of docs/arithmetic.md §10.2, value by value."""
from __future__ import annotations

import math

import numpy as np
import pytest

from harness.errors import ScenarioError
from harness.sgd.lr_schedule import LrSchedule, scaled_lr


def test_constant_without_warmup_has_no_table():
    assert LrSchedule().constant and not LrSchedule(warmup=3).constant
    assert np.all(LrSchedule().factors(2, 5) == 1.0)


def test_linear_warmup_then_constant():
    f = LrSchedule(warmup=4).factors(1, 10)
    assert f.dtype == np.float32 and len(f) == 10
    assert f[:5].tolist() == [0.25, 0.5, 0.75, 1.0, 1.0]  # (t + 1) / W, exact in float32
    assert np.all(f[4:] == 1.0)


def test_cosine_after_warmup():
    f = LrSchedule("cosine", warmup=10).factors(3, 100)  # T = 300, cosine over 290 steps
    assert f[9] == 1.0 and f[10] == 1.0  # end of warm-up, start of the decay
    assert f[10 + 145] == np.float32(0.5)  # half way: cos(pi/2) = 0 (to float32 rounding)
    assert f[-1] == np.float32(0.5 * (1 + math.cos(math.pi * 289 / 290)))
    assert 0 < f[-1] < 1e-4 and np.all(np.diff(f[10:]) <= 0)


def test_step_decays_per_epoch_group():
    f = LrSchedule("step", gamma=0.5, step_epochs=2).factors(5, 3)
    assert f.reshape(5, 3)[:, 0].tolist() == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_warmup_must_end_before_the_run():
    with pytest.raises(ScenarioError, match="not shorter than the whole run"):
        LrSchedule("cosine", warmup=30).factors(3, 10)


def test_scaled_rate_is_one_float32_product():
    """lr 0.1 is not exact in float32: the product rounds the float32 rate times the factor."""
    f = np.float32(0.3)
    assert scaled_lr(0.1, f) == float(np.float32(np.float32(0.1) * f))
    assert scaled_lr(0.1, f) != float(np.float32(0.1 * 0.3))
