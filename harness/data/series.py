"""Time series: cutting recordings into windows, and the held-out tail of each recording.

A *run* is a stretch of consecutive time steps with one label (one recording, or one
session's rows of one label in a CSV file). Windows of ``window`` steps start every
``stride`` steps inside a run and never cross into the next run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import DatasetError

MAX_WINDOW = 1 << 16
TEST_FRACTION = 0.25


@dataclass(frozen=True)
class Windows:
    """(N, window, C) float32 windows and their labels."""

    x: np.ndarray
    y: np.ndarray


def window_starts(length: int, window: int, stride: int) -> np.ndarray:
    """Start offsets of the windows that fit a run of ``length`` steps."""
    if length < window:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, length - window + 1, stride, dtype=np.int64)


def _stack(runs: Sequence[np.ndarray], starts: list[tuple[int, int]], window: int, channels: int) -> np.ndarray:
    out = np.empty((len(starts), window, channels), dtype=np.float32)
    for i, (r, s) in enumerate(starts):
        out[i] = runs[r][s:s + window]
    return out


def check_window(window: int, stride: int) -> None:
    if not 1 <= window <= MAX_WINDOW or not 1 <= stride <= MAX_WINDOW:
        raise DatasetError(f"window {window} / stride {stride} must be in 1..{MAX_WINDOW}",
                           fix="use e.g. window: 128, stride: 64")


def cut(runs: Sequence[np.ndarray], labels: Sequence[int], window: int, stride: int) -> Windows:
    """Every window of every run (runs are (T, C) arrays)."""
    check_window(window, stride)
    channels = runs[0].shape[1] if runs else 0
    starts = [(r, int(s)) for r, run in enumerate(runs) for s in window_starts(run.shape[0], window, stride)]
    y = np.asarray([labels[r] for r, _ in starts], dtype=np.int64)
    return Windows(_stack(runs, starts, window, channels), y)


def cut_with_tail(runs: Sequence[np.ndarray], labels: Sequence[int], window: int,
                  stride: int) -> tuple[Windows, Windows]:
    """Train and test windows of the same runs: the last quarter of each run's windows
    (at least one when it has two or more) are test windows, and train windows that
    overlap them are dropped, so that no time step is in both splits."""
    check_window(window, stride)
    channels = runs[0].shape[1] if runs else 0
    train: list[tuple[int, int]] = []
    test: list[tuple[int, int]] = []
    for r, run in enumerate(runs):
        starts = window_starts(run.shape[0], window, stride)
        if starts.size < 2:
            train.extend((r, int(s)) for s in starts)
            continue
        n_test = max(1, int(round(TEST_FRACTION * starts.size)))
        first_test = int(starts[-n_test])
        test.extend((r, int(s)) for s in starts[-n_test:])
        train.extend((r, int(s)) for s in starts[:-n_test] if s + window <= first_test)
    return tuple(Windows(_stack(runs, sel, window, channels),  # type: ignore[return-value]
                         np.asarray([labels[r] for r, _ in sel], dtype=np.int64))
                 for sel in (train, test))


def resample(x: np.ndarray, length: int) -> np.ndarray:
    """Linear resampling of (N, T, C) windows to ``length`` steps (half-step centres, edges held)."""
    n, t, c = x.shape
    if t == length:
        return x.astype(np.float32, copy=False)
    pos = np.clip((np.arange(length) + 0.5) * (t / length) - 0.5, 0.0, t - 1.0)
    i0 = np.floor(pos).astype(np.int64)
    i1 = np.minimum(i0 + 1, t - 1)
    f = (pos - i0).astype(np.float32)[None, :, None]
    return (x[:, i0, :] * (1.0 - f) + x[:, i1, :] * f).astype(np.float32)


def to_input(x: np.ndarray, input_shape: Sequence[int], what: str) -> np.ndarray:
    """(N, T, C) windows as model inputs: time along the height, resampled to H; the C
    channels along the width (an input of H x C x 1, like TFLM's magic_wand) or as
    channels (H x 1 x C)."""
    h, w, c = (int(v) for v in input_shape)
    channels = x.shape[2]
    if (w, c) == (channels, 1):
        return resample(x, h)[..., None]
    if (w, c) == (1, channels):
        return resample(x, h)[:, :, None, :]
    raise DatasetError(f"{what} has {channels} channels per time step, which a model input of "
                       f"{h}x{w}x{c} does not take",
                       fix=f"use a model input of [{h}, {channels}, 1] (channels along the width, like "
                           f"magic_wand) or [{h}, 1, {channels}]")
