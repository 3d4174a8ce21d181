"""benchmarks/learning_stats.py: the 95 % interval of known samples and the verdicts on the
paper's claims that bench_learning prints."""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def st():
    spec = importlib.util.spec_from_file_location("learning_stats", REPO / "benchmarks" / "learning_stats.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["learning_stats"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_interval_of_a_known_sample(st):
    # 1..5: mean 3, s = sqrt(2.5), t(0.975, 4) = 2.7764 -> half-width 2.7764 * 1.5811 / 2.2361
    iv = st.mean_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert iv.n == 5 and iv.mean == 3.0
    assert iv.half == pytest.approx(2.7764 * math.sqrt(2.5) / math.sqrt(5), abs=1e-12)
    assert iv.half == pytest.approx(1.9632, abs=1e-4)
    assert (iv.lo, iv.hi) == pytest.approx((3.0 - 1.9632, 3.0 + 1.9632), abs=1e-4)


def test_interval_of_accuracies_and_degenerate_samples(st):
    iv = st.mean_interval([0.80, 0.82, 0.81, 0.79, 0.83, 0.80])  # dof 5: t 2.5706
    s = math.sqrt(sum((v - 0.8083333333333333) ** 2 for v in [0.80, 0.82, 0.81, 0.79, 0.83, 0.80]) / 5)
    assert iv.mean == pytest.approx(0.8083333333333333)
    assert iv.half == pytest.approx(2.5706 * s / math.sqrt(6))
    assert st.mean_interval([0.5] * 5).half == 0.0  # no spread: a zero-width interval
    assert st.mean_interval([0.7]).half == math.inf  # one run says nothing about the spread
    with pytest.raises(ValueError):
        st.mean_interval([])


def test_t_table_matches_scipy_where_installed(st):
    stats = pytest.importorskip("scipy.stats")
    for dof in list(range(1, 31)) + [40, 60, 120]:
        assert st.t975(dof) == pytest.approx(float(stats.t.ppf(0.975, dof)), abs=6e-5), dof
    # between rows: the smaller dof's quantile (wider, never too narrow); beyond: the normal's
    assert st.t975(35) == st.T975[30] > float(stats.t.ppf(0.975, 35))
    assert st.t975(1000) == st.Z975
    with pytest.raises(ValueError):
        st.t975(0)


def test_verdicts(st):
    I = st.Interval
    hi, lo, mid = I(0.80, 0.01, 5), I(0.70, 0.01, 5), I(0.75, 0.06, 5)  # mid overlaps both
    assert st.greater(hi, lo) == st.HELD
    assert st.greater(lo, hi) == st.NOT_HELD
    assert st.greater(hi, mid) == st.INCONCLUSIVE
    assert st.at_least(hi, lo) == st.HELD
    assert st.at_least(mid, hi) == st.HELD  # overlapping: not worse
    assert st.at_least(lo, hi) == st.NOT_HELD
    assert st.about_equal(hi, mid) == st.HELD
    assert st.about_equal(hi, lo) == st.NOT_HELD
    touching = I(0.72, 0.02, 5)  # 0.70..0.74 overlaps lo (0.69..0.71) by 0.01
    assert st.about_equal(touching, lo) == st.HELD and st.greater(touching, lo) == st.INCONCLUSIVE
    for f in (st.greater, st.at_least, st.about_equal):
        assert f(None, hi) == st.NOT_AVAILABLE and f(hi, None) == st.NOT_AVAILABLE


def test_chain(st):
    H, N, U, A = st.HELD, st.NOT_HELD, st.INCONCLUSIVE, st.NOT_AVAILABLE
    assert st.chain([H, H]) == H
    assert st.chain([H, U]) == U
    assert st.chain([U, N]) == N
    assert st.chain([A, N]) == N  # a broken link breaks the chain
    assert st.chain([A, H]) == A


def test_searched_scheme_from_a_block_or_a_file(tmp_path):
    """bench_learning's --searched takes a sparse_update block inline or a YAML file holding one."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import learning_runs

    block = "{n_bias_update: 3, manual_weight_idx: [6], weight_update_ratio: [0.5]}"
    inline = learning_runs.load_searched(block)
    assert (inline.n_bias_update, inline.manual_weight_idx, inline.weight_update_ratio) == (3, (6,), (0.5,))
    f = tmp_path / "found.yaml"
    f.write_text("training:\n  sparse_update:\n    n_bias_update: 3\n    manual_weight_idx: [6]\n"
                 "    weight_update_ratio: [0.5]\n")
    assert learning_runs.load_searched(str(f)) == inline
    assert learning_runs.load_searched("sparse_update: bias_only").shorthand == "bias_only"


def test_paired_difference(st):
    a = [0.70, 0.60, 0.80, 0.65, 0.75]  # a spread of 20 points between seeds ...
    b = [0.68, 0.59, 0.78, 0.64, 0.73]  # ... shared by b, which is 1-2 points lower on every seed
    assert st.greater(st.mean_interval(a), st.mean_interval(b)) == st.INCONCLUSIVE
    d = st.paired(a, b)
    assert d.mean == pytest.approx(0.016) and d.n == 5
    assert d.half == pytest.approx(2.7764 * math.sqrt(0.00003) / math.sqrt(5))
    assert st.greater(d, st.ZERO) == st.HELD  # the pairing cancels the seeds' shared spread
    assert st.about_equal(d, st.ZERO) == st.NOT_HELD
    with pytest.raises(ValueError):
        st.paired(a, b[:4])
