"""The search's output as a scenario, run for real: the small net's searched scheme written by
`mcutrain search -o`, cross-compiled and run on QEMU, fits the budget as the ELF and the run
measure it (the gate's static + reserved stack, and static + the measured stack high-water)."""
from __future__ import annotations

import shutil

import yaml

from harness.pipeline import REPO, Pipeline
from harness.scenario import load_scenarios
from harness.search.cli_search import scenario_text
from harness.search.run import Settings, search

BUDGET = 56 * 1024


def test_searched_scenario_fits_its_budget_on_the_emulated_board(tmp_path):
    (tmp_path / "models").mkdir()
    for name in ("small16-fashion-0to4.npz", "small16-fashion-0to4.npz.sha256"):
        shutil.copy(REPO / "scenarios" / "models" / name, tmp_path / "models" / name)
    shutil.copy(REPO / "scenarios" / "fashion.yaml", tmp_path / "fashion.yaml")
    s = next(x for x in load_scenarios(tmp_path / "fashion.yaml") if x.name == "fashion-new-classes")
    found = search(s, Settings(budget=BUDGET, criterion="fisher", samples=40, holdout=40, population=12,
                               generations=6, workers=1))
    out = tmp_path / "searched.yaml"
    out.write_text(scenario_text(s, found.keys, BUDGET, out, "searched", "test"))
    doc = yaml.safe_load(out.read_text())
    entry = doc["scenarios"][0]
    assert entry["training"]["sparse_update"] == found.keys and entry["model"]["file"] == "models/small16-fashion-0to4.npz"
    entry["dataset"].update(train=40, test=40)  # a short run: the samples are not in SRAM
    entry["training"]["epochs"] = 1
    out.write_text(yaml.safe_dump(doc, sort_keys=False))
    (searched,) = load_scenarios(out)
    assert searched.budgets.sram == BUDGET
    p = Pipeline()
    mem = p.check(searched, "memory")
    assert mem.ok, mem.summary + "\n" + mem.details
    o = p.outcome(searched)
    assert o.memory.static_sram + o.memory.stack_reserved == found.elf.peak <= BUDGET
    stack = p.check(searched, "stack")
    assert stack.ok, stack.summary
    assert o.metrics["peak_sram"] <= BUDGET
    assert o.metrics["scheme"] == o.workload.scheme.describe() and o.run.status == "ok"
