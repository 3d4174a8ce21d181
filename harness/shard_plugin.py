"""The pytest side of ``--mcutrain-shard=i/N`` (the split itself is ``harness.shard``): the option,
the deselection of the other shards' items, and the ``shard`` record of ``report.json``.

Under pytest-xdist each worker collects the same files and deselects the same items here, so the
workers' collections stay identical; a worker sends the shard's record to the controller through
``config.workeroutput`` (the channel xdist documents for this), and the controller writes it into
``report.json``.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from .errors import MctError
from .shard import OPTION, ShardInfo, parse_shard, relative_file, select, suite_sha256

_WORKEROUTPUT_KEY = "mcutrain_shard"
_INFO = pytest.StashKey[ShardInfo]()


class ShardSelector:
    """The pytest plugin of one shard: deselects the items of other shards' files."""

    def __init__(self, config: pytest.Config, index: int, total: int):
        self.config = config
        self.index = index
        self.total = total

    @pytest.hookimpl(tryfirst=True)  # before -k/-m: every shard splits the same full collection
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        root = Path(config.rootpath)
        files = [relative_file(item.path, root) for item in items]
        weights = Counter(files)  # items per file
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
        raise pytest.UsageError(f"mcutrain: {e}") from None  # str(MctError): cause, then fix
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
