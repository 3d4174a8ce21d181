"""Making a model file on purpose (``mcutrain pretrain``): host float pretraining ("the
cloud"), BatchNorm folding, exact calibration, written with its hash.

This is the only place a run of mcutrain trains in float on the host, and it runs only when
a person asks. Its float32 arithmetic goes through BLAS, so the same recipe gives close but
not identical weights on different machines: that is why the result is a committed file,
and why everything that reads the file is exact.
"""
from __future__ import annotations

import dataclasses
import datetime
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..data.dataset import Dataset, load_dataset
from . import qmath, qops, zoo
from .calibrate import calibrate_exact
from .fold import fold_bn
from .graph import Graph
from .layers import build_graph, parse_layers
from .modelfile import ModelFile, save_model_file
from .qmodel import QModel
from .quantize import quantize_with
from .train import TrainConfig, train


@dataclass(frozen=True)
class Recipe:
    """How a model file is made: the network (a zoo model, or ``layers``: a layer list in the
    YAML syntax of harness/model/layers.py, with ``arch`` "layers") and the pretraining task."""

    arch: str = "small"
    width: float = 16
    input: tuple[int, int, int] = (28, 28, 1)
    dataset: str = "fashion_mnist"
    classes: tuple[int, ...] | None = None
    train: int | None = None  # training samples, class-balanced (None: all)
    test: int | None = None  # test samples (None: all)
    epochs: int = 5
    seed: int = 0
    calibration: int = 512  # training samples the activation ranges are measured on
    layers: tuple[Any, ...] | None = None  # model.layers as plain data (arch "layers")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["input"] = list(self.input)
        d["classes"] = list(self.classes) if self.classes is not None else None
        if self.layers is None:
            del d["layers"]  # files of zoo models keep their recipe byte for byte
        else:
            d["layers"] = list(self.layers)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Recipe":
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k != "train_config"}  # provenance, fixed by the code
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown recipe keys {sorted(unknown)}")
        args = dict(d)
        if "input" in args:
            args["input"] = tuple(int(v) for v in args["input"])
        if args.get("classes") is not None:
            args["classes"] = tuple(int(v) for v in args["classes"])
        if args.get("layers") is not None:
            args["layers"] = tuple(args["layers"])
        return cls(**args)

    def graph(self, num_classes: int) -> Graph:
        h, w, c = self.input
        if self.layers is not None:
            return build_graph(parse_layers(list(self.layers)), (h, w, c), num_classes)
        if self.arch in ("small", "small_cnn"):
            return zoo.small_cnn((h, w, c), num_classes, int(self.width))
        return zoo.build(self.arch, width=self.width, input_size=h, num_classes=num_classes, in_channels=c)

    def load_data(self) -> Dataset:
        return load_dataset(self.dataset, classes=self.classes, train=self.train, test=self.test,
                            seed=self.seed, input_shape=self.input)


def int8_accuracy(model: ModelFile | QModel, ds: Dataset) -> float:
    """Test accuracy on ``ds`` of an int8 model (a file's: with its float classifier): exact."""
    qm = model.quantize("float") if isinstance(model, ModelFile) else model
    return qops.accuracy(qm, qmath.quantize_tensor(ds.test_x, qm.input), ds.test_y)


def make_model_file(recipe: Recipe, out: Path, progress: Callable[[str], None] = lambda _: None
                    ) -> ModelFile:
    """Pretrain ``recipe`` on the host, fold, calibrate exactly and write ``out`` (+ .sha256)."""
    from .modelfile import load_model_file

    ds = recipe.load_data()
    graph = recipe.graph(ds.num_classes)
    config = TrainConfig(epochs=recipe.epochs, seed=recipe.seed)
    progress(f"pretraining {graph.name} on {ds.spec.name} classes {list(ds.spec.classes)} "
             f"({len(ds.train_y)} samples, {recipe.epochs} epochs) on the host")
    result = train(graph, ds.train_x, ds.train_y, config, x_test=ds.test_x, y_test=ds.test_y)
    fgraph, fparams = fold_bn(graph, result.params)
    rng = np.random.default_rng(recipe.seed)
    calib = ds.train_x[rng.permutation(len(ds.train_x))[:recipe.calibration]]
    input_qp = qmath.qparams_from_range(0.0, 1.0)
    qp = calibrate_exact(fgraph, fparams, qmath.quantize_tensor(calib, input_qp), input_qp)
    int8_acc = int8_accuracy(quantize_with(fgraph, fparams, qp, "float"), ds)
    metrics = {"float_test_accuracy": round(float(result.test_acc or 0.0), 6),
               "int8_test_accuracy": round(float(int8_acc), 6),
               "test_samples": int(len(ds.test_y)), "epoch_loss": [round(v, 6) for v in result.epoch_loss],
               "train_seconds": round(result.seconds, 1)}
    made = {"by": "mcutrain pretrain", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "numpy": np.__version__, "machine": platform.machine(), "blas": _blas()}
    save_model_file(out, fgraph, fparams, qp, {**recipe.to_dict(), "train_config": dataclasses.asdict(config)},
                    metrics, made)
    return load_model_file(out)


def _blas() -> str:
    try:
        from threadpoolctl import threadpool_info

        info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        return ", ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}" for i in info)
    except Exception:  # provenance only: never fail a file for it
        return "unknown"
