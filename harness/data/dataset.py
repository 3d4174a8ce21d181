"""The ``Dataset`` value and ``load_dataset``, the registry entry point: a named source,
class selection, seeded subsets, fitting to the model input and an optional domain shift."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Callable, Mapping, Sequence

import numpy as np

from ..errors import DatasetError
from .digits import load_digits
from .fashion_mnist import load_fashion_mnist
from .raw import RawImages
from .transforms import DomainShift, fit_to_input, select_classes, take_subset, to_float

log = logging.getLogger(__name__)

LOADERS: Mapping[str, Callable[[], RawImages]] = MappingProxyType({
    "fashion_mnist": load_fashion_mnist,
    "digits": load_digits,
})


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

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shift"] = asdict(self.shift) if self.shift is not None else None
        return d


@dataclass(frozen=True)
class Dataset:
    """float32 HWC images in [0, 1] (read-only arrays) and int64 labels 0..k-1."""

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


def load_dataset(name: str, classes: Sequence[int] | None = None, train: int | None = None,
                 test: int | None = None, seed: int = 0,
                 input_shape: Sequence[int] | None = None,
                 shift: DomainShift | Mapping[str, object] | None = None) -> Dataset:
    """Load ``name`` (``fashion_mnist``, ``digits``) as a ``Dataset``.

    ``classes``: original class ids to keep, relabelled 0..k-1 in that order (all when None).
    ``train``/``test``: class-balanced seeded subset sizes (all when None).
    ``input_shape``: (H, W, C) of the model input (the source's own when None).
    ``shift``: a ``DomainShift`` (or its mapping form) applied to train and test alike.
    """
    if name not in LOADERS:
        raise DatasetError(f"unknown dataset {name!r}", fix=f"use one of: {', '.join(sorted(LOADERS))}")
    raw = LOADERS[name]()
    all_classes = tuple(range(len(raw.class_names)))
    cls = tuple(int(c) for c in classes) if classes is not None else all_classes
    bad = [c for c in cls if c not in all_classes]
    if bad:
        raise DatasetError(f"{name} has no classes {bad} (it has 0..{len(all_classes) - 1})",
                           fix="choose class ids from that range")
    native = tuple(raw.train_images.shape[1:])
    shape = tuple(int(v) for v in input_shape) if input_shape is not None else native
    if len(shape) != 3 or min(shape) < 1:
        raise DatasetError(f"input_shape {tuple(shape)} is not (H, W, C)", fix="give three positive sizes")
    spec = DatasetSpec(name=name, classes=cls, train=train, test=test, seed=int(seed),
                       input_shape=shape, shift=DomainShift.from_spec(shift))  # type: ignore[arg-type]
    root = np.random.SeedSequence(spec.seed)
    rng_train, rng_test = (np.random.default_rng(s) for s in root.spawn(2))
    splits = []
    for images, labels, n, rng, stream in ((raw.train_images, raw.train_labels, train, rng_train, 0),
                                           (raw.test_images, raw.test_labels, test, rng_test, 1)):
        x, y = select_classes(images, labels, cls)
        x, y = take_subset(x, y, n, rng)
        xf = fit_to_input(to_float(x, raw.max_value), shape)
        if spec.shift is not None and not spec.shift.is_identity:
            xf = spec.shift.apply(xf, stream=stream)
        splits.append((_frozen(xf.astype(np.float32)), _frozen(y.astype(np.int64))))
    (trx, try_), (tex, tey) = splits
    log.info("dataset %s classes %s: %d train / %d test at %s", name, cls, len(try_), len(tey), shape)
    return Dataset(spec=spec, class_names=tuple(raw.class_names[c] for c in cls),
                   train_x=trx, train_y=try_, test_x=tex, test_y=tey)
