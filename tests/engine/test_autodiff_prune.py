"""Autodiff emits the full backward; pruning keeps exactly what a sparse scheme needs."""
from harness.engine.autodiff import autodiff
from harness.engine.memplan import plan_memory
from harness.engine.prune import prune
from harness.sparse.scheme import SparseScheme
from harness.engine.schedule import lifetimes

from .tiny import tiny_qmodel


def scheme(q, **keys):
    return SparseScheme(**keys).resolve(q.graph)


def kinds(program, layer=None):
    return [s.kind for s in program.steps if layer is None or s.layer == layer]


def test_full_backward_reaches_the_first_conv():
    q = tiny_qmodel()
    p = autodiff(q)
    assert kinds(p, 0)[-3:] == ["mask", "bias_update", "weight_update"]  # no grad of the input
    # the residual's two gradient contributions meet in one accumulation
    assert kinds(p).count("grad_accum") == 1
    # the skip's gradient (shared by the add) is not masked in place by c3
    mask3 = next(s for s in p.steps if s.kind == "mask" and s.layer == 3)
    assert mask3.reads[0] != mask3.writes[0]


def test_classifier_only_prunes_all_conv_backward():
    q = tiny_qmodel()
    p = prune(autodiff(q), q, SparseScheme.last_layer().resolve(q.graph))
    assert kinds(p) == ["conv", "conv", "conv", "conv", "add", "conv", "avgpool", "fc", "loss",
                        "fc_backward"]
    assert not [b for b in p.buffers if b.role in ("mask", "slice")]
    fc = p.steps[-1]
    assert fc.writes == ()  # no input gradient needed


def test_bias_only_last_conv_and_partial_weight():
    q = tiny_qmodel()
    p = prune(autodiff(q), q, scheme(q, n_bias_update=1, manual_weight_idx=(4,), weight_update_ratio=(0.5,)))
    assert [s.kind for s in p.steps if s.layer == 5] == ["save_slice", "conv", "mask", "bias_update",
                                                         "weight_update"]
    sl = p.buffer("slice5")
    assert sl.shape == (4, 4, 4) and sl.nbytes == 64  # first 4 of 8 channels of a 4x4 map
    assert p.buffer("mask5").nbytes == (4 * 4 * 12 + 7) // 8
    # backprop stops at layer 5: nothing earlier has a backward step
    assert all(s.layer >= 5 for s in p.steps if s.kind in ("mask", "grad_input", "grad_accum"))


def test_full_width_slice_is_the_input_itself():
    q = tiny_qmodel()
    p = prune(autodiff(q), q, scheme(q, n_bias_update=4, manual_weight_idx=(1,), weight_update_ratio=(1.0,)))
    wu = next(s for s in p.steps if s.kind == "weight_update")
    assert wu.reads == (wu.reads[0], "t0") and "slice1" not in {b.name for b in p.buffers}


def test_inplace_updates_need_less_memory_than_deferred():
    q = tiny_qmodel()
    p = prune(autodiff(q), q, scheme(q, n_bias_update=4, manual_weight_idx=(1, 2, 3, 4), weight_update_ratio=(1.0, 1.0, 1.0, 1.0)))
    inplace = plan_memory(lifetimes(p)).arena_size
    deferred = plan_memory(lifetimes(p, q, deferred_updates=True)).arena_size
    assert deferred > inplace
