"""Shuffle, lr schedule and classifier momentum (harness/sgd, docs/arithmetic.md §10): the
generated C built natively and on QEMU prints the reference's records bit for bit.

The tiny engine model trains a pointwise slice, conv biases and the float classifier, so the
schedule reaches both rates (``tt_upd.lr`` and the classifier's) and momentum the classifier.
"""
from __future__ import annotations

import numpy as np
import pytest

from harness import reference as ref
from harness.boards import load_board
from harness.emulators import get_emulator
from harness.engine.compiler import compile_training, emit_dataset
from harness.engine.emit_c import TrainOptions
from harness.pipeline import FIRMWARE_SRC
from harness.sgd.lr_schedule import LrSchedule
from harness.sgd.shuffle import epoch_orders
from harness.sparse.scheme import SparseScheme
from harness.toolchain import build_firmware

from ..engine.test_emit import run_host
from ..engine.tiny import tiny_qmodel

SCHEME = SparseScheme(n_bias_update=4, manual_weight_idx=(1, 4), weight_update_ratio=(0.5, 1.0))
N_TRAIN, N_TEST, EPOCHS, LR, HEAD_LR = 12, 6, 3, 0.01, 0.05
SEED = 0x1234567

CASES = {  # name: (shuffle seed, schedule, momentum, rounding)
    "shuffle": (SEED, LrSchedule(), 0.0, "nearest"),
    "cosine-warmup": (0, LrSchedule("cosine", warmup=5), 0.0, "stochastic"),
    "step": (0, LrSchedule("step", gamma=0.5, step_epochs=1), 0.0, "nearest"),
    "momentum": (0, LrSchedule(), 0.9, "nearest"),
    "all": (SEED, LrSchedule("cosine", warmup=4), 0.8, "stochastic"),
    # feedback's per-layer update parameters follow the schedule too
    "feedback-cosine": (SEED, LrSchedule("cosine", warmup=4), 0.8, "feedback"),
}


def data():
    q = tiny_qmodel()
    rng = np.random.default_rng(7)
    x = rng.integers(-128, 128, (N_TRAIN + N_TEST, *q.graph.input_shape)).astype(np.int8)
    return q, x, rng.integers(0, 3, N_TRAIN + N_TEST)


def setup(case: str):
    shuffle, schedule, momentum, rounding = CASES[case]
    q, x, y = data()
    scheme = SCHEME.resolve(q.graph)
    factors = () if schedule.constant else tuple(float(f) for f in schedule.factors(EPOCHS, N_TRAIN))
    c = compile_training(q, scheme, TrainOptions(lr=LR, classifier_lr=HEAD_LR, rounding=rounding,
                                                 lr_factors=factors, momentum=momentum))
    files = {**c.files(), **emit_dataset(x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:], EPOCHS,
                                         shuffle_seed=shuffle)}
    cfg = ref.TrainConfig(epochs=EPOCHS, lr=LR, classifier_lr=HEAD_LR, rounding=rounding,
                          shuffle_seed=shuffle, schedule=schedule, momentum=momentum)
    r = ref.train(q, scheme, x[:N_TRAIN], y[:N_TRAIN], cfg, x[N_TRAIN:], y[N_TRAIN:])
    return q, scheme, c, files, r


def check(recs: list[dict], q, scheme, r: ref.TrainResult) -> None:
    by: dict[str, list[dict]] = {}
    for rec in recs:
        by.setdefault(rec["t"], []).append(rec)
    assert by["params"][0]["checksum"] == ref.param_checksum(q, scheme)
    assert by["params"][1]["checksum"] == r.checksum != by["params"][0]["checksum"]
    for rec, want in zip(by["epoch"], r.epoch_loss, strict=True):
        assert abs(rec["loss_u"] - want * 1e6) <= 2
    assert by["eval"][1]["correct"] == round(r.acc_after * N_TEST)


@pytest.mark.parametrize("case", sorted(CASES))
def test_host_build_equals_reference(case):
    q, scheme, _, files, r = setup(case)
    check(run_host(files, f"sgd-{case}"), q, scheme, r)


def test_each_feature_changes_training():
    """Not a no-op: each feature alone trains to other parameters than plain SGD."""
    q, x, y = data()
    scheme = SCHEME.resolve(q.graph)
    sums = set()
    for cfg in (ref.TrainConfig(epochs=EPOCHS, lr=LR, classifier_lr=HEAD_LR),
                *(ref.TrainConfig(epochs=EPOCHS, lr=LR, classifier_lr=HEAD_LR, shuffle_seed=s,
                                  schedule=sch, momentum=m, rounding=rnd) for s, sch, m, rnd in CASES.values())):
        sums.add(ref.train(q, scheme, x[:N_TRAIN], y[:N_TRAIN], cfg).checksum)
    assert len(sums) == 1 + len(CASES)


def test_constant_options_emit_todays_code():
    """A constant rate and no momentum: the const update struct and the plain classifier
    kernel, no table (instruction counts of existing scenarios stay as they were)."""
    q, x, y = data()
    scheme = SCHEME.resolve(q.graph)
    src = compile_training(q, scheme, TrainOptions(lr=LR)).emitted.source
    assert "static const tt_update_params tt_upd" in src
    assert "tt_lr_factors" not in src and "momentum" not in src and "TT_LR_STEPS" not in src
    _, _, c, files, _ = setup("all")
    assert "static tt_update_params tt_upd" in c.emitted.source
    assert f"#define TT_LR_STEPS {EPOCHS * N_TRAIN}" in c.emitted.header
    assert c.emitted.optimizer_bytes == 4 * (3 * 12 + 3)  # the classifier's 3x12 weights + 3 biases
    assert f"#define TT_SHUFFLE_SEED {SEED}u" in files["tt_data.h"]


def test_device_equals_host_and_reference():
    q, scheme, _, files, r = setup("all")
    board = load_board("stm32f746")
    fw = build_firmware(board, [FIRMWARE_SRC / "app" / "train" / "main.c"], files,
                        include_dirs=[FIRMWARE_SRC / "app" / "train"], name="sgd-all")
    run = get_emulator("qemu").run(fw.elf, board, timeout_s=300.0, profile=True)
    assert run.status == "ok", run.reason()
    dev = [dict(x) for x in run.records]
    strip = lambda recs: [x for x in recs if x["t"] in ("params", "epoch", "eval")]  # noqa: E731
    assert strip(dev) == strip(run_host(files, "sgd-all"))
    check(dev, q, scheme, r)
    assert run.profile.get("tt_shuffle_u16", 0) > 0
    assert run.profile.get("tt_fc_f32_backward_update_momentum", 0) > 0
    assert len(run.region_instructions()) == EPOCHS  # one shuffle per epoch, counted


def test_orders_are_permutations_and_differ_per_epoch():
    orders = epoch_orders(300, 3, SEED)
    for o in orders:
        assert sorted(o.tolist()) == list(range(300))
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
