"""An adversarial corpus of malformed scenario files: each gives one ``ScenarioError`` naming the
file, the line, the key and the fix, from the loader, from ``mcutrain run`` and from pytest.

``CORPUS`` holds one entry per malformed input: its bytes, the line the error must name (None
for a file that cannot be read at all) and words the message must contain. Files that need
the file system (symlinks, a directory, a device) are made by ``make_special``.
"""
from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness import cli
from harness.errors import ScenarioError
from harness.scenario import DATASET_SPLITS, load_scenarios
from harness.yamlsrc import MAX_BYTES, QUOTE_CHARS

REPO = Path(__file__).resolve().parent.parent
MAX_MESSAGE = 4 * QUOTE_CHARS + 600  # whatever the input, an error stays a few lines long


@dataclass(frozen=True)
class Case:
    id: str
    text: bytes
    line: int | None  # the line the error must name; None: the file as a whole
    needles: tuple[str, ...]


def fw(extra: str = "", name: str = "a", case: str = "loop") -> str:
    """A valid firmware scenario (lines 1-3) with ``extra`` lines appended at indent 4."""
    return f"scenarios:\n  - name: {name}\n    firmware: {{app: selftest, case: {case}}}\n" + extra


TRAIN_LINES = [
    "scenarios:",
    "  - name: t",
    "    model: {arch: small, width: 8, input: [16, 16, 1]}",
    "    dataset: {name: digits, classes: [0, 1, 2], train: 12, test: 6}",
    "    training: {epochs: 1, lr: 0.001}",
    "    stack: 8KiB",
]


def train(**replace: str) -> str:
    """The valid training scenario of ``TRAIN_LINES`` with whole lines replaced by key
    (``model``, ``dataset``, ``training``, ``stack``) or extra lines added (``extra``)."""
    lines = list(TRAIN_LINES)
    for i, line in enumerate(lines):
        key = line.strip().split(":")[0]
        if key in replace:
            lines[i] = f"    {key}: {replace.pop(key)}"
    extra = replace.pop("extra", "")
    assert not replace, replace
    return "\n".join(lines) + "\n" + extra


def case(id: str, text: str | bytes, line: int | None, *needles: str) -> Case:
    return Case(id, text.encode() if isinstance(text, str) else text, line, needles)


BILLION_LAUGHS = "\n".join(  # 9**9 'lol's once expanded, all inside a key the schema knows
    ["scenarios:", "  - name: a", "    firmware: {app: selftest}", "    tags:",
     "      - &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"      - &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]) + "\n"
BILLION_LAUGHS_TOP = "\n".join(
    ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    + ["scenarios:", "  - name: *a9", "    firmware: {app: selftest}"]) + "\n"

NUMERIC_KEYS = {  # a key of each numeric kind, and the valid scenario it is written into
    "timeout": ("fw", "    timeout: {v}\n", 4),
    "stack": ("fw", "    stack: {v}\n", 4),
    "budgets.sram": ("fw", "    budgets: {{sram: {v}}}\n", 4),
    "budgets.step_instructions": ("fw", "    budgets: {{step_instructions: {v}}}\n", 4),
    "budgets.step_ms": ("fw", "    budgets: {{step_ms: {v}}}\n", 4),
    "expect.exit_code": ("fw", "    expect: {{status: exit, exit_code: {v}}}\n", 4),
    "expect.region_instructions": ("fw", "    expect: {{region_instructions: {v}}}\n", 4),
    "expect.stack": ("fw", "    expect: {{stack: {v}}}\n", 4),
    "expect.accuracy_after": ("fw", "    expect: {{accuracy_after: {v}}}\n", 4),
    "expect.reference_pp": ("fw", "    expect: {{reference_pp: {v}}}\n", 4),
    "expect.loss_rtol": ("fw", "    expect: {{loss_rtol: {v}}}\n", 4),
    "tolerance.sram": ("fw", "    tolerance: {{sram: {v}}}\n", 4),
    "tolerance.accuracy": ("fw", "    tolerance: {{accuracy: {v}}}\n", 4),
    "model.width": ("train", "{{arch: small, width: {v}, input: [16, 16, 1]}}", 3),
    "model.seed": ("train", "{{arch: small, width: 8, input: [16, 16, 1], seed: {v}}}", 3),
    "model.input": ("train", "{{arch: small, width: 8, input: [16, {v}, 1]}}", 3),
    "dataset.train": ("train", "{{name: digits, classes: [0, 1, 2], train: {v}, test: 6}}", 4),
    "dataset.seed": ("train", "{{name: digits, classes: [0, 1, 2], train: 12, test: 6, seed: {v}}}", 4),
    "dataset.shift": ("train", "{{name: digits, classes: [0], train: 12, test: 6, "
                               "shift: {{kind: noise, strength: {v}}}}}", 4),
    "dataset.window": ("train", "{{name: imu_watch, window: {v}}}", 4),
    "dataset.scale": ("train", "{{name: digits, classes: [0], train: 12, test: 6, scale: {v}}}", 4),
    "training.epochs": ("train", "{{epochs: {v}, lr: 0.001}}", 5),
    "training.lr": ("train", "{{epochs: 1, lr: {v}}}", 5),
    "training.classifier_lr": ("train", "{{epochs: 1, lr: 0.001, classifier_lr: {v}}}", 5),
    "training.seed": ("train", "{{epochs: 1, lr: 0.001, seed: {v}}}", 5),
}


def numeric(key: str, value: str) -> str:
    kind, template, _line = NUMERIC_KEYS[key]
    if kind == "fw":
        return fw(template.format(v=value))
    section = key.split(".")[0]
    return train(**{section: template.format(v=value)})


def numeric_cases() -> list[Case]:
    out = []
    for key, (_kind, _t, line) in NUMERIC_KEYS.items():
        for value in (".inf", "-.inf", ".nan", "9" * 400):
            out.append(case(f"{key}={value[:8]}", numeric(key, value), line, key))
    return out


CORPUS: list[Case] = [
    # -- files that cannot be decoded or parsed
    case("binary-garbage", bytes(range(256)) * 8, 2, "not UTF-8"),  # byte 10 ends line 1
    case("binary-control-chars", b"scenarios:\n  - name: a\x00\x01\x02\n", 2, "not valid YAML", "#x0000"),
    case("latin-1-text", "scenarios:\n  - name: café\n".encode("latin-1"), 2, "not UTF-8", "0xe9"),
    case("utf-16-text", "scenarios:\n  - name: a\n".encode("utf-16"), 1, "not UTF-8"),
    case("deep-nesting-flow", "scenarios: " + "[" * 5000 + "]" * 5000 + "\n", 1, "nests"),
    case("deep-nesting-block", "scenarios:\n" + "".join(" " * i + "- \n" for i in range(1, 200)), None,
         "nests"),
    case("deep-nesting-mapping", "scenarios:\n  - name: a\n    firmware:\n" + "".join(
        " " * (6 + 2 * i) + f"k{i}:\n" for i in range(100)), None, "nests"),
    case("unhashable-key-list", "scenarios:\n  - name: a\n    ? [x, y]\n    : 1\n", 3, "mapping key",
         "list"),
    case("unhashable-key-flow-map", "scenarios:\n  - {name: a, {b: 1}: 2}\n", 2, "mapping key"),
    case("alias-bomb", BILLION_LAUGHS, None, "aliases", "expanded"),
    case("alias-bomb-top-level", BILLION_LAUGHS_TOP, None, "aliases", "expanded"),
    case("alias-recursive", "scenarios:\n  - name: a\n    firmware: {app: selftest}\n    tags: &t [a, *t]\n",
         None, "nests"),
    case("alias-recursive-entry", "scenarios: &s\n  - name: a\n    firmware: {app: selftest}\n    more: *s\n",
         None, "nests"),
    case("huge-int-literal", fw(f"    timeout: {'9' * 5000}\n"), 4, "cannot read the value", "digits"),
    case("bad-date", fw("    description: 2023-02-30\n"), 4, "cannot read the value"),
    case("two-documents", fw() + "---\n" + fw(), 4, "not valid YAML"),
    case("yaml-syntax", "scenarios:\n  - name: a\n   firmware: {app: x}\n", 3, "not valid YAML"),
    case("tab-indent", "scenarios:\n\t- name: a\n", 2, "not valid YAML"),
    case("too-large", b"# " + b"x" * (MAX_BYTES + 10) + b"\n", None, "more than a scenario file may"),
    case("empty-file", b"", 1, "needs a top-level 'scenarios:' list"),
    case("duplicate-key", fw("    timeout: 1\n    timeout: 2\n"), 5, "duplicate key 'timeout'"),
    case("python-tag", "scenarios: !!python/object/apply:os.system ['true']\n", 1, "not valid YAML"),
    # -- numbers
    *numeric_cases(),
    case("size-300-digit-text", fw(f"    stack: '{'9' * 300}KiB'\n"), 4, "stack", "size"),
    case("lr-overflows-float32", numeric("training.lr", "1e39"), 5, "training.lr", "1e+30"),
    case("lr-float-overflows-float32", numeric("training.lr", "1.0e+39"), 5, "training.lr", "1e+30"),
    case("lr-underflows-float32", numeric("training.lr", "1e-45"), 5, "training.lr"),
    case("classifier-lr-1e39", numeric("training.classifier_lr", "1.0e+39"), 5, "training.classifier_lr"),
    case("training-seed-2^32", numeric("training.seed", str(2**32)), 5, "training.seed", "uint32_t"),
    case("training-seed-0", numeric("training.seed", "0"), 5, "training.seed", "nonzero"),
    case("training-epochs-2^31", numeric("training.epochs", str(2**31)), 5, "training.epochs", "int32_t"),
    case("training-epochs-negative", numeric("training.epochs", "-1"), 5, "training.epochs"),
    case("dataset-seed-2^32", numeric("dataset.seed", str(2**32)), 4, "dataset.seed"),
    case("model-seed-negative", numeric("model.seed", "-1"), 3, "model.seed"),
    case("exit-code-2^31", numeric("expect.exit_code", str(2**31)), 4, "expect.exit_code", "int32_t"),
    case("dataset-train-2^31", numeric("dataset.train", str(2**31)), 4, "dataset.train", "int32_t"),
    case("reference-pp-above-100", numeric("expect.reference_pp", "101"), 4, "expect.reference_pp"),
    case("timeout-a-year", numeric("timeout", str(365 * 86400)), 4, "timeout"),
    case("accuracy-after-nan-text", numeric("expect.accuracy_after", "'>= nan'"), 4, "accuracy_after"),
    case("tolerance-nan-percent", numeric("tolerance.sram", "'nan%'"), 4, "tolerance.sram", "finite"),
    case("tolerance-huge-count", numeric("tolerance.sram", "'" + "9" * 30 + "B'"), 4, "tolerance.sram"),
    # -- structure
    case("common-is-a-list", "common: [1, 2]\n" + fw(), 1, "'common:' must be a mapping"),
    case("common-is-a-string", "common: board\n" + fw(), 1, "'common:' must be a mapping"),
    case("common-is-a-number", "common: 3\n" + fw(), 1, "'common:' must be a mapping"),
    case("scenarios-is-a-number", "scenarios: 5\n", 1, "'scenarios:' must be a non-empty list"),
    case("scenarios-is-empty", "scenarios: []\n", 1, "'scenarios:' must be a non-empty list"),
    case("document-is-a-list", "- scenarios: []\n", 1, "top-level 'scenarios:'"),
    case("entry-is-a-string", "scenarios:\n  - just a string\n", 1, "must be a mapping"),
    case("section-is-a-list", fw("    budgets: [1, 2]\n"), 4, "budgets must be a mapping"),
    *[case(f"shift-{i}", train(dataset="{name: digits, classes: [0, 1], train: 12, test: 6, "
                                       f"shift: {shift}}}"), 4, *words)
      for i, (shift, words) in enumerate([
          ("5", ("dataset.shift", "mapping")), ("sensor", ("dataset.shift", "mapping")),
          ("[1, 2]", ("dataset.shift", "mapping")), ("{kind: sensor}", ("dataset.shift", "strength")),
          ("{kind: bogus, strength: 0.5}", ("dataset.shift", "kind")),
          ("{kind: sensor, strength: 2}", ("dataset.shift", "strength")),
          ("{kind: sensor, strength: abc}", ("dataset.shift", "strength")),
          ("{kind: [1], strength: 0.5}", ("dataset.shift", "kind")),
          ("{kind: noise, strength: 0.5, extra: 1}", ("dataset.shift", "extra")),
          ("{kind: noise, strength: 0.5, seed: -1}", ("dataset.shift", "seed")),
          ("{brightness: abc}", ("dataset.shift", "brightness")), ("{bogus: 1}", ("dataset.shift", "bogus")),
          ("{noise_std: .nan}", ("dataset.shift", "noise_std")),
          ("{rotation_deg: 1e308}", ("dataset.shift", "rotation_deg")),
          ("{kind: null, strength: 0.5}", ("dataset.shift", "kind")),
          ("{{a: 1}: 2}", ("mapping key",))])],
    case("accuracy-after-empty-string", fw("    expect: {accuracy_after: ''}\n"), 4, "accuracy_after"),
    case("accuracy-after-no-value", fw("    expect: {accuracy_after: }\n"), 4, "accuracy_after",
         "no value"),
    case("accuracy-after-only-op", fw("    expect: {accuracy_after: '>='}\n"), 4, "accuracy_after"),
    case("accuracy-after-a-list", fw("    expect: {accuracy_after: [1]}\n"), 4, "accuracy_after"),
    case("width-huge", numeric("model.width", "1e9"), 3, "model.width"),
    case("input-huge", train(model="{arch: small, width: 8, input: [100000, 100000, 3]}"),
         3, "model.input", "too large"),
    case("input-fills-data-region",
         train(model="{arch: small, width: 8, input: [1024, 1024, 16]}"), 4,
         "data region"),
    case("activation-larger-than-sram",
         train(model="{arch: small, width: 256, input: [256, 256, 1]}"), 3,
         "larger than the part's whole SRAM"),
    case("train-more-than-dataset",
         train(dataset="{name: fashion_mnist, classes: [0], train: 6001, test: 6}"), 4,
         "dataset.train = 6001", "only 6000 training samples"),
    case("test-default-more-than-dataset", train(dataset="{name: digits, classes: [0, 1], train: 12}"),
         4, "dataset.test = 300 (the default)", "only 90 test samples"),
    case("class-id-out-of-range", train(dataset="{name: digits, classes: [10], train: 1, test: 1}"), 4,
         "dataset.classes", "no class 10"),
    # -- dataset: a name or your own file (tests/data/test_file_datasets.py has the bad files themselves)
    case("dataset-name-and-file", train(dataset="{name: digits, file: d.npz, train: 1, test: 1}"), 4,
         "exactly one of 'name:'", "'file:'"),
    case("dataset-neither-name-nor-file", train(dataset="{classes: [0], train: 1, test: 1}"), 4,
         "exactly one of 'name:'"),
    case("dataset-name-unknown", train(dataset="{name: cifar10}"), 4, "dataset.name", "mnist", "imu_watch"),
    case("dataset-file-absolute", train(dataset="{file: /etc/passwd}"), 4, "dataset.file", "relative path"),
    case("dataset-file-dotdot", train(dataset="{file: ../x.npz}"), 4, "dataset.file", "relative path"),
    case("dataset-file-missing", train(dataset="{file: data/none.npz}"), 4, "dataset.file", "no such file"),
    case("dataset-file-a-folder", train(dataset="{file: .}"), 4, "dataset.file", "is a folder"),
    case("dataset-file-control-char", train(dataset='{file: "a\\0b.npz"}'), 4, "dataset.file"),
    case("dataset-file-a-list", train(dataset="{file: [a.npz]}"), 4, "dataset.file"),
    case("dataset-window-on-images", train(dataset="{name: digits, classes: [0], train: 1, test: 1, window: 8}"),
         4, "dataset.window", "holds samples already"),
    case("dataset-label-on-a-named-series", train(dataset="{name: imu_watch, label: activity}"), 4,
         "dataset.label", "not one"),
    case("dataset-window-zero", train(dataset="{name: imu_watch, window: 0}"), 4, "dataset.window", "1..65536"),
    case("dataset-scale-negative", train(dataset="{name: digits, scale: -1}"), 4, "dataset.scale", "positive"),
    case("dataset-channels-a-word", train(dataset="{name: imu_watch, channels: ax}"), 4, "dataset.channels"),
    case("dataset-channels-repeat", train(dataset="{name: imu_watch, channels: [ax, ax]}"), 4,
         "dataset.channels", "repeats"),
    case("sparse-update-garbage", train(training="{epochs: 1, lr: 0.001, sparse_update: [1, 2]}"), 5,
         "training.sparse_update"),
    case("sparse-update-nan-ratio", train(training="{epochs: 1, lr: 0.001, sparse_update: "
                                                   "{n_bias_update: 2, manual_weight_idx: [3], "
                                                   "weight_update_ratio: [.nan]}}"), 5, "weight_update_ratio"),
    case("sparse-update-huge-index", train(training="{epochs: 1, lr: 0.001, sparse_update: "
                                                    "{manual_weight_idx: [" + "9" * 400 + "]}}"), 5,
         "manual_weight_idx"),
    case("engine-prefix-word", train(extra="    engine: {prefix: patches}\n"), 7, "engine.prefix",
         "auto, none"),
    case("engine-prefix-unknown-key", train(extra="    engine: {prefix: {until: b1, row: 2}}\n"), 7,
         "engine.prefix", "unknown key 'row'"),
    case("engine-prefix-no-until", train(extra="    engine: {prefix: {rows: 2}}\n"), 7, "until"),
    case("engine-prefix-rows-zero", train(extra="    engine: {prefix: {until: stem, rows: 0}}\n"), 7,
         "rows", "1..4096"),
    case("engine-prefix-mode", train(extra="    engine: {prefix: {until: stem, mode: tiles}}\n"), 7,
         "mode", "recompute or slide"),
    case("engine-prefix-no-such-layer", train(extra="    engine: {prefix: {until: b7_dw}}\n"), 7,
         "engine.prefix.until", "no layer 'b7_dw'"),
    case("board-list-of-lists", fw("    board: [[a]]\n"), 4, "board"),
    case("board-huge-list", fw("    board: [" + ", ".join(["x"] * 20_000) + "]\n"), 4, "board"),
    case("unknown-key-1k-chars", fw(f"    {'k' * 1000}: 1\n"), 4, "unknown key"),
    case("unknown-key-not-a-string", fw("    3: 1\n"), 4, "unknown key '3'"),
    # -- unknown values
    case("case-hangg", fw(case="hangg"), 3, "firmware.case 'hangg'", "did you mean 'hang'"),
    case("case-upper", fw(case="LOOP"), 3, "firmware.case 'LOOP'", "'loop'"),
    case("case-for-an-app-without-cases",
         "scenarios:\n  - name: a\n    firmware: {app: kerneltest, case: loop}\n", 3, "declares no cases"),
    case("app-dotdot", "scenarios:\n  - name: a\n    firmware: {app: ../../harness}\n", 3,
         "firmware.app", "plain name"),
    case("app-absolute", "scenarios:\n  - name: a\n    firmware: {app: /etc}\n", 3, "firmware.app",
         "plain name"),
    case("app-dot", "scenarios:\n  - name: a\n    firmware: {app: .}\n", 3, "firmware.app"),
    case("app-unknown", "scenarios:\n  - name: a\n    firmware: {app: nosuchapp}\n", 3, "firmware.app",
         "selftest"),
    case("tag-skip", fw("    tags: [skip]\n"), 4, "tags", "pytest mark"),
    case("tag-xfail", fw("    tags: xfail\n"), 4, "tags", "pytest mark"),
    case("tag-parametrize", fw("    tags: [ok, parametrize]\n"), 4, "tags"),
    case("tag-usefixtures", fw("    tags: [usefixtures]\n"), 4, "tags"),
    case("tag-with-space", fw("    tags: ['a b']\n"), 4, "tags"),
    case("tag-number", fw("    tags: [1]\n"), 4, "tags"),
    case("name-with-newline", "scenarios:\n  - name: \"a\\n## all passed\"\n    firmware: {app: selftest}\n",
         2, "name"),
    case("name-with-colons", fw(name="'a::b'"), 2, "name"),
    case("name-with-html", fw(name="'<b>x</b>'"), 2, "name"),
    case("description-escape-codes", fw("    description: \"\\e[31mred\"\n"), 4, "description",
         "control"),
]

def layers(*items: str, head: str = "") -> str:
    """The valid training scenario with ``model.layers`` written one layer a line: the model
    key is line 3, ``input`` line 4, ``layers`` line 5 and item i (0-based) line 6 + i."""
    body = "".join(f"\n        - {item}" for item in items)
    return train(model=f"\n      input: [16, 16, 1]\n      layers:{body}{head}")


LAYERS_OK = ("{conv: 4, kernel: 3, padding: same, act: relu}", "{maxpool: 2}", "flatten",
             "{dense: 16, act: relu}", "{dense: classes}")
CORPUS += [
    case("layers-unknown-kind", layers("{conv: 4, kernel: 3}", "{pool: 2}", "flatten", "{dense: classes}"),
         7, "model.layers", "no kind", "did you mean"),
    case("layers-bare-unknown", layers("{conv: 4, kernel: 3}", "flaten", "{dense: classes}"), 7,
         "model.layers", "unknown layer 'flaten'", "did you mean 'flatten'"),
    case("layers-bare-needs-argument", layers("conv", "flatten", "{dense: classes}"), 6,
         "model.layers", "needs its argument"),
    case("layers-two-kinds", layers("{conv: 4, dense: 3}", "flatten", "{dense: classes}"), 6,
         "two kinds"),
    case("layers-unknown-key", layers("{conv: 4, kernel: 3}", "{maxpool: 2, kernel: 3}", "flatten",
                                      "{dense: classes}"), 7, "maxpool layer: unknown key 'kernel'"),
    case("layers-unknown-key-on-its-line", layers("conv: 4\n          kernal: 3", "flatten",
                                                  "{dense: classes}"), 7, "unknown key 'kernal'",
         "did you mean 'kernel'"),
    case("layers-conv-without-kernel", layers("{conv: 4}", "flatten", "{dense: classes}"), 6, "no kernel"),
    case("layers-bad-act", layers("{conv: 4, kernel: 3, act: sigmoid}", "flatten", "{dense: classes}"), 6,
         "act must be one of none, relu, relu6"),
    case("layers-bad-padding", layers("{conv: 4, kernel: 3, padding: full}", "flatten", "{dense: classes}"),
         6, "padding must be same, valid"),
    case("layers-zero-filters", layers("{conv: 0, kernel: 3}", "flatten", "{dense: classes}"), 6,
         "number of filters"),
    case("layers-kernel-triple", layers("{conv: 2, kernel: [3, 3, 3]}", "flatten", "{dense: classes}"), 6,
         "kernel must be an int or [height, width]"),
    case("layers-bn-not-bool", layers("{conv: 2, kernel: 3, bn: yes please}", "flatten", "{dense: classes}"),
         6, "bn must be true or false"),
    case("layers-bad-name", layers("{conv: 2, kernel: 3, name: 'a b'}", "flatten", "{dense: classes}"), 6,
         "name must be a word"),
    case("layers-duplicate-name", layers("{conv: 2, kernel: 3, name: a}", "{conv: 2, kernel: 3, name: a}",
                                         "flatten", "{dense: classes}"), 7, "already taken"),
    case("layers-window-too-large", layers("{conv: 2, kernel: 3}", "{maxpool: 2}", "{conv: 2, kernel: 9}",
                                           "flatten", "{dense: classes}"), 8, "7x7 input is too small"),
    case("layers-padding-not-below-kernel", layers("{conv: 2, kernel: 3, padding: 3}", "flatten",
                                                   "{dense: classes}"), 6, "not smaller than"),
    case("layers-dense-on-a-feature-map", layers("{conv: 2, kernel: 3}", "{dense: classes}"), 7,
         "needs a vector", "flatten or global_avgpool"),
    case("layers-conv-after-flatten", layers("flatten", "{conv: 2, kernel: 3}", "{dense: classes}"), 7,
         "needs a feature map"),
    case("layers-last-is-not-the-classifier", layers("{conv: 2, kernel: 3}", "flatten"), 7,
         "the last layer must be the classifier"),
    case("layers-classifier-with-act", layers("flatten", "{dense: classes, act: relu}"), 7,
         "the last layer must be the classifier"),
    case("layers-classes-before-the-end", layers("flatten", "{dense: classes}", "{dense: classes}"), 7,
         "must be the last layer"),
    case("layers-add-unknown-name", layers("{conv: 2, kernel: 3, padding: same}", "{add: nope}", "flatten",
                                           "{dense: classes}"), 7, "no earlier layer is named 'nope'"),
    case("layers-add-other-shape", layers("{conv: 2, kernel: 3, padding: same, name: a}",
                                          "{conv: 4, kernel: 1}", "{add: a}", "flatten", "{dense: classes}"),
         8, "cannot add 'a'"),
    case("layers-not-a-list", train(model="{input: [16, 16, 1], layers: 5}"), 3, "model.layers",
         "non-empty list"),
    case("layers-empty", train(model="{input: [16, 16, 1], layers: []}"), 3, "model.layers"),
    case("layers-item-a-number", layers("7", "{dense: classes}"), 6, "a layer must be a mapping"),
    case("layers-with-arch", layers(*LAYERS_OK, head="\n      arch: small"), 11, "model.arch",
         "model.layers"),
    case("layers-weights-larger-than-flash", layers("{conv: 4096, kernel: 9, padding: same}", "flatten",
                                                    "{dense: classes}"), 5, "model.layers",
         "more than the part's flash"),
]


SPECIAL = ["symlink-loop", "symlink-dangling", "directory", "device"]


def make_special(kind: str, d: Path) -> Path:
    p = d / f"{kind}.yaml"
    if kind == "symlink-loop":
        p.symlink_to(p.name)
    elif kind == "symlink-dangling":
        p.symlink_to("nowhere.yaml")
    elif kind == "directory":
        p.mkdir()
    elif kind == "device":
        p.symlink_to("/dev/zero")
    return p


SPECIAL_NEEDLES = {"symlink-loop": "symlink loop", "symlink-dangling": "link to a missing file",
                   "directory": "a directory", "device": "not a regular file"}


def write_case(c: Case, d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"{c.id}.yaml"
    p.write_bytes(c.text)
    return p


def assert_clear(message: str, path: Path, line: int | None, needles: tuple[str, ...]) -> None:
    """One error: names the file (and line), contains the needles, has a fix, stays short."""
    where = f"{path}:{line}:" if line is not None else f"{path}"
    assert where in message, f"{where!r} not in:\n{message}"
    for needle in needles:
        assert needle in message, f"{needle!r} not in:\n{message}"
    assert "fix:" in message, message
    assert "Traceback" not in message and len(message) < MAX_MESSAGE, message[:2000]


# How SGD runs over the epochs (harness/scenario_sgd.py, docs/arithmetic.md section 10).
CORPUS += [
    case("momentum-one", train(training="{epochs: 1, lr: 0.001, momentum: 1.0}"), 5,
         "training.momentum", "[0, 1)"),
    case("momentum-negative", train(training="{epochs: 1, lr: 0.001, momentum: -0.5}"), 5,
         "training.momentum", "[0, 1)"),
    case("warmup-negative", train(training="{epochs: 1, lr: 0.001, warmup: -3}"), 5,
         "training.warmup", ">= 0"),
    case("warmup-whole-run", train(training="{epochs: 1, lr: 0.001, schedule: cosine, warmup: 12}"), 5,
         "training.warmup", "12 steps", "whole run", "warmup: 1"),
    case("warmup-share-too-big", train(training="{epochs: 1, lr: 0.001, warmup: '100%'}"), 5,
         "training.warmup", "'10%'", "100%"),
    case("warmup-share-not-a-number", train(training="{epochs: 1, lr: 0.001, warmup: 'ten%'}"), 5,
         "training.warmup", "ten%"),
    case("schedule-unknown", train(training="{epochs: 1, lr: 0.001, schedule: linear}"), 5,
         "training.schedule", "cosine", "step"),
    case("decay-without-step", train(training="{epochs: 1, lr: 0.001, schedule: cosine, decay: 0.5}"), 5,
         "training.decay", "schedule: step"),
    case("decay-zero", train(training="{epochs: 1, lr: 0.001, schedule: step, decay: 0}"), 5,
         "training.decay", "(0, 1]"),
    case("step-epochs-zero", train(training="{epochs: 1, lr: 0.001, schedule: step, step_epochs: 0}"), 5,
         "training.step_epochs", ">= 1"),
    case("shuffle-one-sample", train(dataset="{name: digits, classes: [0], train: 1, test: 6}",
                                     training="{epochs: 1, lr: 0.001, shuffle: true}"), 5,
         "training.shuffle", "1 training sample", "dataset.train"),
    case("shuffle-not-a-bool", train(training="{epochs: 1, lr: 0.001, shuffle: yes please}"), 5,
         "training.shuffle", "true or false"),
    case("shuffle-seed-without-shuffle", train(training="{epochs: 1, lr: 0.001, shuffle_seed: 7}"), 5,
         "training.shuffle_seed", "shuffle: true"),
    case("shuffle-seed-zero", train(training="{epochs: 1, lr: 0.001, shuffle: true, shuffle_seed: 0}"), 5,
         "training.shuffle_seed", "nonzero"),
]


def test_corpus_ids_are_unique_and_every_numeric_key_is_tried():
    assert len({c.id for c in CORPUS}) == len(CORPUS)
    assert len(numeric_cases()) == 4 * len(NUMERIC_KEYS)  # +inf, -inf, NaN, 400 digits each


# -- the loader -----------------------------------------------------------------------------------
@pytest.mark.parametrize("c", CORPUS, ids=[c.id for c in CORPUS])
def test_loader_gives_one_clear_error(c, tmp_path):
    path = write_case(c, tmp_path / "scenarios")
    t0 = time.monotonic()
    with pytest.raises(ScenarioError) as err:
        load_scenarios(path)
    assert time.monotonic() - t0 < 5, "refusing a file must be quick (no alias expansion)"
    assert_clear(str(err.value), path, c.line, c.needles)


@pytest.mark.parametrize("kind", SPECIAL)
def test_loader_names_the_real_cause_of_an_unreadable_path(kind, tmp_path):
    path = make_special(kind, tmp_path)
    with pytest.raises(ScenarioError) as err:
        load_scenarios(path)
    assert_clear(str(err.value), path, None, (SPECIAL_NEEDLES[kind],))
    assert "No such file" not in str(err.value) or kind == "symlink-dangling"


def test_valid_neighbours_of_the_corpus_load(tmp_path):
    """The bases the corpus mutates are themselves valid: each error is the mutation's."""
    for i, text in enumerate([fw(), train(), layers(*LAYERS_OK), numeric("training.lr", "1.0e+30"),
                              numeric("timeout", "2.5"),
                              fw("    tags: [selftest, fast_1]\n"), fw(case="hang")]):
        path = tmp_path / f"ok{i}.yaml"
        path.write_text(text)
        assert load_scenarios(path)


def test_alias_bomb_is_refused_without_expanding(tmp_path):
    path = write_case(next(c for c in CORPUS if c.id == "alias-bomb"), tmp_path)
    t0 = time.monotonic()
    with pytest.raises(ScenarioError) as err:
        load_scenarios(path)
    assert time.monotonic() - t0 < 1.0
    assert "lol" not in str(err.value)


def test_dataset_split_sizes_match_the_loaders():
    import numpy as np

    from harness.data.dataset import LOADERS

    for name, (train_counts, test_counts) in DATASET_SPLITS.items():
        try:
            raw = LOADERS[name]()
        except Exception as e:  # noqa: BLE001 - fashion_mnist is an apt package
            pytest.skip(f"{name} not installed: {e}")
        assert tuple(np.bincount(raw.train_labels).tolist()) == train_counts, name
        assert tuple(np.bincount(raw.test_labels).tolist()) == test_counts, name


def test_app_symlinked_out_of_the_app_folder_is_refused(tmp_path, monkeypatch):
    from harness import project

    apps = tmp_path / "app"
    apps.mkdir()
    (apps / "inside").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (apps / "escape").symlink_to(outside)
    (apps / "alias").symlink_to(apps / "inside")
    (tmp_path / "pyproject.toml").write_text('[tool.mcutrain]\napps = ["app"]\n')
    monkeypatch.setattr(project, "_active", project.load_project(tmp_path))
    path = tmp_path / "s.yaml"
    path.write_text("scenarios:\n  - name: a\n    firmware: {app: escape}\n")
    with pytest.raises(ScenarioError) as err:
        load_scenarios(path)
    assert_clear(str(err.value), path, 3, ("firmware.app", "symbolic link out of its apps folder"))
    path.write_text("scenarios:\n  - name: a\n    firmware: {app: alias}\n")
    assert load_scenarios(path)[0].firmware.app == "alias"  # a link that stays inside is fine


def test_cases_are_the_ones_the_app_tests():
    from harness.scenario import app_cases

    assert {"loop", "stack", "exit", "fault", "divzero", "overflow", "hang", "malformed",
            "overbudget"} <= set(app_cases("selftest"))
    assert app_cases("train") == ()


def test_descriptions_fold_to_one_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(fw("    description: >\n      two\n      lines\n\n      and more\n"))
    assert load_scenarios(path)[0].description == "two lines and more"


# -- mcutrain run -----------------------------------------------------------------------------------
def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("c", CORPUS, ids=[c.id for c in CORPUS])
def test_cli_gives_one_clear_error(c, tmp_path, capsys):
    path = write_case(c, tmp_path / "scenarios")
    code, out, err = _cli(["run", str(path)], capsys)
    assert code == 2 and out == "", (code, out)
    assert err.startswith("mcutrain: error: ") and err.count("mcutrain: error:") == 1, err
    assert_clear(err, path, c.line, c.needles)


@pytest.mark.parametrize("kind", SPECIAL)
def test_cli_names_the_real_cause_of_an_unreadable_path(kind, tmp_path, capsys):
    path = make_special(kind, tmp_path)
    code, out, err = _cli(["run", str(path)], capsys)
    assert code == 2 and out == ""
    needle = "no scenario files" if kind == "directory" else SPECIAL_NEEDLES[kind]  # a folder of them
    assert_clear(err, path, None, (needle,))


def test_cli_reports_an_unexpected_loader_failure_as_one_error(tmp_path, capsys, monkeypatch):
    """A bug in validation (any exception) still gives one message and exit 2, no traceback."""
    def broken(path):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(cli, "load_scenarios", broken)
    path = tmp_path / "s.yaml"
    path.write_text(fw())
    code, out, err = _cli(["run", str(path)], capsys)
    assert code == 2 and "ZeroDivisionError: boom" in err and "bug in mcutrain" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("cid", ["alias-bomb", "binary-garbage", "case-hangg", "lr-overflows-float32"])
def test_cli_process_exits_2_with_one_message(cid, tmp_path):
    path = write_case(next(c for c in CORPUS if c.id == cid), tmp_path)
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.count("mcutrain: error:") == 1 and str(path) in proc.stderr


# -- pytest -----------------------------------------------------------------------------------------
GOOD_FILE = """\
scenarios:
  - name: good
    firmware: {app: selftest, case: loop}
    tags: [fast]
"""


def test_pytest_fails_each_bad_file_alone_and_runs_the_rest(pytester):
    """The whole corpus in one session: each bad file fails its own ``load`` item with its
    message; the good file's items and a test under tests/ still run; no INTERNALERROR."""
    d = pytester.mkdir("scenarios")
    paths = {c.id: write_case(c, d) for c in CORPUS}
    specials = {kind: make_special(kind, d) for kind in ("symlink-loop", "symlink-dangling", "device")}
    (d / "good.yaml").write_text(GOOD_FILE)
    t = pytester.mkdir("tests")
    (t / "test_plain.py").write_text("def test_plain():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--gate",
                                "--report-dir", str(pytester.path / "reports"), "-rf", str(d), str(t))
    out = result.stdout.str()
    assert "INTERNALERROR" not in out and "Traceback" not in out, out[-3000:]
    assert "FAILED tests/test_plain.py" not in out
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == len(CORPUS) + len(specials), outcomes
    assert outcomes.get("passed") == 3, outcomes  # good::build, good::memory, test_plain
    assert "errors" not in outcomes and "error" not in outcomes, outcomes
    for c in CORPUS:
        rel = paths[c.id].relative_to(pytester.path)
        assert f"FAILED {rel}::load" in out, f"{c.id} has no failing load item"
        section = out[out.index(f"_ {rel.name}::load _"):]
        section = section[:section.index("\n___") if "\n___" in section else None]
        where = f"{paths[c.id]}:{c.line}:" if c.line is not None else str(paths[c.id])
        assert where in section and "invalid scenario file" in section, (c.id, section[:1500])
        for needle in c.needles:
            assert needle in section, (c.id, needle, section[:1500])
    for kind, path in specials.items():
        rel = path.relative_to(pytester.path)
        assert f"FAILED {rel}::load" in out, f"{kind} has no failing load item"
        section = out[out.index(f"_ {rel.name}::load _"):]
        assert SPECIAL_NEEDLES[kind] in section[:1500], (kind, section[:1500])


def test_pytest_tags_are_keywords_not_marks(pytester):
    d = pytester.mkdir("scenarios")
    (d / "good.yaml").write_text(GOOD_FILE)
    result = pytester.runpytest("-p", "no:cacheprovider", "--gate",
                                "--collect-only", "-q", "-k", "fast", str(d))
    out = result.stdout.str()
    assert "good.yaml::good::build" in out and "good.yaml::good::memory" in out, out
    inline = pytester.inline_run("-p", "no:cacheprovider", "--gate",
                                 "--collect-only", str(d))
    collected = [i for i in inline.getcalls("pytest_itemcollected")]
    marks = {m.name: m.args for m in collected[0].item.iter_markers()}
    assert marks.get("mcutrain_tag") == ("fast",) and "fast" not in marks, marks


def test_unexpected_loader_failure_fails_its_file_only(pytester, monkeypatch):
    from harness import pytest_plugin

    real = pytest_plugin.load_scenarios

    def flaky(path):
        if path.name == "boom.yaml":
            raise RecursionError("maximum recursion depth exceeded")
        return real(path)

    monkeypatch.setattr(pytest_plugin, "load_scenarios", flaky)
    d = pytester.mkdir("scenarios")
    (d / "boom.yaml").write_text(GOOD_FILE)
    (d / "good.yaml").write_text(GOOD_FILE)
    result = pytester.runpytest("-p", "no:cacheprovider", "--gate",
                                "--report-dir", str(pytester.path / "reports"), str(d))
    out = result.stdout.str()
    assert "INTERNALERROR" not in out, out
    result.assert_outcomes(failed=1, passed=2)
    assert "RecursionError" in out and "bug in mcutrain" in out


# -- names and descriptions in the reports --------------------------------------------------------
HOSTILE_NAME = "x\n## ✅ mcutrain — all scenarios passed\n<script>alert(1)</script> | `a` *b*"


def hostile_doc() -> dict:
    return {"created": "now", "environment": {}, "scenarios": [{
        "file": "scenarios/evil`.yaml\n# heading", "line": 2, "scenario": HOSTILE_NAME,
        "board": "stm32f746\n### board", "description": "<img src=x onerror=alert(1)>\nsecond line",
        "checks": {"build": {"outcome": "failed", "summary": "bad\n## fake heading | cell"}},
        "metrics": {"scheme": "s`\n# x"}}]}


def test_summary_md_cannot_be_given_headings_by_a_name():
    """A report.json written by anything (``mcutrain report`` renders any of them): its text
    stays inside its heading, table cell or code span."""
    from harness.report import render_summary

    md = render_summary(hostile_doc())
    lines = md.splitlines()
    headings = [line for line in lines if line.lstrip().startswith("#")]
    assert len(headings) == 2, headings  # the report's title and the one scenario's heading
    assert headings[0].startswith("## mcutrain — 1 scenario: 1 failed")
    assert headings[1].startswith("### ❌ x ") and "\\#\\# ✅ mcutrain" in headings[1], headings[1]
    assert "<script>" not in md and "<img" not in md
    assert "`scenarios/evil'.yaml # heading:2`" in headings[1]
    assert "- **build**: bad \\#\\#" not in md and "- **build**: bad ## fake heading \\| cell" in md


def test_mcutrain_report_escapes_names_and_descriptions(tmp_path):
    """``mcutrain report`` renders a hostile report.json: the HTML shows the text, runs nothing.
    (A subprocess: importing matplotlib here would leave it half-imported after the in-process
    pytester sessions of other tests.)"""
    import json

    (tmp_path / "report.json").write_text(json.dumps(hostile_doc()))
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "report", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "report.html").read_text()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    md = (tmp_path / "summary.md").read_text()
    assert [line for line in md.splitlines() if line.startswith("#")] == \
        [line for line in render_summary_lines() if line.startswith("#")]


def render_summary_lines() -> list[str]:
    from harness.report import render_summary

    return render_summary(hostile_doc()).splitlines()


JUNIT_SCENARIO = """\
scenarios:
  - name: fine
    description: 'closes </properties></testcase><testcase name="fake"/> & ]]> "quotes"'
    firmware: {app: selftest, case: loop}
"""


def test_junit_xml_carries_a_hostile_description_as_text(pytester):
    import json
    import xml.etree.ElementTree as ET

    d = pytester.mkdir("scenarios")
    (d / "s.yaml").write_text(JUNIT_SCENARIO)
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest("-p", "no:cacheprovider", "--gate",
                                "--report-dir", str(pytester.path / "reports"), f"--junitxml={junit}",
                                str(d))
    result.assert_outcomes(passed=2)
    cases = list(ET.parse(junit).iter("testcase"))
    assert sorted(c.get("name") for c in cases) == ["build", "memory"]
    props = [json.loads(p.get("value")) for c in cases for p in c.iter("property")
             if p.get("name") == "mcutrain"]
    assert props and all(p["info"]["description"] == 'closes </properties></testcase><testcase '
                         'name="fake"/> & ]]> "quotes"' for p in props)
