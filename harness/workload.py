"""A training scenario's workload: the int8 model, the packed samples and the compiled program.

``prepare`` turns the scenario's ``model``, ``dataset`` and ``training`` sections into a
``Workload``: it builds the zoo model, pretrains it on the host (cached on disk) or leaves
it at its seeded random initialization, quantizes it, gives it a new zeroed classifier head
when the task's classes differ from the pretraining ones, packs the samples with the model's
input quantization, and runs the training compiler.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from .data.dataset import Dataset, load_dataset
from .data.pack import pack_images, pack_labels
from .engine.compiler import CompiledTraining, compile_training, emit_dataset
from .engine.emit_c import TrainOptions
from .errors import ScenarioError
from .model import zoo
from .model.cache import cached_train
from .model.graph import Graph
from .model.qmodel import QLinearFloat, QModel
from .model.quantize import quantize_model
from .model.train import TrainConfig as PretrainConfig
from .model.train import init_params
from .sparse.scheme import ResolvedScheme, SparseScheme

log = logging.getLogger(__name__)

CALIBRATION_SAMPLES = 512


@dataclass(frozen=True)
class PretrainSpec:
    dataset: str
    classes: tuple[int, ...] | None
    train: int | None
    test: int | None
    epochs: int
    seed: int


@dataclass(frozen=True)
class ModelSpec:
    arch: str
    width: float
    input: tuple[int, int, int]
    pretrain: PretrainSpec | None  # None: seeded random weights (memory and speed only)
    seed: int = 0


@dataclass(frozen=True)
class DataSpec:
    name: str
    classes: tuple[int, ...] | None
    train: int
    test: int
    seed: int
    shift: dict | None = None


@dataclass(frozen=True)
class TrainingSpec:
    epochs: int
    lr: float
    classifier_lr: float | None
    qas: bool
    rounding: str
    seed: int
    sparse_update: object  # a shorthand or the paper's keys; resolved against the graph
    classifier: str = "float"


@dataclass(frozen=True)
class Workload:
    qmodel: QModel
    scheme: ResolvedScheme
    dataset: Dataset
    train_x: np.ndarray  # int8 (N, H, W, C), in the order the device visits them
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    compiled: CompiledTraining
    options: TrainOptions
    epochs: int
    pretrain_accuracy: float | None

    def files(self) -> dict[str, str]:
        return {**self.compiled.files(),
                **emit_dataset(self.train_x, self.train_y, self.test_x, self.test_y, self.epochs)}


def build_graph(spec: ModelSpec, num_classes: int) -> Graph:
    h, w, c = spec.input
    if spec.arch in ("small", "small_cnn"):
        if spec.width != int(spec.width):
            raise ScenarioError(f"model.width {spec.width} must be a whole channel count for 'small'",
                                "use e.g. width: 16")
        return zoo.small_cnn((h, w, c), num_classes, int(spec.width))
    if h != w:
        raise ScenarioError(f"model.input {spec.input}: {spec.arch} takes square inputs",
                            "use an input of [N, N, C]")
    builders = {"mbv2": zoo.mobilenet_v2, "proxyless": zoo.proxyless_like, "mcunet": zoo.mcunet_like}
    if spec.arch not in builders:
        raise ScenarioError(f"unknown model.arch {spec.arch!r}",
                            f"use one of small, {', '.join(builders)}")
    return builders[spec.arch](width=spec.width, input_size=h, num_classes=num_classes, in_channels=c)


def with_new_head(qmodel: QModel, num_classes: int) -> QModel:
    """The same backbone with a zeroed float classifier for ``num_classes`` (a new task)."""
    head = qmodel.layers[-1]
    if not isinstance(head, QLinearFloat):
        raise ScenarioError("a new classifier head needs a float classifier",
                            "set training.classifier: float")
    op = dataclasses.replace(head.op, out_features=num_classes)
    new = dataclasses.replace(head, op=op, w=np.zeros((num_classes, op.in_features), np.float32),
                              b=np.zeros(num_classes, np.float32))
    graph = dataclasses.replace(qmodel.graph, ops=qmodel.graph.ops[:-1] + (op,))
    return dataclasses.replace(qmodel, graph=graph, layers=qmodel.layers[:-1] + (new,))


def prepare(model: ModelSpec, data: DataSpec, training: TrainingSpec) -> Workload:
    ds = load_dataset(data.name, classes=data.classes, train=data.train, test=data.test,
                      seed=data.seed, input_shape=model.input, shift=data.shift)
    pre_acc = None
    if model.pretrain is not None:
        p = model.pretrain
        pre_ds = load_dataset(p.dataset, classes=p.classes, train=p.train, test=p.test, seed=p.seed,
                              input_shape=model.input)
        graph = build_graph(model, pre_ds.num_classes)
        result, hit = cached_train(graph, pre_ds, PretrainConfig(epochs=p.epochs, seed=p.seed))
        log.info("pretraining %s (%s): float test accuracy %.4f", graph.name,
                 "cached" if hit else f"{result.seconds:.0f} s", result.test_acc or 0.0)
        params, calib, pre_acc = result.params, pre_ds.train_x, result.test_acc
        same_task = (tuple(pre_ds.spec.classes) == tuple(ds.spec.classes) and p.dataset == data.name)
    else:
        graph = build_graph(model, ds.num_classes)
        params = init_params(graph, model.seed)
        calib, same_task = ds.train_x, True
    rng = np.random.default_rng(model.seed)
    calib = calib[rng.permutation(len(calib))[:CALIBRATION_SAMPLES]]
    qmodel = quantize_model(graph, params, calib, classifier=training.classifier)
    if not same_task:
        qmodel = with_new_head(qmodel, ds.num_classes)
    scheme = SparseScheme.from_config(training.sparse_update).resolve(qmodel.graph)
    order = np.random.default_rng(data.seed + 1).permutation(len(ds.train_y))
    train_x = pack_images(ds.train_x[order], qmodel.input)
    train_y = pack_labels(ds.train_y[order])
    test_x = pack_images(ds.test_x, qmodel.input)
    test_y = pack_labels(ds.test_y)
    opts = TrainOptions(lr=training.lr, classifier_lr=training.classifier_lr, qas=training.qas, rounding=training.rounding,
                        seed=training.seed)
    compiled = compile_training(qmodel, scheme, opts)
    return Workload(qmodel, scheme, ds, train_x, train_y, test_x, test_y, compiled, opts,
                    training.epochs, pre_acc)
