"""tflite_export: the exported .tflite runs in TFLite Micro (its own Python interpreter) with
``qops.forward``'s outputs bit for bit, on real Fashion-MNIST inputs, for the suite's models and
a net using every op of the IR; anything TFLite cannot express is one clear ExportError."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.data.dataset import load_dataset
from harness.data.pack import pack_images
from harness.model import qmath, qops, zoo
from harness.model.graph import Add, Conv, Flatten, GlobalAvgPool, Graph, Linear, Pool
from harness.model.modelfile import load_model_file
from harness.model.qmodel import QConv, QFlatten, QLinear, QModel, QParams, QPool
from harness.model.quantize import qadd, qpool, quantize_model
from harness.model.random_init import random_params
from harness.model.tflite_export import (ExportError, mean_parity, operator_counts,
                                         save_tflite, tflm_channel_multipliers, tflm_mean_multiplier,
                                         to_tflite,
                                         window_padding)
from harness.model.tflite_forms import gap_weight_scale
from harness.model.tflm import tflm_invoke

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "scenarios" / "models" / "small16-fashion-0to4.npz"


def fashion(shape: tuple[int, int, int], n: int, seed: int = 0) -> np.ndarray:
    """Real Fashion-MNIST test images at the model's input shape, as float32 in [0, 1]."""
    ds = load_dataset("fashion_mnist", classes=[0, 1, 2, 3, 4], train=64, test=n, seed=seed,
                      input_shape=shape)
    return ds.test_x, ds.train_x


def assert_tflm_matches(qmodel: QModel, x_q: np.ndarray) -> bytes:
    """TFLM's output on the exported file == our reference's logits tensor, bit for bit."""
    data = to_tflite(qmodel)
    trace = qops.forward(qmodel, x_q, keep=True)
    ours = trace.tensors[qmodel.graph.output]
    theirs = tflm_invoke(data, x_q)
    assert theirs.dtype == ours.dtype and theirs.shape == ours.shape
    diff = np.argwhere(theirs != ours)
    assert diff.size == 0, (f"{qmodel.graph.name}: {len(diff)} of {ours.size} logits differ, "
                            f"first at {diff[0].tolist()}: TFLM {theirs[tuple(diff[0])]} vs ours "
                            f"{ours[tuple(diff[0])]}")
    return data


# --- the suite's models -----------------------------------------------------------------------

@pytest.mark.parametrize("classifier", ["float", "int8"])
def test_small_net_model_file_matches_tflm(classifier):
    """The committed small net (7x7 global pool: the depthwise form), 300 test images."""
    qm = load_model_file(SMALL).quantize(classifier)
    test_x, _ = fashion(qm.graph.input_shape, 300)
    data = assert_tflm_matches(qm, pack_images(test_x, qm.input))
    ops = operator_counts(data)
    assert ops["CONV_2D"] == 4 and ops["DEPTHWISE_CONV_2D"] == 3 + 1 and ops["PAD"] == 2
    assert "MEAN" not in ops  # 49 taps: TFLM's MEAN would differ (test below)
    assert ("DEQUANTIZE" in ops) == (classifier == "float")


def _zoo_model(arch: str, size: int, classifier: str, **kw) -> tuple[QModel, np.ndarray]:
    shape = (size, size, 1)
    test_x, train_x = fashion(shape, 24)
    g = zoo.build(arch, input_size=size, num_classes=5, in_channels=1, **kw)
    qm = quantize_model(g, random_params(g, 3), train_x[:32], classifier=classifier)
    return qm, pack_images(test_x, qm.input)


@pytest.mark.parametrize("arch,size,kw", [
    ("mbv2", 40, {"width": 0.35}),   # 2x2 before the pool: TFLM's MEAN multiplier is ours
    ("proxyless", 48, {}),
    ("mcunet", 80, {}),              # 3x3: MEAN when TFLM's (M << 3) // 9 happens to be ours
])
@pytest.mark.parametrize("classifier", ["float", "int8"])
def test_zoo_models_match_tflm(arch, size, kw, classifier):
    qm, x = _zoo_model(arch, size, classifier, **kw)
    data = assert_tflm_matches(qm, x)
    ops = operator_counts(data)
    gap = next(layer for layer in qm.layers if isinstance(layer.op, GlobalAvgPool))
    h, w, _ = qm.graph.shapes()[gap.op.input]
    as_mean = tflm_mean_multiplier(gap.x, gap.y, h * w) == (gap.multiplier, gap.shift)
    assert as_mean or h * w not in (1, 4, 16)  # a power of two always folds exactly
    assert ("MEAN" in ops) == as_mean
    n_dw = sum(1 for op in qm.graph.convs() if op.kind == "depthwise")
    assert ops["DEPTHWISE_CONV_2D"] == n_dw + (not as_mean)
    assert ops["ADD"] == sum(1 for op in qm.graph.ops if isinstance(op, Add))


# --- every op of the IR -----------------------------------------------------------------------

class _Calibrated:
    """Builds an int8 model op by op on a real batch: each output's QParams from the exact
    range of its real values on that batch (the quantizer's rule), seeded random weights."""

    def __init__(self, x_q: np.ndarray, qp: QParams, seed: int = 7):
        self.rng = np.random.default_rng(seed)
        self.t = {"input": x_q}
        self.q = {"input": qp}
        self.ops: list = []
        self.layers: list = []

    def _emit(self, op, layer, y: np.ndarray) -> None:
        self.ops.append(op)
        self.layers.append(layer)
        self.t[op.output] = y
        self.q[op.output] = getattr(layer, "y", None) or layer.x

    def conv(self, op: Conv) -> None:
        x, xq = self.t[op.input], self.q[op.input]
        fan_in = op.weight_shape[1] * op.weight_shape[2] * op.weight_shape[3]
        w = self.rng.normal(0, 1 / np.sqrt(fan_in), op.weight_shape).astype(np.float32)
        b = self.rng.normal(0, 0.2, op.out_ch).astype(np.float32)
        w_q, s_w = qmath.quantize_weights(w)
        b_q = qmath.quantize_bias(b, xq.scale, s_w)
        ones = np.ones(op.out_ch, np.int32)
        probe = QConv(op, xq, xq, w_q, s_w, b_q, ones, ones, -128, 127)
        real = qops.conv_acc(x, probe) * (np.float64(xq.scale) * s_w.astype(np.float64))
        y = qmath.qparams_from_range(real.min(), real.max())
        mult, shift = qmath.channel_multipliers(xq.scale, s_w, y.scale)
        lo, hi = (qmath.relu6_range(y) if op.act == "relu6" else
                  (max(-128, y.zero_point), 127) if op.act == "relu" else (-128, 127))
        layer = QConv(op, xq, y, w_q, s_w, b_q, mult, shift, lo, hi)
        self._emit(op, layer, qops.conv_s8(x, layer)[0])

    def linear(self, op: Linear) -> None:
        x, xq = self.t[op.input], self.q[op.input]
        w = self.rng.normal(0, 1 / np.sqrt(op.in_features), op.weight_shape).astype(np.float32)
        b = self.rng.normal(0, 0.2, op.out_features).astype(np.float32)
        w_q, s_w = qmath.quantize_weights(w)
        b_q = qmath.quantize_bias(b, xq.scale, s_w)
        ones = np.ones(op.out_features, np.int32)
        probe = QLinear(op, xq, xq, w_q, s_w, b_q, ones, ones)
        real = qops.linear_acc(x, probe) * (np.float64(xq.scale) * s_w.astype(np.float64))
        y = qmath.qparams_from_range(real.min(), real.max())
        mult, shift = qmath.channel_multipliers(xq.scale, s_w, y.scale)
        lo, hi = (qmath.relu6_range(y) if op.act == "relu6" else
                  (max(-128, y.zero_point), 127) if op.act == "relu" else (-128, 127))
        layer = QLinear(op, xq, y, w_q, s_w, b_q, mult, shift, lo, hi)
        self._emit(op, layer, qops.linear_s8(x, layer)[0])

    def pool(self, op: Pool) -> None:
        layer = QPool(op, self.q[op.input], self.q[op.input])
        self._emit(op, layer, qops.pool_s8(self.t[op.input], layer))

    def flatten(self, op: Flatten) -> None:
        x = self.t[op.input]
        self._emit(op, QFlatten(op, self.q[op.input]), x.reshape(len(x), -1))

    def add(self, op: Add) -> None:
        a, b = (self.t[n] for n in op.inputs)
        qa, qb = (self.q[n] for n in op.inputs)
        real = qa.scale * (a.astype(np.float64) - qa.zero_point) + qb.scale * (b.astype(np.float64) - qb.zero_point)
        y = qmath.qparams_from_range(real.min(), real.max())
        layer = qadd(op, qa, qb, y)
        if op.act == "relu":
            layer = dataclasses.replace(layer, act_min=max(-128, y.zero_point))
        self._emit(op, layer, qops.add_s8_masked(a, b, layer)[0])

    def gap(self, op: GlobalAvgPool) -> None:
        x, xq = self.t[op.input], self.q[op.input]
        real = xq.scale * (x.astype(np.float64) - xq.zero_point).mean(axis=(1, 2))
        y = qmath.qparams_from_range(real.min(), real.max())
        layer = qpool(op, xq, y, x.shape[1] * x.shape[2])
        self._emit(op, layer, qops.avgpool_s8(x, layer))

    def model(self, name: str, shape: tuple[int, int, int]) -> QModel:
        return QModel(Graph(name, shape, tuple(self.ops)), self.q["input"], tuple(self.layers))


def every_op_net(x_q: np.ndarray, qp: QParams) -> QModel:
    """A LeNet-style net with every IR op and window kind: conv 5x5 VALID + ReLU, max pool
    2x2/2, a 3x1 conv with per-side pads (a PAD), a SAME 3x3 stride-2 ReLU6 conv on an odd map,
    depthwise 3x3, add + ReLU, avg pool 3x3/2 SAME, flatten, hidden FC + ReLU, FC classifier."""
    b = _Calibrated(x_q, qp)
    b.conv(Conv("c1", "input", "c1", 1, 8, 5, relu=True))                         # 28 -> 24
    b.pool(Pool("mp", "c1", "mp", "max", 2, 2))                                     # 24 -> 12
    b.conv(Conv("c2", "mp", "c2", 8, 8, 3, kernel_w=1, pads=(2, 0, 0, 0), relu6=True))  # causal 3x1
    b.conv(Conv("c3", "c2", "c3", 8, 16, 3, stride=2, pads=(0, 1, 0, 1), relu6=True))   # SAME on 12
    b.conv(Conv("dw", "c3", "dw", 16, 16, 3, padding=1, groups=16, relu6=True))
    b.conv(Conv("pw", "dw", "pw", 16, 16, 1))
    b.add(Add("add", ("c3", "pw"), "add", relu=True))
    b.pool(Pool("ap", "add", "ap", "avg", 3, 2, pads=(0, 1, 0, 1)))                # SAME on 6
    b.flatten(Flatten("flat", "ap", "flat"))
    n = b.t["flat"].shape[1]
    b.linear(Linear("fc1", "flat", "fc1", n, 32, relu=True))
    b.linear(Linear("fc2", "fc1", "fc2", 32, 5))
    return b.model("every-op", x_q.shape[1:])


def test_every_op_net_matches_tflm():
    test_x, _ = fashion((28, 28, 1), 200)
    qp = QParams(scale=float(np.float32(1 / 255)), zero_point=-128)
    x = pack_images(test_x, qp)
    qm = every_op_net(x, qp)
    shapes = qm.graph.shapes()
    assert shapes["c2"] == (12, 12, 8) and shapes["c3"] == (6, 6, 16) and shapes["ap"] == (3, 3, 16)
    data = assert_tflm_matches(qm, x)
    assert operator_counts(data) == {"CONV_2D": 4, "MAX_POOL_2D": 1, "PAD": 1,
                                     "DEPTHWISE_CONV_2D": 1, "ADD": 1, "AVERAGE_POOL_2D": 1,
                                     "RESHAPE": 1, "FULLY_CONNECTED": 2}


# --- the global average pool ------------------------------------------------------------------

def test_tflm_mean_differs_from_our_pool_on_a_7x7_map():
    """Why the small net's pool is not a MEAN: TFLM's MEAN multiplier Q(s_x/s_y) * 32 // 49
    (1030307284, shift -2) is not ours Q(s_x/(49 s_y)) (2060614570, -3); 136 of the 12,496
    reachable sums round differently. The depthwise form agrees on every one of them."""
    qm = load_model_file(SMALL).quantize("float")
    gap = next(layer for layer in qm.layers if isinstance(layer.op, GlobalAvgPool))
    p = mean_parity(gap, 49)
    assert p.ours == (2060614570, -3) and p.tflm == (1030307284, -2)
    assert (p.sums, p.differing) == (12496, 136)
    s_w = gap_weight_scale(gap.x, gap.y, 49)
    mult, shift = tflm_channel_multipliers(gap.x, np.array([s_w]), gap.y)
    assert shift[0] == gap.shift and abs(int(mult[0]) - gap.multiplier) < 256


# --- padding ----------------------------------------------------------------------------------

def test_window_padding_is_tflite_same_only_when_the_pads_are_tflites():
    from harness.model.graph import Window
    assert window_padding(Window(3, 3, 1, 1, 1, 1, 1, 1), 14, 14) == "SAME"
    assert window_padding(Window(3, 3, 2, 2, 0, 1, 0, 1), 28, 28) == "SAME"
    assert window_padding(Window(3, 3, 2, 2, 1, 1, 1, 1), 28, 28) is None  # ours pads 1 on top
    assert window_padding(Window(3, 3, 2, 2, 1, 1, 1, 1), 7, 7) == "SAME"  # odd map: TFLite's too
    assert window_padding(Window(5, 5, 1, 1, 0, 0, 0, 0), 28, 28) == "VALID"
    # a bottom/right pad past the last window: same outputs, but not TFLite's pads
    assert window_padding(Window(3, 3, 2, 2, 0, 2, 0, 2), 28, 28) is None
    assert window_padding(Window(3, 3, 2, 2, 0, 2, 0, 2), 28, 28, unread_ok=True) == "SAME"


# --- what TFLite cannot express ---------------------------------------------------------------

def _small_int8() -> QModel:
    return load_model_file(SMALL).quantize("int8")


def test_grouped_conv_is_one_clear_error():
    qm = _small_int8()
    i = next(i for i, op in enumerate(qm.graph.ops) if op.name == "ds1_pw")
    layer = qm.layers[i]
    op = dataclasses.replace(layer.op, groups=2)
    bad = dataclasses.replace(layer, op=op, w=layer.w[..., :layer.w.shape[-1] // 2])
    g = dataclasses.replace(qm.graph, ops=qm.graph.ops[:i] + (op,) + qm.graph.ops[i + 1:])
    qm = dataclasses.replace(qm, graph=g, layers=qm.layers[:i] + (bad,) + qm.layers[i + 1:])
    with pytest.raises(ExportError, match=r"ds1_pw: a grouped conv \(2 groups of 8 channels\) "
                                          r"has no TFLite Micro operator"):
        to_tflite(qm)


def test_clamp_that_no_fused_activation_gives_is_one_clear_error():
    qm = _small_int8()
    i = next(i for i, op in enumerate(qm.graph.ops) if op.name == "stem")
    bad = dataclasses.replace(qm.layers[i], act_min=-100)
    qm = dataclasses.replace(qm, layers=qm.layers[:i] + (bad,) + qm.layers[i + 1:])
    with pytest.raises(ExportError, match=r"stem: its output clamp \[-100, \d+\] is none of "
                                          "TFLite's fused activations"):
        to_tflite(qm)


def test_avg_pool_with_pads_tflite_does_not_compute_is_one_clear_error():
    op = Pool("ap", "input", "ap", "avg", 3, 2, pads=(1, 1, 1, 1))  # 28: SAME pads 0 / 1
    qp = QParams(scale=float(np.float32(1 / 255)), zero_point=-128)
    fc = Linear("fc", "flat", "fc", 14 * 14, 2)
    x = np.zeros((1, 28, 28, 1), np.int8)
    b = _Calibrated(x, qp)
    b.pool(op)
    b.flatten(Flatten("flat", "ap", "flat"))
    b.linear(fc)
    with pytest.raises(ExportError, match=r"ap: pool window pads \(1, 1, 1, 1\) on a 28x28 "
                                          "input are neither TFLite SAME nor VALID"):
        to_tflite(b.model("bad-pool", (28, 28, 1)))


# --- the file and the command ------------------------------------------------------------------

def test_save_is_atomic_and_leaves_nothing_on_error(tmp_path):
    qm = _small_int8()
    out = tmp_path / "m.tflite"
    summary = save_tflite(qm, out)
    assert out.read_bytes()[4:8] == b"TFL3" and summary.bytes == out.stat().st_size
    assert summary.params == 8421 and sum(summary.ops.values()) == 13
    i = next(i for i, op in enumerate(qm.graph.ops) if op.name == "stem")
    bad = dataclasses.replace(qm, layers=(dataclasses.replace(qm.layers[i], act_min=-100),)
                              + qm.layers[1:])
    with pytest.raises(ExportError):
        save_tflite(bad, tmp_path / "bad.tflite")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tflite"]


def test_export_command(tmp_path):
    out = tmp_path / "f.tflite"
    r = subprocess.run([sys.executable, "-m", "harness.cli", "export", "scenarios/fashion.yaml",
                        "-k", "fashion-new-classes", "-o", str(out)],
                       cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"{out}: {out.stat().st_size} bytes, 15 TFLite ops" in r.stdout
    assert "8421 parameters (small-cnn-w16, float classifier)" in r.stdout
    r = subprocess.run([sys.executable, "-m", "harness.cli", "export", "scenarios/fashion.yaml",
                        "-k", "fashion", "-o", str(tmp_path / "g.tflite")],
                       cwd=REPO, capture_output=True, text=True)
    from harness.scenario import load_scenarios
    n = sum(1 for s in load_scenarios(REPO / "scenarios" / "fashion.yaml") if "fashion" in s.name and s.model)
    assert n > 1
    assert r.returncode == 2 and f"selects {n} training scenarios" in r.stderr
    assert not (tmp_path / "g.tflite").exists()


# --- the round trip: import(export(m)) == m ----------------------------------------------------

def assert_same_qmodel(got: QModel, want: QModel) -> None:
    """Graph (every op, name and tensor), input QParams and every field of every layer, arrays
    by dtype, shape and value."""
    assert got.graph == want.graph
    assert got.input == want.input
    assert len(got.layers) == len(want.layers)
    for a, b in zip(got.layers, want.layers):
        assert type(a) is type(b), (a.op.name, type(a).__name__, type(b).__name__)
        for f in dataclasses.fields(b):
            va, vb = getattr(a, f.name), getattr(b, f.name)
            if isinstance(vb, np.ndarray):
                assert isinstance(va, np.ndarray) and va.dtype == vb.dtype and va.shape == vb.shape \
                    and np.array_equal(va, vb), f"{b.op.name}.{f.name} differs"
            else:
                assert va == vb, f"{b.op.name}.{f.name}: {va!r} != {vb!r}"


@pytest.mark.parametrize("classifier", ["float", "int8"])
def test_round_trip_small_net(classifier):
    from harness.model.tflite_import import load_tflite
    qm = load_model_file(SMALL).quantize(classifier)
    assert_same_qmodel(load_tflite(to_tflite(qm)), qm)


@pytest.mark.parametrize("arch,size,kw", [("mbv2", 40, {"width": 0.35}), ("mcunet", 80, {})])
@pytest.mark.parametrize("classifier", ["float", "int8"])
def test_round_trip_zoo(arch, size, kw, classifier):
    from harness.model.tflite_import import load_tflite
    qm, _ = _zoo_model(arch, size, classifier, **kw)
    assert_same_qmodel(load_tflite(to_tflite(qm)), qm)


def test_round_trip_every_op_net():
    from harness.model.tflite_import import load_tflite
    test_x, _ = fashion((28, 28, 1), 64)
    qp = QParams(scale=float(np.float32(1 / 255)), zero_point=-128)
    qm = every_op_net(pack_images(test_x, qp), qp)
    assert_same_qmodel(load_tflite(to_tflite(qm)), qm)


# --- where TFLM's own operators and our reference differ (why the exact forms exist) -------------

def _edit(data: bytes, fn) -> bytes:
    """``data`` changed in place by ``fn(model, subgraph, tensor_index_by_name, add_const)``."""
    import flatbuffers

    from harness.model.tflite_export import _schema
    tfl = _schema()
    m = tfl.ModelT.InitFromPackedBuf(data, 0)
    sg = m.subgraphs[0]
    index = {t.name.decode(): i for i, t in enumerate(sg.tensors)}

    def const(name: str, arr: np.ndarray, dtype: int) -> int:
        buf = tfl.BufferT()
        buf.data = np.frombuffer(arr.tobytes(), np.uint8)
        m.buffers.append(buf)
        t = tfl.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(arr.shape), dtype, len(m.buffers) - 1
        sg.tensors.append(t)
        return len(sg.tensors) - 1

    fn(tfl, m, sg, index, const)
    builder = flatbuffers.Builder(1 << 16)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_tflm_mean_on_the_small_net_is_its_folded_multiplier_not_ours():
    """The same file with a plain MEAN for the pool: TFLM computes requantize(sum, 1030307284,
    -2) (its folded multiplier) and 9% of the pooled values differ from ours."""
    qm = load_model_file(SMALL).quantize("int8")
    gap = next(layer for layer in qm.layers if isinstance(layer.op, GlobalAvgPool))

    def to_mean(tfl, m, sg, index, const):
        dw = next(o for o in sg.operators if list(o.outputs) == [index["gap/sum"]])
        axes = const("axes", np.array([1, 2], np.int32), tfl.TensorType.INT32)
        code = tfl.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = tfl.BuiltinOperator.MEAN
        m.operatorCodes.append(code)
        dw.opcodeIndex, dw.inputs, dw.outputs = len(m.operatorCodes) - 1, [dw.inputs[0], axes], [index["gap"]]
        dw.builtinOptionsType, dw.builtinOptions = tfl.BuiltinOptions.ReducerOptions, tfl.ReducerOptionsT()
        sg.operators = [o for o in sg.operators if list(o.inputs[:1]) != [index["gap/sum"]]]
        sg.outputs = [index["gap"]]

    data = _edit(to_tflite(qm), to_mean)
    test_x, _ = fashion(qm.graph.input_shape, 100)
    x = pack_images(test_x, qm.input)
    pre = qops.forward(qm, x, keep=True).tensors[gap.op.input]
    sums = np.sum(pre.astype(np.int64) - gap.x.zero_point, axis=(1, 2))
    theirs = tflm_invoke(data, x)
    folded = np.clip(qmath.requantize(sums, 1030307284, -2) + gap.y.zero_point, -128, 127)
    ours = np.clip(qmath.requantize(sums, gap.multiplier, gap.shift) + gap.y.zero_point, -128, 127)
    assert np.array_equal(theirs, folded)
    assert np.count_nonzero(theirs != ours) == 461  # of 6400


def test_tflm_float_fc_adds_its_bias_last():
    """The plain DEQUANTIZE -> float FC(bias) form: TFLM sums from 0 and adds the bias last,
    so 707 of 1500 logits differ from our loop (bias first) in the last bit."""
    qm = load_model_file(SMALL).quantize("float")
    head = qm.layers[-1]

    def plain(tfl, m, sg, index, const):
        fc = sg.operators[-1]
        w = const("w", np.asarray(head.w, np.float32), tfl.TensorType.FLOAT32)
        b = const("b", np.asarray(head.b, np.float32), tfl.TensorType.FLOAT32)
        fc.inputs = [index["fc/dequantize"], w, b]
        del sg.operators[-2]  # the CONCATENATION

    data = _edit(to_tflite(qm), plain)
    test_x, _ = fashion(qm.graph.input_shape, 300)
    x = pack_images(test_x, qm.input)
    trace = qops.forward(qm, x, keep=True)
    theirs = tflm_invoke(data, x)
    xr = np.float32(head.x.scale) * (trace.tensors["gap"].astype(np.int32) - head.x.zero_point).astype(np.float32)
    total = np.zeros(theirs.shape, np.float32)
    for i in range(head.w.shape[1]):
        total += xr[:, i:i + 1] * head.w[:, i]
    assert np.array_equal(theirs, total + head.b)
    ours = trace.logits
    assert np.count_nonzero(theirs != ours) == 707 and np.abs(theirs - ours).max() < 1e-6


# --- any window ---------------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kh=st.integers(1, 5), kw=st.integers(1, 5), sh=st.integers(1, 3), sw=st.integers(1, 3),
       pads=st.tuples(*[st.integers(0, 3)] * 4), depthwise=st.booleans(),
       act=st.sampled_from(["none", "relu", "relu6"]), pool=st.sampled_from(["max", "avg"]),
       pool_same=st.booleans(), seed=st.integers(0, 1000))
def test_any_conv_window_and_pool_match_tflm_and_round_trip(kh, kw, sh, sw, pads, depthwise, act,
                                                            pool, pool_same, seed):
    """A conv with any kernel, stride and per-side pads (SAME, VALID or a PAD), then a SAME or
    VALID pool, flatten and a classifier, on random int8 inputs: TFLM == reference, and the
    importer reads the same model back."""
    from harness.model.tflite_import import _Importer, load_tflite
    canonical = _Importer.window_fields  # one spelling per window (kernel_w only when != kernel...)
    h, w, c = 9, 11, 4
    if h + pads[0] + pads[1] < kh or w + pads[2] + pads[3] < kw:
        return
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (8, h, w, c)).astype(np.int8)
    qp = QParams(scale=float(np.float32(0.05)), zero_point=int(rng.integers(-20, 20)))
    b = _Calibrated(x, qp, seed)
    b.conv(Conv("conv", "input", "conv", c, c if depthwise else 6, groups=c if depthwise else 1,
                relu=act == "relu", relu6=act == "relu6", **canonical(kh, kw, sh, sw, pads)))
    ho, wo, _ = b.t["conv"].shape[1:]
    k = min(2, ho, wo)
    ppads = (0, 0, 0, 0)
    if pool_same:
        from harness.model.tflite_export import _same_pads
        _, pt, pb = _same_pads(ho, k, 2)
        _, pl, pr = _same_pads(wo, k, 2)
        ppads = (pt, pb, pl, pr)
    b.pool(Pool("pool", "conv", "pool", pool, **canonical(k, k, 2, 2, ppads)))
    b.flatten(Flatten("flat", "pool", "flat"))
    b.linear(Linear("fc", "flat", "fc", b.t["flat"].shape[1], 3))
    qm = b.model("window", (h, w, c))
    data = assert_tflm_matches(qm, x)
    assert_same_qmodel(load_tflite(data), qm)
