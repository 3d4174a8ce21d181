"""``mcutrain export``: write the int8 model of a scenario, or of a model file, as a standard
``.tflite`` flatbuffer that TFLite Micro runs with the reference's outputs."""
from __future__ import annotations

import argparse
from pathlib import Path

from .errors import MctError
from .model.modelfile import load_model_file
from .model.qmodel import QModel
from .model.tflite_export import save_tflite


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export", help="write a scenario's (or a model file's) int8 model as a .tflite file",
        description="Export the int8 model a scenario trains (before training), or the model of "
        "an .npz model file, as an int8 TFLite flatbuffer (TFLite Micro runs it bit for bit like "
        "the reference). The file is written atomically.")
    p.add_argument("source", help="a scenario file (.yaml, with -k) or a model file (.npz)")
    p.add_argument("-k", help="with a scenario file: the scenario (its name, or text that only "
                   "its name contains)")
    p.add_argument("-o", "--output", required=True, help="the .tflite file to write")
    p.add_argument("--classifier", choices=["float", "int8"],
                   help="with a model file: keep the classifier float (default, the paper's) or "
                   "quantize it to int8; with a scenario its training.classifier decides")
    p.set_defaults(fn=cmd_export)


def _scenario_model(path: Path, select: str | None) -> QModel:
    from .scenario import load_scenarios
    from .workload import prepare

    scenarios = [s for s in load_scenarios(path) if s.trains]
    if select is not None:
        exact = [s for s in scenarios if s.name == select]
        scenarios = exact or [s for s in scenarios if select in s.name]
    if len(scenarios) != 1:
        names = ", ".join(s.name for s in scenarios) or "none"
        raise MctError(f"{path}: -k {select!r} selects {len(scenarios)} training scenarios ({names})",
                       "give -k the name of exactly one scenario (see `mcutrain list`)")
    s = scenarios[0]
    assert s.model is not None and s.dataset is not None and s.training is not None
    return prepare(s.model, s.dataset, s.training).qmodel


def cmd_export(args: argparse.Namespace) -> int:
    source = Path(args.source)
    if source.suffix in (".yaml", ".yml"):
        if args.classifier is not None:
            raise MctError("--classifier applies to a model file; a scenario's training.classifier "
                           "decides its classifier", "drop --classifier, or set training.classifier")
        qmodel = _scenario_model(source, args.k)
    elif source.suffix == ".npz":
        if args.k is not None:
            raise MctError("-k selects a scenario of a scenario file; a model file holds one model",
                           "drop -k")
        qmodel = load_model_file(source).quantize(args.classifier or "float")
    else:
        raise MctError(f"{source}: export reads a scenario file (.yaml) or a model file (.npz)",
                       "give e.g. scenarios/fashion.yaml -k fashion-new-classes, or "
                       "scenarios/models/small16-fashion-0to4.npz")
    summary = save_tflite(qmodel, Path(args.output))
    ops = ", ".join(f"{n} {name}" for name, n in sorted(summary.ops.items(), key=lambda kv: -kv[1]))
    print(f"{summary.path}: {summary.bytes} bytes, {sum(summary.ops.values())} TFLite ops ({ops}), "
          f"{summary.params} parameters ({qmodel.graph.name}, {qmodel.classifier} classifier)")
    return 0
