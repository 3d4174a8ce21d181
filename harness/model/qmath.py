"""Integer quantization math of docs/arithmetic.md §2-3, written once: rounding, the
multiplier/shift encoding, requantization and the calibration rules.

Everything here is exact integer arithmetic on int64 numpy arrays (or Python ints); the C
runtime implements the same functions and must agree bit for bit.
"""
from __future__ import annotations

import math
from typing import Union

import numpy as np

from .qmodel import QParams

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

ArrayLike = Union[np.ndarray, int, float]


def round_half_away(x: ArrayLike) -> np.ndarray:
    """Round to nearest, ties away from zero (C's ``round``), exactly, as float64.

    Computed as ``trunc(x) + sign * (|frac| >= 0.5)`` so that no ``x + 0.5`` can round up
    (``floor(0.49999999999999994 + 0.5)`` would give 1).
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.trunc(x)
    frac = x - t  # exact in float64
    return t + np.where(np.abs(frac) >= 0.5, np.sign(x), 0.0)


def round_half_even(x: ArrayLike) -> np.ndarray:
    """Round to nearest, ties to even (IEEE default, numpy's ``rint``), as float64."""
    return np.rint(np.asarray(x, dtype=np.float64))


def quantize_multiplier(m: float) -> tuple[int, int]:
    """Encode a real multiplier ``m >= 0`` as (int32 Q31 multiplier, shift); shift > 0 is left.

    ``m == multiplier * 2**(shift - 31)`` up to rounding of the Q31 fraction.
    """
    m = float(m)
    if not math.isfinite(m) or m < 0.0:
        raise ValueError(f"quantize_multiplier: multiplier must be finite and >= 0, got {m}")
    if m == 0.0:
        return 0, 0
    frac, exp = math.frexp(m)  # m = frac * 2**exp, 0.5 <= frac < 1
    q = int(round_half_away(frac * float(1 << 31)))
    if q == (1 << 31):
        q //= 2
        exp += 1
    if exp < -31:  # underflow: the channel outputs z_y
        q, exp = 0, 0
    return q, exp


def quantize_multiplier_array(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``quantize_multiplier`` per element: returns (multiplier int32, shift int32) arrays."""
    m = np.asarray(m, dtype=np.float64)
    pairs = [quantize_multiplier(v) for v in m.ravel()]
    mult = np.array([p[0] for p in pairs], dtype=np.int32).reshape(m.shape)
    shift = np.array([p[1] for p in pairs], dtype=np.int32).reshape(m.shape)
    return mult, shift


def requantize(acc: ArrayLike, multiplier: ArrayLike, shift: ArrayLike) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier on int64 arrays (docs/arithmetic.md §3).

    ``multiplier`` and ``shift`` broadcast against ``acc`` (per-channel: shape (C,) against
    (..., C)). Returns int64 (the caller adds the zero point and clamps).
    """
    acc = np.asarray(acc, dtype=np.int64)
    mult = np.asarray(multiplier, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    x = acc
    if np.any(shift > 0):
        x = acc << np.maximum(shift, 0)
        if x.size and (x.max() > INT32_MAX or x.min() < INT32_MIN):
            raise OverflowError(
                "requantize: accumulator << shift leaves int32 (the C kernel would overflow); "
                "the layer's multiplier is too large for its accumulator range: recalibrate the "
                "output range of this layer")
    # SaturatingRoundingDoublingHighMul: (ab + nudge) / 2**31 with C (toward zero) division
    v = x * mult
    neg = v < 0
    v += np.int64(1 << 30)
    v -= neg * np.int64((1 << 31) - 1)          # nudge = 1 - 2**30 for ab < 0
    neg_inexact = (v < 0) & ((v & np.int64((1 << 31) - 1)) != 0)
    h = v >> 31                                  # floor ...
    h += neg_inexact                             # ... made toward zero
    if np.any(mult == INT32_MIN):
        h = np.where((x == INT32_MIN) & (mult == INT32_MIN), np.int64(INT32_MAX), h)
    # RoundingDivideByPOT(h, right)
    right = np.maximum(-shift, 0)
    if not np.any(right):
        return h
    mask = (np.int64(1) << right) - 1
    thr = (mask >> 1) + (h < 0)
    rem = h & mask
    h >>= right
    h += rem > thr
    return h


def quantize_tensor(r: np.ndarray, qp: QParams) -> np.ndarray:
    """Real values to int8 with ``qp``: ``clamp(round_half_away(r / s) + z, -128, 127)``."""
    q = round_half_away(np.asarray(r, dtype=np.float64) / np.float64(np.float32(qp.scale)))
    return np.clip(q + qp.zero_point, -128, 127).astype(np.int8)


def dequantize_tensor(q: np.ndarray, qp: QParams) -> np.ndarray:
    """int8 to real float32: ``s * (q - z)`` evaluated in float32 (as the C runtime does)."""
    centered = (np.asarray(q, dtype=np.int32) - qp.zero_point).astype(np.float32)
    return np.float32(qp.scale) * centered


# --- calibration (docs/arithmetic.md §2) -------------------------------------------------

def qparams_from_range(r_min: float, r_max: float) -> QParams:
    """Asymmetric int8 QParams covering [min(r_min, 0), max(r_max, 0)].

    The scale is rounded to float32 first and the zero point computed from that float32
    value (``z = round_half_away(-128 - lo / s)``), so that 0.0 maps to an integer exactly.
    """
    lo = min(float(r_min), 0.0)
    hi = max(float(r_max), 0.0)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"calibration range [{r_min}, {r_max}] is not finite")
    if hi == lo:  # an all-zero tensor
        return QParams(scale=float(np.float32(1.0 / 255.0)), zero_point=-128)
    s = float(np.float32((hi - lo) / 255.0))
    z = int(round_half_away(-128.0 - lo / s))
    return QParams(scale=s, zero_point=int(np.clip(z, -128, 127)))


class RangeObserver:
    """Running min/max of a tensor over calibration batches (a local accumulator)."""

    def __init__(self) -> None:
        self.lo = math.inf
        self.hi = -math.inf

    def update(self, x: np.ndarray) -> None:
        if x.size:
            self.lo = min(self.lo, float(np.min(x)))
            self.hi = max(self.hi, float(np.max(x)))

    def qparams(self) -> QParams:
        if self.lo > self.hi:
            raise ValueError("RangeObserver: no data was observed")
        return qparams_from_range(self.lo, self.hi)


def quantize_weights(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel symmetric int8 weights: returns (w_q int8, s_w float32 [C_out]).

    ``s_w[c] = max|w_c| / 127`` (1.0 for an all-zero channel),
    ``w_q = clamp(round_half_even(w / s_w[c]), -127, 127)``; axis 0 is the output channel.
    """
    w = np.asarray(w, dtype=np.float32)
    flat = w.reshape(w.shape[0], -1)
    amax = np.max(np.abs(flat), axis=1)
    s_w = np.where(amax > 0, amax / np.float32(127.0), np.float32(1.0)).astype(np.float32)
    q = round_half_even(flat.astype(np.float64) / s_w.astype(np.float64)[:, None])
    q = np.where(amax[:, None] > 0, q, 0.0)
    return np.clip(q, -127, 127).astype(np.int8).reshape(w.shape), s_w


def quantize_bias(b: np.ndarray, x_scale: float, w_scale: np.ndarray) -> np.ndarray:
    """int32 bias ``round_half_even(b / (s_x * s_w[c]))``, saturated to int32."""
    denom = np.float64(np.float32(x_scale)) * np.asarray(w_scale, dtype=np.float32).astype(np.float64)
    q = round_half_even(np.asarray(b, dtype=np.float32).astype(np.float64) / denom)
    return np.clip(q, INT32_MIN, INT32_MAX).astype(np.int32)


def channel_multipliers(x_scale: float, w_scale: np.ndarray, y_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (multiplier, shift) for ``m[c] = s_x * s_w[c] / s_y`` in float64."""
    m = (np.float64(np.float32(x_scale)) * np.asarray(w_scale, dtype=np.float32).astype(np.float64)
         / np.float64(np.float32(y_scale)))
    return quantize_multiplier_array(m)


def relu6_range(y: QParams) -> tuple[int, int]:
    """Clamp range of a fused ReLU6: ``[max(-128, z), min(127, z + round_half_away(6 / s))]``."""
    top = y.zero_point + int(round_half_away(6.0 / float(np.float32(y.scale))))
    return max(-128, y.zero_point), min(127, top)
