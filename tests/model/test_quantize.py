"""Post-training quantization of the small net: structure, and int8 accuracy within 1 pp
of float on Fashion-MNIST, with the suite's committed model file (trained on classes 0-4)."""
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from harness.data import load_dataset, pack_images
from harness.model import qops, quantize, train, zoo
from harness.model.modelfile import load_model_file
from harness.model.qmodel import QConv, QLinear, QLinearFloat, QParams

MODEL = Path(__file__).resolve().parents[2] / "scenarios" / "models" / "small16-fashion-0to4.npz"


@pytest.fixture(scope="module")
def pretrained():
    mf = load_model_file(MODEL)
    ds = load_dataset("fashion_mnist", classes=(0, 1, 2, 3, 4), train=6000, test=2000, seed=0)
    return SimpleNamespace(graph=mf.graph, result=SimpleNamespace(params=dict(mf.params)), dataset=ds)


@pytest.mark.parametrize("classifier", ["float", "int8"])
def test_int8_accuracy_within_one_point_of_float(pretrained, classifier):
    ds = pretrained.dataset
    float_acc = train.accuracy_float(pretrained.graph, pretrained.result.params, ds.test_x, ds.test_y)
    q = quantize.quantize_model(pretrained.graph, pretrained.result.params, ds.train_x[:512], classifier)
    int8_acc = qops.accuracy(q, pack_images(ds.test_x, q.input), ds.test_y)
    assert float_acc > 0.75
    assert abs(int8_acc - float_acc) <= 0.01, (float_acc, int8_acc)


def test_qmodel_structure(pretrained):
    g, params = pretrained.graph, pretrained.result.params
    calib = pretrained.dataset.train_x[:64]
    q = quantize.quantize_model(g, params, calib)
    assert q.classifier == "float" and isinstance(q.layers[-1], QLinearFloat)
    assert not any(c.bn for c in q.graph.convs())
    assert len(q.layers) == len(g.ops)
    assert q.input == QParams(float(np.float32(1 / 255)), -128)  # pixel p -> p - 128
    for layer in q.convs():
        assert isinstance(layer, QConv)
        assert layer.w.dtype == np.int8 and layer.b.dtype == np.int32
        assert layer.multiplier.dtype == np.int32 and layer.w_scale.dtype == np.float32
        assert np.all(np.abs(layer.w) <= 127)
    # tensors chain: a conv's input QParams are its producer's output QParams
    outs = {layer.op.output: layer.y for layer in q.convs()}
    for layer in q.convs():
        if layer.op.input in outs:
            assert layer.x == outs[layer.op.input]
    q8 = quantize.quantize_model(g, params, calib, classifier="int8")
    assert q8.classifier == "int8" and isinstance(q8.layers[-1], QLinear)


def test_forward_keep_returns_every_tensor_and_mask(pretrained):
    q = quantize.quantize_model(pretrained.graph, pretrained.result.params, pretrained.dataset.train_x[:64])
    x_q = pack_images(pretrained.dataset.test_x[:300], q.input)
    tr = qops.forward(q, x_q, keep=True)
    np.testing.assert_array_equal(tr.logits, qops.forward(q, x_q, batch_size=64))  # chunking-free
    assert set(tr.masks) == {c.op.name for c in q.convs()}
    shapes = q.graph.shapes()
    for name, t in tr.tensors.items():
        if name != q.graph.output:
            assert t.dtype == np.int8 and t.shape[1:] == shapes[name]
    assert tr.logits.dtype == np.float32 and tr.logits.shape == (300, 5)


def test_int8_forward_tracks_float(pretrained):
    """Per-sample logits of the int8 model follow the float model closely."""
    g, params, ds = pretrained.graph, pretrained.result.params, pretrained.dataset
    q = quantize.quantize_model(g, params, ds.train_x[:512])
    x = ds.test_x[:200]
    lf = train.predict_float(g, params, x)
    lq = qops.forward(q, pack_images(x, q.input))
    assert np.corrcoef(lf.ravel(), lq.ravel())[0, 1] > 0.99
    assert np.mean(np.argmax(lf, 1) == np.argmax(lq, 1)) > 0.95


def test_wrong_input_shape_is_refused(pretrained):
    q = quantize.quantize_model(pretrained.graph, pretrained.result.params, pretrained.dataset.train_x[:16])
    with pytest.raises(ValueError, match="input_shape"):
        qops.forward(q, np.zeros((1, 32, 32, 1), np.int8))
    with pytest.raises(ValueError, match="classifier"):
        quantize.quantize_model(pretrained.graph, pretrained.result.params, pretrained.dataset.train_x[:16], "int4")
    assert isinstance(zoo.small_cnn(), object)
