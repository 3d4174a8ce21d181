"""Benchmark: making the suite's model file on purpose (`mcutrain pretrain`): the small net on
Fashion-MNIST classes 0-4, all 30k training images, host float training, BN folding and exact
calibration. Prints a table beside the committed file.

    python benchmarks/bench_pretrain.py              # writes into a temporary folder
    python benchmarks/bench_pretrain.py --epochs 1   # a quicker, worse model
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import tempfile
import time
from pathlib import Path

from harness.model import stats
from harness.model.modelfile import load_model_file
from harness.model.pretrain import Recipe, int8_accuracy, make_model_file

REPO = Path(__file__).resolve().parent.parent
COMMITTED = REPO / "scenarios" / "models" / "small16-fashion-0to4.npz"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, help="override the committed recipe's epochs")
    ap.add_argument("-v", action="store_true", help="log each epoch")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.v else logging.WARNING, format="%(message)s")

    old = load_model_file(COMMITTED)
    recipe = Recipe.from_dict(old.recipe)
    if args.epochs:
        recipe = dataclasses.replace(recipe, epochs=args.epochs)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        new = make_model_file(recipe, Path(tmp) / "model.npz")
        wall = time.perf_counter() - t0
    ds = recipe.load_data()
    old_int8 = int8_accuracy(old, ds)
    st = stats.model_stats(new.graph)
    rows = [("model", new.graph.name),
            ("params / MACs", f"{st.total_params:,} / {st.total_macs:,}"),
            ("data", f"{recipe.dataset} classes {list(ds.spec.classes)}: {len(ds.train_y)} train / "
                     f"{len(ds.test_y)} test"),
            ("epochs / seed", f"{recipe.epochs} / {recipe.seed}"),
            ("cores", str(os.cpu_count())),
            ("training time (s)", f"{new.metrics['train_seconds']:.1f}"),
            ("wall time, whole file (s)", f"{wall:.1f}"),
            ("float test acc (new / committed)",
             f"{new.metrics['float_test_accuracy']:.4f} / {old.metrics.get('float_test_accuracy', float('nan')):.4f}"),
            ("int8 test acc (new / committed)", f"{new.metrics['int8_test_accuracy']:.4f} / {old_int8:.4f}"),
            ("sha256 (new / committed)", f"{new.sha256[:16]} / {old.sha256[:16]}")]
    width = max(len(k) for k, _ in rows)
    print(f"{'metric':<{width}} | value")
    print(f"{'-' * width}-|-{'-' * 40}")
    for k, v in rows:
        print(f"{k:<{width}} | {v}")


if __name__ == "__main__":
    main()
