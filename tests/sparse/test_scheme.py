"""Sparse-update schemes: the paper's keys, their resolution on a graph, errors, memory."""
from __future__ import annotations

import pytest

from harness.errors import ScenarioError
from harness.model.graph import Add, Conv, GlobalAvgPool, Graph, Linear
from harness.sparse.scheme import SparseScheme, estimate_memory, requires_grad, round_half_away


def graph() -> Graph:
    # convs: 0 c0 (3x3 s2, 1->8), 1 c1 (pw 8->12), 2 c2 (dw 12), 3 c3 (pw 12->8), 4 c5 (pw 8->10)
    return Graph("g", (8, 8, 1), (
        Conv("c0", "input", "t0", 1, 8, 3, stride=2, padding=1, relu6=True),   # 4x4x8
        Conv("c1", "t0", "t1", 8, 12, 1, relu6=True),                          # 4x4x12
        Conv("c2", "t1", "t2", 12, 12, 3, padding=1, groups=12, relu6=True),   # 4x4x12
        Conv("c3", "t2", "t3", 12, 8, 1),                                      # 4x4x8
        Add("a4", ("t3", "t0"), "t4"),
        Conv("c5", "t4", "t5", 8, 10, 1, relu6=True),                          # 4x4x10
        GlobalAvgPool("p6", "t5", "t6"),
        Linear("fc", "t6", "logits", 10, 3),
    ))


def table(scheme: SparseScheme) -> list[tuple[bool, int]]:
    return [(u.update_bias, u.weight_channels) for u in scheme.resolve(graph()).layers]


def test_shorthands():
    assert table(SparseScheme.last_layer()) == [(False, 0)] * 5
    assert table(SparseScheme.bias_only()) == [(True, 0)] * 5
    assert table(SparseScheme.full()) == [(True, 1), (True, 8), (True, 12), (True, 12), (True, 8)]
    assert SparseScheme.last_layer().resolve(graph()).earliest is None
    assert SparseScheme.bias_only().resolve(graph()).earliest == 0


def test_paper_keys_and_first_k_channels():
    s = SparseScheme(n_bias_update=3, manual_weight_idx=(2, 3, 4), weight_update_ratio=(0.5, 0.125, 0))
    # c2 depthwise: 0.5 * 12 = 6 channels; c3: 0.125 * 12 = 1.5 -> 2 (half away from zero);
    # c5: ratio 0 = bias only.
    assert table(s) == [(False, 0), (False, 0), (True, 6), (True, 2), (True, 0)]
    r = s.resolve(graph())
    assert r.earliest == 2 and r.earliest_name == "c2"
    assert r.describe() == "2:w 6/12, 3:w 2/12, 4:bias, classifier"
    assert round_half_away(2.5) == 3 and round_half_away(0.49) == 0


def test_from_config_forms():
    a = SparseScheme.from_config({"n_bias_update": 3, "manual_weight_idx": "2-3",
                                  "weight_update_ratio": "1-0.25"})
    assert a == SparseScheme(3, (2, 3), (1.0, 0.25))
    b = SparseScheme.from_config({"n_bias_update": "all", "manual_weight_idx": [3, 4],
                                  "weight_update_ratio": 0.5})  # one number for every layer
    assert table(b) == [(True, 0), (True, 0), (True, 0), (True, 6), (True, 4)]
    c = SparseScheme.from_config({"n_bias_update": 2, "n_weight_update": 2})  # last 2, ratio 1
    assert table(c) == [(False, 0)] * 3 + [(True, 12), (True, 8)]
    assert SparseScheme.from_config("full") == SparseScheme.full()


@pytest.mark.parametrize("config,key,fix", [
    ({"n_bias_update": 9}, "n_bias_update = 9", "0..5"),
    ({"n_bias_update": 5, "manual_weight_idx": [7], "weight_update_ratio": [1]}, "manual_weight_idx 7", "0..4"),
    ({"n_bias_update": 5, "manual_weight_idx": [3], "weight_update_ratio": [1.5]}, "weight_update_ratio 1.5", "0 = bias only"),
    ({"n_bias_update": 5, "manual_weight_idx": [3, 4], "weight_update_ratio": [1, 1, 1]}, "3 entries", "one ratio per"),
    ({"n_bias_update": 2, "manual_weight_idx": [1], "weight_update_ratio": [1]}, "outside the bias-updated range", "at least 4"),
    ({"n_bias_update": -1}, "n_bias_update", "whole number"),
    ({"n_bias": 3}, "unknown sparse-update key", "n_bias_update"),
    ({"manual_weight_idx": [3, 3], "weight_update_ratio": [1, 1], "n_bias_update": 5}, "twice", "once"),
    ("everything", "unknown sparse-update scheme", "last_layer"),
])
def test_errors_name_the_key_and_the_fix(config, key, fix):
    with pytest.raises(ScenarioError) as e:
        SparseScheme.from_config(config).resolve(graph())
    assert key in e.value.message and fix in (e.value.fix or "")


def test_requires_grad_stops_at_the_earliest_updated_layer():
    s = SparseScheme(n_bias_update=2).resolve(graph())  # c3 and c5
    need = requires_grad(graph(), s)
    assert need == {"t3", "t4", "t5", "t6", "logits"}  # not t0: the skip's source is frozen


def test_memory_estimate_by_hand():
    g = graph()
    s = SparseScheme(n_bias_update=3, manual_weight_idx=(2, 3), weight_update_ratio=(0.5, 0.25)).resolve(g)
    m = estimate_memory(g, s)
    # weights: c2 dw 6 ch * 3*3 = 54; c3 8 out * 1*1 * 3 in = 24                      -> 78
    # biases:  4 * (12 + 8 + 10) = 120
    # classifier float: 4 * (3*10 + 3) = 132
    # activations: c2 input 4*4*6 = 96; c3 input 4*4*3 = 48; fc input 10             -> 154
    # masks: c2 4*4*12 = 192 bits = 24 B; c3 128 bits = 16 B; c5 160 bits = 20 B     -> 60
    assert (m.weight_bytes, m.bias_bytes, m.classifier_bytes, m.activation_bytes, m.mask_bytes) == \
        (78, 120, 132, 154, 60)
    assert m.trainable_bytes == 330 and m.saved_bytes == 214 and m.total_bytes == 544
    last = estimate_memory(g, SparseScheme.last_layer().resolve(g), classifier="int8")
    assert (last.weight_bytes, last.bias_bytes, last.classifier_bytes, last.mask_bytes) == (0, 0, 42, 1)


def test_memory_grows_from_last_layer_to_bias_only_to_full():
    g = graph()
    totals = [estimate_memory(g, s.resolve(g)).total_bytes
              for s in (SparseScheme.last_layer(), SparseScheme.bias_only(), SparseScheme.full())]
    assert totals == sorted(totals) and len(set(totals)) == 3
