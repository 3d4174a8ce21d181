"""``harness/shard.py`` and ``harness/shard_plugin.py``: the ``i/N`` option, the deterministic split
of files into shards, and the plugin that deselects the other shards' items (also under xdist)."""
from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import MctError
from harness.shard import MAX_SHARDS, assign, parse_shard, select, suite_sha256

REPO = Path(__file__).resolve().parents[1]


# -- parse_shard ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [("1/1", (1, 1)), ("2/4", (2, 4)), (" 3 / 3 ", (3, 3)),
                                            ("1000/1000", (1000, 1000)), ("07/10", (7, 10))])
def test_parse_shard_reads_index_and_total(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text, cause", [
    ("", "is not of the form i/N"), ("2", "is not of the form i/N"), ("1/2/3", "is not of the form i/N"),
    ("a/b", "is not of the form i/N"), ("-1/2", "is not of the form i/N"), ("1.5/2", "is not of the form i/N"),
    ("0/2", "the shard index i=0 is outside 1..2 (shards are numbered from 1)"),
    ("3/2", "the shard index i=3 is outside 1..2"),
    ("1/0", "the number of shards N=0 is outside 1..1000"),
    ("1/1001", "the number of shards N=1001 is outside 1..1000"),
])
def test_parse_shard_refuses_bad_text_naming_the_option_and_the_fix(text, cause):
    with pytest.raises(MctError) as e:
        parse_shard(text)
    assert "--mcutrain-shard=" in e.value.message and cause in e.value.message, e.value.message
    assert e.value.fix and "--mcutrain-shard=i/N" in e.value.fix and f"<= {MAX_SHARDS}" in e.value.fix


# -- select --------------------------------------------------------------------------------------
FILES = ["scenarios/fashion.yaml", "scenarios/selftest.yaml", "scenarios/mbv2.yaml", "tests/test_a.py",
         "tests/engine/test_emit.py", "scenarios/vww.yaml", "tests/test_b.py"]


@pytest.mark.parametrize("total", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("n_files", [0, 1, 3, 7])
def test_select_partitions_every_list_exactly(total, n_files):
    files = FILES[:n_files]
    shards = [select(files, i, total) for i in range(1, total + 1)]
    flat = [f for s in shards for f in s]
    assert sorted(flat) == sorted(files)  # every file in exactly one shard
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1 if files else sizes == [0] * total  # equal weights: balanced


@pytest.mark.parametrize("total", [1, 2, 3, 4, 5])
def test_select_partitions_weighted_files_and_balances_items(total):
    rng = random.Random(total)
    weights = {f"scenarios/f{i:02d}.yaml": rng.randint(1, 90) for i in range(17)}
    shards = [select(weights, i, total, weights) for i in range(1, total + 1)]
    assert sorted(f for s in shards for f in s) == sorted(weights)
    loads = [sum(weights[f] for f in s) for s in shards]
    # greedy largest-first: no shard exceeds another by more than the heaviest single file
    assert max(loads) - min(loads) <= max(weights.values()), loads


def test_select_is_stable_under_reordering_and_duplicates():
    weights = {f: len(f) for f in FILES}
    expected = [select(FILES, i, 3, weights) for i in (1, 2, 3)]
    for seed in range(20):
        shuffled = FILES[:]
        random.Random(seed).shuffle(shuffled)
        reordered = dict(sorted(weights.items(), key=lambda kv: shuffled.index(kv[0])))
        assert [select(shuffled + shuffled[:2], i, 3, reordered) for i in (1, 2, 3)] == expected


def test_select_with_equal_weights_is_round_robin_over_sorted_paths():
    files = ["d", "b", "a", "c", "e"]
    assert assign(files, 2) == {"a": 1, "b": 2, "c": 1, "d": 2, "e": 1}
    assert select(files, 2, 2) == ["b", "d"]


def test_suite_fingerprint_depends_on_files_and_weights_not_order():
    assert suite_sha256({"a": 1, "b": 2}) == suite_sha256({"b": 2, "a": 1})
    assert suite_sha256({"a": 1, "b": 2}) != suite_sha256({"a": 1, "b": 3})
    assert suite_sha256({"a": 1}) != suite_sha256({"a": 1, "b": 1})


# -- the plugin ----------------------------------------------------------------------------------
def run_pytest(project: Path, *args: str) -> subprocess.CompletedProcess:
    """``python3 -m pytest`` in ``project`` with this checkout's plugin only (no installed entry
    points: an installed mcutrain would register the plugin a second time)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "harness.pytest_plugin",
                           "-p", "xdist.plugin", "-p", "no:cacheprovider", *args],
                          cwd=project, env=env, capture_output=True, text=True, timeout=600)


def plain_project(root: Path, n_files: int) -> Path:
    (root / "pytest.ini").write_text("[pytest]\n")
    for i in range(n_files):
        (root / f"test_f{i}.py").write_text("".join(f"def test_{j}():\n    pass\n" for j in range(i + 1)))
    return root


def collected(result: subprocess.CompletedProcess) -> set[str]:
    """The files of the items that ran (``-v`` lines, with or without xdist's ``[gw0]`` prefix)."""
    return set(re.findall(r"(test_f\d+\.py)::test_\d+ PASSED", result.stdout)
               + re.findall(r"PASSED (test_f\d+\.py)::test_\d+", result.stdout))


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]])
def test_plugin_shards_split_ordinary_test_files_exactly(tmp_path, xdist):
    project = plain_project(tmp_path, 5)
    seen = []
    for i in (1, 2, 3):
        r = run_pytest(project, f"--mcutrain-shard={i}/3", "-v", "--report-dir", f"r{i}", *xdist)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        files = collected(r)
        report = json.loads((project / f"r{i}" / "report.json").read_text())
        assert report["shard"]["index"] == i and report["shard"]["total"] == 3
        assert sorted(report["shard"]["files"]) == sorted(files), (report["shard"], files)
        assert report["shard"]["suite_files"] == 5
        seen.append(files)
    assert sorted(f for s in seen for f in s) == [f"test_f{i}.py" for i in range(5)]
    # test_fK.py holds K+1 tests; largest first, each to the lightest shard: 5 | 4, then 1 | 3, then 2
    assert seen == [{"test_f4.py"}, {"test_f3.py", "test_f0.py"}, {"test_f2.py", "test_f1.py"}]


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]])
def test_plugin_empty_shard_passes_and_still_writes_its_report(tmp_path, xdist):
    """More shards than files: the empty shard exits 0 (not pytest's 5), so a CI matrix stays green."""
    project = plain_project(tmp_path, 1)
    r = run_pytest(project, "--mcutrain-shard=2/2", "--report-dir", "r2", *xdist)
    assert r.returncode == 0, r.stdout[-2000:]
    assert "1 deselected" in r.stdout or xdist  # xdist's controller does not count deselections
    report = json.loads((project / "r2" / "report.json").read_text())
    assert report["shard"]["files"] == [] and report["scenarios"] == []
    assert report["shard"]["suite_files"] == 1


def test_plugin_keeps_no_tests_ran_when_k_empties_a_shard(tmp_path):
    """Only the shard's own emptiness is forgiven: a -k that selects nothing still exits 5."""
    project = plain_project(tmp_path, 2)
    r = run_pytest(project, "--mcutrain-shard=1/2", "--report-dir", "r1", "-k", "no_such_test")
    assert r.returncode == 5, r.stdout[-2000:]


def test_plugin_refuses_a_bad_shard_option(tmp_path):
    project = plain_project(tmp_path, 1)
    r = run_pytest(project, "--mcutrain-shard=3/2")
    assert r.returncode == 4  # pytest's usage error
    assert "--mcutrain-shard=3/2: the shard index i=3 is outside 1..2" in r.stderr
    assert "fix: write --mcutrain-shard=i/N" in r.stderr
