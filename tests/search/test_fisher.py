"""Fisher information (TinyTrain's criterion) against the same sums computed independently: one
fresh training state per sample and per conv, each conv alone trainable, squares summed in a
Python loop; and the score of a scheme as the sum over exactly what it updates."""
from __future__ import annotations

import numpy as np

from harness.model import zoo
from harness.model.quantize import quantize_model
from harness.model.random_init import random_params
from harness.model.qmodel import QModel
from harness.reference import TrainConfig, init_state, train_step
from harness.search.fisher import Fisher, fisher_of
from harness.search.space import RATIOS, Genome, Space
from harness.sparse.scheme import SparseScheme
from harness.data.pack import pack_images


def _tiny() -> tuple[QModel, np.ndarray, np.ndarray]:
    graph = zoo.small_cnn((8, 8, 1), 3, 4)
    rng = np.random.default_rng(0)
    x = rng.random((6, 8, 8, 1), dtype=np.float32)
    q = quantize_model(graph, random_params(graph, 1), x)
    return q, pack_images(x, q.input), np.array([0, 1, 2, 1, 0, 2])


def _independent(q: QModel, x, y, conv: int) -> tuple[float, list[float]]:
    """Bias Fisher and per-input-channel weight Fisher of one conv, with that conv alone trainable."""
    n = len(q.graph.convs())
    op = q.graph.convs()[conv]
    keys = {"n_bias_update": n - conv, "manual_weight_idx": [conv], "weight_update_ratio": [1.0]}
    cfg = TrainConfig(lr=0.0, classifier_lr=0.0)
    fb = 0.0
    width = op.out_ch if op.kind == "depthwise" else op.in_ch
    fw = [0.0] * width
    for xi, yi in zip(x, y):
        state = init_state(q, cfg, SparseScheme.from_config(keys))
        rec: dict = {}
        train_step(state, xi, int(yi), record=rec)
        g_b, g_w = rec[op.name]
        fb += sum(float(v) ** 2 for v in g_b)
        for idx in np.ndindex(g_w.shape):
            ch = idx[0] if op.kind == "depthwise" else idx[3]
            fw[ch] += float(g_w[idx]) ** 2
    return fb, fw


def test_fisher_equals_the_independent_sums():
    q, x, y = _tiny()
    n = len(q.graph.convs())
    cands = tuple(range(n))
    bias, weight = fisher_of(q, TrainConfig(), x, y, cands)
    assert any(v > 0 for v in bias)
    for conv in cands:
        fb, fw = _independent(q, x, y, conv)
        np.testing.assert_allclose(bias[conv], fb, rtol=1e-9, atol=1e-30)
        np.testing.assert_allclose(weight[conv], fw, rtol=1e-9, atol=1e-30)


def test_fisher_score_sums_what_the_scheme_updates():
    f = Fisher(bias=(1.0, 2.0, 4.0, 8.0), weight={2: np.array([1.0, 10.0, 100.0, 1000.0, 0, 0, 0, 0]),
                                                  3: np.arange(8, dtype=float)}, samples=1, seconds=0.0)
    space = Space(4, (0, 1, 2, 4), (2, 3))
    assert f.score(space, Genome(0, (0, 0))) == 0.0
    assert f.score(space, Genome(2, (0, 0))) == 12.0  # last two biases
    # conv 2 at 1/4 of 8 channels: the first 2 channels; conv 3 at 1/2: channels 0..3
    g = Genome(2, (RATIOS.index(0.25), RATIOS.index(0.5)))
    assert f.score(space, g) == 12.0 + 11.0 + 6.0
