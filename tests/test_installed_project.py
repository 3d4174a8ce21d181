"""A project outside this repository installs mcutrain with pip and uses it as its users do.

The temp project has its own pyproject.toml ([tool.mcutrain]: scenario folder, board folder, app
folder, baseline and report paths), its own firmware app, its own board profile, its own model and
data files, a scenario file and a Python test that uses ``mcutrain_run`` over a parametrized board
list. mcutrain is installed from a copy of this source into a fresh virtual environment (not
editable); the environment sees the system's site-packages only for the third-party dependencies
(numpy, pytest, ...), so nothing is downloaded. pytest then runs in the project with the
installed package, found through its ``pytest11`` entry point alone.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.pipeline import REPO

pytestmark = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None
                                or shutil.which("qemu-system-arm") is None,
                                reason="needs arm-none-eabi-gcc and qemu-system-arm (./bootstrap.sh)")

APP_C = r"""
/* The project's own firmware: an int16 sum over 256 samples per step, 4 marked steps. */
#include <stdint.h>
#include "tt_io.h"
#include "tt_marks.h"

static int16_t samples[256];

__attribute__((noinline)) static int32_t sum(const int16_t *x, uint32_t n)
{
    int32_t acc = 0;
    for (uint32_t i = 0; i < n; ++i) acc += x[i];
    return acc;
}

int main(void)
{
    int32_t total = 0;
    for (uint32_t i = 0; i < 256u; ++i) samples[i] = (int16_t)(i * 3 - 100);
    for (int s = 0; s < 4; ++s) {
        tt_mark_step_begin();
        total += sum(samples, 256u);
        tt_mark_step_end();
    }
    tt_rec_begin("sum");
    tt_rec_int("total", total);
    tt_rec_end();
    tt_rec_begin("mem");
    tt_rec_int("stack", tt_stack_high_water());
    tt_rec_end();
    tt_rec_begin("done");
    tt_rec_end();
    return 0;
}
"""

BOARD_YAML = """\
# The project's own part: an STM32F746 variant with half the SRAM, on the package's mps2 startup.
name: f746-half
description: STM32F746 with 160 KiB SRAM (a project-defined board)
core: cortex-m7
fpu: fpv5-sp-d16
float_abi: hard
clock_hz: 216000000
sram: 160KiB
flash: 1MiB
hosts:
  qemu:
    machine: mps2-an500
    flash_origin: 0x00000000
    sram_origin: 0x20000000
    data_region: {name: PSRAM, origin: 0x60000000, size: 16MiB}
    console: {kind: cmsdk-uart, base: 0x40004000}
    startup: mps2
"""

SCENARIOS_YAML = """\
common:
  board: stm32f746
  stack: 8KiB
  timeout: 300
scenarios:
  - name: own-app
    description: The project's own firmware app.
    firmware: {app: summer}
    budgets: {sram: 64KiB, step_instructions: 5k}
  - name: own-model
    description: The project's model learns the project's data on the device.
    model: {file: models/small16.npz}
    dataset: {file: data/digits8x8.npz, train: 60, test: 60, seed: 1}
    training:
      epochs: 1
      lr: 0.0003
      classifier_lr: 0.05
      sparse_update: {n_bias_update: 2}
    budgets: {sram: 150KiB, flash: 1MiB}
    expect: {accuracy_after: ">= 0.2"}
"""

USER_TEST = """\
import pytest

BOARDS = ["stm32f746", "f746-half"]


@pytest.mark.parametrize("board", BOARDS)
def test_model_fits_and_learns(mcutrain_run, board):
    r = mcutrain_run("checks/train.yaml", "own-model", board=board)
    assert r.status == "ok", r.error
    assert r.board == board
    assert r.peak_sram <= 150 * 1024
    assert r.peak_sram == r.static_sram + r.stack_high_water
    assert r.accuracy_after > r.accuracy_before
    assert r.step_instructions > 0 and r.predict_instructions > 0 and r.step_ms > 0
    assert r.checksum_after != r.checksum_before
    assert len(r.epoch_loss) == 1
    assert r.largest_symbols[0].region == "sram"


def test_own_app(mcutrain_run, mcutrain_project):
    r = mcutrain_run("checks/train.yaml", "own-app")
    assert r.status == "ok" and r.accuracy_after is None
    assert r.step_instructions < 5000
    assert mcutrain_project.apps[0].name == "firmware"
"""


def _install(venv: Path, src: Path) -> Path:
    """A venv with mcutrain installed (not editable) from a copy of this source; its python."""
    shutil.copytree(REPO / "harness", src / "harness",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    # pip builds the wheel as it would for a user: in an isolated build environment whose
    # setuptools comes from the package index (PyPI, or the machine's wheel cache).
    r = subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check",
                        str(src)], capture_output=True, text=True, cwd=src.parent)
    assert r.returncode == 0, r.stdout + r.stderr
    return py


def _project(root: Path) -> None:
    (root / "checks").mkdir(parents=True)
    (root / "firmware" / "summer").mkdir(parents=True)
    (root / "firmware" / "summer" / "main.c").write_text(APP_C)
    (root / "boards").mkdir()
    (root / "boards" / "f746-half.yaml").write_text(BOARD_YAML)
    (root / "checks" / "models").mkdir()
    (root / "checks" / "data").mkdir()
    shutil.copy(REPO / "scenarios" / "models" / "small16-fashion-0to4.npz", root / "checks" / "models" / "small16.npz")
    shutil.copy(REPO / "scenarios" / "data" / "digits8x8.npz", root / "checks" / "data" / "digits8x8.npz")
    (root / "checks" / "train.yaml").write_text(SCENARIOS_YAML)
    (root / "tests").mkdir()
    (root / "tests" / "test_fit.py").write_text(USER_TEST)
    (root / "pyproject.toml").write_text(textwrap.dedent("""\
        [project]
        name = "my-firmware"
        version = "0"

        [tool.mcutrain]
        scenarios = ["checks"]
        boards = ["boards"]
        apps = ["firmware"]
        baseline = "ci/baseline.json"
        reports = "out"

        [tool.pytest.ini_options]
        testpaths = ["tests", "checks"]
        """))


@pytest.mark.slow
def test_a_project_outside_the_repo_installs_mcutrain_and_passes(tmp_path):
    py = _install(tmp_path / "venv", tmp_path / "src")
    proj = tmp_path / "my-firmware"
    _project(proj)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env.setdefault("MCUTRAIN_CACHE", str(REPO / ".cache"))  # shares builds, datasets and the plugin

    where = subprocess.run([str(py), "-c", "import harness; print(harness.__file__)"],
                           capture_output=True, text=True, cwd=proj, env=env, check=True).stdout.strip()
    assert Path(where).is_relative_to(tmp_path / "venv"), f"not the installed copy: {where}"

    r = subprocess.run([str(py), "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA",
                        "--update-baseline"],
                       capture_output=True, text=True, cwd=proj, env=env, timeout=1500)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    for item in ("checks/train.yaml::own-app::build", "checks/train.yaml::own-model::accuracy",
                 "tests/test_fit.py::test_model_fits_and_learns[f746-half]",
                 "tests/test_fit.py::test_own_app"):
        assert f"PASSED {item}" in out, item
    reports = sorted((proj / "out").glob("*/report.json"))
    assert len(reports) == 1, out[-2000:]
    doc = json.loads(reports[0].read_text())
    assert {e["scenario"] for e in doc["scenarios"]} == {"own-app", "own-model"}
    assert (reports[0].parent / "report.html").is_file() and (reports[0].parent / "summary.md").is_file()
    assert (proj / "out" / "history.jsonl").is_file()
    baseline = json.loads((proj / "ci" / "baseline.json").read_text())
    assert any("own-model" in k for k in json.dumps(baseline).split('"'))
    # the installed command works in the project too: its scenarios, its baseline, its reports
    cli = subprocess.run([str(tmp_path / "venv" / "bin" / "mcutrain"), "run", "-k", "own-app"],
                         capture_output=True, text=True, cwd=proj, env=env, timeout=600)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert str(proj / "ci" / "baseline.json") in cli.stdout  # compared with the project's baseline
    assert len(list((proj / "out").glob("*/report.json"))) == 2
    assert not (REPO / "reports" / "history.jsonl").is_file() or \
        "my-firmware" not in (REPO / "reports" / "history.jsonl").read_text()
