"""Benchmark: the default host pretraining (small net, Fashion-MNIST classes 0-4, all 30k
training images) and its post-training int8 quantization. Prints a table.

    python benchmarks/bench_pretrain.py            # uses the cache when warm
    python benchmarks/bench_pretrain.py --fresh    # retrains in a temporary cache (timing)
"""
from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

from harness.data import pack_images
from harness.model import cache, qops, quantize, stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fresh", action="store_true", help="retrain, ignoring the cache")
    ap.add_argument("--calib", type=int, default=512, help="calibration samples")
    ap.add_argument("-v", action="store_true", help="log each epoch")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO if args.v else logging.WARNING, format="%(message)s")

    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = Path(tmp) if args.fresh else None
        t0 = time.perf_counter()
        pt = cache.pretrain_small(cache_dir=cache_dir)
        wall = time.perf_counter() - t0
    ds, res = pt.dataset, pt.result
    rows = [("model", pt.graph.name),
            ("params / MACs", f"{stats.model_stats(pt.graph).total_params:,} / "
                              f"{stats.model_stats(pt.graph).total_macs:,}"),
            ("data", f"fashion_mnist classes {list(ds.spec.classes)}: "
                     f"{len(ds.train_y)} train / {len(ds.test_y)} test"),
            ("config", f"{res.config.optimizer} lr {res.config.lr} bs {res.config.batch_size} "
                       f"x {res.config.epochs} epochs"),
            ("cores", str(os.cpu_count())),
            ("training time (s)", f"{res.seconds:.1f}" + (" (cached run)" if pt.cache_hit else "")),
            ("wall time this run (s)", f"{wall:.1f}"),
            ("float test acc", f"{res.test_acc:.4f}")]
    for clf in ("float", "int8"):
        t = time.perf_counter()
        q = quantize.quantize_model(pt.graph, res.params, ds.train_x[:args.calib], classifier=clf)
        acc = qops.accuracy(q, pack_images(ds.test_x, q.input), ds.test_y)
        rows.append((f"int8 test acc ({clf} classifier)",
                     f"{acc:.4f} ({100 * (acc - res.test_acc):+.2f} pp; {time.perf_counter() - t:.1f}s)"))
    width = max(len(k) for k, _ in rows)
    print(f"{'metric':<{width}} | value")
    print(f"{'-' * width}-|-{'-' * 40}")
    for k, v in rows:
        print(f"{k:<{width}} | {v}")


if __name__ == "__main__":
    main()
