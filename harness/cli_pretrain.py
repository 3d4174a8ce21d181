"""``mcutrain pretrain``: make a model file on purpose, print its hash, and compare it with
the committed file it would replace (close, never identical across machines)."""
from __future__ import annotations

import argparse
from pathlib import Path

from .errors import MctError
from .model.modelfile import ModelFile, ModelFileError, load_model_file
from .model.pretrain import Recipe, int8_accuracy, make_model_file

RECIPE_FLAGS = ("arch", "width", "input", "dataset", "classes", "train", "test", "epochs", "seed")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "pretrain", help="make a model file on the host (float pretraining, BN folding, exact "
        "calibration); runs never do this on their own",
        description="Regenerate the model file of a scenario or of an existing model file (its "
        "recorded recipe), or make a new one from --arch/--dataset/... flags. Prints the new file's "
        "sha256 and its accuracy beside the committed file's.")
    p.add_argument("target", nargs="?", help="a scenario file (its model.file) or a model .npz (its recipe)")
    p.add_argument("-k", help="with a scenario file: only scenarios whose name contains this text")
    p.add_argument("-o", "--output", help="where to write the new file (default: <name>.new.npz beside "
                   "the committed one)")
    p.add_argument("--replace", action="store_true", help="overwrite the committed file and its .sha256")
    p.add_argument("--arch", choices=["small", "mbv2", "proxyless", "mcunet"])
    p.add_argument("--layers", metavar="SCENARIO.yaml", help="the network of a scenario file's "
                   "model.layers (the first scenario that has them, or the one -k selects); its "
                   "model.input too, unless --input is given")
    p.add_argument("--width", type=float)
    p.add_argument("--input", help="H,W,C, e.g. 28,28,1")
    p.add_argument("--dataset", choices=["fashion_mnist", "digits", "mnist"])
    p.add_argument("--classes", help="class ids, e.g. 0,1,2,3,4")
    p.add_argument("--train", type=int, help="training samples (default: all)")
    p.add_argument("--test", type=int, help="test samples (default: all)")
    p.add_argument("--epochs", type=int)
    p.add_argument("--seed", type=int)
    p.set_defaults(fn=cmd_pretrain)


def _ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise MctError(f"--{flag} {text!r} is not a comma-separated list of integers",
                       f"e.g. --{flag} 0,1,2") from None


def _overrides(args: argparse.Namespace) -> dict:
    out: dict = {}
    for flag in RECIPE_FLAGS:
        v = getattr(args, flag)
        if v is None:
            continue
        out[flag] = _ints(v, flag) if flag in ("input", "classes") else v
    if args.layers is not None:
        if "arch" in out:
            raise MctError("--arch and --layers both name the network", "give one of them")
        layers, shape = _scenario_layers(Path(args.layers), args.k)
        out["arch"], out["layers"] = "layers", layers
        if shape is not None and "input" not in out:
            out["input"] = shape
    from .model.zoo import EXACT_WIDTHS
    if out.get("arch") in EXACT_WIDTHS and "width" not in out:  # the paper's exact layouts: one width
        out["width"] = EXACT_WIDTHS[out["arch"]]
    return out


def _scenario_layers(path: Path, select: str | None) -> tuple[tuple, tuple[int, ...] | None]:
    """model.layers (as plain data, checked) and model.input of a scenario file's first scenario
    that has layers (whose name contains ``select``). Read from the YAML directly: the scenario's
    model.file may not exist yet, which is why it is being made."""
    from .model.layers import LayerError, parse_layers, to_plain
    from .scenario import _merge
    from .yamlsrc import load_yaml

    doc = load_yaml(path)
    entries = doc.get("scenarios") if isinstance(doc, dict) else None
    common = doc.get("common") or {} if isinstance(doc, dict) else {}
    for entry in entries if isinstance(entries, list) else []:
        v = _merge(common, entry) if isinstance(entry, dict) else {}
        model = v.get("model")
        if not isinstance(model, dict) or model.get("layers") is None:
            continue
        if select and select not in str(v.get("name", "")):
            continue
        try:
            layers = parse_layers(model["layers"], getattr(model, "line", 0))
        except LayerError as e:
            raise MctError(f"{path}:{e.line}: model.layers: {e.message}", e.fix) from None
        shape = model.get("input")
        return tuple(to_plain(layers)), tuple(int(x) for x in shape) if isinstance(shape, list) else None
    raise MctError(f"{path}: no scenario{' matching ' + repr(select) if select else ''} has model.layers",
                   "name a scenario file whose model is written as a list of layers")


def _committed_files(target: Path, select: str | None) -> list[Path]:
    if target.suffix == ".npz":
        return [target]
    from .scenario import load_scenarios

    files: list[Path] = []
    for s in load_scenarios(target):
        if select and select not in s.name:
            continue
        if s.model is not None and s.model.file is not None and s.model.file not in files:
            files.append(s.model.file)
    if not files:
        raise MctError(f"{target}: no scenario{' matching ' + repr(select) if select else ''} names a "
                       "model.file", "give a scenario with model: {file: ...}, a model .npz, or --arch/--dataset flags")
    return files


def _compare(new: ModelFile, old: ModelFile | None) -> None:
    print(f"  wrote    {new.path}")
    print(f"  sha256   {new.sha256}")
    recipe = Recipe.from_dict(new.recipe)
    m = new.metrics
    if old is None:
        print(f"  accuracy float {m['float_test_accuracy']:.4f}, int8 {m['int8_test_accuracy']:.4f} "
              f"on {m['test_samples']} test samples")
        return
    ds = recipe.load_data()
    old_int8 = int8_accuracy(old, ds)
    old_float = old.metrics.get("float_test_accuracy")
    print(f"  was      {old.path} sha256 {old.sha256}")
    print(f"  {'':<8} {'committed':>10} {'new':>10} {'change':>9}")
    if isinstance(old_float, (int, float)):
        d = m["float_test_accuracy"] - old_float
        print(f"  {'float':<8} {old_float:>10.4f} {m['float_test_accuracy']:>10.4f} {d * 100:>+8.2f}pp")
    d = m["int8_test_accuracy"] - old_int8
    print(f"  {'int8':<8} {old_int8:>10.4f} {m['int8_test_accuracy']:>10.4f} {d * 100:>+8.2f}pp"
          f"   ({m['test_samples']} test samples)")
    print("  host float training rounds differently on other CPUs and BLAS kernels: the two files are "
          "close, not identical. Commit the new one (with its .sha256) and re-record the baseline "
          "only on purpose.")


def cmd_pretrain(args: argparse.Namespace) -> int:
    overrides = _overrides(args)
    jobs: list[tuple[Recipe, Path, ModelFile | None]] = []
    if args.target:
        for committed in _committed_files(Path(args.target), args.k):
            try:
                old = load_model_file(committed)
            except ModelFileError as e:
                if not committed.exists():
                    raise
                print(f"mcutrain: warning: the committed file cannot be read ({e.message}); making it anew")
                old = None
            base = Recipe.from_dict(old.recipe) if old is not None else Recipe()
            recipe = Recipe.from_dict({**base.to_dict(), **overrides})
            if args.replace:
                out = committed
            elif args.output:
                out = Path(args.output)
            else:
                out = committed.with_name(committed.stem + ".new.npz")
            jobs.append((recipe, out, old))
        if args.output and len(jobs) > 1:
            raise MctError(f"-o names one file but {len(jobs)} model files would be made",
                           "select one scenario with -k, or drop -o")
    else:
        if not args.output:
            raise MctError("pretrain needs a target (scenario or model file) or -o OUT with recipe flags",
                           "e.g. mcutrain pretrain --arch small --dataset fashion_mnist --classes 0,1,2,3,4 "
                           "-o scenarios/models/mine.npz")
        jobs.append((Recipe.from_dict({**Recipe().to_dict(), **overrides}), Path(args.output), None))
    for recipe, out, old in jobs:
        net = f"{len(recipe.layers)} layers" if recipe.layers is not None else f"{recipe.arch} w{recipe.width:g}"
        print(f"== pretrain {net} {list(recipe.input)} on {recipe.dataset} "
              f"classes {list(recipe.classes) if recipe.classes else 'all'}, {recipe.epochs} epochs, seed {recipe.seed}")
        new = make_model_file(recipe, out, progress=lambda msg: print(f"  ... {msg}", flush=True))
        _compare(new, old)
    return 0
