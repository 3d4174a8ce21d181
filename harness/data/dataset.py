"""The ``Dataset`` value and ``load_dataset``, the registry entry point: a named source or a
user's file (.npz samples, .csv time series), class selection, seeded subsets, fitting to the
model input, an optional domain shift and a value scale."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping, Sequence

import numpy as np

from ..errors import DatasetError
from . import series
from .csvseries import CsvOptions, load_csv
from .digits import load_digits
from .fashion_mnist import load_fashion_mnist
from .imu import load_basic_motions, load_imu_watch
from .mnist import load_mnist
from .npzfile import load_npz
from .raw import RawImages
from .transforms import DomainShift, fit_to_input, select_classes, take_subset, to_float

log = logging.getLogger(__name__)

LOADERS: Mapping[str, Callable[[], RawImages]] = MappingProxyType({
    "fashion_mnist": load_fashion_mnist,
    "digits": load_digits,
    "mnist": load_mnist,
})
# Time-series sources, cut into windows of ``window`` steps every ``stride`` steps.
WINDOWED: Mapping[str, Callable[[int, int], RawImages]] = MappingProxyType({
    "imu_watch": load_imu_watch,
    "basic_motions": load_basic_motions,
})
# A source's own window length when it has one (else: the model input's height).
NATIVE_WINDOW: Mapping[str, int] = MappingProxyType({"basic_motions": 100})
DEFAULT_WINDOW = 128
NAMES = tuple(sorted([*LOADERS, *WINDOWED]))


@dataclass(frozen=True)
class Source:
    """Where the samples come from: a named dataset or a file, and how a series is windowed."""

    name: str | None = None
    file: Path | None = None
    window: int | None = None
    stride: int | None = None
    label: str = "label"
    session: str | None = None
    channels: tuple[str, ...] | None = None

    @property
    def title(self) -> str:
        return self.file.name if self.file is not None else str(self.name)

    @property
    def windowed(self) -> bool:
        return self.name in WINDOWED or (self.file is not None and self.file.suffix.lower() == ".csv")

    def resolved(self, input_shape: Sequence[int] | None) -> "Source":
        """The window (default: the source's own, else the model input's height) and the
        stride (default: half the window) filled in, for a windowed source."""
        if not self.windowed:
            return self
        native = NATIVE_WINDOW.get(self.name or "")
        window = self.window or native or (int(input_shape[0]) if input_shape else DEFAULT_WINDOW)
        stride = self.stride or max(1, window // 2)
        return Source(self.name, self.file, window, stride, self.label, self.session, self.channels)


def load_raw(source: Source, input_shape: Sequence[int] | None = None) -> RawImages:
    """The raw samples of ``source`` (cached per file version: scenario loading and the run
    both ask)."""
    src = source.resolved(input_shape)
    if src.file is None:
        if src.name in LOADERS:
            return LOADERS[src.name]()
        if src.name in WINDOWED:
            return _windowed(src.name, int(src.window), int(src.stride))  # type: ignore[arg-type]
        raise DatasetError(f"unknown dataset {src.name!r}", fix=f"use one of: {', '.join(NAMES)}")
    try:
        st = src.file.stat()
    except OSError as e:
        raise DatasetError(f"{src.file}: cannot read ({e.strerror or e})", fix="check the path") from None
    return _file(src, st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _windowed(name: str, window: int, stride: int) -> RawImages:
    return WINDOWED[name](window, stride)


@lru_cache(maxsize=8)
def _file(src: Source, mtime_ns: int, size: int) -> RawImages:
    assert src.file is not None
    suffix = src.file.suffix.lower()
    if suffix == ".npz":
        return load_npz(src.file)
    if suffix == ".csv":
        return load_csv(src.file, CsvOptions(int(src.window), int(src.stride), src.label,  # type: ignore[arg-type]
                                             src.session, src.channels))
    raise DatasetError(f"{src.file.name}: a dataset file is .npz (samples) or .csv (a time series), "
                       f"not {suffix or 'a file without a suffix'}",
                       fix="save the samples with np.savez_compressed(..., x=x, y=y) or as CSV")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_shape(raw: RawImages, input_shape: Sequence[int] | None) -> tuple[int, ...]:
    """The (H, W, C) the samples are fitted to: the model's, or the source's own."""
    if input_shape is not None:
        return tuple(int(v) for v in input_shape)
    if raw.kind == "series":
        return (raw.sample_shape[0], raw.sample_shape[1], 1)
    return raw.sample_shape


def fit_samples(raw: RawImages, x: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Raw samples of ``raw`` as float32 model inputs of ``shape`` (H, W, C)."""
    if raw.kind == "series":
        return series.to_input(x.astype(np.float32), shape, raw.name)
    return fit_to_input(to_float(x, raw.max_value), shape)


@dataclass(frozen=True)
class DatasetSpec:
    """Everything that determines a ``Dataset``; hashable and serialisable (a cache key)."""

    name: str
    classes: tuple[int, ...]
    train: int | None
    test: int | None
    seed: int
    input_shape: tuple[int, int, int]
    shift: DomainShift | None = None
    file: str | None = None           # a user's file: its name and content hash
    file_sha256: str | None = None
    window: int | None = None         # a time series: steps per window and between windows
    stride: int | None = None
    label: str | None = None          # a CSV file's label, session and channel columns
    session: str | None = None
    channels: tuple[str, ...] | None = None
    scale: float = 1.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shift"] = asdict(self.shift) if self.shift is not None else None
        for key in ("file", "file_sha256", "window", "stride", "label", "session", "channels"):
            if d[key] is None:
                del d[key]
        if d["scale"] == 1.0:
            del d["scale"]
        return d


@dataclass(frozen=True)
class Dataset:
    """float32 HWC model inputs (read-only arrays) and int64 labels 0..k-1: images in [0, 1]
    (real values of a float file as they are), time-series windows in their sensor's units
    (then times ``spec.scale``)."""

    spec: DatasetSpec
    class_names: tuple[str, ...]
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray

    @property
    def num_classes(self) -> int:
        return len(self.spec.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.spec.input_shape

    def digest(self) -> str:
        """sha256 of the arrays (what a cache of anything trained on this data must key on)."""
        h = hashlib.sha256()
        for a in (self.train_x, self.train_y, self.test_x, self.test_y):
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def load_dataset(name: str | None, classes: Sequence[int] | None = None, train: int | None = None,
                 test: int | None = None, seed: int = 0,
                 input_shape: Sequence[int] | None = None,
                 shift: DomainShift | Mapping[str, object] | None = None, *,
                 file: Path | str | None = None, window: int | None = None, stride: int | None = None,
                 label: str = "label", session: str | None = None,
                 channels: Sequence[str] | None = None, scale: float = 1.0) -> Dataset:
    """Load ``name`` (``NAMES``) or ``file`` (.npz or .csv) as a ``Dataset``.

    ``classes``: original class ids to keep, relabelled 0..k-1 in that order (all when None).
    ``train``/``test``: class-balanced seeded subset sizes (all when None).
    ``input_shape``: (H, W, C) of the model input (the source's own when None).
    ``shift``: a ``DomainShift`` (or its mapping form) applied to train and test alike.
    ``window``/``stride``: time steps per window and between window starts (time series;
    windows are resampled to the input's height). ``label``/``session``/``channels``: a CSV
    file's columns. ``scale``: multiplies every value after the shift (e.g. 1000: g to mg).
    """
    source = Source(name=None if file is not None else name, file=Path(file) if file is not None else None,
                    window=window, stride=stride, label=label, session=session,
                    channels=tuple(channels) if channels is not None else None)
    if source.file is None and name not in LOADERS and name not in WINDOWED:
        raise DatasetError(f"unknown dataset {name!r}", fix=f"use one of: {', '.join(NAMES)}")
    if input_shape is not None and (len(input_shape) != 3 or min(int(v) for v in input_shape) < 1):
        raise DatasetError(f"input_shape {tuple(input_shape)} is not (H, W, C)", fix="give three positive sizes")
    src = source.resolved(input_shape)
    raw = load_raw(src, input_shape)
    title = src.title
    all_classes = tuple(range(len(raw.class_names)))
    cls = tuple(int(c) for c in classes) if classes is not None else all_classes
    bad = [c for c in cls if c not in all_classes]
    if bad:
        raise DatasetError(f"{title} has no classes {bad} (it has 0..{len(all_classes) - 1})",
                           fix="choose class ids from that range")
    shape = model_shape(raw, input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise DatasetError(f"input_shape {tuple(shape)} is not (H, W, C)", fix="give three positive sizes")
    spec = DatasetSpec(name=title, classes=cls, train=train, test=test, seed=int(seed),
                       input_shape=shape, shift=DomainShift.from_spec(shift),  # type: ignore[arg-type]
                       file=src.file.name if src.file is not None else None,
                       file_sha256=file_sha256(src.file) if src.file is not None else None,
                       window=src.window, stride=src.stride,
                       label=src.label if src.file is not None and src.windowed else None,
                       session=src.session, channels=src.channels, scale=float(scale))
    if spec.shift is not None and raw.kind == "series" and spec.shift.rotation_deg:
        raise DatasetError(f"{title}: a rotation shift turns images; it has no meaning for a time series",
                           fix="use a brightness (offset), contrast or noise shift")
    root = np.random.SeedSequence(spec.seed)
    rng_train, rng_test = (np.random.default_rng(s) for s in root.spawn(2))
    splits = []
    for images, labels, n, rng, stream in ((raw.train_images, raw.train_labels, train, rng_train, 0),
                                           (raw.test_images, raw.test_labels, test, rng_test, 1)):
        x, y = select_classes(images, labels, cls)
        x, y = take_subset(x, y, n, rng)
        xf = fit_samples(raw, x, shape)
        if spec.shift is not None and not spec.shift.is_identity:
            xf = spec.shift.apply(xf, stream=stream, clip=raw.max_value is not None)
        if spec.scale != 1.0:
            xf = xf * np.float32(spec.scale)
        splits.append((_frozen(xf.astype(np.float32)), _frozen(y.astype(np.int64))))
    (trx, try_), (tex, tey) = splits
    log.info("dataset %s classes %s: %d train / %d test at %s", title, cls, len(try_), len(tey), shape)
    return Dataset(spec=spec, class_names=tuple(raw.class_names[c] for c in cls),
                   train_x=trx, train_y=try_, test_x=tex, test_y=tey)
