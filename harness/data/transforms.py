"""Dataset transforms: class selection, seeded subsets, fitting images to a model's input,
and domain shifts that model a new sensor. All images here are float32 HWC in [0, 1].
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Mapping, Sequence

import numpy as np

from ..errors import DatasetError

ShiftKind = Literal["brightness", "contrast", "rotation", "noise", "sensor"]
# Each shift kind at strength 1.0; a strength s scales the departure from the identity.
FULL_STRENGTH = MappingProxyType({"brightness": 0.3, "contrast": 0.6, "rotation": 30.0, "noise": 0.15})


def select_classes(images: np.ndarray, labels: np.ndarray,
                   classes: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Keep samples of ``classes`` and relabel them 0..k-1 in the order given
    (``classes=(5, 6)`` makes class 5 label 0 and class 6 label 1)."""
    classes = [int(c) for c in classes]
    if len(set(classes)) != len(classes) or not classes:
        raise DatasetError(f"classes {classes} must be a non-empty list without repeats",
                           fix="list each class id once, e.g. classes: [0, 1, 2, 3, 4]")
    present = set(np.unique(labels).tolist())
    absent = [c for c in classes if c not in present]
    if absent:
        raise DatasetError(f"classes {absent} do not occur in the data (it has {sorted(present)})",
                           fix="choose classes among the ones listed")
    remap = np.full(int(max(present.union(classes))) + 1, -1, dtype=np.int64)
    remap[classes] = np.arange(len(classes))
    keep = remap[labels] >= 0
    return images[keep], remap[labels[keep]]


def take_subset(images: np.ndarray, labels: np.ndarray, n: int | None,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A seeded, class-balanced subset of ``n`` samples (all when ``n`` is None), shuffled.

    Samples are drawn round-robin over classes in a random order, so every class gets
    ``n // k`` or one more while it has samples left.
    """
    total = labels.shape[0]
    if n is None:
        order = rng.permutation(total)
        return images[order], labels[order]
    if n <= 0 or n > total:
        raise DatasetError(f"asked for {n} samples but only {total} are available",
                           fix=f"use a count between 1 and {total}, or leave it unset for all")
    perm = rng.permutation(total)
    rank = np.empty(total, dtype=np.int64)
    for c in np.unique(labels):
        pos = np.flatnonzero(labels[perm] == c)
        rank[pos] = np.arange(pos.size)
    chosen = perm[np.lexsort((np.arange(total), rank))[:n]]
    chosen = chosen[rng.permutation(n)]
    return images[chosen], labels[chosen]


def to_float(images: np.ndarray, max_value: float | None) -> np.ndarray:
    """Integer images in [0, max_value] to float32 in [0, 1]; real values (``max_value``
    None) only to float32."""
    if max_value is None:
        return images.astype(np.float32)
    return (images.astype(np.float32) / np.float32(max_value)).astype(np.float32)


def _bilinear(img: np.ndarray, ys: np.ndarray, xs: np.ndarray,
              outside: Literal["edge", "zero"]) -> np.ndarray:
    """Sample (N, H, W, C) images at source pixel coordinates ``ys, xs`` (each (Ho, Wo))."""
    _, h, w, _ = img.shape
    if outside == "edge":
        ys = np.clip(ys, 0.0, h - 1.0)
        xs = np.clip(xs, 0.0, w - 1.0)
    y0 = np.floor(ys).astype(np.int64)
    x0 = np.floor(xs).astype(np.int64)
    fy = (ys - y0).astype(np.float32)
    fx = (xs - x0).astype(np.float32)
    out = np.zeros((img.shape[0],) + ys.shape + (img.shape[3],), dtype=np.float32)
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            yy, xx = y0 + dy, x0 + dx
            valid = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            wgt = (wy * wx * valid).astype(np.float32)
            out += img[:, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1), :] * wgt[None, :, :, None]
    return out


def resize(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize (half-pixel centres, edge replicated) of (N, H, W, C) images."""
    _, h, w, _ = images.shape
    if (h, w) == (height, width):
        return images
    ys = (np.arange(height) + 0.5) * (h / height) - 0.5
    xs = (np.arange(width) + 0.5) * (w / width) - 0.5
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return _bilinear(images, yy, xx, "edge")


def pad_to(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre the images in a zero (black) canvas of the given size."""
    _, h, w, _ = images.shape
    top, left = (height - h) // 2, (width - w) // 2
    return np.pad(images, ((0, 0), (top, height - h - top), (left, width - w - left), (0, 0)))


def fit_to_input(images: np.ndarray, input_shape: Sequence[int],
                 mode: Literal["auto", "pad", "resize"] = "auto") -> np.ndarray:
    """Fit (N, H, W, C) images to a model input (H', W', C').

    Channels: 1 -> C' replicates the grey channel, 3 -> 1 averages. Space: ``pad`` centres
    the image on black, ``resize`` is bilinear; ``auto`` pads when the input is at most 25%
    larger than the image on each side (28 -> 32), and resizes otherwise (28 -> 128, 8 -> 28).
    """
    th, tw, tc = (int(v) for v in input_shape)
    n, h, w, c = images.shape
    if c != tc:
        if c == 1:
            images = np.repeat(images, tc, axis=3)
        elif tc == 1:
            images = images.mean(axis=3, keepdims=True, dtype=np.float32)
        else:
            raise DatasetError(f"cannot map {c}-channel images to a {tc}-channel model input",
                               fix="use a model with 1 or the same number of input channels")
    if (h, w) == (th, tw):
        return images.astype(np.float32, copy=False)
    if mode == "auto":
        fits = h <= th <= math.floor(1.25 * h) and w <= tw <= math.floor(1.25 * w)
        mode = "pad" if fits else "resize"
    if mode == "pad":
        if th < h or tw < w:
            raise DatasetError(f"cannot pad {h}x{w} images to a smaller {th}x{tw} input",
                               fix="use mode 'resize' or a larger model input")
        return pad_to(images, th, tw)
    return resize(images, th, tw)


@dataclass(frozen=True)
class DomainShift:
    """A new sensor: the same scene seen rotated, brighter, with less contrast and noisier.

    Applied in this order, then clipped to [0, 1]: rotation by ``rotation_deg``
    (counter-clockwise about the centre, the same for every image: a sensor mounted at an
    angle; the uncovered corners are black), contrast ``m + contrast * (x - m)`` around each
    image's mean ``m``, ``+ brightness``, then Gaussian noise of std ``noise_std`` drawn from a
    generator seeded by ``seed`` (and the split, so train and test noise differ).
    """

    brightness: float = 0.0
    contrast: float = 1.0
    rotation_deg: float = 0.0
    noise_std: float = 0.0
    seed: int = 0

    @classmethod
    def preset(cls, kind: ShiftKind, strength: float, seed: int = 0) -> "DomainShift":
        """A named shift at ``strength`` in [0, 1]: brightness +0.3 s, contrast 1 - 0.6 s,
        rotation 30 s degrees, noise std 0.15 s; ``sensor`` is all four at once."""
        if not 0.0 <= float(strength) <= 1.0:
            raise DatasetError(f"shift strength {strength} is outside [0, 1]",
                               fix="use a strength between 0 (no shift) and 1 (strong)")
        s, full = float(strength), FULL_STRENGTH
        kinds = ("brightness", "contrast", "rotation", "noise") if kind == "sensor" else (kind,)
        unknown = [k for k in kinds if k not in full]
        if unknown:
            raise DatasetError(f"unknown shift kind {kind!r}",
                               fix="use one of brightness, contrast, rotation, noise, sensor")
        return cls(brightness=full["brightness"] * s if "brightness" in kinds else 0.0,
                   contrast=1.0 - full["contrast"] * s if "contrast" in kinds else 1.0,
                   rotation_deg=full["rotation"] * s if "rotation" in kinds else 0.0,
                   noise_std=full["noise"] * s if "noise" in kinds else 0.0,
                   seed=seed)

    @classmethod
    def from_spec(cls, spec: "DomainShift | Mapping[str, object] | None") -> "DomainShift | None":
        """Accept a DomainShift, ``{kind, strength[, seed]}`` or the field names as a mapping."""
        if spec is None or isinstance(spec, DomainShift):
            return spec
        spec = dict(spec)
        if "kind" in spec:
            extra = set(spec) - {"kind", "strength", "seed"}
            if extra or "strength" not in spec:
                raise DatasetError(f"shift {spec} must have exactly kind, strength and optionally seed",
                                   fix="e.g. shift: {kind: noise, strength: 0.5}")
            return cls.preset(spec["kind"], float(spec["strength"]),  # type: ignore[arg-type]
                              int(spec.get("seed", 0)))  # type: ignore[arg-type]
        fields = {"brightness", "contrast", "rotation_deg", "noise_std", "seed"}
        if set(spec) - fields:
            raise DatasetError(f"unknown shift keys {sorted(set(spec) - fields)}",
                               fix=f"use {sorted(fields)} or kind/strength")
        return cls(**spec)  # type: ignore[arg-type]

    @property
    def is_identity(self) -> bool:
        return (self.brightness == 0.0 and self.contrast == 1.0 and self.rotation_deg == 0.0
                and self.noise_std == 0.0)

    def apply(self, images: np.ndarray, stream: int = 0, clip: bool = True) -> np.ndarray:
        """Shift float images (N, H, W, C); ``stream`` separates the noise of different splits.
        ``clip``: clip to [0, 1] (images); sensor values (time series) are not clipped."""
        x = images.astype(np.float32, copy=True)
        if self.rotation_deg:
            x = rotate(x, self.rotation_deg)
        if self.contrast != 1.0:
            m = x.mean(axis=(1, 2, 3), keepdims=True)
            x = m + np.float32(self.contrast) * (x - m)
        if self.brightness:
            x = x + np.float32(self.brightness)
        if self.noise_std:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, stream]))
            x = x + rng.normal(0.0, self.noise_std, size=x.shape).astype(np.float32)
        return (np.clip(x, 0.0, 1.0) if clip else x).astype(np.float32)



def rotate(images: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate (N, H, W, C) images counter-clockwise about their centre; outside is black."""
    _, h, w, _ = images.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    th = math.radians(degrees)
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    dy, dx = yy - cy, xx - cx
    # inverse map: source = R(-theta) * dest, with y pointing down on screen
    sx = math.cos(th) * dx - math.sin(th) * dy + cx
    sy = math.sin(th) * dx + math.cos(th) * dy + cy
    return _bilinear(images, sy, sx, "zero")
