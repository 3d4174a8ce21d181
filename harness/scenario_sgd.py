"""The ``training`` keys of how SGD runs over the epochs (shuffle, lr schedule, momentum):
their parsers, and the checks that need the rest of the scenario (sample count, epochs),
each failing with the key's file:line and the fix. Semantics: harness/sgd, docs §10."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .errors import ScenarioError
from .scenario_values import INT32_MAX, _is_int, _number
from .sgd.lr_schedule import LrSchedule
from .sparse.scheme import round_half_away
from .sgd.shuffle import MAX_SAMPLES
from .yamlsrc import quote


def _momentum(v: Any) -> float:
    x = _number(v)
    if not 0.0 <= x < 1.0:
        raise ValueError(f"expected a momentum in [0, 1) (0: plain SGD; 1 or more never forgets "
                         f"and diverges), got {quote(v)}")
    return x


def _steps(v: Any) -> int | str:
    """A warm-up: whole steps, or ``'P%'`` of the run's steps (0 <= P < 100)."""
    if v == AUTO_WARMUP:
        return v
    if isinstance(v, str) and v.endswith("%"):
        try:
            p = float(v[:-1])
        except ValueError:
            p = math.nan
        if not 0.0 <= p < 100.0:
            raise ValueError(f"expected a share of the run's steps like '10%' (0 to under 100), got {quote(v)}")
        return v
    if not _is_int(v) or not 0 <= v <= INT32_MAX:
        raise ValueError(f"expected a whole number of steps >= 0 (one step per training sample) or "
                         f"a share of the run like '10%', got {quote(v)}")
    return v


AUTO_WARMUP = "auto"  # 10 % of the run with a decaying schedule, none with a constant rate


def warmup_steps(warmup: int | str, total: int, schedule: str) -> int:
    """Warm-up steps of a run of ``total`` steps: ``'P%'`` is ``P/100 * total`` rounded half away
    from zero (a share never reaches the whole run: at most ``total - 1``); ``auto`` is ``10%``
    with a cosine or step schedule and 0 with a constant one."""
    if warmup == AUTO_WARMUP:
        warmup = "0%" if schedule == "constant" else "10%"
    if isinstance(warmup, str):
        return min(round_half_away(float(warmup[:-1]) / 100.0 * total), max(total - 1, 0))
    return warmup


def _step_epochs(v: Any) -> int:
    if not _is_int(v) or not 1 <= v <= INT32_MAX:
        raise ValueError(f"expected a whole number of epochs >= 1, got {quote(v)}")
    return v


def _decay(v: Any) -> float:
    x = _number(v)
    if not 0.0 < x <= 1.0:
        raise ValueError(f"expected a factor in (0, 1] (the rate is multiplied by it), got {quote(v)}")
    return x


def schedule_of(training: Any, n_train: int) -> LrSchedule:
    """The ``LrSchedule`` a TrainingSpec (or the validated ``training`` mapping) asks for, on
    ``n_train`` samples per epoch (a warm-up written as a share resolves against the run)."""
    get = training.get if isinstance(training, dict) else lambda k: getattr(training, k)
    warmup = warmup_steps(get("warmup"), get("epochs") * n_train, get("schedule"))
    return LrSchedule(get("schedule"), warmup, get("decay"), get("step_epochs"))


def check_sgd(t: Any, n_train: int, path: Path, line: int) -> None:
    """Cross-key checks of the validated ``training`` mapping ``t`` (a LineDict)."""
    def at(key: str) -> str:
        return f"{path}:{t.line_of(key) if key in getattr(t, 'key_lines', {}) else line}"

    written = getattr(t, "key_lines", {})
    if t["schedule"] != "step":
        for key in ("decay", "step_epochs"):
            if key in written:
                raise ScenarioError(f"{at(key)}: training.{key} applies to schedule: step, and the "
                                    f"schedule is {t['schedule']}",
                                    f"add 'schedule: step', or remove training.{key}")
    total = t["epochs"] * n_train
    if isinstance(t["warmup"], int) and t["warmup"] and t["warmup"] >= total:
        raise ScenarioError(f"{at('warmup')}: training.warmup = {t['warmup']} steps is not shorter "
                            f"than the whole run ({t['epochs']} epochs x {n_train} samples = {total} "
                            f"steps): the rate would never reach training.lr",
                            f"use fewer warm-up steps, e.g. warmup: {max(total // 10, 1) if total > 1 else 0}")
    if t["shuffle"]:
        if n_train < 2:
            raise ScenarioError(f"{at('shuffle')}: training.shuffle with {n_train} training sample: "
                                "there is no other order to visit it in",
                                "remove training.shuffle, or train on more samples (dataset.train)")
        if n_train > MAX_SAMPLES:
            raise ScenarioError(f"{at('shuffle')}: training.shuffle keeps one uint16_t index per sample, "
                                f"and dataset.train = {n_train} exceeds {MAX_SAMPLES}",
                                f"use dataset.train <= {MAX_SAMPLES} with shuffle")
    if "shuffle_seed" in written and not t["shuffle"]:
        raise ScenarioError(f"{at('shuffle_seed')}: training.shuffle_seed seeds the shuffle, which is off",
                            "add 'shuffle: true', or remove training.shuffle_seed")
