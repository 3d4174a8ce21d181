"""Model files: round trip, hash sidecar, corrupt files, and the exact pieces around them
(exact calibration, integer-drawn random weights)."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main as cli_main
from harness.data import load_dataset, pack_images
from harness.model import qops, train, zoo
from harness.model.fold import fold_bn
from harness.model.modelfile import ModelFileError, load_model_file, save_model_file, sidecar
from harness.model.qmath import RangeObserver
from harness.model.random_init import random_params

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "scenarios" / "models" / "small16-fashion-0to4.npz"


@pytest.fixture(scope="module")
def committed():
    return load_model_file(MODEL)


def test_committed_model_matches_its_sidecar_and_recipe(committed):
    assert sidecar(MODEL).read_text().split() == [committed.sha256, MODEL.name]
    assert committed.sha256 == hashlib.sha256(MODEL.read_bytes()).hexdigest()
    assert committed.recipe["dataset"] == "fashion_mnist" and committed.recipe["classes"] == [0, 1, 2, 3, 4]
    assert tuple(committed.graph.input_shape) == (28, 28, 1)
    assert not any(op.bn for op in committed.graph.convs())
    # the int8 model of the file keeps the float model's accuracy (measured 0.9016 on 5000)
    assert committed.metrics["int8_test_accuracy"] >= 0.88


def test_round_trip_is_exact(committed, tmp_path):
    out = tmp_path / "copy.npz"
    sha = save_model_file(out, committed.graph, committed.params, committed.qparams, committed.recipe,
                          committed.metrics, committed.made)
    again = load_model_file(out)
    assert again.sha256 == sha and sidecar(out).read_text().startswith(sha)
    assert again.graph == committed.graph and again.qparams == committed.qparams
    for k, v in committed.params.items():
        np.testing.assert_array_equal(again.params[k], v)
    a, b = committed.quantize(), again.quantize()
    for la, lb in zip(a.layers, b.layers):
        for name, value in vars(la).items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, getattr(lb, name))


@pytest.fixture
def copy(tmp_path):
    dst = tmp_path / MODEL.name
    shutil.copy(MODEL, dst)
    shutil.copy(sidecar(MODEL), sidecar(dst))
    return dst


def test_changed_file_fails_its_hash(copy):
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 1
    copy.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="the file changed or is corrupt") as e:
        load_model_file(copy)
    assert "sha256sum" in e.value.fix


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_file_without_sidecar_is_one_clear_error(copy, damage):
    sidecar(copy).unlink()
    data = copy.read_bytes()
    copy.write_bytes({"truncate": data[: len(data) // 3], "garbage": b"\x93NUMPY" + bytes(range(256)) * 4,
                      "empty": b""}[damage])
    with pytest.raises(ModelFileError, match="not a readable mcutrain model file") as e:
        load_model_file(copy)
    assert str(copy) in e.value.message and e.value.fix


def test_missing_file_and_wrong_contents(tmp_path, committed):
    with pytest.raises(ModelFileError, match="no such file"):
        load_model_file(tmp_path / "nope.npz")
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(ModelFileError, match="no 'meta' entry"):
        load_model_file(other)
    # parameters that do not fit the graph
    params = dict(committed.params)
    params.pop(next(iter(params)))
    bad = tmp_path / "bad.npz"
    save_model_file(bad, committed.graph, params, committed.qparams, {}, {}, {})
    with pytest.raises(ModelFileError, match="do not match its graph"):
        load_model_file(bad)
    # a NaN weight
    params = {k: v.copy() for k, v in committed.params.items()}
    params["stem.weight"][0, 0, 0, 0] = np.nan
    save_model_file(bad, committed.graph, params, committed.qparams, {}, {}, {})
    with pytest.raises(ModelFileError, match="NaN"):
        load_model_file(bad)


def test_random_weights_are_the_same_bits_everywhere():
    """Integer draws and IEEE-exact arithmetic only: this digest is the same on any machine."""
    g = zoo.small_cnn((28, 28, 1), 5, 16)
    p = random_params(g, 0)
    h = hashlib.sha256()
    for k in sorted(p):
        h.update(k.encode())
        h.update(p[k].tobytes())
    assert h.hexdigest()[:16] == RANDOM_DIGEST
    assert np.abs(p["stem.weight"]).max() <= np.sqrt(6.0 / 9) + 1e-6


# numpy's PCG64 integer stream is the only input; numpy keeps Generator.integers stable
# across releases in practice (a change there would show up here first)
RANDOM_DIGEST = "570f9a290ccec3d7"


def test_exact_calibration_tracks_the_float_ranges(committed):
    """The ranges measured on the int8 model itself are close to those of the float model."""
    ds = load_dataset("fashion_mnist", classes=(0, 1, 2, 3, 4), train=512, test=10, seed=0)
    qm = committed.quantize()
    fparams = dict(committed.params)
    tr = train.forward_float(committed.graph, fparams, ds.train_x)
    from harness.model.calibrate import calibrate_exact
    qp = calibrate_exact(committed.graph, fparams, pack_images(ds.train_x, qm.input), qm.input)
    for name, value in tr.tensors.items():
        if name == committed.graph.input:
            continue
        obs = RangeObserver()
        obs.update(value)
        float_qp = obs.qparams()
        assert abs(qp[name].scale / float_qp.scale - 1) < 0.05, name
    assert qops.accuracy(qm, pack_images(ds.test_x, qm.input), ds.test_y) >= 0.7
    assert fold_bn(committed.graph, fparams)[0] == committed.graph


def test_pretrain_command_makes_a_file_and_compares(tmp_path, capsys):
    out = tmp_path / "tiny.npz"
    assert cli_main(["pretrain", "--arch", "small", "--width", "4", "--dataset", "fashion_mnist",
                     "--classes", "0,1", "--train", "200", "--test", "100", "--epochs", "1",
                     "-o", str(out)]) == 0
    text = capsys.readouterr().out
    mf = load_model_file(out)
    assert f"sha256   {mf.sha256}" in text and sidecar(out).is_file()
    assert mf.recipe["width"] == 4 and mf.metrics["test_samples"] == 100
    # regenerating from the file's own recipe prints the comparison with the committed file
    again = tmp_path / "again.npz"
    assert cli_main(["pretrain", str(out), "-o", str(again)]) == 0
    text = capsys.readouterr().out
    assert "committed" in text and "int8" in text and "close, not identical" in text
    assert load_model_file(again).recipe == mf.recipe
