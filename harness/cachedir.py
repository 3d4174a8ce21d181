"""Verified cache entries: the folder each cached build lives in, published whole and checked on
every hit, so a truncated or corrupt file is a cache miss (rebuilt, said once), never a wrong result.

An entry is built in a temporary folder beside its final place. ``publish`` writes
``manifest.json`` last (the sha256 and size of every other file), then renames the folder into
place: readers see a complete entry or none. ``verify`` re-hashes every file listed; any
difference (a truncated ELF, a damaged object, a missing or unreadable manifest) makes the
entry corrupt, and ``discard`` moves it aside before it is rebuilt.

The cache lives in ``$MCUTRAIN_CACHE`` (default ``<checkout>/.cache`` in a source checkout, else ``~/.cache/mcutrain``).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable

from .errors import BuildError
from .paths import default_cache
from .fsutil import file_sha256

log = logging.getLogger(__name__)

CACHE_ENV = "MCUTRAIN_CACHE"
OLD_CACHE_ENV = "MCUTRAIN_CACHE_DIR"
MANIFEST = "manifest.json"
FORMAT = 2  # part of every cache key: entries of older harnesses (no manifest) are not looked up

_said_old_env = False


def cache_root() -> Path:
    """``$MCUTRAIN_CACHE`` or ``<repo>/.cache``. ``MCUTRAIN_CACHE_DIR`` is no longer read (said once)."""
    global _said_old_env
    if os.environ.get(OLD_CACHE_ENV) and not _said_old_env:
        _said_old_env = True
        log.warning("%s is set but no longer read: the cache is $%s (default <repo>/.cache); "
                    "set %s=%s instead", OLD_CACHE_ENV, CACHE_ENV, CACHE_ENV, os.environ[OLD_CACHE_ENV])
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else default_cache()


def _files(folder: Path) -> Iterable[Path]:
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            yield p


def new_entry(root: Path, key: str) -> Path:
    """A fresh temporary folder under ``root`` to build the entry ``key`` in."""
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".tmp-{key[:8]}-", dir=root))


def publish(tmp: Path, final: Path) -> None:
    """Write ``tmp``'s manifest, then rename ``tmp`` to ``final``; if another process published
    ``final`` first, keep theirs and remove ``tmp``."""
    files = {str(p.relative_to(tmp)): {"sha256": file_sha256(p), "size": p.stat().st_size}
             for p in _files(tmp)}
    manifest = tmp / MANIFEST
    part = tmp / f".{MANIFEST}.part"
    part.write_text(json.dumps({"format": FORMAT, "files": files}, indent=1, sort_keys=True))
    os.replace(part, manifest)
    try:
        os.rename(tmp, final)
    except OSError:
        if not final.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def verify(final: Path, required: Iterable[str] = ()) -> str | None:
    """None if ``final`` is a complete, undamaged entry holding ``required``; else why not."""
    try:
        doc = json.loads((final / MANIFEST).read_text())
        files = doc["files"]
        if not isinstance(files, dict):
            raise TypeError("'files' is not a mapping")
    except FileNotFoundError:
        return "it has no manifest (an interrupted write or a damaged folder)"
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"its manifest is unreadable ({type(e).__name__}: {e})"
    for name in required:
        if name not in files:
            return f"{name} is not in its manifest"
    for name, want in files.items():
        path = final / name
        try:
            size = path.stat().st_size
            if size != want["size"]:
                return f"{name} has {size} B, {want['size']} B were written"
            if file_sha256(path) != want["sha256"]:
                return f"{name} differs from what was written (sha256 mismatch)"
        except FileNotFoundError:
            return f"{name} is missing"
        except (OSError, KeyError, TypeError) as e:
            return f"{name} cannot be checked ({type(e).__name__}: {e})"
    return None


def lookup(final: Path, required: Iterable[str], what: str) -> bool:
    """True on a verified hit. A folder that fails ``verify`` is a miss: it is discarded with one
    warning naming what was wrong, and the caller rebuilds it."""
    if not final.exists():
        return False
    problem = verify(final, required) if final.is_dir() else "it is not a folder"
    if problem is None:
        return True
    log.warning("cached %s in %s is corrupt: %s; rebuilding it", what, final, problem)
    discard(final)
    return False


def discard(final: Path) -> None:
    """Move a corrupt entry aside (atomically, so no reader sees it half-deleted), then delete it."""
    trash = final.with_name(f".corrupt-{final.name}-{os.getpid()}-{os.urandom(3).hex()}")
    try:
        os.rename(final, trash)
    except FileNotFoundError:
        return  # another process discarded it first
    except OSError as e:
        raise BuildError(f"cannot move the corrupt cache entry {final} aside: {e.strerror or e}",
                         f"delete {final} by hand, or set {CACHE_ENV} to a writable folder") from None
    if trash.is_dir():
        shutil.rmtree(trash, ignore_errors=True)
    else:
        trash.unlink(missing_ok=True)
