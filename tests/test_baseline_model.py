"""The baseline records which model file (by sha256) its numbers were measured with, and the
baseline check says exactly that when a run uses another model."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import yaml

from harness.baseline import Baseline, models_of, read_entries
from harness.model.modelfile import load_model_file, save_model_file

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "scenarios" / "models" / "small16-fashion-0to4.npz"


class _S:
    file = Path("scenarios/fashion.yaml")
    name = "fashion-new-classes"
    board = "stm32f746"
    tolerance = None


def _baseline(tmp_path: Path, model: dict | None) -> Baseline:
    entry = {"file": "scenarios/fashion.yaml", "scenario": _S.name, "board": _S.board,
             "metrics": {"flash": 1000}, "largest_symbols": {}}
    if model:
        entry["model"] = model
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({"version": 1, "scenarios": {"fashion::fashion-new-classes@stm32f746": entry}}))
    return Baseline(path)


def test_same_model_compares_the_numbers(tmp_path):
    b = _baseline(tmp_path, {"file": "scenarios/models/m.npz", "sha256": "aa" * 32})
    v = b.check(_S(), {"flash": 1000, "model_sha256": "aa" * 32, "model_file": "m.npz"}, {})
    assert v.ok and "within tolerance" in v.summary


def test_another_model_says_so_and_compares_nothing(tmp_path):
    b = _baseline(tmp_path, {"file": "scenarios/models/m.npz", "sha256": "aa" * 32})
    v = b.check(_S(), {"flash": 1000, "model_sha256": "bb" * 32, "model_file": "scenarios/models/m.npz"}, {})
    assert not v.ok
    assert f"the model file changed: the baseline was recorded with scenarios/models/m.npz sha256 {'aa' * 32}" in v.summary
    assert f"this run uses scenarios/models/m.npz sha256 {'bb' * 32}" in v.summary
    assert "git checkout -- scenarios/models/m.npz" in v.summary


def test_committed_baseline_names_the_committed_models():
    doc = json.loads((REPO / "reports" / "baseline.json").read_text())
    sha = load_model_file(MODEL).sha256
    assert doc["models"]["scenarios/models/small16-fashion-0to4.npz"] == sha
    # every committed model file the baseline names is the file in the tree (imported MLTK
    # models are named by their extracted cache path and checked by their sha256 alone)
    committed = {f: s for f, s in doc["models"].items() if f.startswith("scenarios/models/")}
    assert len(committed) >= 2
    for f, s in committed.items():
        assert load_model_file(REPO / f).sha256 == s, f
    assert models_of(read_entries(REPO / "reports" / "baseline.json")) == doc["models"]
    trained = [e for e in doc["scenarios"].values() if e["file"] == "scenarios/fashion.yaml"]
    assert trained and all(e["model"]["sha256"] == sha for e in trained)


def test_gate_with_a_replaced_model_file_fails_the_baseline(pytester):
    """End to end with pytest: record a baseline with the committed model, swap the model file
    for a retrained one (here: one weight nudged, a valid file with its own .sha256), and the
    baseline item fails naming both hashes."""
    doc = yaml.safe_load((REPO / "scenarios" / "fashion.yaml").read_text())
    (first,) = [s for s in doc["scenarios"] if s["name"] == "fashion-new-classes"]
    first["dataset"].update(train=10, test=10)  # a few seconds on the emulator
    first["expect"] = {"parity": "none"}
    doc["scenarios"] = [first]
    doc["common"]["training"]["epochs"] = 1
    d = pytester.mkdir("scenarios")
    shutil.copytree(REPO / "scenarios" / "models", d / "models")
    (d / "fashion.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    args = ("-p", "no:cacheprovider", "--rootdir", str(pytester.path),
            "--report-dir", str(pytester.path / "reports" / "run"), str(d), "-k", "baseline")
    pytester.runpytest(*args, "--update-baseline").assert_outcomes(passed=1)
    old_sha = load_model_file(d / "models" / MODEL.name).sha256

    mf = load_model_file(d / "models" / MODEL.name)
    params = {k: v.copy() for k, v in mf.params.items()}
    params["stem.weight"][0, 0, 0, 0] += np.float32(1e-3)
    new_sha = save_model_file(d / "models" / MODEL.name, mf.graph, params, mf.qparams, mf.recipe,
                              mf.metrics, mf.made)
    result = pytester.runpytest(*args)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "the model file changed" in out and old_sha in out and new_sha in out
