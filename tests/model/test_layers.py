"""Models as a list of layers: the parser, its errors, the graphs it builds, float training and
quantization of the ops it brings (pools, flatten, hidden dense, activations), and the LeNet
scenario's host side."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from harness.errors import ScenarioError
from harness.model import qmath, qops, train, zoo
from harness.model.graph import Add, Conv, Flatten, GlobalAvgPool, Graph, Linear, Pool
from harness.model.layers import Layer, LayerError, build_graph, parse_layers, same_pads, to_plain
from harness.model.qmodel import QFlatten, QLinear, QPool
from harness.model.quantize import quantize_model
from harness.yamlsrc import load_yaml

REPO = Path(__file__).resolve().parents[2]
LENET_YAML = """\
layers:
  - {conv: 6, kernel: 5, padding: same, act: relu}
  - {maxpool: 2}
  - {conv: 16, kernel: 5, act: relu}
  - {maxpool: 2}
  - flatten
  - {dense: 64, act: relu}
  - {dense: classes}
"""


def _items(items: list) -> str:
    """A YAML layer list, one flow-style item a line (items 0, 1, ... on lines 2, 3, ...)."""
    import yaml

    return "layers:\n" + "".join(
        f"  - {i if isinstance(i, str) else yaml.safe_dump(i, default_flow_style=True).strip()}\n"
        for i in items)


def _yaml_layers(tmp_path: Path, text: str) -> tuple[Layer, ...]:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    return parse_layers(load_yaml(path)["layers"])


def lenet_by_hand(classes: int) -> Graph:
    return Graph(name="layers", input_shape=(28, 28, 1), ops=(
        Conv("conv1", "input", "conv1", 1, 6, kernel=5, padding=2, relu=True),
        Pool("maxpool1", "conv1", "maxpool1", "max", kernel=2, stride=2),
        Conv("conv2", "maxpool1", "conv2", 6, 16, kernel=5, relu=True),
        Pool("maxpool2", "conv2", "maxpool2", "max", kernel=2, stride=2),
        Flatten("flatten1", "maxpool2", "flatten1"),
        Linear("fc1", "flatten1", "fc1", 400, 64, relu=True),
        Linear("fc2", "fc1", "fc2", 64, classes)))


# --- parser ---------------------------------------------------------------------------------

def test_lenet_parses_with_lines_and_builds_the_hand_written_graph(tmp_path):
    layers = _yaml_layers(tmp_path, LENET_YAML)
    assert [layer.line for layer in layers] == [2, 3, 4, 5, 6, 7, 8]
    assert layers[0] == Layer(kind="conv", filters=6, size=(5, 5), padding="same", act="relu", line=2)
    assert layers[4] == Layer(kind="flatten", line=6)
    assert layers[6].units is None  # classes
    assert build_graph(layers, (28, 28, 1), 5) == lenet_by_hand(5)
    assert build_graph(layers, (28, 28, 1), 5).shapes()["flatten1"] == (400,)


def test_to_plain_reads_back_to_the_same_layers(tmp_path):
    text = LENET_YAML.replace("{dense: classes}", "{dense: 10, name: wide}") + """\
  - {depthwise: [3, 1], stride: [2, 1], padding: [1, 1, 0, 0], act: relu6, bn: true, name: d}
  - {avgpool: 3, stride: 1, padding: same}
  - {add: d, act: relu}
  - {global_avgpool: true, name: g}
  - {dense: classes}
"""
    layers = _yaml_layers(tmp_path, text)
    again = parse_layers(to_plain(layers))
    assert [dataclasses.replace(a, line=0) for a in layers] == list(again)


def test_a_residual_depthwise_net_equals_its_hand_built_graph(tmp_path):
    layers = _yaml_layers(tmp_path, """\
layers:
  - {conv: 8, kernel: 3, stride: 2, padding: 1, act: relu6, bn: true, name: stem}
  - {depthwise: 3, padding: 1, act: relu6, name: dw}
  - {conv: 8, kernel: 1, name: pw}
  - {add: stem, act: relu}
  - global_avgpool
  - {dense: classes}
""")
    want = Graph(name="layers", input_shape=(16, 16, 3), ops=(
        Conv("stem", "input", "stem", 3, 8, kernel=3, stride=2, padding=1, relu6=True, bn=True),
        Conv("dw", "stem", "dw", 8, 8, kernel=3, padding=1, groups=8, relu6=True),
        Conv("pw", "dw", "pw", 8, 8, kernel=1),
        Add("add1", ("stem", "pw"), "add1", relu=True),
        GlobalAvgPool("gap1", "add1", "gap1"),
        Linear("fc1", "gap1", "fc1", 8, 4)))
    assert build_graph(layers, (16, 16, 3), 4) == want
    assert want.ops[1].kind == "depthwise" and want.ops[2].kind == "pointwise"


def test_general_windows_become_the_irs_general_fields():
    """Non-square kernels and strides, TFLite SAME at stride 2 (asymmetric), explicit pads."""
    layers = parse_layers([{"conv": 4, "kernel": [3, 1], "stride": [2, 1], "padding": "same"},
                           {"maxpool": [3, 2], "padding": [1, 1, 0, 0]},
                           "flatten", {"dense": "classes"}])
    g = build_graph(layers, (16, 9, 1), 3)
    conv, pool = g.ops[0], g.ops[1]
    assert (conv.kernel, conv.kernel_w, conv.stride, conv.stride_w) == (3, 1, 2, 1)
    assert conv.pads == (0, 1, 0, 0) and not conv.window.regular
    assert g.shapes()["conv1"] == (8, 9, 4)  # ceil(16 / 2), ceil(9 / 1)
    assert (pool.kernel, pool.kernel_w, pool.stride, pool.stride_w, pool.pads) == (3, 2, 3, 2, (1, 1, 0, 0))
    assert g.shapes()["maxpool1"] == (3, 4, 4)  # stride defaults to the window
    assert same_pads(16, 16, (3, 3), (2, 2)) == (0, 1, 0, 1)
    assert same_pads(15, 15, (3, 3), (2, 2)) == (1, 1, 1, 1)
    assert same_pads(28, 28, (5, 5), (1, 1)) == (2, 2, 2, 2)


def test_the_zoo_is_a_layer_list_through_the_same_builder(tmp_path):
    """small_cnn written out in YAML is the zoo's graph; the zoo builds layer lists."""
    layers = _yaml_layers(tmp_path, """\
layers:
  - {conv: 16, kernel: 3, stride: 2, padding: 1, act: relu6, bn: true, name: stem}
  - {depthwise: 3, padding: 1, act: relu6, bn: true, name: ds1_dw}
  - {conv: 32, kernel: 1, act: relu6, bn: true, name: ds1_pw}
  - {depthwise: 3, stride: 2, padding: 1, act: relu6, bn: true, name: ds2_dw}
  - {conv: 64, kernel: 1, act: relu6, bn: true, name: ds2_pw}
  - {depthwise: 3, padding: 1, act: relu6, bn: true, name: res_dw}
  - {conv: 64, kernel: 1, bn: true, name: res_pw}
  - {add: ds2_pw, name: res_add}
  - {global_avgpool: true, name: gap}
  - {dense: classes, name: fc}
""")
    mine = dataclasses.replace(build_graph(layers, (28, 28, 1), 10), name="small-cnn-w16")
    assert mine == zoo.small_cnn((28, 28, 1), 10, 16)


def test_the_zoo_graphs_keep_their_counts():
    """The layer-list path builds the paper's models with their published sizes."""
    from harness.model.stats import model_stats

    assert len(zoo.mobilenet_v2(0.35, 128, 10).convs()) == 51
    assert len(zoo.proxyless(None, 128, 10).convs()) == 60
    assert len(zoo.mcunet(None, 128, 10).convs()) == 42
    assert model_stats(zoo.proxyless(None, 128, 1000)).backbone_params == 326_232


@pytest.mark.parametrize("items, index, needles", [
    ([{"pool": 2}], 0, ("no kind", "did you mean")),
    (["flaten"], 0, ("unknown layer", "did you mean 'flatten'")),
    ([{"conv": 4}], 0, ("no kernel",)),
    ([{"conv": 4, "kernel": 3, "act": "tanh"}], 0, ("act must be one of",)),
    ([{"dense": "classes"}, {"dense": 3}], 0, ("must be the last layer",)),
    ([{"flatten": 3}], 0, ("takes no argument",)),
    ([{"add": 5}], 0, ("add names the earlier layer",)),
])
def test_parse_errors_name_the_layer_line(tmp_path, items, index, needles):
    text = _items(items)
    with pytest.raises(LayerError) as err:
        _yaml_layers(tmp_path, text)
    assert err.value.line == 2 + index
    for needle in needles:
        assert needle in str(err.value)
    assert err.value.fix


@pytest.mark.parametrize("items, line, needle", [
    ([{"conv": 2, "kernel": 3}, {"dense": "classes"}], 3, "needs a vector"),
    (["flatten", {"maxpool": 2}, {"dense": "classes"}], 3, "needs a feature map"),
    ([{"conv": 2, "kernel": 9}, "flatten", {"dense": "classes"}], 2, "too small"),
    ([{"conv": 2, "kernel": 3, "padding": "same"}, {"add": "zz"}, "flatten", {"dense": "classes"}], 3,
     "no earlier layer"),
    ([{"conv": 2, "kernel": 3}, {"add": "input"}, "flatten", {"dense": "classes"}], 3, "cannot add"),
    (["flatten", {"dense": 5, "act": "relu"}], 3, "must be the classifier"),
])
def test_shape_errors_name_the_layer_line(tmp_path, items, line, needle):
    layers = _yaml_layers(tmp_path, _items(items))
    with pytest.raises(LayerError, match=needle) as err:
        build_graph(layers, (8, 8, 1), 3)
    assert err.value.line == line
    assert isinstance(err.value, ValueError)  # callers treating bad models as bad values keep working


# --- float training of the new ops ------------------------------------------------------------

def new_ops(width: int, hidden: int) -> list:
    """A net of every new op: general windows, pools with SAME padding, ReLU / ReLU6, an add
    with ReLU, flatten, two hidden dense layers."""
    return [{"conv": width, "kernel": [3, 2], "stride": [1, 2], "padding": "same", "act": "relu"},
            {"maxpool": 3, "stride": 2, "padding": "same"},
            {"conv": width, "kernel": 1, "act": "relu6", "bn": True},
            {"avgpool": [2, 3], "stride": 1, "padding": "same", "name": "p"},
            {"depthwise": 3, "padding": 1, "act": "relu"},
            {"conv": width, "kernel": 1, "name": "b"},
            {"add": "p", "act": "relu"},
            "flatten",
            {"dense": hidden, "act": "relu"},
            {"dense": hidden, "act": "relu6"},
            {"dense": "classes"}]


NEW_OPS = new_ops(3, 6)


def _loss(g, p, x, y):
    return train.softmax_cross_entropy(train.forward_float(g, p, x, mode="train").logits, y)[0]


def test_backward_of_the_new_ops_matches_finite_differences():
    """float64 central differences through pools (padding excluded), general windows, ReLU,
    flatten, hidden dense layers and an add with ReLU."""
    g = build_graph(parse_layers(NEW_OPS), (9, 10, 2), 3)
    rng = np.random.default_rng(4)
    p = {k: v.astype(np.float64) for k, v in train.init_params(g, 2).items()}
    for k in p:
        if k.endswith(".bias"):
            p[k] = p[k] + 0.1 * rng.standard_normal(p[k].shape)
    x, y = rng.random((3, 9, 10, 2)), np.array([0, 1, 2])
    tr = train.forward_float(g, p, x, mode="train")
    _, gl = train.softmax_cross_entropy(tr.logits, y)
    grads = train.backward_float(g, p, tr, gl)
    assert {k for k in grads} == {k for k in p if not (k.endswith("bn_mean") or k.endswith("bn_var"))}
    eps = 1e-6
    for k, gk in grads.items():
        for i in rng.choice(p[k].size, min(5, p[k].size), replace=False):
            q = {kk: vv.copy() for kk, vv in p.items()}
            q[k].flat[i] += eps
            up = _loss(g, q, x, y)
            q[k].flat[i] -= 2 * eps
            down = _loss(g, q, x, y)
            num = (up - down) / (2 * eps)
            assert abs(num - gk.flat[i]) <= 1e-6 + 1e-4 * abs(num), (k, i, num, gk.flat[i])


def test_pools_follow_tflites_padding_rule():
    """max ignores padding; avg divides by the taps inside the input, not the window size."""
    g = build_graph(parse_layers([{"maxpool": 2, "stride": 2, "padding": "same"}, "flatten",
                                  {"dense": "classes"}]), (3, 3, 1), 2)
    x = -np.arange(1.0, 10.0).reshape(1, 3, 3, 1)  # all negative: a padded 0 would win a max
    y, _ = train.pool2d(x, g.ops[0])
    assert y[0, :, :, 0].tolist() == [[-1.0, -3.0], [-7.0, -9.0]]
    avg = dataclasses.replace(g.ops[0], mode="avg")
    y, count = train.pool2d(x, avg)
    assert count[:, :, 0].tolist() == [[4, 2], [2, 1]]
    assert y[0, :, :, 0].tolist() == [[-3.0, -4.5], [-7.5, -9.0]]


def test_float_training_of_a_lenet_reduces_the_loss():
    from harness.data import load_dataset

    ds = load_dataset("digits", input_shape=(16, 16, 1), seed=0)
    layers = parse_layers([{"conv": 4, "kernel": 3, "padding": "same", "act": "relu"}, {"maxpool": 2},
                           {"conv": 8, "kernel": 3, "act": "relu"}, {"avgpool": 2}, "flatten",
                           {"dense": 16, "act": "relu"}, {"dense": "classes"}])
    g = build_graph(layers, (16, 16, 1), 10)
    r = train.train(g, ds.train_x, ds.train_y, train.TrainConfig(epochs=6, batch_size=32, lr=1e-2, seed=1),
                    x_test=ds.test_x, y_test=ds.test_y)
    assert r.epoch_loss[-1] < 0.5 * r.epoch_loss[0]  # measured 1.68 -> 0.24
    assert r.test_acc > 0.85  # measured 0.91; 10 classes: chance is 0.1


# --- quantization -----------------------------------------------------------------------------

def test_quantized_new_ops_follow_the_rules_and_track_the_float_model():
    from harness.data import load_dataset
    from harness.model.fold import fold_bn

    ds = load_dataset("digits", input_shape=(12, 13, 1), seed=0)
    g = build_graph(parse_layers(new_ops(8, 32)), (12, 13, 1), 10)
    r = train.train(g, ds.train_x, ds.train_y, train.TrainConfig(epochs=6, batch_size=32, seed=0),
                    x_test=ds.test_x, y_test=ds.test_y)
    assert r.test_acc > 0.8  # a trained model, not a degenerate one where every logit ties
    for classifier in ("float", "int8"):
        qm = quantize_model(g, r.params, ds.train_x[:256], classifier=classifier)
        by_name = {layer.op.name: layer for layer in qm.layers}
        for layer in qm.layers:
            if isinstance(layer, QPool):
                assert layer.y == layer.x and (layer.act_min, layer.act_max) == (-128, 127)
            if isinstance(layer, QFlatten):
                assert layer.x == by_name[layer.op.input].y
        relu_dense = by_name["fc1"]
        assert isinstance(relu_dense, QLinear) and relu_dense.act_min == max(-128, relu_dense.y.zero_point)
        relu6_dense = by_name["fc2"]
        assert relu6_dense.act_max == min(127, relu6_dense.y.zero_point + round(6 / relu6_dense.y.scale))
        add = by_name["add1"]
        assert add.act_min == max(-128, add.y.zero_point) and add.act_max == 127
        # the int8 forward follows the folded float model, tensor by tensor
        x_q = qmath.quantize_tensor(ds.test_x, qm.input)
        trace = qops.forward(qm, x_q, keep=True)
        fg, fp = fold_bn(g, r.params)
        ft = train.forward_float(fg, fp, qmath.dequantize_tensor(x_q, qm.input).astype(np.float32))
        for op, layer in zip(qm.graph.ops, qm.layers):
            if op is qm.graph.ops[-1]:
                continue
            y_qp = layer.x if isinstance(layer, QFlatten) else layer.y
            real = qmath.dequantize_tensor(trace.tensors[op.output], y_qp)
            err = np.abs(real - ft.tensors[op.output])
            assert err.mean() < 2.0 * y_qp.scale, (op.name, err.mean() / y_qp.scale)
        agree = np.mean(np.argmax(trace.logits, 1) == np.argmax(ft.logits, 1))
        assert agree > 0.95, (classifier, agree)
        assert abs(qops.accuracy(qm, x_q, ds.test_y) - r.test_acc) < 0.03


def test_hidden_dense_output_is_clamped_to_its_act_range():
    """qops.linear_s8 applies a hidden layer's clamp (not the classifier's full range)."""
    layer = QLinear(op=Linear("h", "x", "h", 2, 2, relu=True), x=qmath.QParams(0.1, 0),
                    y=qmath.QParams(0.1, -20), w=np.array([[1, 0], [-1, 0]], np.int8),
                    w_scale=np.ones(2, np.float32), b=np.zeros(2, np.int32),
                    multiplier=np.full(2, 1 << 30, np.int32), shift=np.zeros(2, np.int32),
                    act_min=-20, act_max=127)
    y, mask = qops.linear_s8(np.array([[100, 0]], np.int8), layer)
    assert y.tolist() == [[30, -20]] and mask.tolist() == [[True, False]]


# --- the LeNet scenario's host side ----------------------------------------------------------

def _lenet_scenarios():
    from harness.scenario import load_scenarios

    return load_scenarios(REPO / "scenarios" / "lenet.yaml")


def test_lenet_file_holds_the_scenarios_layers_and_its_recipe_remakes_them():
    from harness.model.modelfile import load_model_file
    from harness.model.pretrain import Recipe

    s = _lenet_scenarios()[0]
    mf = load_model_file(s.model.file)
    assert mf.graph == lenet_by_hand(5)
    assert build_graph(s.model.layers, (28, 28, 1), 5) == lenet_by_hand(5)
    recipe = Recipe.from_dict(mf.recipe)
    assert recipe.arch == "layers" and recipe.graph(5) == lenet_by_hand(5)
    assert recipe.classes == (0, 1, 2, 3, 4) and recipe.dataset == "fashion_mnist"
    assert mf.metrics["int8_test_accuracy"] > 0.9


def test_lenet_reference_training_learns_new_classes_on_the_host():
    """Quantize the committed file, put a new head on it, train with the numpy reference (the
    device's oracle) on a small subset: accuracy rises well above chance."""
    from harness import reference as ref
    from harness.data.dataset import load_dataset
    from harness.data.pack import pack_images, pack_labels
    from harness.sparse.scheme import SparseScheme
    from harness.workload import load_model, with_new_head

    s = _lenet_scenarios()[0]
    mf = load_model(s.model)
    qm = with_new_head(mf.quantize("float"), 5)
    ds = load_dataset("fashion_mnist", classes=(5, 6, 7, 8, 9), train=100, test=100, seed=1,
                      input_shape=(28, 28, 1))
    cfg = ref.TrainConfig(epochs=3, lr=s.training.lr, classifier_lr=s.training.classifier_lr)
    order = np.random.default_rng(2).permutation(len(ds.train_y))  # batch-1 SGD: mix the classes
    r = ref.train(qm, SparseScheme.from_config("last_layer"), pack_images(ds.train_x[order], qm.input),
                  pack_labels(ds.train_y[order]), cfg, pack_images(ds.test_x, qm.input),
                  pack_labels(ds.test_y))
    assert r.acc_before == pytest.approx(0.2)  # a zeroed head: one class for all
    assert r.acc_after >= 0.55  # measured 0.69 (the scenario's 300 samples: 0.81)
    assert r.epoch_loss[-1] < 0.5 * r.epoch_loss[0]


def test_make_model_file_from_a_layer_recipe(tmp_path):
    from harness.model.modelfile import load_model_file
    from harness.model.pretrain import Recipe, make_model_file

    plain = to_plain(parse_layers([{"conv": 4, "kernel": 3, "act": "relu"}, {"maxpool": 2}, "flatten",
                                   {"dense": "classes"}]))
    recipe = Recipe(arch="layers", layers=tuple(plain), input=(8, 8, 1), dataset="digits",
                    classes=(0, 1, 2), epochs=10, calibration=64)
    mf = make_model_file(recipe, tmp_path / "m.npz")
    again = load_model_file(tmp_path / "m.npz")
    assert again.sha256 == mf.sha256 and Recipe.from_dict(again.recipe) == recipe
    assert [type(op).__name__ for op in again.graph.ops] == ["Conv", "Pool", "Flatten", "Linear"]
    assert again.metrics["int8_test_accuracy"] > 0.7  # measured 0.85; 3 classes: chance is 0.33


# --- scenario-level errors ---------------------------------------------------------------------

def _scenario(tmp_path: Path, model: str) -> Path:
    models = tmp_path / "models"
    models.mkdir(exist_ok=True)
    for suffix in ("", ".sha256"):
        src = REPO / "scenarios" / "models" / f"lenet-fashion-0to4.npz{suffix}"
        (models / src.name).write_bytes(src.read_bytes())
    path = tmp_path / "s.yaml"
    path.write_text("scenarios:\n  - name: t\n    model:\n" + model
                    + "    dataset: {name: fashion_mnist, classes: [5, 6], train: 10, test: 10}\n")
    return path


def test_layers_with_a_file_of_another_network_is_one_error_at_the_layers(tmp_path):
    from harness.scenario import load_scenarios

    body = "".join(f"        - {line.strip()[2:]}\n" for line in LENET_YAML.splitlines()[1:])
    ok = _scenario(tmp_path, "      file: models/lenet-fashion-0to4.npz\n      layers:\n" + body)
    assert load_scenarios(ok)[0].model.layers is not None
    bad = _scenario(tmp_path, "      file: models/lenet-fashion-0to4.npz\n      layers:\n"
                    + body.replace("dense: 64", "dense: 32"))
    with pytest.raises(ScenarioError) as err:
        load_scenarios(bad)
    text = str(err.value)
    assert f"{bad}:5:" in text and "different networks" in text and "layer 6" in text
    assert "mcutrain pretrain --layers" in text


def test_pretrain_layers_flag_reads_the_scenarios_layers_and_input(tmp_path):
    """`mcutrain pretrain --layers lenet.yaml` (the file need not exist yet): the recipe's layers
    are the scenario's, and its input the scenario's model.input."""
    import argparse

    from harness.cli_pretrain import RECIPE_FLAGS, _overrides
    from harness.errors import MctError
    from harness.model.pretrain import Recipe

    def args(layers: str) -> argparse.Namespace:
        return argparse.Namespace(**{f: None for f in RECIPE_FLAGS}, layers=layers, k=None)

    over = _overrides(args(layers=str(REPO / "scenarios" / "lenet.yaml")))
    recipe = Recipe.from_dict({**Recipe().to_dict(), **over, "classes": [0, 1, 2, 3, 4]})
    assert recipe.arch == "layers" and recipe.graph(5) == lenet_by_hand(5)
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios:\n  - name: a\n    model:\n      layers:\n        - {conv: 4}\n")
    with pytest.raises(MctError, match=f"{bad}:5: model.layers: conv layer: no kernel"):
        _overrides(args(layers=str(bad)))
    with pytest.raises(MctError, match="no scenario has model.layers"):
        _overrides(args(layers=str(REPO / "scenarios" / "fashion.yaml")))
