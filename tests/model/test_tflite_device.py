"""The TFLite Micro oracle on the C the training compiler emits: an imported model's logits,
computed by the generated forward pass (``tt_predict``), built natively for the host and run
on the emulated STM32F746, equal TFLite Micro's int8 logits bit for bit.

The numpy reference is held to TFLM tensor by tensor in test_tflite_import.py; this closes the
chain on the real C kernels (regular and general windows, pools, adds with ReLU, hidden dense
layers, the int8 classifier) and on the board. The app (harness/firmware_src/app/infer) prints the
float32 bits of every logit: an int8 classifier's logits dequantized as ``s * (float)(q - z)``,
which is what the test computes from TFLM's int8 output.
"""
from __future__ import annotations

import json
import subprocess
from functools import lru_cache

import numpy as np
import pytest

from harness.boards import load_board
from harness.emulators import get_emulator
from harness.engine.compiler import compile_training, emit_dataset
from harness.engine.emit_c import TrainOptions
from harness.model.qmodel import QLinear
from harness.model.tflite_import import load_tflite
from harness.model.tflm import int8_input_model, logits_model, tflm_invoke
from harness.pipeline import FIRMWARE_SRC
from harness.sparse.scheme import SparseScheme
from harness.toolchain import build_firmware, build_host_program

from .test_tflite_import import _inputs, _tflite

N = 4  # samples per model
APP = FIRMWARE_SRC / "app" / "infer"
# Eight real models that together cover every kind of layer the importer makes, host-native
# and on the board.
HOST = ("tinyml/image_classification", "tinyml/visual_wake_words", "tinyml/keyword_spotting",
        "tflite_micro/tflite_micro_speech", "tflite_micro/tflite_micro_magic_wand",
        "examples/image_example1", "siliconlabs/rock_paper_scissors", "examples/audio_example1")
DEVICE = HOST


@lru_cache(maxsize=None)
def _case(ref: str):
    """The generated C of ``ref`` (its own int8 classifier kept), N inputs, TFLM's logits."""
    buf = _tflite(ref)
    qmodel = load_tflite(buf, ref.split("/")[1])
    assert isinstance(qmodel.layers[-1], QLinear)
    compiled = compile_training(qmodel, SparseScheme.last_layer().resolve(qmodel.graph),
                                TrainOptions(lr=0.001))
    x = _inputs(ref, qmodel)[:N]
    files = {**compiled.files(), **emit_dataset(x[:0], np.zeros(0, np.int64), x, np.zeros(N, np.int64), epochs=0)}
    q = tflm_invoke(logits_model(int8_input_model(buf)), x).reshape(N, -1)
    head = qmodel.layers[-1]
    want = np.float32(head.y.scale) * (q.astype(np.int32) - head.y.zero_point).astype(np.float32)
    return files, want.view(np.uint32)


def _bits(records: list[dict], n_classes: int) -> np.ndarray:
    got = np.zeros((N, n_classes), np.uint32)
    seen = 0
    for r in records:
        if r.get("t") == "logit":
            got[r["i"], r["j"]] = r["bits"]
            seen += 1
    assert seen == N * n_classes, f"{seen} logit records, expected {N * n_classes}"
    return got


@pytest.mark.parametrize("ref", HOST)
def test_host_native_logits_equal_tflm(ref):
    files, want = _case(ref)
    exe = build_host_program([APP / "main.c", *sorted((FIRMWARE_SRC / "runtime" / "kernels").glob("*.c"))],
                             files, name=f"infer-{ref.replace('/', '-')}")
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    recs = [json.loads(line[4:]) for line in out.splitlines() if line.startswith("@tt ")]
    np.testing.assert_array_equal(_bits(recs, want.shape[1]), want)
    assert len({row.tobytes() for row in want}) > 1  # the inputs give different logits


@pytest.mark.parametrize("ref", DEVICE)
def test_emulated_device_logits_equal_tflm(ref):
    files, want = _case(ref)
    board = load_board("stm32f746")
    fw = build_firmware(board, [APP / "main.c"], generated=files, include_dirs=[APP],
                        stack_size=8192, name=f"infer-{ref.split('/')[1]}")
    run = get_emulator("qemu").run(fw.elf, board, timeout_s=300.0)
    assert run.status == "ok", run.reason()
    np.testing.assert_array_equal(_bits(run.records, want.shape[1]), want)
