"""Cache of host pretraining: ``<repo>/.cache/pretrain/<sha256>.npz``, keyed by the graph,
the training data, the hyper-parameters and the training code, written atomically.
"""
from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from ..data.dataset import Dataset, load_dataset
from . import fold, train
from .graph import Graph
from .train import TrainConfig, TrainResult
from .zoo import small_cnn

log = logging.getLogger(__name__)

CACHE_ENV = "MCUTRAIN_CACHE_DIR"  # overrides <repo>/.cache
_FORMAT = 1


def repo_root() -> Path:
    """The checkout holding this package (the package is installed editable)."""
    return Path(__file__).resolve().parents[2]


def default_cache_dir() -> Path:
    base = os.environ.get(CACHE_ENV)
    return (Path(base) if base else repo_root() / ".cache") / "pretrain"


def _graph_dict(graph: Graph) -> dict:
    return {"name": graph.name, "input": graph.input, "input_shape": list(graph.input_shape),
            "ops": [{"type": type(op).__name__, **dataclasses.asdict(op)} for op in graph.ops]}


def _code_fingerprint(source: str) -> str:
    """The module's AST without docstrings: comments, docstrings and layout do not count."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]  # type: ignore[attr-defined]
    return ast.dump(tree, include_attributes=False)


def code_version() -> str:
    """sha256 of the training code (train.py, fold.py) as parsed: any change to what it
    does invalidates every cached model; editing comments or docstrings does not."""
    h = hashlib.sha256()
    for mod in (train, fold):
        h.update(_code_fingerprint(Path(mod.__file__).read_text()).encode())
    return h.hexdigest()


def pretrain_key(graph: Graph, dataset: Dataset, config: TrainConfig) -> str:
    """sha256 over the graph, the dataset (spec and array digest), the config and the code."""
    blob = json.dumps({"format": _FORMAT, "graph": _graph_dict(graph), "dataset": dataset.spec.to_dict(),
                       "data": dataset.digest(), "config": dataclasses.asdict(config),
                       "code": code_version()}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _save(path: Path, result: TrainResult) -> None:
    meta = {"config": dataclasses.asdict(result.config), "epoch_loss": list(result.epoch_loss),
            "epoch_train_acc": list(result.epoch_train_acc), "test_acc": result.test_acc,
            "seconds": result.seconds}
    arrays = {f"p/{k}": v for k, v in result.params.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(path: Path) -> TrainResult:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        params = {k[2:]: z[k].astype(np.float32) for k in z.files if k.startswith("p/")}
    return TrainResult(params=params, config=TrainConfig(**meta["config"]),
                       epoch_loss=tuple(meta["epoch_loss"]), epoch_train_acc=tuple(meta["epoch_train_acc"]),
                       test_acc=meta["test_acc"], seconds=float(meta["seconds"]))


def cached_train(graph: Graph, dataset: Dataset, config: TrainConfig = TrainConfig(),
                 cache_dir: Path | None = None) -> tuple[TrainResult, bool]:
    """Train ``graph`` on ``dataset`` (evaluating on its test split), or load the cached result.

    Returns (result, hit). ``result.seconds`` is the time of the original training run.
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache_dir / f"{pretrain_key(graph, dataset, config)}.npz"
    if path.is_file():
        try:
            result = _load(path)
            train.check_params(graph, result.params)
            log.info("pretraining cache hit: %s", path)
            return result, True
        except (OSError, ValueError, KeyError) as e:
            log.warning("pretraining cache entry %s is unreadable (%s); retraining", path, e)
    result = train.train(graph, dataset.train_x, dataset.train_y, config,
                         x_test=dataset.test_x, y_test=dataset.test_y)
    _save(path, result)
    log.info("pretraining cached: %s (%.1fs, test acc %.4f)", path, result.seconds, result.test_acc or 0)
    return result, False


# --- the default pretraining: the small net on Fashion-MNIST classes 0-4 -------------------

DEFAULT_CLASSES = (0, 1, 2, 3, 4)
DEFAULT_CONFIG = TrainConfig(epochs=5, batch_size=64, optimizer="adam", lr=3e-3, seed=0)


@dataclasses.dataclass(frozen=True)
class Pretrained:
    graph: Graph
    dataset: Dataset
    result: TrainResult
    cache_hit: bool


def pretrain_small(classes: tuple[int, ...] = DEFAULT_CLASSES, train_size: int | None = None,
                   test_size: int | None = None, config: TrainConfig = DEFAULT_CONFIG,
                   width: int = 16, seed: int = 0, cache_dir: Path | None = None) -> Pretrained:
    """The small net pretrained on Fashion-MNIST ``classes`` (all 6k/1k per class by default)."""
    ds = load_dataset("fashion_mnist", classes=classes, train=train_size, test=test_size, seed=seed)
    graph = small_cnn(ds.input_shape, ds.num_classes, width)
    result, hit = cached_train(graph, ds, config, cache_dir)
    return Pretrained(graph=graph, dataset=ds, result=result, cache_hit=hit)
