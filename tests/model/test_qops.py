"""Integer ops of harness/model/qops.py against a float computation of the same quantized
values: the int8 result must be within one LSB of ``round(real / s_y) + z_y`` (the integer
requantization rounds twice, so a tie can land one step away, never more)."""
import numpy as np
import pytest

from harness.model import qmath, qops
from harness.model.graph import Add, Conv, GlobalAvgPool, Linear
from harness.model.qmodel import QAdd, QAvgPool, QConv, QLinear, QLinearFloat, QParams

from .naive import naive_conv


def _qp(scale: float, zp: int) -> QParams:
    return QParams(float(np.float32(scale)), zp)


def make_qconv(op: Conv, rng, x=_qp(0.02, -5), y=_qp(0.05, 3)) -> QConv:
    w = rng.normal(0, 0.3, op.weight_shape).astype(np.float32)
    w_q, s_w = qmath.quantize_weights(w)
    b_q = qmath.quantize_bias(rng.normal(0, 0.2, op.out_ch).astype(np.float32), x.scale, s_w)
    mult, shift = qmath.channel_multipliers(x.scale, s_w, y.scale)
    lo, hi = qmath.relu6_range(y) if op.relu6 else (-128, 127)
    return QConv(op=op, x=x, y=y, w=w_q, w_scale=s_w, b=b_q, multiplier=mult, shift=shift, act_min=lo, act_max=hi)


def real_conv(x_q, layer: QConv) -> np.ndarray:
    """Naive float64 conv of the dequantized values (independent of qops' tap loops)."""
    op = layer.op
    xr = layer.x.scale * (x_q.astype(np.float64) - layer.x.zero_point)
    wr = layer.w_scale.astype(np.float64)[:, None, None, None] * layer.w
    br = layer.b * layer.x.scale * layer.w_scale.astype(np.float64)
    return naive_conv(xr, wr, br, op)


def expected_q(real, y: QParams, lo=-128, hi=127):
    return np.clip(np.round(real / y.scale) + y.zero_point, lo, hi)


CONVS = [
    Conv("c3", "in", "o", in_ch=3, out_ch=5, kernel=3, stride=1, padding=1),
    Conv("c3s2", "in", "o", in_ch=4, out_ch=6, kernel=3, stride=2, padding=1, relu6=True),
    Conv("dw", "in", "o", in_ch=6, out_ch=6, kernel=3, stride=1, padding=1, groups=6, relu6=True),
    Conv("dw5s2", "in", "o", in_ch=6, out_ch=6, kernel=5, stride=2, padding=2, groups=6),
    Conv("pw", "in", "o", in_ch=8, out_ch=4, kernel=1),
    Conv("grouped", "in", "o", in_ch=4, out_ch=6, kernel=3, padding=1, groups=2),
]


@pytest.mark.parametrize("op", CONVS, ids=[c.name for c in CONVS])
def test_conv_within_one_lsb_of_float(op):
    rng = np.random.default_rng(hash(op.name) % 1000)
    layer = make_qconv(op, rng)
    x_q = rng.integers(-128, 128, (3, 7, 7, op.in_ch)).astype(np.int8)
    y_q, mask = qops.conv_s8(x_q, layer)
    assert y_q.dtype == np.int8 and y_q.shape == (3,) + op.out_hw(7, 7) + (op.out_ch,)
    want = expected_q(real_conv(x_q, layer), layer.y, layer.act_min, layer.act_max)
    assert np.max(np.abs(y_q.astype(int) - want)) <= 1
    # the §7 mask (act_min < u < act_max before the clamp) is exactly "strictly inside"
    np.testing.assert_array_equal(mask, (y_q > layer.act_min) & (y_q < layer.act_max))


def test_conv_padding_is_the_input_zero_point():
    """A constant input equal to z_x is real 0 everywhere, padding included: y = bias only."""
    op = Conv("c", "in", "o", in_ch=2, out_ch=3, kernel=3, padding=1)
    layer = make_qconv(op, np.random.default_rng(1))
    x_q = np.full((1, 4, 4, 2), layer.x.zero_point, np.int8)
    acc = qops.conv_acc(x_q, layer)
    np.testing.assert_array_equal(acc, np.broadcast_to(layer.b, acc.shape))


def test_relu6_mask_marks_clamped_outputs():
    op = Conv("c", "in", "o", in_ch=2, out_ch=4, kernel=1, relu6=True)
    layer = make_qconv(op, np.random.default_rng(2), y=_qp(0.01, -128))  # ReLU6 clamps at 0 and 1.27
    x_q = np.random.default_rng(3).integers(-128, 128, (50, 3, 3, 2)).astype(np.int8)
    y_q, mask = qops.conv_s8(x_q, layer)
    assert 0 < mask.mean() < 1
    np.testing.assert_array_equal(mask, (y_q > -128) & (y_q < 127))


def test_add_within_one_lsb():
    rng = np.random.default_rng(4)
    a, b, y = _qp(0.03, -7), _qp(0.05, 12), _qp(0.07, -3)
    sa, sb, sy = a.scale, b.scale, y.scale
    tm = 2 * max(sa, sb)
    am, ash = qmath.quantize_multiplier(sa / tm)
    bm, bsh = qmath.quantize_multiplier(sb / tm)
    om, osh = qmath.quantize_multiplier(tm / ((1 << 20) * sy))
    layer = QAdd(Add("add", ("a", "b"), "y"), a, b, y, am, ash, bm, bsh, om, osh)
    a_q = rng.integers(-128, 128, (4, 5, 5, 3)).astype(np.int8)
    b_q = rng.integers(-128, 128, (4, 5, 5, 3)).astype(np.int8)
    real = sa * (a_q.astype(float) - a.zero_point) + sb * (b_q.astype(float) - b.zero_point)
    got = qops.add_s8(a_q, b_q, layer)
    assert np.max(np.abs(got.astype(int) - expected_q(real, y))) <= 1


def test_avgpool_within_one_lsb():
    rng = np.random.default_rng(5)
    x, y = _qp(0.04, 10), _qp(0.02, -20)
    m, s = qmath.quantize_multiplier(x.scale / (y.scale * 36))
    layer = QAvgPool(GlobalAvgPool("gap", "x", "y"), x, y, m, s)
    x_q = rng.integers(-128, 128, (6, 6, 6, 8)).astype(np.int8)
    real = x.scale * (x_q.astype(float) - x.zero_point).mean(axis=(1, 2))
    got = qops.avgpool_s8(x_q, layer)
    assert got.shape == (6, 8)
    assert np.max(np.abs(got.astype(int) - expected_q(real, y))) <= 1


def test_linear_s8_within_one_lsb():
    rng = np.random.default_rng(6)
    op = Linear("fc", "x", "y", in_features=16, out_features=5)
    x, y = _qp(0.03, -2), _qp(0.1, 4)
    w_q, s_w = qmath.quantize_weights(rng.normal(0, 0.5, (5, 16)).astype(np.float32))
    b_q = qmath.quantize_bias(rng.normal(0, 0.5, 5).astype(np.float32), x.scale, s_w)
    mult, shift = qmath.channel_multipliers(x.scale, s_w, y.scale)
    layer = QLinear(op, x, y, w_q, s_w, b_q, mult, shift)
    x_q = rng.integers(-128, 128, (10, 16)).astype(np.int8)
    real = (x.scale * (x_q.astype(float) - x.zero_point)) @ (s_w[:, None] * w_q).T.astype(float) \
        + b_q * x.scale * s_w
    got, mask = qops.linear_s8(x_q, layer)
    assert np.max(np.abs(got.astype(int) - expected_q(real, y))) <= 1
    assert mask.shape == got.shape


def test_linear_f32_is_the_sequential_float32_sum():
    """Logits equal the C loop: acc = b[j]; acc += w[j][i] * x_r[i] in float32, i ascending."""
    rng = np.random.default_rng(7)
    op = Linear("fc", "x", "y", in_features=40, out_features=3)
    x = _qp(0.037, -11)
    layer = QLinearFloat(op, x, rng.normal(0, 1, (3, 40)).astype(np.float32),
                         rng.normal(0, 1, 3).astype(np.float32))
    x_q = rng.integers(-128, 128, (4, 40)).astype(np.int8)
    got = qops.linear_f32(x_q, layer)
    assert got.dtype == np.float32
    for n in range(4):
        for j in range(3):
            acc = np.float32(layer.b[j])
            for i in range(40):
                xr = np.float32(x.scale) * np.float32(int(x_q[n, i]) - x.zero_point)
                acc = np.float32(acc + np.float32(layer.w[j, i] * xr))
            assert got[n, j] == acc  # bit-exact


def test_conv_rejects_unbatched_input():
    layer = make_qconv(CONVS[0], np.random.default_rng(0))
    with pytest.raises(ValueError, match="batch"):
        qops.conv_s8(np.zeros((7, 7, 3), np.int8), layer)
