"""A damaged cache heals itself: every kind of cached file, truncated or corrupted, is a cache miss
that is rebuilt with one warning, and the rebuilt result equals a clean build. A link without the
startup or runtime is refused and never cached. All builds are real, in a private cache."""
import ctypes
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import cachedir, toolchain
from harness.boards import REPO, load_board
from harness.emulators.plugin import ensure_plugin
from harness.emulators.qemu import QemuEmulator
from harness.errors import BuildError
from harness.toolchain import build_firmware, build_host_library, build_host_program

SELFTEST = REPO / "harness" / "firmware_src" / "app" / "selftest" / "main.c"
BOARD = load_board("stm32f746")
MAC = ('#include <stdint.h>\n#include "tt_io.h"\n'
       "int32_t tt_test_mac(int32_t a, int32_t b, int32_t c);\n"
       "int32_t tt_test_mac(int32_t a, int32_t b, int32_t c) { return a * b + c; }\n")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private cache for this module (the startup and runtime compile once into it)."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MCUTRAIN_CACHE", str(root))
        mp.delenv("MCUTRAIN_CACHE_DIR", raising=False)
        yield root


def _loop(name: str = "heal-loop"):
    return build_firmware(BOARD, [SELFTEST], defines={"TT_CASE_LOOP": 1}, name=name)


def _corrupt_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "is corrupt" in r.getMessage()]


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE = {
    "truncated ELF": lambda fw: _truncate(fw.elf),
    "empty ELF": lambda fw: fw.elf.write_bytes(b""),
    "flipped byte in the ELF": lambda fw: _flip(fw.elf),
    "truncated map": lambda fw: _truncate(fw.map_file),
    "deleted .su": lambda fw: (fw.build_dir / "00_main.su").unlink(),
    "corrupt .su": lambda fw: (fw.build_dir / "00_main.su").write_text("main.c:1:5:main\t-7\tstatic\n"),
    "garbage manifest": lambda fw: (fw.build_dir / cachedir.MANIFEST).write_bytes(b"\x00{]"),
    "deleted manifest": lambda fw: (fw.build_dir / cachedir.MANIFEST).unlink(),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_firmware_is_rebuilt_once_and_equals_a_clean_build(cache, caplog, damage):
    clean = _loop()
    want = {p.name: p.read_bytes() for p in (clean.elf, clean.map_file, *clean.su_files)
            if p.parent == clean.build_dir}
    DAMAGE[damage](clean)
    with caplog.at_level(logging.WARNING, logger="harness"):
        again = _loop()
        third = _loop()
    warnings = _corrupt_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "firmware 'heal-loop'" in warnings[0] and "rebuilding it" in warnings[0]
    assert again == clean == third
    got = {p.name: p.read_bytes() for p in (again.elf, again.map_file, *again.su_files)
           if p.parent == again.build_dir}
    assert got.keys() == want.keys()
    assert got[again.elf.name] == want[clean.elf.name]
    assert cachedir.verify(again.build_dir) is None
    assert not list(again.build_dir.parent.glob(".corrupt-*"))  # the damaged copy was removed


def _support_dir(fw) -> Path:
    objs = [p for p in fw.su_files if p.parent != fw.build_dir]
    return objs[0].parent


@pytest.mark.parametrize("damage", ["objects.txt truncated", "objects.txt emptied", "object truncated",
                                    "object deleted"])
def test_damaged_runtime_objects_are_rebuilt(cache, caplog, damage):
    fw = _loop()
    support = _support_dir(fw)
    listing = support / "objects.txt"
    objects = listing.read_text().split()
    assert len(objects) > 20  # the board's startup and the whole runtime
    if damage == "objects.txt truncated":
        listing.write_text("\n".join(objects[:2]) + "\n")
    elif damage == "objects.txt emptied":
        listing.write_text("")
    elif damage == "object truncated":
        _truncate(support / objects[0])
    else:
        (support / objects[-1]).unlink()
    # A different application, so the firmware itself is not a cache hit: it links the objects.
    with caplog.at_level(logging.WARNING, logger="harness"):
        rebuilt = _loop(name="heal-objects-" + damage.replace(" ", "-"))
    warnings = _corrupt_warnings(caplog)
    assert len(warnings) == 1 and "startup and runtime objects" in warnings[0], warnings
    assert listing.read_text().split() == objects
    assert cachedir.verify(support) is None
    # The relinked firmware has its runtime: it runs and counts as the clean one does.
    run = QemuEmulator().run(rebuilt.elf, BOARD, timeout_s=20)
    assert run.status == "ok" and run.region_instructions() == [5137]


def test_damaged_host_library_and_program_are_rebuilt(cache, caplog):
    lib = build_host_library([], generated={"mac.c": MAC}, name="heal-mac")
    exe = build_host_program([SELFTEST], defines={"TT_CASE_LOOP": 1}, name="heal-host")
    clean_out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    _truncate(lib)
    exe.write_bytes(b"#!/bin/sh\necho wrong\n")
    with caplog.at_level(logging.WARNING, logger="harness"):
        lib2 = build_host_library([], generated={"mac.c": MAC}, name="heal-mac")
        exe2 = build_host_program([SELFTEST], defines={"TT_CASE_LOOP": 1}, name="heal-host")
    warnings = _corrupt_warnings(caplog)
    assert len(warnings) == 2, warnings
    assert any("host lib 'heal-mac'" in w for w in warnings)
    assert any("host prog 'heal-host'" in w for w in warnings)
    f = ctypes.CDLL(str(lib2)).tt_test_mac
    f.restype = ctypes.c_int32
    assert f(7, -6, 100) == 58
    assert subprocess.run([str(exe2)], capture_output=True, text=True, check=True).stdout == clean_out


@pytest.mark.parametrize("damage", ["truncated", "emptied", "deleted"])
def test_damaged_qemu_plugin_is_rebuilt_and_counts(cache, caplog, damage):
    plugin = ensure_plugin()
    clean = plugin.read_bytes()
    fw = _loop()
    if damage == "truncated":
        _truncate(plugin)
    elif damage == "emptied":
        plugin.write_bytes(b"")
    else:
        plugin.unlink()
    with caplog.at_level(logging.WARNING, logger="harness"):
        again = ensure_plugin()
        ensure_plugin()
    warnings = _corrupt_warnings(caplog)
    assert len(warnings) == 1 and "QEMU plugin" in warnings[0], warnings
    assert again == plugin and again.read_bytes() == clean
    run = QemuEmulator(plugin=again).run(fw.elf, BOARD, timeout_s=20)
    assert run.status == "ok" and run.region_instructions() == [5137]


def test_a_link_without_startup_or_runtime_is_refused_and_not_cached(cache, monkeypatch):
    # As if the runtime objects had vanished: main alone links (the linker only warns that the
    # entry symbol is missing), and that firmware must never reach the cache.
    monkeypatch.setattr(toolchain, "_support_objects", lambda *a, **k: ("none", []))
    before = set((cache / "build").iterdir())
    with pytest.raises(BuildError) as e:
        build_firmware(BOARD, [], generated={"app.c": "int main(void);\nint main(void) { return 0; }\n"},
                       name="no-runtime")
    assert "the linked firmware no-runtime.elf is incomplete" in str(e.value)
    assert "Reset_Handler" in str(e.value) and "tt_rec_begin" in str(e.value)
    assert "never cached" in e.value.fix
    assert set((cache / "build").iterdir()) == before


def test_old_cache_variable_is_named_once(monkeypatch, caplog, tmp_path):
    monkeypatch.setattr(cachedir, "_said_old_env", False)
    monkeypatch.setenv("MCUTRAIN_CACHE_DIR", "/somewhere/old")
    monkeypatch.setenv("MCUTRAIN_CACHE", str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="harness"):
        assert cachedir.cache_root() == tmp_path
        assert cachedir.cache_root() == tmp_path
    said = [r.getMessage() for r in caplog.records if "MCUTRAIN_CACHE_DIR" in r.getMessage()]
    assert len(said) == 1 and "no longer read" in said[0] and "MCUTRAIN_CACHE=/somewhere/old" in said[0]


def test_default_cache_is_the_repository_folder(monkeypatch):
    monkeypatch.delenv("MCUTRAIN_CACHE", raising=False)
    assert cachedir.cache_root() == REPO / ".cache"


def test_mcutrain_run_says_once_that_it_rebuilds_a_damaged_firmware(cache, tmp_path):
    scen = tmp_path / "scenarios" / "heal.yaml"
    scen.parent.mkdir()
    scen.write_text("scenarios:\n  - name: heal-cli\n    firmware: {app: selftest, case: loop}\n")

    def mcutrain(report: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "harness.cli", "run", "--gate", "--report-dir",
                               str(tmp_path / report), str(scen)], cwd=REPO, capture_output=True,
                              text=True, env={**os.environ, "MCUTRAIN_CACHE": str(cache)})

    assert mcutrain("r1").returncode == 0
    elf = next((cache / "build").glob("*/heal-cli.elf"))
    clean = elf.read_bytes()
    _truncate(elf)
    r = mcutrain("r2")
    assert r.returncode == 0, r.stdout + r.stderr
    said = [line for line in r.stderr.splitlines() if "is corrupt" in line]
    assert len(said) == 1 and "firmware 'heal-cli'" in said[0], r.stderr
    assert f"heal-cli.elf has {len(clean) // 2} B, {len(clean)} B were written; rebuilding it" in said[0]
    assert "Traceback" not in r.stdout + r.stderr
    assert "cross-compiling 1 file(s) for stm32f746 and linking" in r.stdout
    assert elf.read_bytes() == clean
