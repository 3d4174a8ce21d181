"""The scenario's ``model:`` section: a model file inside the scenario's folder, or a zoo
model with seeded random weights; never implicit pretraining."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from harness.cli import main as cli_main
from harness.errors import ScenarioError
from harness.model.modelfile import load_model_file, sidecar
from harness.scenario import load_scenarios

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "scenarios" / "models" / "small16-fashion-0to4.npz"

BODY = """scenarios:
  - name: s
    model: {model}
    dataset: {{name: fashion_mnist, classes: [5, 6, 7, 8, 9], train: 20, test: 20}}
"""


def _write(tmp_path: Path, model: str) -> Path:
    (tmp_path / "models").mkdir(exist_ok=True)
    for f in (MODEL, sidecar(MODEL)):
        shutil.copy(f, tmp_path / "models" / f.name)
    path = tmp_path / "s.yaml"
    path.write_text(BODY.format(model=model))
    return path


def test_model_file_relative_to_the_scenario(tmp_path):
    (s,) = load_scenarios(_write(tmp_path, "{file: models/small16-fashion-0to4.npz}"))
    assert s.model.file == (tmp_path / "models" / MODEL.name).resolve()
    assert s.model.input == (28, 28, 1)  # from the file


@pytest.mark.parametrize("model, message", [
    ("{arch: small, pretrain: {dataset: fashion_mnist, epochs: 5}}", "model.pretrain is no longer run"),
    ("{file: ../elsewhere/m.npz}", "must be a relative path inside the scenario's folder"),
    ("{file: /etc/passwd}", "must be a relative path inside the scenario's folder"),
    ("{file: models/nope.npz}", "no such file"),
    ("{file: models/small16-fashion-0to4.npz, arch: small}", "exactly one of 'file:'"),
    ("{width: 16}", "exactly one of 'file:'"),
    ("{file: models/small16-fashion-0to4.npz, input: [32, 32, 1]}", "does not match the model file's input"),
])
def test_bad_model_sections_are_one_clear_error(tmp_path, model, message):
    path = _write(tmp_path, model)
    with pytest.raises(ScenarioError, match=message) as e:
        load_scenarios(path)
    assert str(path) in e.value.message and e.value.fix


def test_symlinks_out_of_the_folder_and_loops_are_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(MODEL, outside / "m.npz")
    inner = tmp_path / "inner"
    inner.mkdir()
    path = _write(inner, "{file: models/link.npz}")
    os.symlink(outside / "m.npz", inner / "models" / "link.npz")
    with pytest.raises(ScenarioError, match="leads outside the scenario's folder"):
        load_scenarios(path)
    os.unlink(inner / "models" / "link.npz")
    os.symlink(inner / "models" / "loop.npz", inner / "models" / "link.npz")
    os.symlink(inner / "models" / "link.npz", inner / "models" / "loop.npz")
    with pytest.raises(ScenarioError, match="cannot be resolved") as e:
        load_scenarios(path)
    assert "symlink loop" in e.value.fix


def test_corrupt_model_file_is_reported_at_load_with_file_and_line(tmp_path):
    path = _write(tmp_path, "{file: models/small16-fashion-0to4.npz}")
    target = tmp_path / "models" / MODEL.name
    target.write_bytes(target.read_bytes()[:1000])
    with pytest.raises(ScenarioError, match="the file changed or is corrupt") as e:
        load_scenarios(path)
    assert f"{path}:3" in e.value.message


def test_pretrain_from_a_scenario_uses_its_model_files_recipe(tmp_path, capsys):
    path = _write(tmp_path, "{file: models/small16-fashion-0to4.npz}")
    out = tmp_path / "new.npz"
    assert cli_main(["pretrain", str(path), "--train", "200", "--test", "100", "--epochs", "1",
                     "-o", str(out)]) == 0
    text = capsys.readouterr().out
    new, old = load_model_file(out), load_model_file(MODEL)
    assert new.recipe["classes"] == old.recipe["classes"] and new.recipe["epochs"] == 1
    assert f"was      {tmp_path / 'models' / MODEL.name} sha256 {old.sha256}" in text
    assert new.sha256 != old.sha256 and f"sha256   {new.sha256}" in text
