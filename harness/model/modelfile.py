"""Model files: a trained float model, BatchNorm folded, with its int8 activation ranges.

A model file is the input artifact of a training scenario, as a model from "the cloud" is
for a real user: ``mcutrain pretrain`` makes one on purpose, scenarios name it with
``model.file``, and runs only read it. Everything after it is exact (quantize.quantize_with),
so the int8 model and the generated C depend on the file's bytes and the scenario alone.

Format: an ``.npz`` (numpy's zip of arrays, read with ``allow_pickle=False``) holding
``meta``, one JSON string (format, graph, activation QParams, recipe, metrics, provenance),
and one float32 array ``p/<op>.<param>`` per parameter. Beside it, ``<file>.sha256`` holds
its hash in ``sha256sum`` format; when present it must match (``sha256sum -c`` checks it too).
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..errors import MctError
from ..fsutil import file_sha256
from .graph import Add, Conv, Flatten, GlobalAvgPool, Graph, Linear, Op, Pool, param_names
from .qmodel import QModel, QParams

FORMAT = "mcutrain-model"
VERSION = 1
MAX_BYTES = 64 << 20  # far above any model that fits a 1 MiB part
_OPS: dict[str, type] = {"Conv": Conv, "Add": Add, "GlobalAvgPool": GlobalAvgPool, "Linear": Linear,
                         "Pool": Pool, "Flatten": Flatten}


class ModelFileError(MctError):
    """A model file that cannot be used: missing, unreadable, corrupt or inconsistent."""


@dataclass(frozen=True)
class ModelFile:
    path: Path
    sha256: str
    graph: Graph  # folded: no Conv has bn=True
    params: Mapping[str, np.ndarray]  # float32, folded
    qparams: Mapping[str, QParams]  # every tensor of the graph
    recipe: Mapping[str, Any]  # how `mcutrain pretrain` made it (dataset, classes, epochs, ...)
    metrics: Mapping[str, Any]  # e.g. float and int8 test accuracy when it was made
    made: Mapping[str, Any]  # provenance: tool, numpy and BLAS, date

    def quantize(self, classifier: str = "float") -> QModel:
        from .quantize import quantize_with

        return quantize_with(self.graph, dict(self.params), self.qparams, classifier)  # type: ignore[arg-type]


def sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


# --- graph <-> JSON ---------------------------------------------------------------------

def _op_to_dict(op: Op) -> dict[str, Any]:
    """An op's fields; the optional fields added for imported models (general windows, plain
    ReLU) are written only when set, so files of the older ops stay byte for byte the same."""
    d: dict[str, Any] = {"type": type(op).__name__}
    for f in dataclasses.fields(op):
        v = getattr(op, f.name)
        if f.name in _OPTIONAL and v == f.default:
            continue
        d[f.name] = list(v) if isinstance(v, tuple) else v
    return d


_OPTIONAL = ("relu", "kernel_w", "stride_w", "pads")


def graph_to_dict(graph: Graph) -> dict[str, Any]:
    return {"name": graph.name, "input": graph.input, "input_shape": list(graph.input_shape),
            "ops": [_op_to_dict(op) for op in graph.ops]}


def _op_from_dict(d: Any, i: int) -> Op:
    if not isinstance(d, dict) or d.get("type") not in _OPS:
        raise ValueError(f"op {i} has no known type (one of {', '.join(_OPS)})")
    cls = _OPS[d["type"]]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    args = {k: v for k, v in d.items() if k != "type"}
    unknown = set(args) - set(fields)
    if unknown:
        raise ValueError(f"op {i} ({d['type']}) has unknown fields {sorted(unknown)}")
    for k, v in args.items():
        ok = (isinstance(v, str) if k in ("name", "input", "output") else
              isinstance(v, list) and len(v) == 2 and all(isinstance(t, str) for t in v) if k == "inputs" else
              isinstance(v, bool) if k in ("relu6", "bn", "relu") else
              v in ("max", "avg") if k == "mode" else
              (isinstance(v, list) and len(v) == 4
               and all(isinstance(t, int) and not isinstance(t, bool) and 0 <= t <= 64 for t in v))
              if k == "pads" else
              isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1 << 16)
        if not ok:
            raise ValueError(f"op {i} ({d['type']}): field {k} = {str(v)[:40]!r} has the wrong type or range")
    if "inputs" in args:
        args["inputs"] = tuple(args["inputs"])
    if "pads" in args:
        args["pads"] = tuple(args["pads"])
    try:
        return cls(**args)
    except TypeError as e:
        raise ValueError(f"op {i} ({d['type']}): {e}") from None


def graph_from_dict(d: Any) -> Graph:
    if not isinstance(d, dict):
        raise ValueError("graph is not a mapping")
    shape = d.get("input_shape")
    if not (isinstance(shape, list) and len(shape) == 3
            and all(isinstance(v, int) and 1 <= v <= 4096 for v in shape)):
        raise ValueError(f"graph.input_shape {str(shape)[:40]} is not [H, W, C]")
    ops = d.get("ops")
    if not isinstance(ops, list) or not ops:
        raise ValueError("graph.ops is not a non-empty list")
    g = Graph(name=str(d.get("name", "model")), input_shape=(shape[0], shape[1], shape[2]),
              ops=tuple(_op_from_dict(op, i) for i, op in enumerate(ops)), input=str(d.get("input", "input")))
    g.shapes()  # raises ValueError when the ops do not fit together
    return g


# --- save and load ----------------------------------------------------------------------

def save_model_file(path: Path, graph: Graph, params: Mapping[str, np.ndarray],
                    qparams: Mapping[str, QParams], recipe: Mapping[str, Any],
                    metrics: Mapping[str, Any], made: Mapping[str, Any]) -> str:
    """Write the file and its ``.sha256`` atomically; returns the sha256 of the file."""
    if any(isinstance(op, Conv) and op.bn for op in graph.ops):
        raise ValueError("save_model_file: fold BatchNorm first")
    meta = {"format": FORMAT, "version": VERSION, "graph": graph_to_dict(graph),
            "qparams": {k: [float(q.scale), int(q.zero_point)] for k, q in qparams.items()},
            "recipe": dict(recipe), "metrics": dict(metrics), "made": dict(made)}
    arrays = {f"p/{k}": np.asarray(v, dtype=np.float32) for k, v in sorted(params.items())}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta, sort_keys=True)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        digest = file_sha256(Path(tmp))
        side = sidecar(path)
        side_tmp = side.with_name(side.name + ".tmp")
        side_tmp.write_text(f"{digest}  {path.name}\n")
        os.replace(tmp, path)
        os.replace(side_tmp, side)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest


def _bad(path: Path, why: str, fix: str | None = None) -> ModelFileError:
    return ModelFileError(f"model file {path}: {why}",
                          fix or f"restore it (git checkout -- {path}) or make a new one with "
                                 f"`mcutrain pretrain`")


def load_model_file(path: Path) -> ModelFile:
    """Read and check a model file; every problem is a ModelFileError naming the file and the fix."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise _bad(path, "no such file", "check model.file (it is relative to the scenario file), "
                   "or make the file with `mcutrain pretrain`") from None
    except OSError as e:
        raise _bad(path, f"cannot be read ({e.strerror or e})") from None
    if not path.is_file():
        raise _bad(path, "is not a regular file", "point model.file at an .npz model file")
    if size > MAX_BYTES:
        raise _bad(path, f"is {size} B, larger than the {MAX_BYTES >> 20} MiB a model file may be")
    digest = file_sha256(path)
    side = sidecar(path)
    if side.is_file():
        want = side.read_text(errors="replace").split()[:1]
        if want != [digest]:
            raise _bad(path, f"has sha256 {digest[:16]}..., but {side.name} says "
                       f"{(want or ['nothing'])[0][:16]}...: the file changed or is corrupt",
                       f"restore both (git checkout -- {path} {side}), or if you replaced the model "
                       f"on purpose write its hash: sha256sum {path.name} > {side.name}")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "meta" not in z.files:
                raise ValueError("it has no 'meta' entry")
            meta = json.loads(str(z["meta"]))
            params = {k[2:]: np.asarray(z[k]) for k in z.files if k.startswith("p/")}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError,
            UnicodeDecodeError, RuntimeError) as e:
        raise _bad(path, f"is not a readable mcutrain model file ({str(e)[:120]})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _bad(path, f"is not an {FORMAT} file")
    if meta.get("version") != VERSION:
        raise _bad(path, f"has format version {str(meta.get('version'))[:20]}, this mcutrain reads {VERSION}",
                   "make the file again with this version's `mcutrain pretrain`")
    try:
        graph = graph_from_dict(meta.get("graph"))
    except ValueError as e:
        raise _bad(path, f"its graph is malformed: {e}") from None
    if any(isinstance(op, Conv) and op.bn for op in graph.ops):
        raise _bad(path, "its graph still has BatchNorm (model files hold folded models)")
    expected = {k for op in graph.ops for k in param_names(op)}
    if set(params) != expected:
        extra, missing = sorted(set(params) - expected), sorted(expected - set(params))
        raise _bad(path, f"its parameters do not match its graph (missing {missing[:3]}, extra {extra[:3]})")
    shapes = {f"{op.name}.weight": op.weight_shape for op in graph.ops if isinstance(op, (Conv, Linear))}
    shapes.update({f"{op.name}.bias": (op.out_ch if isinstance(op, Conv) else op.out_features,)
                   for op in graph.ops if isinstance(op, (Conv, Linear))})
    for k, v in params.items():
        if v.dtype != np.float32 or tuple(v.shape) != tuple(shapes[k]):
            raise _bad(path, f"parameter {k} is {v.dtype} {v.shape}, expected float32 {shapes[k]}")
        if not np.all(np.isfinite(v)):
            raise _bad(path, f"parameter {k} holds NaN or infinite values")
    qparams = _qparams(path, meta.get("qparams"), graph)
    sections = {}
    for key in ("recipe", "metrics", "made"):
        value = meta.get(key, {})
        if not isinstance(value, dict):
            raise _bad(path, f"its '{key}' entry is not a mapping")
        sections[key] = value
    return ModelFile(path=path, sha256=digest, graph=graph, params=params, qparams=qparams, **sections)


def _qparams(path: Path, raw: Any, graph: Graph) -> dict[str, QParams]:
    tensors = [graph.input, *(op.output for op in graph.ops)]
    if not isinstance(raw, dict):
        raise _bad(path, "it has no activation ranges (qparams)")
    out: dict[str, QParams] = {}
    for t in tensors:
        v = raw.get(t)
        if not (isinstance(v, list) and len(v) == 2 and isinstance(v[0], float) and isinstance(v[1], int)
                and np.isfinite(v[0]) and v[0] > 0 and float(np.float32(v[0])) == v[0]
                and -128 <= v[1] <= 127):
            raise _bad(path, f"the quantization of tensor {t!r} is missing or malformed "
                       f"(want [float32 scale > 0, zero point in -128..127], got {str(v)[:60]})")
        out[t] = QParams(scale=v[0], zero_point=v[1])
    return out
