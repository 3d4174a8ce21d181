"""The host reference of on-device training: backward ops against finite differences, QAS,
sparse masking of the updates, determinism and the parameter checksum."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from harness import reference as R
from harness.errors import ScenarioError
from harness.model.graph import Add, Conv, GlobalAvgPool, Graph, Linear
from harness.model.qmodel import QConv, QModel
from harness.model.quantize import quantize_model
from harness.model.rtmath import softmax_xent
from harness.sparse.scheme import SparseScheme

# --- a small model with every op kind -----------------------------------------------------


def small_graph(n_cls: int = 4) -> Graph:
    return Graph("ref-test", (9, 9, 2), (
        Conv("c0", "input", "t0", 2, 8, 3, stride=2, padding=1, relu6=True),   # 5x5x8
        Conv("c1", "t0", "t1", 8, 12, 1, relu6=True),                          # pw expand
        Conv("c2", "t1", "t2", 12, 12, 3, padding=1, groups=12, relu6=True),   # dw
        Conv("c3", "t2", "t3", 12, 8, 1),                                      # pw project, no act
        Add("a4", ("t3", "t0"), "t4"),
        Conv("c5", "t4", "t5", 8, 10, 3, stride=2, padding=1, relu6=True),     # 3x3 s2
        GlobalAvgPool("p6", "t5", "t6"),
        Linear("fc", "t6", "logits", 10, n_cls),
    ))


def random_params(g: Graph, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = {}
    for op in g.ops:
        if isinstance(op, Conv):
            fan_in = op.kernel * op.kernel * (op.in_ch // op.groups)
            p[f"{op.name}.weight"] = (rng.standard_normal(op.weight_shape) * np.sqrt(2 / fan_in)).astype(np.float32)
            p[f"{op.name}.bias"] = rng.uniform(0.0, 0.3, op.out_ch).astype(np.float32)
        elif isinstance(op, Linear):
            p[f"{op.name}.weight"] = rng.standard_normal(op.weight_shape).astype(np.float32)
            p[f"{op.name}.bias"] = np.zeros(op.out_features, np.float32)
    return p


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    x = rng.random((48, 9, 9, 2)).astype(np.float32)
    x_q = (np.round(x * 255) - 128).astype(np.int8)  # input s = 1/255, z = -128
    y = rng.integers(0, 4, 48)
    return x, x_q, y


@pytest.fixture(scope="module", params=["float", "int8"])
def qmodel(request, data) -> QModel:
    g = small_graph()
    return quantize_model(g, random_params(g), data[0], classifier=request.param)


SPARSE = SparseScheme(n_bias_update=4, manual_weight_idx=(2, 3, 4), weight_update_ratio=(0.5, 0.25, 1.0))

# --- backward ops against finite differences (float64, central differences) -----------------
# Every op is linear or smooth away from clamp kinks, so with eps = 1e-6 the central difference
# of L = sum(R * y) agrees with the analytic gradient to ~1e-9 relative; we allow 1e-6.
FD_RTOL = 1e-6
EPS = 1e-6


def fd_grad(f, x: np.ndarray, idx: list[tuple[int, ...]]) -> np.ndarray:
    out = []
    for i in idx:
        xp, xm = x.copy(), x.copy()
        xp[i] += EPS
        xm[i] -= EPS
        out.append((f(xp) - f(xm)) / (2 * EPS))
    return np.array(out)


def sample_idx(shape, n, rng) -> list[tuple[int, ...]]:
    return [tuple(int(rng.integers(0, s)) for s in shape) for _ in range(n)]


def assert_fd(analytic: np.ndarray, f, x: np.ndarray, rng, n: int = 25) -> None:
    idx = sample_idx(x.shape, n, rng)
    num = fd_grad(f, x, idx)
    ana = np.array([analytic[i] for i in idx])
    np.testing.assert_allclose(ana, num, rtol=FD_RTOL, atol=FD_RTOL * np.abs(num).max())


CONVS = {
    "conv3x3_s2": Conv("c", "x", "y", 5, 6, 3, stride=2, padding=1),
    "conv3x3_s1_nopad": Conv("c", "x", "y", 5, 6, 3),
    "pointwise": Conv("c", "x", "y", 5, 6, 1),
    "depthwise_s1": Conv("c", "x", "y", 5, 5, 3, padding=1, groups=5),
    "depthwise_s2": Conv("c", "x", "y", 5, 5, 3, stride=2, padding=1, groups=5),
}


@pytest.mark.parametrize("name", sorted(CONVS))
def test_conv_backward_matches_finite_differences(name):
    op = CONVS[name]
    rng = np.random.default_rng(2)
    x = rng.standard_normal((7, 8, 5))
    w = rng.standard_normal(op.weight_shape)
    b = rng.standard_normal(op.out_ch)
    r = rng.standard_normal(conv_out := R.conv_forward(x, w, b, op).shape)
    g = r  # dL/da for L = sum(r * a)
    assert conv_out == (*op.out_hw(7, 8), op.out_ch)
    assert_fd(R.conv_grad_input(g, w, op, x.shape), lambda v: np.sum(r * R.conv_forward(v, w, b, op)), x, rng)
    assert_fd(R.conv_grad_bias(g), lambda v: np.sum(r * R.conv_forward(x, w, v, op)), b, rng, n=5)
    k = 3  # a partial slice: the first 3 input channels (depthwise: channels)
    gw = R.conv_grad_weight(g, x, op, k)
    full = R.conv_grad_weight(g, x, op, 5)
    sl = R.weight_slice(op, k)
    assert gw.shape == w[sl].shape
    # the slice is the slice of the full gradient; both are float64 BLAS products of different
    # shapes, whose summation blocking (hence last bits) depends on the CPU's BLAS kernel
    np.testing.assert_allclose(gw, full[sl], rtol=1e-12, atol=1e-12)
    assert_fd(full, lambda v: np.sum(r * R.conv_forward(x, v, b, op)), w, rng)


def test_avgpool_and_linear_backward_match_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4, 6))
    r = rng.standard_normal(6)
    assert_fd(R.avgpool_grad_input(r, x.shape), lambda v: r @ R.avgpool_forward(v), x, rng)
    v = rng.standard_normal(6)
    w = rng.standard_normal((4, 6))
    b = rng.standard_normal(4)
    g = rng.standard_normal(4)
    assert_fd(R.linear_grad_input(g, w), lambda t: g @ R.linear_forward(t, w, b), v, rng, n=6)
    assert_fd(R.linear_grad_weight(g, v), lambda t: g @ R.linear_forward(v, t, b), w, rng, n=10)


def test_softmax_xent_matches_finite_differences_float32():
    # float32 loss: with h = 1e-2 the central difference has truncation ~h^2/6 |L'''| < 1e-4
    # and rounding ~1e-7/h = 1e-5, so 5e-4 absolute is a safe bound.
    rng = np.random.default_rng(4)
    z = (rng.standard_normal(7) * 3).astype(np.float32)
    loss, d = softmax_xent(z, 2)
    zz = z.astype(np.float64)
    ref = np.log(np.sum(np.exp(zz - zz.max()))) - (zz[2] - zz.max())
    assert abs(float(loss) - ref) < 2e-6
    h = np.float32(1e-2)
    for j in range(7):
        zp, zm = z.copy(), z.copy()
        zp[j] += h
        zm[j] -= h
        num = (float(softmax_xent(zp, 2)[0]) - float(softmax_xent(zm, 2)[0])) / (2 * float(h))
        assert abs(num - float(d[j])) < 5e-4, j


def test_whole_float_network_gradient_matches_finite_differences():
    # Covers the driver: ReLU6 masks, the residual add's fan-out, GAP, classifier; lr = 0.
    g = small_graph()
    params = {k: v.astype(np.float64) for k, v in random_params(g, 5).items()}
    rng = np.random.default_rng(5)
    x = rng.random((9, 9, 2))
    r = rng.standard_normal(4)
    scheme = SparseScheme.full().resolve(g)
    model = R.FloatModel(g, params)
    rec: dict = {}
    R.float_backward(model, scheme, R.float_forward(model, x), r, 0.0, rec)

    def loss_with(key, value):
        p = dict(params)
        p[key] = value
        return float(r @ R.float_forward(R.FloatModel(g, p), x).logits)

    for name in ("c0", "c1", "c2", "c3", "c5", "fc"):
        g_b, g_w = rec[name]
        for key, ana in ((f"{name}.bias", g_b), (f"{name}.weight", g_w)):
            assert_fd(ana, lambda v: loss_with(key, v), params[key], rng, n=8)


# --- QAS: the integer step in real units is the float SGD step ----------------------------

def test_qas_step_equals_float_sgd_step_and_plain_step_is_off_by_s_squared():
    rng = np.random.default_rng(6)
    g = rng.standard_normal((6, 3, 3, 4)).astype(np.float32)
    s_w = rng.uniform(1e-3, 2e-2, 6).astype(np.float32)
    lr = 0.05
    qas = R.weight_delta(g, s_w, lr, qas=True)
    plain = R.weight_delta(g, s_w, lr, qas=False)
    sw = s_w[:, None, None, None]
    # real step of QAS = s_w * dw = lr * g_W, up to float32 rounding (2 roundings: 2.4e-7)
    np.testing.assert_allclose(sw * qas, lr * g, rtol=3e-7)
    # without QAS the step is s_w^2 times the QAS step (s_w ~ 1e-2: 10^4 times too small)
    np.testing.assert_allclose(plain, qas * sw * sw, rtol=5e-7)
    s_x = np.float32(0.02)
    gb = rng.standard_normal(6).astype(np.float32)
    db_qas = R.bias_delta(gb, s_x, s_w, lr, qas=True)
    db_plain = R.bias_delta(gb, s_x, s_w, lr, qas=False)
    np.testing.assert_allclose(s_x * s_w * db_qas, lr * gb, rtol=3e-7)
    np.testing.assert_allclose(db_plain, db_qas * (s_x * s_w) ** 2, rtol=5e-7)


def test_qas_training_step_moves_weights_by_the_float_step(qmodel, data):
    # One real step: each updated weight moves by lr * g_W in real units, within half an
    # int8 step (nearest rounding) wherever the int8 clamp did not bind.
    _, x_q, y = data
    cfg = R.TrainConfig(lr=0.5, scheme=SparseScheme.full())
    st = R.init_state(qmodel, cfg)
    rec: dict = {}
    R.train_step(st, x_q[0], int(y[0]), rec)
    for old, new in zip(qmodel.layers, st.layers):
        if not isinstance(old, QConv):
            continue
        g_w = rec[old.op.name][1]
        sw = old.w_scale[:, None, None, None]
        real_step = sw * (new.w.astype(np.float32) - old.w.astype(np.float32))
        target = -cfg.lr * g_w
        free = np.abs(old.w.astype(np.float32) - cfg.lr * g_w / sw) < 127
        assert np.all(np.abs(real_step - target)[free] <= 0.5 * np.broadcast_to(sw, g_w.shape)[free] * 1.0001)
        assert np.any(new.w != old.w), old.op.name


def test_without_qas_int8_weights_barely_move(qmodel, data):
    # The paper's problem: G_Wbar = s_w G_W is s_w^2 too small; at lr 0.5 no weight moves.
    _, x_q, y = data
    st = R.init_state(qmodel, R.TrainConfig(lr=0.5, qas=False, scheme=SparseScheme.full()))
    R.train_step(st, x_q[0], int(y[0]))
    changed = sum(int(np.sum(n.w != o.w)) for o, n in zip(qmodel.layers, st.layers) if isinstance(o, QConv))
    assert changed == 0


# --- sparse masking: exactly the named parameters change -----------------------------------

def test_one_step_changes_exactly_the_parameters_the_scheme_names(qmodel, data):
    _, x_q, y = data
    w_before = [np.copy(getattr(l, "w", np.zeros(0))) for l in qmodel.layers]
    b_before = [np.copy(getattr(l, "b", np.zeros(0))) for l in qmodel.layers]
    res = R.train(qmodel, SPARSE, x_q[:4], y[:4], R.TrainConfig(lr=1.0))
    convs = {l.op.name: (o, l) for o, l in zip(qmodel.layers, res.qmodel.layers) if isinstance(l, QConv)}
    # convs 0..4 are c0 c1 c2 c3 c5: n_bias_update = 4 trains the biases of c1..c5, and
    # manual_weight_idx (2, 3, 4) the weights of c2, c3, c5; c0 stays frozen.
    o, n = convs["c0"]
    assert n.w.tobytes() == o.w.tobytes() and n.b.tobytes() == o.b.tobytes()
    o, n = convs["c1"]  # bias only
    assert n.w.tobytes() == o.w.tobytes() and np.any(n.b != o.b)
    o, n = convs["c2"]  # depthwise, ratio 0.5 of 12 channels -> channels 0..5
    assert np.any(n.w[:6] != o.w[:6]) and n.w[6:].tobytes() == o.w[6:].tobytes() and np.any(n.b != o.b)
    o, n = convs["c3"]  # pointwise 12 -> 8, ratio 0.25 of 12 input channels -> 3
    assert np.any(n.w[..., :3] != o.w[..., :3])
    assert n.w[..., 3:].tobytes() == o.w[..., 3:].tobytes() and np.any(n.b != o.b)
    o, n = convs["c5"]  # ratio 1.0: everything
    assert np.any(n.w != o.w) and np.any(n.b != o.b)
    fc_o, fc_n = qmodel.layers[-1], res.qmodel.layers[-1]
    assert np.any(fc_n.w != fc_o.w) and np.any(fc_n.b != fc_o.b)
    # the input model is untouched
    for l, w, b in zip(qmodel.layers, w_before, b_before):
        if hasattr(l, "w"):
            assert l.w.tobytes() == w.tobytes() and l.b.tobytes() == b.tobytes()


@pytest.mark.parametrize("scheme,trained", [
    (SparseScheme.last_layer(), set()),
    (SparseScheme.bias_only(), {"c0", "c1", "c2", "c3", "c5"}),
])
def test_shorthands_train_only_their_parameters(qmodel, data, scheme, trained):
    _, x_q, y = data
    res = R.train(qmodel, scheme, x_q[:4], y[:4], R.TrainConfig(lr=1.0))
    for o, n in zip(qmodel.layers, res.qmodel.layers):
        if isinstance(o, QConv):
            assert n.w.tobytes() == o.w.tobytes()
            assert (n.b.tobytes() != o.b.tobytes()) == (o.op.name in trained), o.op.name


def test_float_path_masks_like_the_device():
    g = small_graph()
    model = R.FloatModel(g, random_params(g))
    rng = np.random.default_rng(7)
    x = rng.random((3, 9, 9, 2)).astype(np.float32)
    res = R.train_float(model, SPARSE, x, np.array([0, 1, 2]), R.TrainConfig(lr=0.1))
    p0, p1 = model.params, res.model.params
    assert p1["c0.weight"].tobytes() == p0["c0.weight"].tobytes()
    assert p1["c0.bias"].tobytes() == p0["c0.bias"].tobytes()
    assert p1["c1.weight"].tobytes() == p0["c1.weight"].tobytes()
    assert p1["c2.weight"][6:].tobytes() == p0["c2.weight"][6:].tobytes()
    assert np.any(p1["c2.weight"][:6] != p0["c2.weight"][:6])
    assert p1["c3.weight"][..., 3:].tobytes() == p0["c3.weight"][..., 3:].tobytes()
    assert np.any(p1["c5.weight"] != p0["c5.weight"]) and np.any(p1["fc.bias"] != p0["fc.bias"])


def test_float_classifier_steps_with_classifier_lr_and_the_convs_with_lr():
    g = small_graph()
    model = R.FloatModel(g, random_params(g))
    rng = np.random.default_rng(8)
    x, y = rng.random((4, 9, 9, 2)).astype(np.float32), np.array([0, 1, 2, 3])
    # One step by hand: the classifier moves by classifier_lr * its gradient, a conv by lr * its.
    work = R.FloatModel(g, {k: v.copy() for k, v in model.params.items()})
    tr = R.float_forward(work, x[0])
    rec: dict = {}
    R.float_backward(work, SPARSE.resolve(g), tr, softmax_xent(tr.logits, 0)[1], 0.1, rec,
                     classifier_lr=0.01)
    p0, p1 = model.params, work.params
    np.testing.assert_allclose(p0["fc.bias"] - p1["fc.bias"], np.float32(0.01) * rec["fc"][0], rtol=1e-5)
    np.testing.assert_allclose(p0["fc.weight"] - p1["fc.weight"], np.float32(0.01) * rec["fc"][1],
                               rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(p0["c5.bias"] - p1["c5.bias"], np.float32(0.1) * rec["c5"][0],
                               rtol=1e-4, atol=1e-7)
    # Whole runs: classifier_lr changes the result; classifier_lr == lr is the default.
    cfg = R.TrainConfig(epochs=2, lr=0.1, scheme=SPARSE)
    base = R.train_float(model, SPARSE, x, y, cfg).model.params
    same = R.train_float(model, SPARSE, x, y, dataclasses.replace(cfg, classifier_lr=0.1)).model.params
    other = R.train_float(model, SPARSE, x, y, dataclasses.replace(cfg, classifier_lr=0.01)).model.params
    assert all(base[k].tobytes() == same[k].tobytes() for k in base)
    assert np.any(other["fc.weight"] != base["fc.weight"]) and np.any(other["c5.bias"] != base["c5.bias"])


def test_int8_gradients_agree_with_the_float_model_they_stand_for(qmodel, data):
    # lr = 0: the int8 path's gradients against the float path's on the dequantized model.
    # They differ only through activation quantization (a flipped clamp mask here and there),
    # measured at 1-17 % mean relative error per layer over 10 samples; a wrong scale factor
    # (s_w, s_x ~ 1e-2) would be off by ~100x, a wrong mask or layout by ~100 %.
    _, x_q, y = data
    scheme = SparseScheme.full().resolve(qmodel.graph)
    st = R.init_state(qmodel, R.TrainConfig(lr=0.0), scheme)
    fm = R.dequantize(qmodel)
    err: dict[str, float] = {}
    n = 10
    for i in range(n):
        rq: dict = {}
        rf: dict = {}
        R.train_step(st, x_q[i], int(y[i]), rq)
        xr = (x_q[i].astype(np.float32) + 128) / np.float32(255)  # the real input x_q stands for
        tr = R.float_forward(fm, xr)
        R.float_backward(fm, scheme, tr, softmax_xent(tr.logits, int(y[i]))[1], 0.0, rf)
        for name in rq:
            a = np.concatenate([v.ravel() for v in rq[name] if v is not None])
            b = np.concatenate([v.ravel() for v in rf[name] if v is not None])
            err[name] = err.get(name, 0.0) + float(np.linalg.norm(a - b) / np.linalg.norm(b)) / n
    assert set(err) == {"c0", "c1", "c2", "c3", "c5", "fc"}
    assert max(err.values()) < 0.3, err
    assert err["fc"] < 0.03, err


# --- rounding, determinism, checksum ---------------------------------------------------------

def test_training_is_deterministic_and_the_seed_matters(qmodel, data):
    _, x_q, y = data
    cfg = R.TrainConfig(lr=0.2, rounding="stochastic", scheme=SPARSE)
    a = R.train(qmodel, None, x_q[:8], y[:8], cfg)
    b = R.train(qmodel, None, x_q[:8], y[:8], cfg)
    c = R.train(qmodel, None, x_q[:8], y[:8], dataclasses.replace(cfg, seed=12345))
    assert a.checksum == b.checksum and a.epoch_loss == b.epoch_loss
    assert a.checksum != c.checksum
    assert a.checksum == R.param_checksum(a.qmodel, SPARSE)


def test_stochastic_rounding_is_unbiased_nearest_is_not():
    # 20000 draws of w - 0.3: the mean of floor(v + u) is w - 0.3 within 4 sigma (sigma = 0.46/141),
    # nearest rounding always gives w.
    from harness.model.rtmath import Xorshift32
    w = np.full(20000, 10, np.int8)
    dw = np.full(20000, 0.3, np.float32)
    s = R.apply_int8(w, dw, "stochastic", Xorshift32())
    assert abs(s.astype(np.float64).mean() - 9.7) < 4 * 0.46 / np.sqrt(20000)
    assert np.all(R.apply_int8(w, dw, "nearest", Xorshift32()) == 10)


def test_updates_saturate():
    from harness.model.rtmath import Xorshift32
    w = np.array([120, -120, 5], np.int8)
    assert R.apply_int8(w, np.array([-50, 50, 1e30], np.float32), "nearest", Xorshift32()).tolist() == [127, -127, -127]
    b = np.array([2**31 - 10, -(2**31) + 10], np.int32)
    out = R.apply_int32(b, np.array([-1e12, 1e12], np.float32), "nearest", Xorshift32())
    assert out.tolist() == [2**31 - 1, -(2**31)]


def test_checksum_covers_exactly_the_trainable_bytes(qmodel):
    # A frozen weight does not enter the checksum; a trainable one does.
    base = R.param_checksum(qmodel, SPARSE)
    layers = list(qmodel.layers)
    c0 = layers[0]
    layers[0] = dataclasses.replace(c0, w=c0.w.copy())
    layers[0].w.flat[0] ^= 1
    assert R.param_checksum(dataclasses.replace(qmodel, layers=tuple(layers)), SPARSE) == base
    c2 = layers[2]
    layers[2] = dataclasses.replace(c2, w=c2.w.copy())
    layers[2].w[7] ^= 1  # beyond the first 6 depthwise channels: frozen
    assert R.param_checksum(dataclasses.replace(qmodel, layers=tuple(layers)), SPARSE) == base
    layers[2].w[0, 0, 0, 0] ^= 1
    assert R.param_checksum(dataclasses.replace(qmodel, layers=tuple(layers)), SPARSE) != base


def test_learning_on_a_separable_task(data):
    # Sanity: with the classifier alone the training loss falls within 3 epochs.
    x, x_q, y = data
    g = small_graph()
    qm = quantize_model(g, random_params(g), x)
    res = R.train(qm, SparseScheme.last_layer(), x_q, y, R.TrainConfig(epochs=3, lr=0.05), x_q, y)
    assert res.epoch_loss[-1] < res.epoch_loss[0]
    assert res.steps == 3 * len(y)


def test_divergence_is_a_clear_error(qmodel, data):
    # A float classifier blows up to non-finite logits; an int8 one only saturates (its loss
    # stays finite), so there is nothing to report.
    if qmodel.classifier != "float":
        pytest.skip("an int8 classifier saturates instead of diverging")
    _, x_q, y = data
    with np.errstate(all="ignore"), pytest.raises(ScenarioError, match="lower the learning rate"):
        R.train(qmodel, SparseScheme.full(), x_q[:10], y[:10], R.TrainConfig(lr=1e38))


def test_config_validation():
    with pytest.raises(ScenarioError, match="rounding"):
        R.TrainConfig(rounding="up")
    with pytest.raises(ScenarioError, match="seed"):
        R.TrainConfig(seed=0)
