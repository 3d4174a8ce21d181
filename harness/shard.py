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

The pytest side (the option, the deselection, the record in ``report.json``) is
``harness.shard_plugin``.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Mapping

from .errors import MctError

OPTION = "--mcutrain-shard"
MAX_SHARDS = 1000

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


def relative_file(path: Path, root: Path) -> str:
    """The posix path of a test file relative to the rootdir (absolute if outside it)."""
    path = Path(path)
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
