"""Host float training: gradients, determinism, and that it learns."""
import numpy as np
import pytest

from harness.data import load_dataset
from harness.model import train, zoo

from .naive import naive_conv


def _loss(g, p, x, y):
    return train.softmax_cross_entropy(train.forward_float(g, p, x, mode="train").logits, y)[0]


def test_backward_matches_finite_differences():
    """float64 central differences; BN in training mode; every parameter kind sampled."""
    g = zoo.small_cnn((10, 10, 2), 3, width=4)
    rng = np.random.default_rng(0)
    p = {k: v.astype(np.float64) for k, v in train.init_params(g, 1).items()}
    for k in p:
        if k.endswith("bn_gamma") or k.endswith("bn_beta"):
            p[k] = p[k] + 0.2 * rng.standard_normal(p[k].shape)
    x, y = rng.random((4, 10, 10, 2)), np.array([0, 1, 2, 1])
    tr = train.forward_float(g, p, x, mode="train")
    _, gl = train.softmax_cross_entropy(tr.logits, y)
    grads = train.backward_float(g, p, tr, gl)
    assert set(grads) == {k for k in p if not (k.endswith("bn_mean") or k.endswith("bn_var"))}
    eps = 1e-6
    for k, gk in grads.items():
        for i in rng.choice(p[k].size, min(4, p[k].size), replace=False):
            q = {kk: vv.copy() for kk, vv in p.items()}
            q[k].flat[i] += eps
            up = _loss(g, q, x, y)
            q[k].flat[i] -= 2 * eps
            down = _loss(g, q, x, y)
            num = (up - down) / (2 * eps)
            assert abs(num - gk.flat[i]) <= 1e-6 + 1e-4 * abs(num), (k, i, num, gk.flat[i])


@pytest.fixture(scope="module")
def digits16():
    return load_dataset("digits", input_shape=(16, 16, 1), seed=0)


def test_training_is_deterministic_and_learns(digits16):
    ds = digits16
    g = zoo.small_cnn(ds.input_shape, 10, width=8)
    cfg = train.TrainConfig(epochs=4, batch_size=32, lr=5e-3, seed=3)
    a = train.train(g, ds.train_x, ds.train_y, cfg, x_test=ds.test_x, y_test=ds.test_y)
    b = train.train(g, ds.train_x, ds.train_y, cfg)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k])
    assert all(v.dtype == np.float32 for v in a.params.values())
    # 10-class digits at 16x16 after 4 short epochs: well above chance (10%)
    assert a.test_acc > 0.85
    assert a.epoch_loss[-1] < a.epoch_loss[0]


def test_sgd_momentum_runs(digits16):
    ds = digits16
    g = zoo.small_cnn(ds.input_shape, 10, width=8)
    r = train.train(g, ds.train_x[:256], ds.train_y[:256],
                    train.TrainConfig(epochs=1, optimizer="sgd", lr=0.05, batch_size=32))
    assert np.isfinite(r.epoch_loss[0])


def test_bad_labels_are_refused(digits16):
    g = zoo.small_cnn(digits16.input_shape, 3, width=8)
    with pytest.raises(ValueError, match="out of range"):
        train.train(g, digits16.train_x, digits16.train_y, train.TrainConfig(epochs=1))


@pytest.mark.parametrize("kw", [
    dict(in_ch=3, out_ch=5, kernel=3, stride=1, padding=1),
    dict(in_ch=4, out_ch=6, kernel=3, stride=2, padding=1),
    dict(in_ch=6, out_ch=6, kernel=3, stride=1, padding=1, groups=6),
    dict(in_ch=6, out_ch=6, kernel=5, stride=2, padding=2, groups=6),
    dict(in_ch=8, out_ch=4, kernel=1),
    dict(in_ch=4, out_ch=6, kernel=3, padding=1, groups=2),
], ids=["conv", "conv_s2", "dw", "dw5_s2", "pw", "grouped"])
def test_conv2d_matches_naive_loops(kw):
    from harness.model.graph import Conv
    op = Conv("c", "in", "o", **kw)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 7, op.in_ch))
    w, b = rng.normal(size=op.weight_shape), rng.normal(size=op.out_ch)
    np.testing.assert_allclose(train.conv2d(x, w, b, op), naive_conv(x, w, b, op), atol=1e-12)
    # and the backward is the adjoint of the forward: <gy, conv(x)> derivatives
    gy = rng.normal(size=train.conv2d(x, w, b, op).shape)
    gx, gw, gb = train.conv2d_backward(gy, x, w, op)
    eps = 1e-6
    dx = rng.normal(size=x.shape)
    num = (np.sum(gy * train.conv2d(x + eps * dx, w, b, op)) - np.sum(gy * train.conv2d(x - eps * dx, w, b, op))) / (2 * eps)
    assert abs(num - np.sum(gx * dx)) < 1e-6 * max(1.0, abs(num))
    dw = rng.normal(size=w.shape)
    num = (np.sum(gy * train.conv2d(x, w + eps * dw, b, op)) - np.sum(gy * train.conv2d(x, w - eps * dw, b, op))) / (2 * eps)
    assert abs(num - np.sum(gw * dw)) < 1e-6 * max(1.0, abs(num))
    np.testing.assert_allclose(gb, gy.sum(axis=(0, 1, 2)))
