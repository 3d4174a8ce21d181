"""Where the installed package keeps its own files, and whether it runs from a source checkout.

Everything a build needs ships inside the ``harness`` package (the firmware sources, the board
profiles, the QEMU plugin's source), so a ``pip install`` into another repository works the same
as this checkout. ``SOURCE_TREE`` is the checkout when the package is imported from one (an
editable install or ``PYTHONPATH=.``), and None when it is installed in site-packages.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
FIRMWARE_SRC = PACKAGE / "firmware_src"
APPS_DIR = FIRMWARE_SRC / "app"
RUNTIME_DIR = FIRMWARE_SRC / "runtime"
BOARD_STARTUP_DIR = FIRMWARE_SRC / "boards"
BOARDS_DIR = PACKAGE / "boards"


def _source_tree() -> Path | None:
    root = PACKAGE.parent
    if (root / "pyproject.toml").is_file() and (root / "scenarios").is_dir() and (root / "tests").is_dir():
        return root
    return None


SOURCE_TREE = _source_tree()


def default_cache() -> Path:
    """``<checkout>/.cache`` in a source checkout; else ``$XDG_CACHE_HOME/mcutrain`` (``~/.cache``)."""
    if SOURCE_TREE is not None:
        return SOURCE_TREE / ".cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mcutrain"
