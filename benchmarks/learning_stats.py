"""Statistics of benchmarks/bench_learning.py: a mean with its 95 % interval, and the verdict
on a claimed ordering of two schemes' accuracies.

The interval is Student's t on n - 1 degrees of freedom: mean ± t(0.975, n - 1) · s / √n, with
s the sample standard deviation (divisor n - 1). The t quantiles are a table (below), not a
library call, so the numbers do not depend on what is installed; sums use ``math.fsum`` (the
exactly rounded sum), so they do not depend on the order numpy or a BLAS would add in.

Verdicts compare two intervals, the conservative way (two 95 % intervals that do not overlap
differ at well below the 5 % level):

- ``a > b`` (a strict order): **held** when a's interval lies wholly above b's, **not held**
  when wholly below, **inconclusive** when they overlap;
- ``a ≥ b``: **held** unless a's interval lies wholly below b's (then **not held**); an overlap
  is consistent with the claim and is reported as held ("not worse");
- ``a ≈ b``: **held** when the intervals overlap, **not held** when they do not;
- a chain ``a > b > c``: not held when any link is not held, else not available when a link
  is, held when every link is held, inconclusive otherwise.

The runs of different schemes share their seeds (the same training subset in the same order),
so the per-seed differences a_i - b_i are paired samples: ``paired`` gives their mean and 95 %
interval, and the same verdicts against zero (``ZERO``) are a far more powerful test than the
overlap of two intervals (the seed-to-seed spread, which both schemes share, cancels). The
bench prints both; the headline verdict is the overlap one, as the issue asks.

A claim with a missing side (a scheme that did not run, or diverged on every seed) is
**not available**.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

# t(0.975, dof): the two-sided 95 % quantile of Student's t, for dof = 1..30 (rounded to 4
# decimals; e.g. NIST/SEMATECH e-Handbook of Statistical Methods, table 1.3.6.7.2), then a few
# larger dof. A dof between two rows takes the smaller dof's (larger) quantile: never too narrow.
T975 = {
    1: 12.7062, 2: 4.3027, 3: 3.1824, 4: 2.7764, 5: 2.5706, 6: 2.4469, 7: 2.3646, 8: 2.3060,
    9: 2.2622, 10: 2.2281, 11: 2.2010, 12: 2.1788, 13: 2.1604, 14: 2.1448, 15: 2.1314,
    16: 2.1199, 17: 2.1098, 18: 2.1009, 19: 2.0930, 20: 2.0860, 21: 2.0796, 22: 2.0739,
    23: 2.0687, 24: 2.0639, 25: 2.0595, 26: 2.0555, 27: 2.0518, 28: 2.0484, 29: 2.0452,
    30: 2.0423, 40: 2.0211, 60: 2.0003, 120: 1.9799,
}
Z975 = 1.9600  # the normal quantile (dof -> infinity)

HELD, NOT_HELD, INCONCLUSIVE, NOT_AVAILABLE = "held", "not held", "inconclusive", "not available"


def t975(dof: int) -> float:
    """The 0.975 quantile of Student's t with ``dof`` degrees of freedom (from ``T975``)."""
    if dof < 1:
        raise ValueError(f"a t quantile needs dof >= 1, got {dof}")
    if dof in T975:
        return T975[dof]
    below = [d for d in T975 if d < dof]
    return T975[max(below)] if dof <= max(T975) else Z975


@dataclass(frozen=True)
class Interval:
    mean: float
    half: float  # half-width of the 95 % interval (infinite for one sample: no spread known)
    n: int

    @property
    def lo(self) -> float:
        return self.mean - self.half

    @property
    def hi(self) -> float:
        return self.mean + self.half


def mean_interval(values: Sequence[float]) -> Interval:
    """Mean and 95 % Student-t half-width of ``values`` (at least one)."""
    n = len(values)
    if n == 0:
        raise ValueError("an interval needs at least one value")
    mean = math.fsum(values) / n
    if n == 1:
        return Interval(mean, math.inf, 1)
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return Interval(mean, t975(n - 1) * math.sqrt(var) / math.sqrt(n), n)


def paired(a: Sequence[float], b: Sequence[float]) -> Interval:
    """Mean and 95 % interval of the per-seed differences a_i - b_i (same seeds, same order)."""
    if len(a) != len(b):
        raise ValueError(f"paired samples need equal lengths, got {len(a)} and {len(b)}")
    return mean_interval([x - y for x, y in zip(a, b)])


ZERO = Interval(0.0, 0.0, 1)  # compare a paired difference with: greater(d, ZERO) is "a > b"


def greater(a: Interval | None, b: Interval | None) -> str:
    """Verdict on the strict claim a > b."""
    if a is None or b is None:
        return NOT_AVAILABLE
    if a.lo > b.hi:
        return HELD
    if a.hi < b.lo:
        return NOT_HELD
    return INCONCLUSIVE


def at_least(a: Interval | None, b: Interval | None) -> str:
    """Verdict on a ≥ b: held unless a is significantly below b."""
    if a is None or b is None:
        return NOT_AVAILABLE
    return NOT_HELD if a.hi < b.lo else HELD


def about_equal(a: Interval | None, b: Interval | None) -> str:
    """Verdict on a ≈ b: held when the intervals overlap."""
    if a is None or b is None:
        return NOT_AVAILABLE
    return HELD if a.lo <= b.hi and b.lo <= a.hi else NOT_HELD


def chain(verdicts: Sequence[str]) -> str:
    """Verdict on a chain of claims (a > b > c: the links' verdicts)."""
    if NOT_HELD in verdicts:  # one broken link breaks the chain, whatever the others say
        return NOT_HELD
    if NOT_AVAILABLE in verdicts:
        return NOT_AVAILABLE
    if all(v == HELD for v in verdicts):
        return HELD
    return INCONCLUSIVE
