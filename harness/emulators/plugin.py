"""The QEMU instruction-counting plugin: built from ``plugin/insncount.c`` with the host gcc into
the cache (``<cache>/plugin/<hash>/libinsncount.so``), rebuilt whenever its source changes."""
from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import tempfile
from pathlib import Path

from ..errors import BuildError
from ..toolchain import HOST_CC, cache_root, compiler_version

log = logging.getLogger(__name__)

PLUGIN_SRC = Path(__file__).resolve().parent / "plugin"
PLUGIN_FLAGS = ("-O2", "-fPIC", "-shared", "-fvisibility=hidden", "-std=c11", "-D_DEFAULT_SOURCE",
                "-Wall", "-Wextra", "-Werror")


def ensure_plugin() -> Path:
    """Path of the built plugin, building it first if needed (atomic; ToolMissing without gcc)."""
    sources = [PLUGIN_SRC / "insncount.c", PLUGIN_SRC / "qemu_plugin_min.h"]
    cc_version = compiler_version(HOST_CC)
    h = hashlib.sha256(cc_version.encode() + " ".join(PLUGIN_FLAGS).encode())
    for src in sources:
        h.update(src.name.encode() + b"\0" + src.read_bytes())
    out_dir = cache_root() / "plugin" / h.hexdigest()[:16]
    lib = out_dir / "libinsncount.so"
    if lib.is_file():
        return lib
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".so", dir=out_dir)
    os.close(fd)
    tmp = Path(tmp_name)
    cmd = [HOST_CC, *PLUGIN_FLAGS, "-o", str(tmp), str(sources[0]), "-lpthread"]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise BuildError("building the QEMU plugin failed:\n" + r.stderr.strip(),
                             "fix harness/emulators/plugin/insncount.c; the command was: " + " ".join(cmd))
        os.replace(tmp, lib)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("built the QEMU plugin: %s", lib)
    return lib
