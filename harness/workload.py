"""A training scenario's workload: the int8 model, the packed samples and the compiled program.

``prepare`` turns the scenario's ``model``, ``dataset`` and ``training`` sections into a
``Workload``: it reads the model file (or builds the zoo model with seeded random weights
and calibrates it exactly on the task's samples), quantizes it, gives it a new zeroed
classifier head when the task's classes differ from the pretraining ones, packs the samples
with the model's input quantization, and runs the training compiler. Nothing here trains in
float or goes through BLAS in a way that could round differently on another machine.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data.dataset import Dataset, load_dataset
from .data.pack import pack_images, pack_labels
from .engine.compiler import CompiledTraining, compile_training, emit_dataset
from .engine.emit_c import TrainOptions
from .engine.patch import PrefixChoice, PrefixError
from .errors import ScenarioError
from .model import layers, zoo
from .model.graph import Conv, Graph
from .model.qmodel import QLinear, QLinearFloat, QModel, QParams
from .model.quantize import quantize_model
from .model.modelfile import ModelFile, ModelFileError, load_model_file
from .model.random_init import random_params
from .sparse.scheme import ResolvedScheme, SparseScheme

log = logging.getLogger(__name__)

CALIBRATION_SAMPLES = 512
# An imported model normalized its inputs its own way (MLTK: raw 0..255 for VWW, [-1, 1) for
# ResNet-8, per-sample standardization for image_example1); a dataset's [0, 1] image values are
# spread over its whole int8 input range instead: 0 -> -128, 1 -> 127. Data outside [0, 1]
# (a series in physical units, scaled with dataset.scale) is quantized with the model's own
# input QParams, as the model was trained.
IMPORTED_INPUT = QParams(scale=float(np.float32(1.0 / 255.0)), zero_point=-128)


@dataclass(frozen=True)
class ModelSpec:
    arch: str | None  # a zoo model with seeded random weights (memory and speed only) ...
    width: float
    input: tuple[int, int, int]
    file: Path | None = None  # ... or a model file (`mcutrain pretrain` makes one)
    seed: int = 0
    layers: tuple | None = None  # model.layers (harness.model.layers.Layer): the network written out


@dataclass(frozen=True)
class DataSpec:
    name: str | None  # a named dataset ...
    classes: tuple[int, ...] | None
    train: int
    test: int
    seed: int
    shift: dict | None = None
    file: Path | None = None  # ... or a user's .npz / .csv file (resolved, inside the scenario's folder)
    window: int | None = None  # time series: steps per window (default: the model input's height)
    stride: int | None = None  # steps between window starts (default: half the window)
    label: str = "label"  # a CSV file's label column, optional session column and channel columns
    session: str | None = None
    channels: tuple[str, ...] | None = None
    scale: float = 1.0  # multiplies every sample value (after the shift)


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
    prefix: object = "auto"  # engine.prefix: auto | none | {until, rows}
    # how SGD runs over the epochs (harness/sgd, docs/arithmetic.md §10)
    shuffle: bool = False
    shuffle_seed: int = 0x9E3779B9
    schedule: str = "cosine"  # the scenario schema's defaults (harness/scenario.py)
    warmup: int | str = "auto"  # steps, 'P%' of the run's steps, or auto
    decay: float = 0.1
    step_epochs: int = 1
    momentum: float = 0.0


def prefix_choice(spec: object) -> PrefixChoice | None:
    """engine.prefix -> the compiler's choice (None: the compiler picks)."""
    if spec == "auto":
        return None
    if spec == "none":
        return PrefixChoice(None)
    assert isinstance(spec, dict)
    return PrefixChoice(spec["until"], spec["rows"] or 0, spec["mode"] or "")


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
    pretrain_accuracy: float | None  # the model file's int8 test accuracy on its own task
    model_sha256: str | None  # the model file's hash (None: seeded random weights)
    shuffle_seed: int = 0  # nonzero: the device shuffles its visiting order every epoch

    @property
    def sgd_state_bytes(self) -> int:
        """Static SRAM of the optimizer's state: momentum buffers, the uint16 visiting order and
        its 4-byte generator (tt_order, tt_shuffle_rng in main.c), and with a schedule the
        update struct that leaves flash (tt_upd, 16 B) and the classifier's rate (4 B)."""
        order = 2 * len(self.train_y) + 4 if self.shuffle_seed else 0
        rates = 20 if self.options.lr_factors else 0
        return self.compiled.emitted.optimizer_bytes + order + rates

    def files(self) -> dict[str, str]:
        return {**self.compiled.files(),
                **emit_dataset(self.train_x, self.train_y, self.test_x, self.test_y, self.epochs,
                               shuffle_seed=self.shuffle_seed)}


def build_graph(spec: ModelSpec, num_classes: int) -> Graph:
    h, w, c = spec.input
    if spec.layers is not None:
        return layers.build_graph(spec.layers, (h, w, c), num_classes)
    if spec.arch in ("small", "small_cnn"):
        if spec.width != int(spec.width):
            raise ScenarioError(f"model.width {spec.width} must be a whole channel count for 'small'",
                                "use e.g. width: 16")
        return zoo.small_cnn((h, w, c), num_classes, int(spec.width))
    if h != w:
        raise ScenarioError(f"model.input {spec.input}: {spec.arch} takes square inputs",
                            "use an input of [N, N, C]")
    builders = {"mbv2": zoo.mobilenet_v2, "proxyless": zoo.proxyless, "mcunet": zoo.mcunet}
    if spec.arch not in builders:
        raise ScenarioError(f"unknown model.arch {spec.arch!r}",
                            f"use one of small, {', '.join(builders)}")
    width = None if spec.arch in zoo.EXACT_WIDTHS else spec.width  # exact models: checked at load
    return builders[spec.arch](width=width, input_size=h, num_classes=num_classes, in_channels=c)


def with_new_head(qmodel: QModel, num_classes: int) -> QModel:
    """The same backbone with a zeroed float classifier for ``num_classes`` (a new task); an
    imported model's int8 classifier is replaced by a float one reading the same features."""
    head = qmodel.layers[-1]
    if isinstance(head, QLinear) and head.act_min == -128 and head.act_max == 127:
        head = QLinearFloat(op=head.op, x=head.x, w=head.w, b=head.b)
    if not isinstance(head, QLinearFloat):
        raise ScenarioError("a new classifier head needs a float classifier",
                            "set training.classifier: float")
    op = dataclasses.replace(head.op, out_features=num_classes)
    new = dataclasses.replace(head, op=op, w=np.zeros((num_classes, op.in_features), np.float32),
                              b=np.zeros(num_classes, np.float32))
    graph = dataclasses.replace(qmodel.graph, ops=qmodel.graph.ops[:-1] + (op,))
    return dataclasses.replace(qmodel, graph=graph, layers=qmodel.layers[:-1] + (new,))


def load_model(spec: ModelSpec) -> ModelFile:
    """The scenario's model file, as a ScenarioError naming the file and the fix when unusable."""
    assert spec.file is not None
    try:
        mf = load_model_file(spec.file)
    except ModelFileError as e:
        raise ScenarioError(f"model.file: {e.message}", e.fix) from None
    check_model_input(mf.graph, spec.input, spec.file)
    return mf


def same_network(mine: Graph, file: Graph) -> str:
    """'' when ``file`` (a folded model file's graph) is the network ``mine`` describes, else
    the first difference. BatchNorm is folded in files, so ``bn`` is not compared."""
    if tuple(mine.input_shape) != tuple(file.input_shape):
        return f"input {list(mine.input_shape)} here, {list(file.input_shape)} in the file"
    if len(mine.ops) != len(file.ops):
        return f"{len(mine.ops)} layers here, {len(file.ops)} in the file"
    for i, (a, b) in enumerate(zip(mine.ops, file.ops)):
        if isinstance(a, Conv):
            a = dataclasses.replace(a, bn=False)
        if a != b:
            return f"layer {i + 1} is {a} here and {b} in the file"
    return ""


def _load_tflite(spec: ModelSpec) -> tuple[QModel, str]:
    """An imported int8 .tflite (model.file or model.mltk) and its sha256."""
    from .errors import ModelImportError
    from .fsutil import file_sha256
    from .model.tflite_import import load_tflite

    assert spec.file is not None
    try:
        qmodel = load_tflite(spec.file)
    except ModelImportError as e:
        raise ScenarioError(f"model: {e.message}", e.fix) from None
    check_model_input(qmodel.graph, spec.input, spec.file)
    return qmodel, file_sha256(spec.file)


def check_model_input(graph: Graph, shape: tuple[int, int, int], file: Path) -> None:
    """A model file fixes its input shape: ``model.input`` may only repeat it."""
    if tuple(graph.input_shape) != tuple(shape):
        raise ScenarioError(f"model.input {list(shape)} does not match the model file's input "
                            f"{list(graph.input_shape)} ({file.name})",
                            "drop model.input (the file fixes it) or use a model file made for that input")


def _same_task(mf: ModelFile, data: DataSpec, ds: Dataset) -> bool:
    """Does the file's classifier already predict this task's classes, in this order?"""
    r = mf.recipe
    classes = r.get("classes")
    classes = tuple(classes) if classes is not None else None
    return (r.get("dataset") == data.name and classes is not None
            and tuple(classes) == tuple(ds.spec.classes))


def input_range(x: np.ndarray) -> tuple[float, float]:
    """The input quantization range of a zoo model: [0, 1] (images), widened to the training
    samples' own values when they leave it (a time series in g, a float file)."""
    if x.size == 0:
        return (0.0, 1.0)
    return (min(0.0, float(x.min())), max(1.0, float(x.max())))


def prepare(model: ModelSpec, data: DataSpec, training: TrainingSpec) -> Workload:
    ds = load_dataset(data.name, classes=data.classes, train=data.train, test=data.test,
                      seed=data.seed, input_shape=model.input, shift=data.shift, file=data.file,
                      window=data.window, stride=data.stride, label=data.label, session=data.session,
                      channels=data.channels, scale=data.scale)
    pre_acc = sha = None
    if model.file is not None and model.file.suffix == ".tflite":
        qmodel, sha = _load_tflite(model)
        same_task = False  # its classes are not the task's: a new float head below
    elif model.file is not None:
        mf = load_model(model)
        log.info("model file %s (sha256 %s)", model.file, mf.sha256[:16])
        qmodel = mf.quantize(training.classifier)
        pre_acc = mf.metrics.get("int8_test_accuracy")
        sha = mf.sha256
        same_task = _same_task(mf, data, ds)
    else:
        graph = build_graph(model, ds.num_classes)
        params = random_params(graph, model.seed)
        rng = np.random.default_rng(model.seed)
        calib = ds.train_x[rng.permutation(len(ds.train_x))[:CALIBRATION_SAMPLES]]
        qmodel = quantize_model(graph, params, calib, classifier=training.classifier,
                                input_range=input_range(ds.train_x))
        same_task = True
    if not same_task or qmodel.graph.ops[-1].out_features != ds.num_classes:  # type: ignore[union-attr]
        qmodel = with_new_head(qmodel, ds.num_classes)
    scheme = SparseScheme.from_config(training.sparse_update).resolve(qmodel.graph)
    order = np.random.default_rng(data.seed + 1).permutation(len(ds.train_y))
    packing = qmodel.input
    if (model.file is not None and model.file.suffix == ".tflite"
            and float(ds.train_x.min(initial=0.0)) >= 0.0 and float(ds.train_x.max(initial=0.0)) <= 1.0):
        # Images in [0, 1]: spread over the imported model's int8 input range. Samples in
        # physical units (a time series in milli-g) keep the model's own input QParams.
        packing = IMPORTED_INPUT
    train_x = pack_images(ds.train_x[order], packing)
    train_y = pack_labels(ds.train_y[order])
    test_x = pack_images(ds.test_x, packing)
    test_y = pack_labels(ds.test_y)
    opts = TrainOptions(lr=training.lr, classifier_lr=training.classifier_lr, qas=training.qas, rounding=training.rounding,
                        seed=training.seed, **sgd_options(training, len(train_y)))
    try:
        compiled = compile_training(qmodel, scheme, opts, prefix_choice(training.prefix))
    except PrefixError as e:
        raise ScenarioError(f"engine.prefix: {e}", "use prefix: auto, or one of the valid ends it names") from None
    return Workload(qmodel, scheme, ds, train_x, train_y, test_x, test_y, compiled, opts,
                    training.epochs, pre_acc, sha, training.shuffle_seed if training.shuffle else 0)


def sgd_options(training: TrainingSpec, n_train: int) -> dict:
    """The compiler's options for the schedule and momentum (TrainOptions keywords)."""
    from .scenario_sgd import schedule_of

    schedule = schedule_of(training, n_train)
    factors = () if schedule.constant else tuple(float(f) for f in schedule.factors(training.epochs, n_train))
    return {"lr_factors": factors, "momentum": training.momentum}


def sgd_config(training: TrainingSpec, n_train: int) -> dict:
    """The reference's ``TrainConfig`` keywords for shuffle, schedule and momentum."""
    from .scenario_sgd import schedule_of

    return {"shuffle_seed": training.shuffle_seed if training.shuffle else 0,
            "schedule": schedule_of(training, n_train), "momentum": training.momentum}
