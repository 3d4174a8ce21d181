"""The runtime's own float32 math, bit for bit as docs/arithmetic.md §6, §8 and §9 define it.

Owns ``tt_expf``, ``tt_logf``, softmax cross-entropy, the xorshift32 stream, the two rounding
modes of the update and the FNV-1a checksum. Every float operation here is one rounded float32
operation in the order the C runtime performs it (no float64 intermediate, no fused
multiply-add), so the C code in ``harness/firmware_src/runtime/`` can reproduce each result exactly.

Operation order where the spec leaves a choice (the C code follows these lines):

``tt_logf(z)``, ``z >= 1``::

    k = (bits(z) >> 23) - 127;  f = float(bits(z) & 0x7FFFFF | 127 << 23)     # f in [1, 2)
    t = (f - 1.0f) / (f + 1.0f);  t2 = t * t
    p = t2 / 9.0f
    p = (1.0f/7.0f) + p;  p = t2 * p
    p = (1.0f/5.0f) + p;  p = t2 * p
    p = (1.0f/3.0f) + p;  p = t2 * p
    p = 1.0f + p
    l = (2.0f * t) * p
    return l + (float)k * 0.693147181f

Softmax cross-entropy: ``e_j``, ``Z`` summed from ``0.0f`` in index order, ``p_j = e_j / Z``,
``loss = tt_logf(Z) - (logits[label] - m)``.

Rounding of an update, on a float32 value ``v``: ``nearest`` is
``(float)(int)(v + (v >= 0 ? 0.5f : -0.5f))`` and ``stochastic`` is ``floorf(v + u)`` with
``u = (float)(xorshift32() >> 8) * 0x1p-24f``. Callers clamp the float result to the target
integer range *before* converting it to an integer (a C cast of an out-of-range float is
undefined).
"""
from __future__ import annotations

import numpy as np

F32 = np.float32
DEFAULT_SEED = 0x2545F491
FNV_OFFSET_BASIS = 2166136261
FNV_PRIME = 16777619
_U32 = 0xFFFFFFFF

# tt_expf constants, written as the C literals (float32).
_LOG2E = F32(1.44269504)
_LN2_HI = F32(0.693145752)
_LN2_LO = F32(1.42860677e-06)
_EXP_POLY = tuple(F32(c) for c in (1.38888889e-03, 8.33333333e-03, 4.16666667e-02,
                                   1.66666667e-01, 0.5, 1.0, 1.0))
# tt_logf constants: 1.0f/7.0f etc. are correctly rounded float32 quotients, as C folds them.
_INV7 = F32(1) / F32(7)
_INV5 = F32(1) / F32(5)
_INV3 = F32(1) / F32(3)
_LN2 = F32(0.693147181)


def _f32(x: object) -> np.ndarray:
    return np.asarray(x, dtype=np.float32)


def tt_expf(x: np.ndarray | float) -> np.ndarray:
    """Elementwise float32 ``exp`` of docs/arithmetic.md §6 (relative error below 3e-7, about 2.5 ulp, on [-87, 88])."""
    x = _f32(x).copy()
    zero = x < F32(-87.0)
    x = np.where(zero, F32(0.0), np.minimum(x, F32(88.0))).astype(np.float32)
    half = np.where(x >= F32(0.0), F32(0.5), F32(-0.5)).astype(np.float32)
    n = np.trunc(x * _LOG2E + half).astype(np.int32)  # (int) truncates toward zero
    nf = n.astype(np.float32)
    r = x - nf * _LN2_HI
    r = r - nf * _LN2_LO
    p = np.full_like(r, _EXP_POLY[0])
    for c in _EXP_POLY[1:]:
        p = p * r + c
    scale = ((n + 127).astype(np.uint32) << np.uint32(23)).view(np.float32)
    out = p * scale
    return np.where(zero, F32(0.0), out).astype(np.float32)


def tt_logf(z: np.ndarray | float) -> np.ndarray:
    """Elementwise float32 natural log for ``z >= 1`` (docs/arithmetic.md §6; order in the module doc)."""
    z = _f32(z)
    if np.any(~(z >= F32(1.0))):
        raise ValueError("tt_logf is defined for z >= 1 only (a softmax sum is at least 1)")
    bits = z.view(np.uint32)
    k = (bits >> np.uint32(23)).astype(np.int32) - 127
    f = ((bits & np.uint32(0x7FFFFF)) | np.uint32(127 << 23)).view(np.float32)
    t = (f - F32(1.0)) / (f + F32(1.0))
    t2 = t * t
    p = t2 / F32(9.0)
    for c in (_INV7, _INV5, _INV3):
        p = c + p
        p = t2 * p
    p = F32(1.0) + p
    l = (F32(2.0) * t) * p
    return (l + k.astype(np.float32) * _LN2).astype(np.float32)


def softmax_xent(logits: np.ndarray, label: int) -> tuple[np.float32, np.ndarray]:
    """Softmax cross-entropy in float32 (§6): ``(loss, dlogits)``, sums in index order."""
    z = _f32(logits).reshape(-1)
    if not 0 <= label < z.size:
        raise ValueError(f"label {label} out of range for {z.size} logits")
    m = z.max()
    e = tt_expf(z - m)
    total = np.add.accumulate(np.concatenate([[F32(0.0)], e]).astype(np.float32))[-1]
    loss = tt_logf(total) - (z[label] - m)
    d = e / total
    d[label] = d[label] - F32(1.0)
    return F32(loss), d.astype(np.float32)


def round_nearest(v: np.ndarray) -> np.ndarray:
    """Round half away from zero as ``(float)(int)(v + (v >= 0 ? 0.5f : -0.5f))``; float32 out."""
    v = _f32(v)
    half = np.where(v >= F32(0.0), F32(0.5), F32(-0.5)).astype(np.float32)
    return np.trunc(v + half).astype(np.float32)


def round_stochastic(v: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """``floorf(v + u)`` with ``u`` from the xorshift32 outputs ``draws`` (one per element, C order)."""
    v = _f32(v)
    return np.floor(v + uniform24(draws).reshape(v.shape)).astype(np.float32)


def uniform24(draws: np.ndarray) -> np.ndarray:
    """``(float)(s >> 8) * 2^-24`` in [0, 1) for xorshift32 outputs ``s``."""
    top = (np.asarray(draws, dtype=np.uint32) >> np.uint32(8)).astype(np.float32)
    return (top * F32(2.0 ** -24)).astype(np.float32)


def xorshift32_step(s: int) -> int:
    """One step of ``s ^= s << 13; s ^= s >> 17; s ^= s << 5`` on a uint32; returns the new state."""
    s ^= (s << 13) & _U32
    s ^= s >> 17
    s ^= (s << 5) & _U32
    return s


class Xorshift32:
    """The shared host/device generator; ``draw(n)`` returns the next ``n`` outputs (uint32).

    xorshift32 is linear over GF(2), so the outputs from any state are the XOR of the outputs
    from the 32 one-bit states. ``draw`` uses a table of those basis streams (grown on demand)
    to produce long runs without a Python loop per element; ``next()`` is the plain definition.
    """

    def __init__(self, seed: int = DEFAULT_SEED):
        if not 0 < seed <= _U32:
            raise ValueError(f"xorshift32 seed must be a nonzero uint32, got {seed}")
        self.state = int(seed)
        self._basis = np.zeros((0, 32), dtype=np.uint32)

    def next(self) -> int:
        self.state = xorshift32_step(self.state)
        return self.state

    def _grow(self, n: int) -> None:
        have = self._basis.shape[0]
        if n <= have:
            return
        n = max(n, 2 * have, 1024)
        out = np.empty((n, 32), dtype=np.uint32)
        out[:have] = self._basis
        s = (np.uint32(1) << np.arange(32, dtype=np.uint32)) if have == 0 else self._basis[-1].copy()
        for i in range(have, n):
            s = s ^ (s << np.uint32(13))
            s = s ^ (s >> np.uint32(17))
            s = s ^ (s << np.uint32(5))
            out[i] = s
        self._basis = out

    def draw(self, n: int) -> np.ndarray:
        if n <= 0:
            return np.zeros(0, dtype=np.uint32)
        if n < 16:
            return np.array([self.next() for _ in range(n)], dtype=np.uint32)
        self._grow(n)
        bits = [j for j in range(32) if (self.state >> j) & 1]
        out = np.bitwise_xor.reduce(self._basis[:n, bits], axis=1).astype(np.uint32)
        self.state = int(out[-1])
        return out


def fnv1a32(data: bytes, h: int = FNV_OFFSET_BASIS) -> int:
    """FNV-1a 32-bit over ``data``, continuing from ``h`` (§9)."""
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & _U32
    return h
