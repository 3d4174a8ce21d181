"""The paper's 15 shipped sparse-update schemes: named by model and budget, on their models."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.model import zoo
from harness.scenario import load_scenarios
from harness.sparse.paper_schemes import PAPER_SCHEMES, all_schemes, lookup
from harness.sparse.scheme import SparseScheme

GRAPHS = {"mbv2-w0.35": lambda: zoo.mobilenet_v2(0.35, 128), "proxyless-w0.3": lambda: zoo.proxyless(),
          "mcunet-5fps": lambda: zoo.mcunet()}
BUDGETS = {"mbv2-w0.35": ["49kb", "73kb", "99kb", "123kb", "138kb"],
           "proxyless-w0.3": ["49kb", "74kb", "98kb", "120kb", "148kb"],
           "mcunet-5fps": ["49kb", "74kb", "99kb", "124kb", "148kb"]}


def test_fifteen_schemes_five_per_model():
    assert {m: list(b) for m, b in PAPER_SCHEMES.items()} == BUDGETS
    assert len(all_schemes()) == 15


@pytest.mark.parametrize("scheme", all_schemes(), ids=lambda s: s.name)
def test_every_scheme_resolves_on_its_model(scheme):
    g = GRAPHS[scheme.model]()
    n = len(g.convs())
    by_full = SparseScheme.from_config({"paper": scheme.name}).resolve(g)
    by_budget = SparseScheme.from_config({"paper": scheme.budget}).resolve(g)
    written = SparseScheme.from_config(scheme.keys()).resolve(g)
    assert by_full.layers == by_budget.layers == written.layers
    assert by_full.source == SparseScheme(paper=scheme.name)
    # biases of the last n_bias_update convs, weights exactly at manual_weight_idx
    biased = [u.conv_index for u in by_full.layers if u.update_bias]
    assert biased == list(range(n - scheme.n_bias_update, n))
    for u in by_full.layers:
        if u.conv_index in scheme.manual_weight_idx:
            r = scheme.weight_update_ratio[scheme.manual_weight_idx.index(u.conv_index)]
            assert u.weight_channels == round(r * u.channels) and (r == 0) == (u.weight_channels == 0)
        else:
            assert u.weight_channels == 0


def test_mbv2_49kb_layers():
    r = SparseScheme.paper_scheme("49kb").resolve(zoo.mobilenet_v2(0.35, 128))
    assert r.describe() == ("35:bias, 36:w 32/32, 37:bias, 38:bias, 39:w 32/32, 40:bias, 41:w 48/192, "
                            "42:w 7/56, 43:bias, 44:bias, 45:w 7/56, 46:bias, 47:bias, 48:w 7/56, "
                            "49:w 42/336, 50:bias, classifier")
    assert r.earliest == 35


def test_mcunet_99kb_is_the_papers_description():
    # paper §3.3: under 100 KB, biases of the last 22 layers, weights of 6 pw1 layers: four fully,
    # two late ones at 1/8 and 1/4; the first 20 layers forward only
    g = zoo.mcunet()
    r = SparseScheme.paper_scheme("mcunet-5fps/99kb").resolve(g)
    w = [u for u in r.layers if u.weight_channels]
    assert len(w) == 6 and all(u.name.endswith("_pw1") for u in w)
    assert [u.weight_channels / u.channels for u in w] == [1, 1, 1, 1, 0.125, 0.25]
    assert r.earliest == 20 and sum(u.update_bias for u in r.layers) == 22


@pytest.mark.parametrize("name, graph, message, fix", [
    ("74kb", "mbv2-w0.35", "mbv2-w0.35 has no 74kb scheme", "49kb, 73kb, 99kb, 123kb, 138kb"),
    ("mcunet/49kb", "mbv2-w0.35", "is for mcunet-5fps, but the model is mbv2-w0.35", "mbv2-w0.35/49kb"),
    ("50kb", "mbv2-w0.35", "no paper scheme '50kb'", "proxyless-w0.3/{49kb, 74kb"),
    ("resnet/49kb", "mbv2-w0.35", "no paper scheme", "mcunet-5fps/{49kb"),
    ("49kb", "small-cnn-w16", "has no paper schemes", "write the scheme out"),
])
def test_lookup_errors_list_the_valid_names(name, graph, message, fix):
    with pytest.raises(ScenarioError) as e:
        lookup(name, graph)
    assert message in e.value.message and fix in (e.value.fix or "")


def test_paper_takes_no_other_keys():
    with pytest.raises(ScenarioError, match="takes no other keys"):
        SparseScheme.from_config({"paper": "49kb", "n_bias_update": 3})


def write(tmp: Path, sparse: str, model: str = "{arch: mbv2, width: 0.35, input: [64, 64, 3]}") -> Path:
    p = tmp / "s.yaml"
    p.write_text(f"""\
scenarios:
  - name: s
    model: {model}
    dataset: {{name: fashion_mnist, classes: [0, 1], train: 2, test: 2}}
    training:
      epochs: 1
      sparse_update: {sparse}
""")
    return p


@pytest.mark.parametrize("sparse, model, needles", [
    ("{paper: 47kb}", None, ["no paper scheme '47kb'", "mbv2-w0.35/{49kb, 73kb, 99kb, 123kb, 138kb}"]),
    ("{paper: 74kb}", None, ["mbv2-w0.35 has no 74kb scheme", "49kb, 73kb"]),
    ("{paper: proxyless-w0.3/49kb}", None, ["is for proxyless-w0.3, but the model is mbv2-w0.35"]),
    ("{paper: 49kb, n_bias_update: 3}", None, ["takes no other keys"]),
    ("{paper: [49kb]}", None, ["paper scheme name"]),
    ("{paper: 49kb}", "{arch: small, input: [28, 28, 1]}", ["'small-cnn-w16' has no paper schemes"]),
])
def test_scenario_errors_name_the_keys_line(tmp_path, sparse, model, needles):
    path = write(tmp_path, sparse, *(m for m in [model] if m))
    with pytest.raises(ScenarioError) as e:
        load_scenarios(path)
    text = str(e.value)
    assert f"{path}:7:" in text and "sparse_update" in text
    for needle in needles:
        assert needle in text


@pytest.mark.parametrize("arch, name", [("mbv2, width: 0.35", "49kb"), ("proxyless", "proxyless/98kb"),
                                        ("mcunet", "mcunet-5fps/148kb")])
def test_scenario_names_a_paper_scheme(tmp_path, arch, name):
    s = load_scenarios(write(tmp_path, f"{{paper: {name}}}", f"{{arch: {arch}, input: [64, 64, 3]}}"))[0]
    assert s.training.sparse_update == {"paper": name}
    assert s.model.width == {"mbv2, width: 0.35": 0.35, "proxyless": 0.3, "mcunet": 1.0}[arch]


def test_exact_model_with_another_width_is_refused_at_its_line(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("""\
scenarios:
  - name: s
    model:
      arch: proxyless
      width: 0.35
    dataset: {name: fashion_mnist, classes: [0, 1], train: 2, test: 2}
""")
    with pytest.raises(ScenarioError) as e:
        load_scenarios(p)
    assert f"{p}:5:" in str(e.value) and "defined only at width 0.3" in str(e.value)
    assert "remove model.width" in (e.value.fix or "")


def test_an_entrys_scheme_replaces_commons_whole(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("""\
common:
  model: {arch: mbv2, width: 0.35, input: [64, 64, 3]}
  dataset: {name: fashion_mnist, classes: [0, 1], train: 2, test: 2}
  training: {epochs: 1, sparse_update: {paper: 49kb}}
scenarios:
  - name: named
  - name: written
    training:
      sparse_update: {n_bias_update: 2, manual_weight_idx: [50], weight_update_ratio: [0.5]}
""")
    named, written = load_scenarios(p)
    assert named.training.sparse_update == {"paper": "49kb"}
    assert written.training.sparse_update == {"n_bias_update": 2, "manual_weight_idx": [50],
                                              "weight_update_ratio": [0.5]}
    assert written.training.epochs == 1  # the rest of training: still merged key by key
