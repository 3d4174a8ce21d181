"""``--mcutrain-shard=i/N``: one pytest session runs the files of shard ``i`` of ``N``, so a suite
splits across ``N`` CI runners (a matrix job) whose reports ``mcutrain merge`` joins again.

The unit is a test file (a scenario YAML file, or a ``tests/*.py`` module): every file goes to
exactly one shard, whatever the host and whatever the order pytest collected the files in. The
assignment sorts the files by their path relative to the rootdir and deals them out greedily by
their number of collected items, heaviest first, each to the shard with the fewest items so far
(ties: the lower path, the lower shard). With equal weights that is round-robin over the sorted
paths. It balances items, not minutes: a file of big training scenarios still weighs by its item
count. Adding a file may move others to another shard; that is harmless because every shard of
one CI run collects the same checkout, and ``mcutrain merge`` refuses shards that did not (their
``suite_sha256`` fingerprints differ).

Under pytest-xdist each worker collects the same files and deselects the same items here, so the
workers' collections stay identical; a worker sends the shard's record to the controller through
``config.workeroutput`` (the channel xdist documents for this), and the controller writes it into
``report.json`` as ``shard``.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Mapping

import pytest

from .errors import MctError

OPTION = "--mcutrain-shard"
MAX_SHARDS = 1000
_WORKEROUTPUT_KEY = "mcutrain_shard"
_INFO = pytest.StashKey["ShardInfo"]()

_SHARD_RE = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/4"`` -> ``(2, 4)``: shard ``i`` of ``N``, 1-based, ``1 <= i <= N <= 1000``."""
    m = _SHARD_RE.fullmatch(str(text))
    fix = (f"write {OPTION}=i/N with whole numbers 1 <= i <= N <= {MAX_SHARDS}, e.g. {OPTION}=1/4 ... "
           f"{OPTION}=4/4 on four runners (in a CI matrix: {OPTION}=${{{{ matrix.shard }}}}/4)")
    if m is None:
        raise MctError(f"{OPTION}={text!r} is not of the form i/N", fix)
    index, total = int(m.group(1)), int(m.group(2))
    if not 1 <= total <= MAX_SHARDS:
        raise MctError(f"{OPTION}={text}: the number of shards N={total} is outside 1..{MAX_SHARDS}", fix)
    if not 1 <= index <= total:
        raise MctError(f"{OPTION}={text}: the shard index i={index} is outside 1..{total} "
                       "(shards are numbered from 1)", fix)
    return index, total


def assign(files: Iterable[str], total: int, weights: Mapping[str, int] | None = None) -> dict[str, int]:
    """Each file -> its shard (1-based). Deterministic in the set of files and their weights only."""
    weights = weights or {}
    load = [0] * total
    out: dict[str, int] = {}
    for f in sorted(set(files), key=lambda f: (-max(int(weights.get(f, 1)), 0), f)):
        shard = min(range(total), key=lambda s: (load[s], s))
        out[f] = shard + 1
        load[shard] += max(int(weights.get(f, 1)), 0)
    return out


def select(files: Iterable[str], index: int, total: int,
           weights: Mapping[str, int] | None = None) -> list[str]:
    """The files of shard ``index`` of ``total``, sorted."""
    return sorted(f for f, s in assign(files, total, weights).items() if s == index)


def suite_sha256(weights: Mapping[str, int]) -> str:
    """A fingerprint of what was split: the files and their item counts. Shards of one suite agree."""
    text = json.dumps(sorted((str(f), int(w)) for f, w in weights.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def item_file(item: pytest.Item, root: Path) -> str:
    """The posix path of the item's file relative to the rootdir (absolute if outside it)."""
    path = Path(item.path)
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


@dataclass(frozen=True)
class ShardInfo:
    """What ``report.json`` records of a shard, for ``mcutrain merge`` to check the shards against
    each other: ``files`` are this shard's, ``suite_files``/``suite_sha256`` the whole split."""

    index: int
    total: int
    files: tuple[str, ...]
    suite_files: int
    suite_sha256: str
    rootdir: str

    @property
    def empty(self) -> bool:
        """Every collected file went to other shards."""
        return not self.files and self.suite_files > 0

    def to_json(self) -> dict:
        return {**asdict(self), "files": list(self.files)}


class ShardSelector:
    """The pytest plugin of one shard: deselects the items of other shards' files."""

    def __init__(self, config: pytest.Config, index: int, total: int):
        self.config = config
        self.index = index
        self.total = total

    @pytest.hookimpl(tryfirst=True)  # before -k/-m: every shard splits the same full collection
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        root = Path(config.rootpath)
        files = [item_file(item, root) for item in items]
        weights: dict[str, int] = {}
        for f in files:
            weights[f] = weights.get(f, 0) + 1
        mine = set(select(weights, self.index, self.total, weights))
        keep = [item for item, f in zip(items, files) if f in mine]
        dropped = [item for item, f in zip(items, files) if f not in mine]
        info = ShardInfo(self.index, self.total, tuple(sorted(mine)), len(weights),
                         suite_sha256(weights), str(root))
        config.stash[_INFO] = info
        if hasattr(config, "workeroutput"):
            config.workeroutput[_WORKEROUTPUT_KEY] = info.to_json()
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:  # xdist controller: a worker's record
        data = getattr(node, "workeroutput", {}).get(_WORKEROUTPUT_KEY)
        if data is not None and _INFO not in self.config.stash:
            self.config.stash[_INFO] = ShardInfo(**{**data, "files": tuple(data["files"])})

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # More runners than files leaves a shard with nothing to run: that is a complete shard,
        # not pytest's "no tests ran" (exit 5), or the CI matrix would fail on it.
        info = self.config.stash.get(_INFO, None)
        if info is not None and info.empty and session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
            session.exitstatus = pytest.ExitCode.OK


def add_option(group) -> None:
    group.addoption(OPTION, default=None, metavar="i/N",
                    help="run only shard i of N (1-based): test files are dealt out to N shards "
                         "deterministically (sorted paths, balanced by item count); scenario files "
                         "and tests/*.py modules alike, so every file runs on exactly one shard. "
                         "Join the shards' reports with `mcutrain merge DIR...`")


def configure(config: pytest.Config) -> None:
    """Parse the option (a usage error names the fix) and register the selector if it is given."""
    text = config.getoption(OPTION)
    if text is None:
        return
    try:
        index, total = parse_shard(text)
    except MctError as e:
        raise pytest.UsageError(f"mcutrain: {e.message}\n  fix: {e.fix}") from None
    config.pluginmanager.register(ShardSelector(config, index, total), "mcutrain-shard")


def report_fields(config: pytest.Config) -> dict:
    """``{"shard": {...}}`` for the report of a sharded session, ``{}`` otherwise."""
    selector = config.pluginmanager.get_plugin("mcutrain-shard")
    if selector is None:
        return {}
    info = config.stash.get(_INFO, None)
    if info is None:  # nothing collected (a collection error): merge will say the files are unknown
        return {"shard": {"index": selector.index, "total": selector.total, "files": None}}
    return {"shard": info.to_json()}
