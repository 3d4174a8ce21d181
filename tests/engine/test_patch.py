"""The streamed frozen prefix (engine/patch.py) and in-place depthwise gradients (engine/inplace.py).

Two kinds of evidence: the strip plans are checked row by row against the conv arithmetic
(every needed input row is in its window when read, every output row is computed, once in
slide mode); and the generated C, built natively for the host, prints exactly the same
records (losses, predictions, parameter checksums) layer by layer and streamed in both
modes, equal to the numpy reference's checksum. The emulated device runs the same C in the
scenarios (their parity item).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from harness import reference as ref
from harness.engine import patch
from harness.engine.autodiff import autodiff, forward_program
from harness.engine.compiler import compile_training, emit_dataset
from harness.engine.emit_c import TrainOptions
from harness.engine.inplace import inplace_dw_grads
from harness.engine.program import Program
from harness.engine.prune import prune
from harness.model import zoo
from harness.model.qmodel import QAdd, QConv, QModel
from harness.model.quantize import quantize_model
from harness.model.random_init import random_params
from harness.sparse.scheme import SparseScheme

from .test_emit import run_host

MBV2_49KB = dict(n_bias_update=16, manual_weight_idx=(36, 39, 40, 41, 42, 45, 48, 49),
                 weight_update_ratio=(1, 1, 0, 0.25, 0.125, 0.125, 0.125, 0.125))


@lru_cache(maxsize=None)
def model(arch: str, size: int) -> QModel:
    if arch == "small":
        g = zoo.small_cnn((size, size, 1), num_classes=4)
    else:
        g = zoo.build(arch, input_size=size, num_classes=4)
    calib = np.random.default_rng(0).random((2, *g.input_shape)).astype(np.float32)
    return quantize_model(g, random_params(g, 0), calib)


def programs(q: QModel, scheme: SparseScheme) -> tuple[Program, Program]:
    train = inplace_dw_grads(prune(autodiff(q), q, scheme.resolve(q.graph)), q)
    bufs, steps = forward_program(q, training=False)
    return train, Program(tuple(bufs), tuple(steps))


CASES = [("small", 28, SparseScheme(shorthand="last_layer")),
         ("small", 32, SparseScheme(n_bias_update=2)),
         ("mbv2", 64, SparseScheme(**MBV2_49KB)),
         ("mbv2", 96, SparseScheme(**MBV2_49KB))]


def _check_rows(q: QModel, plan: patch.PatchPlan) -> None:
    shapes = q.graph.shapes()
    pos = {q.layers[li].op.output: i for i, li in enumerate(plan.layers)}
    done: dict[str, list[int]] = {t: [] for t in pos}
    for si, strip in enumerate(plan.strips):
        for i, li in enumerate(plan.layers):
            layer = q.layers[li]
            t = layer.op.output
            a, b = plan.computed(si, i)
            lo, hi = strip[i]
            assert lo <= a and b <= hi, (t, si)
            if t != plan.end:  # the window fits its tile
                assert (hi - lo) * shapes[t][1] * shapes[t][2] <= plan.tiles_size
            if a >= b:
                continue
            done[t].extend(range(a, b))
            if isinstance(layer, QConv):
                op = layer.op
                inputs = {op.input: (max(0, a * op.stride - op.padding),
                                     min(shapes[op.input][0], (b - 1) * op.stride - op.padding + op.kernel))}
            else:
                assert isinstance(layer, QAdd)
                inputs = {x: (a, b) for x in layer.op.inputs}
            for x, (need_lo, need_hi) in inputs.items():
                if x == q.graph.input:
                    continue
                w_lo, w_hi = strip[pos[x]]  # the input's window in this strip, already computed
                assert w_lo <= need_lo and need_hi <= w_hi, (t, x, si)
    for t, rows in done.items():
        assert set(rows) == set(range(shapes[t][0])), t  # every row of every tensor
        if plan.mode == "slide":
            assert len(rows) == shapes[t][0], t  # ... and each only once
    if plan.mode == "slide":
        assert plan.macs_streamed == plan.macs_layerwise
    else:
        assert plan.moved_bytes == 0 and plan.macs_streamed >= plan.macs_layerwise


@pytest.mark.parametrize("arch,size,scheme", CASES, ids=[f"{a}{s}-{i}" for i, (a, s, _) in enumerate(CASES)])
def test_every_plan_reads_only_rows_it_has(arch, size, scheme):
    q = model(arch, size)
    train, infer = programs(q, scheme)
    ends = patch.candidate_ends(train, q)
    assert ends, "a frozen prefix of at least two layers exists"
    n = 0
    for j in ends:
        for rows in patch.heights(train, q, j):
            for mode in patch.MODES:
                _check_rows(q, patch.plan_strips(train, q, j, rows, mode))
                n += 1
    assert n > len(ends)


def test_chosen_prefix_beats_layer_by_layer_on_mbv2():
    q = model("mbv2", 128)
    c = compile_training(q, SparseScheme(**MBV2_49KB).resolve(q.graph), TrainOptions(lr=0.01))
    layerwise = next(o for o in c.prefix_options if o.choice.end is None)
    assert c.prefix.end is not None and c.prefix_plan is not None
    # The block-1 expansion (64x64x48 = 196,608 B) no longer sets the arena.
    assert layerwise.arena >= 196_608 > 2 * c.arena_size
    cheap = [o for o in c.prefix_options if o.recomputed <= patch.MAX_RECOMPUTE]
    assert c.arena_size == min(o.arena for o in cheap) <= 72 * 1024
    assert c.prefix_plan.mode == "slide" and c.prefix_plan.extra_macs == 0
    assert c.arenas.streamed_in_place == c.train_plan.arena_size
    assert c.arenas.layerwise_in_place == layerwise.arena or c.infer_plan.arena_size <= c.arena_size
    assert c.arenas.layerwise_deferred >= c.arenas.layerwise_in_place
    assert c.arenas.streamed_deferred >= c.arenas.streamed_in_place
    assert "streamed" in "\n".join(c.plan_lines())


def test_inplace_pass_rewrites_only_stride1_depthwise():
    q = model("mbv2", 64)
    train = prune(autodiff(q), q, SparseScheme(**MBV2_49KB).resolve(q.graph))
    after = inplace_dw_grads(train, q)
    rewritten = [s for s in after.steps if s.kind == "grad_input_inplace"]
    assert rewritten
    for s in rewritten:
        op = q.layers[s.layer].op
        assert op.kind == "depthwise" and op.stride == 1
        g = s.writes[0]
        assert g == s.reads[0]
        i = after.steps.index(s)
        assert not any(g in t.reads for t in after.steps[:i] if t.kind == "grad_input" and t.layer == s.layer)
    kept = [s for s in after.steps if s.kind == "grad_input" and q.layers[s.layer].op.kind == "depthwise"]
    assert all(q.layers[s.layer].op.stride == 2 for s in kept)


def test_fixed_prefix_errors_name_the_valid_ends():
    q = model("mbv2", 64)
    train, infer = programs(q, SparseScheme(**MBV2_49KB))
    with pytest.raises(patch.PrefixError, match="valid ends: .*b1_pw2"):
        patch.apply(train, infer, q, patch.PrefixChoice("b16_pw2", 1, "slide"))
    with pytest.raises(patch.PrefixError, match="rows must be 1..16"):
        patch.apply(train, infer, q, patch.PrefixChoice("b2_add", 17, "slide"))
    with pytest.raises(patch.PrefixError, match="mode must be one of recompute, slide"):
        patch.apply(train, infer, q, patch.PrefixChoice("b2_add", 2, "tiles"))


@pytest.mark.parametrize("arch,size,scheme", [CASES[1], CASES[2]], ids=["small32", "mbv2-64"])
def test_streamed_c_prints_the_same_records_as_layer_by_layer(arch, size, scheme):
    q = model(arch, size)
    resolved = scheme.resolve(q.graph)
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (6, size, size, q.graph.input_shape[2])).astype(np.int8)
    y = rng.integers(0, 4, 6)
    data = emit_dataset(x[:4], y[:4], x[4:], y[4:], epochs=1)
    train, infer = programs(q, scheme)
    end = q.layers[train.steps[patch.candidate_ends(train, q)[-1]].layer].op.output
    records = {}
    for choice in (patch.PrefixChoice(None), patch.PrefixChoice(end, 3, "recompute"),
                   patch.PrefixChoice(end, 2, "slide")):
        c = compile_training(q, resolved, TrainOptions(lr=0.01), choice)
        assert (c.prefix_plan is None) == (choice.end is None)
        recs = run_host({**c.files(), **data}, f"stream-{arch}{size}-{choice.mode or 'none'}")
        assert recs[0]["t"] == "boot" and recs[0].pop("arena") == c.arena_size  # the one intended change
        records[choice] = recs
    first, *rest = records.values()
    assert first and all(r == first for r in rest)
    r = ref.train(q, resolved, x[:4], y[:4], ref.TrainConfig(epochs=1, lr=0.01), x[4:], y[4:])
    params = [rec for rec in first if rec["t"] == "params"]
    assert params[-1]["checksum"] == r.checksum


def test_choose_keeps_layer_by_layer_when_streaming_would_recompute_much():
    """A small net whose only smaller arena recomputes its prefix twice stays layer by layer."""
    O, C = patch.Option, patch.PrefixChoice
    opts = [O(C(None), 9408, 0), O(C("res_add", 1, "recompute"), 7840, 2_183_936, 1.08),
            O(C("ds1_dw", 14, "slide"), 9408, 0, 0.0), O(C("ds1_dw", 7, "slide"), 9408, 112, 0.0)]
    assert patch.choose(opts).choice == C(None)
    # within the slack, fewer extra instructions win; beyond it, the smaller arena does
    opts = [O(C(None), 20_000, 0), O(C("a", 2, "slide"), 19_500, 5000, 0.0), O(C("b", 2, "slide"), 12_000, 9000, 0.0)]
    assert patch.choose(opts).choice == C("b", 2, "slide")
    opts[2] = O(C("b", 2, "slide"), 19_200, 9000, 0.0)
    assert patch.choose(opts).choice == C(None)
