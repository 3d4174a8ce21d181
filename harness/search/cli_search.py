"""``mcutrain search``: a sparse-update scheme for one scenario's model and task under a peak-SRAM
budget; prints the scenario's ``sparse_update:`` block and optionally writes a scenario file
that uses it and a plot of the search."""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import yaml

from ..errors import MctError
from ..fsutil import write_text_atomic
from ..units import fmt_bytes, parse_size
from . import contribution, fisher
from .plot import svg, write_svg
from .run import CRITERIA, Found, Settings, host_accuracy, search
from .space import CANDIDATES, RATIOS


def add_parser(sub) -> None:
    p = sub.add_parser("search", help="search a sparse-update scheme under a peak-SRAM budget "
                       "(contribution analysis or Fisher, evolutionary search, the real planner)",
                       description=__doc__)
    p.add_argument("scenario", help="a scenario file")
    p.add_argument("-k", required=True, help="the scenario (its name contains this text; exactly one)")
    p.add_argument("--budget", required=True, help="peak SRAM: .data + .bss + reserved stack, e.g. 200KiB")
    p.add_argument("--criterion", default="delta", choices=CRITERIA,
                   help="delta: held-out accuracy gains (the paper); fisher: TinyTrain's Fisher information")
    p.add_argument("-o", "--output", help="write a scenario file using the scheme (in the scenario's "
                   "folder, so that its model path stays inside it)")
    p.add_argument("--plot", help="write an SVG of score against peak SRAM")
    p.add_argument("--samples", type=int, default=200, help="training samples of each short run")
    p.add_argument("--holdout", type=int, default=200, help="held-out training samples that score them")
    p.add_argument("--weights", default="later-pw", choices=CANDIDATES, help="weight candidate convs")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--population", type=int, default=40)
    p.add_argument("--generations", type=int, default=30)
    p.add_argument("--evaluate", action="store_true",
                   help="also train the scenario with the scheme on the host reference and print its test accuracy")
    p.set_defaults(fn=cmd_search)


def _budget(text: str) -> int:
    try:
        return parse_size(text)
    except (ValueError, MctError) as e:
        raise MctError(f"--budget {text!r}: {getattr(e, 'message', e)}", "give a size such as 200KiB or 204800") from None


def _one(path: Path, select: str):
    from ..cli import _load_file

    if not path.is_file():
        raise MctError(f"no such scenario file: {path}", "give a scenario .yaml file")
    found = [s for s in _load_file(path) if select in s.name]
    exact = [s for s in found if s.name == select]
    if len(exact) == 1:
        return exact[0]
    if len(found) != 1:
        names = ", ".join(s.name for s in found) or "none"
        raise MctError(f"-k {select!r} selects {len(found)} scenarios in {path} ({names})",
                       "give text that selects exactly one scenario name")
    return found[0]


def print_criterion(found: Found) -> None:
    c = found.criterion
    if isinstance(c, contribution.Contribution):
        n = c.holdout
        print(f"contribution analysis ({c.runs} runs, {c.seconds:.1f} s): held-out accuracy after the classifier "
              f"alone {c.baseline / n:.3f} ({n} samples)")
        print("  Δacc of the last k biases: " + ", ".join(f"k={k}: {v / n:+.3f}" for k, v in sorted(c.bias.items())))
        print(f"  Δacc of weights over bias k={c.k_ref} (ratios {', '.join(f'{r:g}' for r in RATIOS[1:])}):")
        for conv in found.space.candidates:
            print(f"    conv {conv:>3}: " + " ".join(f"{c.weight[(conv, r)] / n:+.3f}" for r in RATIOS[1:]))
    elif isinstance(c, fisher.Fisher):
        print(f"Fisher information ({c.samples} samples, {c.seconds:.1f} s)")
        print("  bias Fisher per conv: " + " ".join(f"{v:.3g}" for v in c.bias))
        for conv in found.space.candidates:
            print(f"    conv {conv:>3}: weight Fisher {float(c.weight[conv].sum()):.3g}")


def scenario_text(s, keys: dict, budget: int, out: Path, name: str, note: str) -> str:
    """A scenario file holding ``s`` (its merged YAML entry) with the scheme and budget."""
    from ..scenario import _merge
    from ..yamlsrc import load_yaml

    doc = load_yaml(s.file)
    entry = next(e for e in doc["scenarios"] if isinstance(e, dict) and e.get("name") == s.name)
    merged = _plain(_merge(doc.get("common") or {}, entry))
    merged["name"] = name
    merged["description"] = f"{s.name} with the scheme `mcutrain search` found ({note})"
    merged.setdefault("training", {})["sparse_update"] = keys
    merged.setdefault("budgets", {})["sram"] = f"{budget}"
    merged.pop("expect", None)  # the original's accuracy claims were for its own scheme
    out_dir = out.resolve().parent
    for section in ("model", "dataset"):
        sec = merged.get(section)
        if isinstance(sec, dict) and isinstance(sec.get("file"), str):
            target = (s.file.resolve().parent / sec["file"]).resolve()
            rel = os.path.relpath(target, out_dir)
            if rel.startswith(".."):
                raise MctError(f"-o {out}: the scenario's {section}.file {target} would lie outside the new "
                               f"file's folder", f"write -o into {s.file.resolve().parent} (or a folder above "
                               f"{target.parent})")
            sec["file"] = rel
    head = (f"# Written by `mcutrain search` from {s.location} ({note}).\n"
            "# sparse_update is the searched scheme; budgets.sram the search's budget (peak SRAM:\n"
            "# .data + .bss + reserved stack, the gate's number). The original's expect: was dropped.\n")
    return head + yaml.safe_dump({"scenarios": [merged]}, sort_keys=False, default_flow_style=None)


def _plain(v):
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def cmd_search(args: argparse.Namespace) -> int:
    budget = _budget(args.budget)
    s = _one(Path(args.scenario), args.k)
    st = Settings(budget, args.criterion, args.samples, args.holdout, args.weights, args.workers, args.seed,
                  args.population, args.generations)
    t0 = time.monotonic()
    found = search(s, st, progress=lambda m: print(f"  {time.monotonic() - t0:7.1f} s  {m}", flush=True))
    print_criterion(found)
    r = found.result
    print(f"\nsearch: {len(r.seen)} schemes priced by the planner ({found.pricer_compiles} compiles, "
          f"{found.pricer_seconds:.1f} s), {r.generations} generations, {found.search_seconds:.1f} s")
    print(f"criterion {found.criterion_seconds:.1f} s, total {time.monotonic() - t0:.1f} s")
    print(f"scheme: {found.describe}  (score {found.score:g})")
    print(f"predicted peak SRAM {found.predicted} B ({fmt_bytes(found.predicted)}); from the ELF "
          f"{found.elf.peak} B = static {found.elf.static_sram} B + reserved stack {found.elf.stack_reserved} B; "
          f"budget {budget} B")
    print("\nsparse_update:\n" + "\n".join("  " + line for line in
                                           yaml.safe_dump(found.keys, sort_keys=False, default_flow_style=None).splitlines()))
    if args.evaluate:
        print(f"host reference test accuracy with this scheme: {host_accuracy(s, found.keys):.4f}")
    note = f"--budget {args.budget}, --criterion {args.criterion}, seed {args.seed}"
    if args.output:
        out = Path(args.output)
        name = f"{s.name}-searched-{args.criterion}"
        write_text_atomic(out, scenario_text(s, found.keys, budget, out, name, note))
        print(f"wrote {out} (scenario {name})")
    if args.plot:
        label = "ΣΔacc (held-out samples)" if args.criterion == "delta" else "Σ Fisher"
        write_svg(Path(args.plot), svg(r.seen, r.best, budget, f"{s.name}: {note}", label))
        print(f"wrote {args.plot}")
    return 0
