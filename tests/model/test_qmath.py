"""harness/model/qmath.py against hand-computed cases of docs/arithmetic.md §2-3."""
import numpy as np
import pytest

from harness.model import qmath
from harness.model.qmodel import QParams

Q30 = 1 << 30


@pytest.mark.parametrize("m, expected", [
    (0.0, (0, 0)),
    (0.5, (Q30, 0)),                      # frexp(0.5) = (0.5, 0)
    (1.0, (Q30, 1)),                      # frexp(1.0) = (0.5, 1)
    (3.0, (1610612736, 2)),               # 0.75 * 2**31, exp 2
    (0.3, (1288490189, -1)),              # 0.6 * 2**31 = 1288490188.8 rounds up
    (1.0 - 2.0 ** -40, (Q30, 1)),         # the Q31 fraction rounds to 2**31: halve, exp + 1
    (2.0 ** -40, (0, 0)),                 # exp < -31: underflow
])
def test_quantize_multiplier(m, expected):
    assert qmath.quantize_multiplier(m) == expected


def test_quantize_multiplier_rejects_negative():
    with pytest.raises(ValueError):
        qmath.quantize_multiplier(-0.1)


@pytest.mark.parametrize("acc, mult, shift, expected", [
    (100, Q30, 0, 50),      # m = 0.5, exact
    (3, Q30, 0, 2),         # 1.5: the doubling high mul rounds a positive tie up
    (-3, Q30, 0, -1),       # -1.5: its nudge 1 - 2**30 makes a negative tie go toward zero
    (-7, Q30, 1, -7),       # m = 1: identity, shift > 0 (left shift by 1)
    (6, Q30, -1, 2),        # m = 0.25: 1.5 -> 2 (RoundingDivideByPOT: ties away from zero)
    (-6, Q30, -1, -2),      # -1.5 -> -2
    (2, Q30, -1, 1),        # 0.5 -> 1
    (-2, Q30, -1, -1),      # -0.5 -> -1
    (10, Q30, -1, 3),       # 2.5 -> 3
    (5, 1610612736, 2, 15),     # m = 3: shift 2 left
    (-5, 1610612736, 2, -15),
    (0, 1288490189, -1, 0),
    (-(1 << 31), -(1 << 31), 0, (1 << 31) - 1),  # the one saturating case
])
def test_requantize_hand_computed(acc, mult, shift, expected):
    assert int(qmath.requantize(acc, mult, shift)) == expected


def test_requantize_vectorized_per_channel():
    acc = np.array([[6, -6, 10], [100, -3, 3]], dtype=np.int64)
    mult = np.array([Q30, Q30, Q30])
    shift = np.array([-1, -1, 0])
    np.testing.assert_array_equal(qmath.requantize(acc, mult, shift), [[2, -2, 5], [25, -1, 2]])


def test_requantize_close_to_real_product():
    rng = np.random.default_rng(0)
    m = rng.uniform(1e-4, 4.0, size=64)
    mult, shift = qmath.quantize_multiplier_array(m)
    acc = rng.integers(-(1 << 20), 1 << 20, size=(200, 64))
    out = qmath.requantize(acc, mult, shift)
    # two roundings (high mul, then the shift) can be off by one from round(acc * m)
    assert np.max(np.abs(out - acc * m)) <= 1.0


def test_requantize_refuses_int32_overflow():
    with pytest.raises(OverflowError):
        qmath.requantize(1 << 30, Q30, 2)


def test_round_half_away():
    x = [0.5, 1.5, -0.5, -1.5, 2.4999, -2.5000001, 0.49999999999999994, 0.0]
    np.testing.assert_array_equal(qmath.round_half_away(x), [1, 2, -1, -2, 2, -3, 0, 0])
    np.testing.assert_array_equal(qmath.round_half_even([0.5, 1.5, -0.5, 2.5]), [0, 2, 0, 2])


@pytest.mark.parametrize("lo, hi, scale, zp", [
    (0.0, 1.0, 1 / 255, -128),
    (-1.0, 1.0, 2 / 255, -1),      # -128 + 127.5 = -0.5 rounds away to -1
    (0.0, 0.0, 1 / 255, -128),     # all zeros
    (-2.0, -1.0, 2 / 255, 127),    # range widened to include 0
    (0.5, 6.0, 6 / 255, -128),     # ... on both sides
])
def test_qparams_from_range(lo, hi, scale, zp):
    qp = qmath.qparams_from_range(lo, hi)
    assert qp == QParams(scale=float(np.float32(scale)), zero_point=zp)
    # real 0 is exactly representable
    assert qmath.quantize_tensor(np.zeros(1), qp)[0] == qp.zero_point


def test_quantize_weights_per_channel():
    w = np.array([[1.0, -0.5, 0.25], [0.0, 0.0, 0.0], [-2.0, 1.0, 0.004]], np.float32)
    q, s = qmath.quantize_weights(w)
    np.testing.assert_allclose(s, [1 / 127, 1.0, 2 / 127], rtol=1e-7)
    assert s.dtype == np.float32 and q.dtype == np.int8
    np.testing.assert_array_equal(q, [[127, -64, 32], [0, 0, 0], [-127, 64, 0]])


def test_quantize_bias_and_relu6_range():
    s_w = np.array([0.01, 0.02], np.float32)
    np.testing.assert_array_equal(qmath.quantize_bias(np.array([0.05, -0.05], np.float32), 0.5, s_w),
                                  [10, -5])
    assert qmath.relu6_range(QParams(6 / 255, -128)) == (-128, 127)
    assert qmath.relu6_range(QParams(0.1, -10)) == (-10, 50)
    assert qmath.relu6_range(QParams(0.01, -128)) == (-128, 127)


def test_quantize_dequantize_roundtrip():
    qp = QParams(scale=float(np.float32(0.05)), zero_point=3)
    q = np.arange(-128, 128, dtype=np.int8)
    np.testing.assert_array_equal(qmath.quantize_tensor(qmath.dequantize_tensor(q, qp), qp), q)


def _requantize_scalar(acc: int, mult: int, shift: int) -> int:
    """docs/arithmetic.md §3 transcribed line by line with Python ints."""
    left, right = max(shift, 0), max(-shift, 0)
    x = acc * (1 << left)
    if x == mult == -(1 << 31):
        h = (1 << 31) - 1
    else:
        ab = x * mult
        nudge = (1 << 30) if ab >= 0 else (1 - (1 << 30))
        num = ab + nudge
        h = abs(num) // (1 << 31) * (1 if num >= 0 else -1)  # C division
    mask = (1 << right) - 1
    rem = h & mask
    thr = (mask >> 1) + (1 if h < 0 else 0)
    return (h >> right) + (1 if rem > thr else 0)


def test_requantize_equals_the_spec_transcription():
    rng = np.random.default_rng(1)
    for _ in range(20):
        m = float(rng.choice([rng.uniform(1e-6, 1e-3), rng.uniform(0.01, 1.0), rng.uniform(1.0, 8.0)]))
        mult, shift = qmath.quantize_multiplier(m)
        bound = (1 << 31) >> max(shift, 0)
        acc = rng.integers(-bound, bound, size=300)
        acc[:4] = [0, 1, -1, bound - 1]
        got = qmath.requantize(acc, mult, shift)
        want = [_requantize_scalar(int(a), mult, shift) for a in acc]
        np.testing.assert_array_equal(got, want)
