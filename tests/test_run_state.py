"""A run's own state: its report folder (never shared, even by runs started in the same second),
the history it appends to (whole lines, also when runs append at once), one clear error before any
work when the report folder cannot be written, and progress lines that say what really happens."""
import json
import os
import re
import subprocess
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from harness.baseline import append_history
from harness.cli import main as mcutrain
from harness.errors import MctError
from harness.report import check_report_targets, new_report_dir

REPO = Path(__file__).resolve().parent.parent
STAMP = "20260101-000000"
LOOP = """
scenarios:
  - name: loop
    firmware: {app: selftest, case: loop}
    timeout: 10
"""


# -- report folders ------------------------------------------------------------------------------
def test_threads_in_the_same_second_get_distinct_folders(tmp_path):
    n = 16
    barrier = threading.Barrier(n)
    made: list[Path] = []

    def one() -> None:
        barrier.wait()
        made.append(new_report_dir(tmp_path / "reports", STAMP))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == n and all(p.is_dir() and p.name.startswith(f"{STAMP}-") for p in made)


def _make(parent: str) -> str:
    return str(new_report_dir(Path(parent), STAMP))


def test_processes_in_the_same_second_get_distinct_folders(tmp_path):
    with ProcessPoolExecutor(2) as pool:
        made = list(pool.map(_make, [str(tmp_path)] * 20))
    assert len(set(made)) == 20 and len(list(tmp_path.iterdir())) == 20


def _pytest_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's harness, not an installed one


def test_two_concurrent_pytest_sessions_write_two_reports_and_two_history_lines(tmp_path):
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "loop.yaml").write_text(LOOP)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
           "-p", "no:xdist", "-q", "--gate", "--rootdir", str(tmp_path), "scenarios"]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, env=_pytest_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    reports = sorted((tmp_path / "reports").glob("*/report.json"))
    assert len(reports) == 2, outs
    for r in reports:
        assert json.loads(r.read_text())["scenarios"][0]["scenario"] == "loop"
    history = (tmp_path / "reports" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["key"] for line in history] == ["loop::loop@stm32f746"] * 2


# -- the history ---------------------------------------------------------------------------------
def _append(args: tuple[str, int]) -> int:
    path, worker = args
    big = "x" * 6000  # longer than PIPE_BUF: a line written in pieces could interleave
    n = 0
    for i in range(15):
        results = [{"file": f"w{worker}.yaml", "scenario": f"{big}-{worker}-{i}-{j}", "board": "b",
                    "ok": True, "metrics": {"flash": i}} for j in range(3)]
        n += append_history(Path(path), results, "cli", Path(path).parent)
    return n


def test_concurrent_history_appends_stay_whole_lines(tmp_path):
    path = tmp_path / "history.jsonl"
    with ProcessPoolExecutor(2) as pool:
        counts = list(pool.map(_append, [(str(path), w) for w in range(4)]))
    lines = path.read_text().splitlines()
    assert sum(counts) == len(lines) == 4 * 15 * 3
    keys = [json.loads(line)["key"] for line in lines]  # every line is one whole JSON document
    assert len(set(keys)) == len(keys)
    for w in range(4):  # each writer's lines keep their order
        mine = [k for k in keys if k.startswith(f"w{w}::")]
        order = [tuple(int(x) for x in re.search(r"-(\d+)-(\d+)@b$", k).groups()) for k in mine]
        assert order == [(i, j) for i in range(15) for j in range(3)]


# -- unwritable report folders -------------------------------------------------------------------
def test_cli_refuses_an_unwritable_report_folder_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code = mcutrain(["run", "--report-dir", str(blocker / "sub"), str(REPO / "scenarios" / "selftest.yaml"),
                     "-k", "selftest-loop"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "[1/" not in out and out == ""  # nothing was built or run
    assert err.splitlines() == [
        f"mcutrain: error: cannot write the report under {blocker / 'sub'}: {blocker} is a file, not a folder",
        f"  fix: remove or rename {blocker}, or give another folder with --report-dir"]


def test_pytest_refuses_an_unwritable_report_folder_at_configure(pytester):
    d = pytester.mkdir("scenarios")
    (d / "loop.yaml").write_text(LOOP)
    blocker = pytester.path / "a-file"
    blocker.write_text("")
    result = pytester.runpytest("-p", "no:cacheprovider",
                                "--report-dir", str(blocker / "sub"), str(d))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert f"mcutrain: cannot write the report under {blocker / 'sub'}: {blocker} is a file" in err
    assert "Traceback" not in err + result.stdout.str()
    assert "collected" not in result.stdout.str()  # before collection, so before any build


def test_a_history_that_is_a_folder_is_refused(tmp_path):
    history = tmp_path / "reports" / "history.jsonl"
    history.mkdir(parents=True)
    with pytest.raises(MctError, match="cannot append to the run history .* it is a folder"):
        check_report_targets(tmp_path / "reports", history, "--report-dir")


def test_a_writable_report_folder_passes_and_leaves_nothing_behind(tmp_path):
    check_report_targets(tmp_path / "new" / "reports", tmp_path / "reports" / "history.jsonl", "--report-dir")
    assert list(tmp_path.iterdir()) == []  # the probe file is gone and nothing was created


# -- progress ------------------------------------------------------------------------------------
def _progress(out: str) -> list[str]:
    """The progress lines of `mcutrain run` ("      0.4 s  what ...")."""
    return [m.group(1) for m in re.finditer(r"^ +\d+\.\d s  (.*) \.\.\.$", out, re.M)]


def test_progress_says_compiling_then_cached(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MCUTRAIN_CACHE", str(tmp_path / "cache"))
    scen = tmp_path / "scenarios" / "loop.yaml"
    scen.parent.mkdir()
    scen.write_text(LOOP)
    assert mcutrain(["run", "--gate", "--report-dir", str(tmp_path / "r1"), str(scen)]) == 0
    first = _progress(capsys.readouterr().out)
    assert first == [f"compiling the startup and runtime for stm32f746 ({first[0].split('(')[1]}",
                     "cross-compiling 1 file(s) for stm32f746 and linking"]
    assert re.fullmatch(r"compiling the startup and runtime for stm32f746 \(\d+ files, once\)", first[0])
    assert mcutrain(["run", "--gate", "--report-dir", str(tmp_path / "r2"), str(scen)]) == 0
    second = _progress(capsys.readouterr().out)
    assert second == ["firmware for stm32f746 is cached (unchanged sources and flags)"]
