"""A user's own samples in a NumPy ``.npz`` file, read as untrusted input.

The file holds ``x`` and ``y`` and optionally ``x_test`` and ``y_test`` (without them, a fixed
stratified 75/25 split of ``x``). ``x`` is (N, H, W, C) or (N, H, W) images, or (N, T, C)
time-series windows; uint8 (pixels 0..255), int8 (taken as ``(q + 128) / 255``, the usual
int8 image input) or float16/32/64 (real values, as they are). ``y`` holds integer labels
0..K-1 (at most 256 classes).

Nothing is unpickled (``allow_pickle=False``, and an object array is refused from its header
before any of its data is read); array headers are checked against ``MAX_BYTES`` before an
array is read, so a small compressed file cannot expand into gigabytes.
"""
from __future__ import annotations

import difflib
import zipfile
from pathlib import Path
from typing import IO

import numpy as np

from ..errors import DatasetError
from .raw import RawImages

MAX_BYTES = 512 << 20          # all arrays of one file, uncompressed
MAX_MEMBERS = 16
MAX_SIDE = 1024                # H, W of an image (the scenario's model.input bound)
MAX_CHANNELS = 16
MAX_STEPS = 1 << 16            # T of a time-series window
MAX_CLASSES = 256
TEST_FRACTION = 0.25
SPLIT_SEED = 20240             # fixed: the split is part of the file's definition, not of a run
ARRAYS = ("x", "y", "x_test", "y_test")
X_DTYPES = ("uint8", "int8", "float16", "float32", "float64")
_SAVE = "np.savez_compressed('x.npz', x=x, y=y)  # optionally x_test=..., y_test=..."


def _bad(path: Path, what: str, fix: str) -> DatasetError:
    return DatasetError(f"{path.name}: {what}", fix=fix)


def _header(f: IO[bytes], path: Path, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype of one ``.npy`` member, from its header alone."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as e:
        raise _bad(path, f"array {key!r} is not a readable .npy array ({str(e)[:160]})",
                   f"write the file with numpy: {_SAVE}") from None
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise _bad(path, f"array {key!r} holds Python objects or records ({dtype}); mcutrain never "
                   "unpickles a data file", f"save plain numeric arrays: {_SAVE}")
    return tuple(int(v) for v in shape), dtype


def _read_members(path: Path) -> dict[str, np.ndarray]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise _bad(path, f"not an .npz (zip) file ({str(e)[:160]})",
                   f"write it with numpy: {_SAVE}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            raise _bad(path, f"{len(infos)} members, more than an .npz dataset has",
                       f"keep only the arrays {', '.join(ARRAYS)}")
        total = sum(i.file_size for i in infos)
        if total > MAX_BYTES:
            raise _bad(path, f"its arrays need {total} bytes uncompressed, more than {MAX_BYTES >> 20} MiB",
                       "a microcontroller dataset is small: keep a subset of the samples")
        out: dict[str, np.ndarray] = {}
        for info in infos:
            key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if key not in ARRAYS:
                close = [key.lower()] if key.lower() in ARRAYS else difflib.get_close_matches(key[:60], ARRAYS, n=1)
                raise _bad(path, f"unknown array {key[:60]!r}"
                           + (f" (did you mean {close[0]!r}?)" if close else ""),
                           f"the file may hold only {', '.join(ARRAYS)}")
            if key in out:
                raise _bad(path, f"array {key!r} appears twice in the zip", f"write the file again with {_SAVE}")
            try:
                with zf.open(info) as f:
                    shape, dtype = _header(f, path, key)
                    if any(v < 0 for v in shape) or int(np.prod(shape, dtype=object)) * dtype.itemsize > info.file_size:
                        raise _bad(path, f"array {key!r} declares shape {shape[:8]} of {dtype}, larger "
                                   "than its data", f"the file is corrupt: write it again with {_SAVE}")
                with zf.open(info) as f:
                    out[key] = np.lib.format.read_array(f, allow_pickle=False)
            except DatasetError:
                raise
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, RuntimeError, NotImplementedError) as e:
                raise _bad(path, f"array {key!r} cannot be read ({str(e)[:160]})",
                           f"the file is corrupt: write it again with {_SAVE}") from None
    return out


def _check_x(path: Path, key: str, x: np.ndarray) -> None:
    if x.dtype.name not in X_DTYPES:
        raise _bad(path, f"{key} has dtype {x.dtype}; samples are uint8, int8 or float",
                   f"convert it: {key}.astype(np.uint8) for 0..255 pixels, or {key}.astype(np.float32)")
    if x.ndim not in (3, 4):
        raise _bad(path, f"{key} has shape {x.shape[:8]}; samples are (N, H, W, C) or (N, H, W) images "
                   "or (N, T, C) time series", f"reshape {key}, e.g. x.reshape(N, 28, 28, 1)")
    if x.shape[0] == 0:
        raise _bad(path, f"{key} holds no samples (shape {x.shape})", f"put at least one sample in {key}")
    if x.ndim == 4:
        _, h, w, c = x.shape
        if h > MAX_SIDE or w > MAX_SIDE or c > MAX_CHANNELS or min(h, w, c) < 1:
            raise _bad(path, f"{key} images are {h}x{w}x{c}: at most {MAX_SIDE}x{MAX_SIDE} pixels "
                       f"and {MAX_CHANNELS} channels", "resize the images to the model input first")
    else:
        _, t, c = x.shape
        if t > MAX_STEPS or c > MAX_SIDE or min(t, c) < 1:
            raise _bad(path, f"{key} samples are {t}x{c}: at most {MAX_STEPS} steps (rows) and "
                       f"{MAX_SIDE} columns", "cut the recordings into shorter windows first")
    if x.dtype.kind == "f":
        bad = ~np.isfinite(x)
        if bad.any():
            first = int(np.argmax(bad.reshape(x.shape[0], -1).any(axis=1)))
            raise _bad(path, f"{key} holds {int(bad.sum())} NaN or infinite values (first in sample {first})",
                       "drop those samples or fill the gaps before saving")


def _check_y(path: Path, key: str, y: np.ndarray, n: int, xkey: str) -> np.ndarray:
    if y.dtype.kind not in "iu":
        raise _bad(path, f"{key} has dtype {y.dtype}; labels are integers 0..K-1",
                   f"convert it: {key}.astype(np.int64) (map names to ids first)")
    if y.ndim != 1 and not (y.ndim == 2 and y.shape[1] == 1):
        raise _bad(path, f"{key} has shape {y.shape[:8]}; labels are one integer per sample, shape (N,)",
                   f"save class ids, not one-hot rows: {key}.argmax(axis=1)")
    y = y.reshape(-1)
    if y.shape[0] != n:
        raise _bad(path, f"{key} has {y.shape[0]} labels but {xkey} has {n} samples",
                   f"give one label per sample of {xkey}")
    if y.size and (int(y.min()) < 0 or int(y.max()) >= MAX_CLASSES):
        raise _bad(path, f"{key} holds labels {int(y.min())}..{int(y.max())}; labels are 0..K-1 with "
                   f"K <= {MAX_CLASSES}", "relabel the classes to 0..K-1")
    return y.astype(np.int64)


def _split(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A fixed stratified split: round(25%) of each class to test."""
    rng = np.random.default_rng(SPLIT_SEED)
    test = np.zeros(y.shape[0], dtype=bool)
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        test[rng.permutation(idx)[:int(round(TEST_FRACTION * idx.size))]] = True
    return x[~test], y[~test], x[test], y[test]


def load_npz(path: Path) -> RawImages:
    """Read and validate ``path``; every problem is one DatasetError naming the file and the fix."""
    path = Path(path)
    arrays = _read_members(path)
    for key in ("x", "y"):
        if key not in arrays:
            raise _bad(path, f"no array {key!r} (it has {', '.join(sorted(arrays)) or 'none'})",
                       f"save the samples as x and the labels as y: {_SAVE}")
    if ("x_test" in arrays) != ("y_test" in arrays):
        have, lack = ("x_test", "y_test") if "x_test" in arrays else ("y_test", "x_test")
        raise _bad(path, f"it has {have} but no {lack}", f"save both test arrays, or neither (a fixed 75/25 "
                   "split of x is made)")
    x = arrays["x"]
    _check_x(path, "x", x)
    y = _check_y(path, "y", arrays["y"], x.shape[0], "x")
    if "x_test" in arrays:
        xt = arrays["x_test"]
        _check_x(path, "x_test", xt)
        if xt.shape[1:] != x.shape[1:] or xt.dtype != x.dtype:
            raise _bad(path, f"x_test samples are {xt.shape[1:]} {xt.dtype} but x samples are "
                       f"{x.shape[1:]} {x.dtype}", "save x and x_test with the same sample shape and dtype")
        yt = _check_y(path, "y_test", arrays["y_test"], xt.shape[0], "x_test")
    else:
        x, y, xt, yt = _split(x, y)
    k = int(max(y.max(), yt.max() if yt.size else 0)) + 1
    kind = "image"
    max_value: float | None = 255.0
    if x.dtype == np.int8:  # the int8 image input convention: real = (q + 128) / 255
        x = (x.astype(np.int16) + 128).astype(np.uint8)
        xt = (xt.astype(np.int16) + 128).astype(np.uint8)
    elif x.dtype.kind == "f":
        max_value = None
        x, xt = x.astype(np.float32), xt.astype(np.float32)
    if x.ndim == 3:
        kind = "series" if x.dtype.kind == "f" else "image"
        if kind == "image":
            x, xt = x[..., None], xt[..., None]
    return RawImages(name=path.name, train_images=x, train_labels=y, test_images=xt, test_labels=yt,
                     class_names=tuple(str(i) for i in range(k)), max_value=max_value,
                     kind=kind)  # type: ignore[arg-type]
