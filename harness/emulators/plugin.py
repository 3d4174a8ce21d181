"""The QEMU instruction-counting plugin: built from ``plugin/insncount.c`` with the host gcc into
the cache (``<cache>/plugin/<hash>/libinsncount.so``), rebuilt whenever its source changes.

The folder is a verified cache entry (harness.cachedir): a truncated or damaged ``.so`` fails
its recorded sha256 and is rebuilt, with one warning, instead of making QEMU refuse to start."""
from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
from pathlib import Path

from .. import cachedir
from ..errors import BuildError
from ..toolchain import HOST_CC, cache_root, compiler_version

log = logging.getLogger(__name__)

PLUGIN_SRC = Path(__file__).resolve().parent / "plugin"
PLUGIN_FLAGS = ("-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-std=c11", "-D_DEFAULT_SOURCE",
                "-Wall", "-Wextra", "-Werror")
LIB_NAME = "libinsncount.so"


def ensure_plugin() -> Path:
    """Path of the built plugin, building it first if needed (atomic; ToolMissing without gcc)."""
    sources = [PLUGIN_SRC / "insncount.c", PLUGIN_SRC / "qemu_plugin_min.h"]
    cc_version = compiler_version(HOST_CC)
    h = hashlib.sha256(cc_version.encode() + " ".join(PLUGIN_FLAGS).encode())
    h.update(f"format {cachedir.FORMAT}".encode())
    for src in sources:
        h.update(src.name.encode() + b"\0" + src.read_bytes())
    key = h.hexdigest()[:16]
    root = cache_root() / "plugin"
    final = root / key
    if cachedir.lookup(final, [LIB_NAME], "QEMU plugin"):
        return final / LIB_NAME
    tmp = cachedir.new_entry(root, key)
    cmd = [HOST_CC, *PLUGIN_FLAGS, "-o", str(tmp / LIB_NAME), str(sources[0]), "-lpthread"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise BuildError("building the QEMU plugin failed:\n" + r.stderr.strip(),
                             "fix harness/emulators/plugin/insncount.c; the command was: " + " ".join(cmd))
        cachedir.publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("built the QEMU plugin: %s", final / LIB_NAME)
    return final / LIB_NAME
