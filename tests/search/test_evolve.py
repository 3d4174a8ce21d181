"""The evolutionary search on small synthetic problems whose optimum brute force finds."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from harness.search.evolve import evolve, pareto
from harness.search.space import Genome, Space, bias_samples, with_candidate_biases


def _problem(seed: int):
    rng = np.random.default_rng(seed)
    arity = (4, 5, 5, 5, 5)
    value = [rng.integers(-3, 20, a) for a in arity]
    weight = [np.sort(rng.integers(0, 40, a)) for a in arity]
    for v, w in zip(value, weight):
        v[0], w[0] = 0, 0  # choice 0: nothing, free

    def score(g):
        return float(sum(int(v[x]) for v, x in zip(value, g)))

    def cost(g):
        return int(sum(int(w[x]) for w, x in zip(weight, g)))
    return arity, score, cost


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_finds_the_brute_force_optimum(seed):
    arity, score, cost = _problem(seed)
    limit = 70
    best = max((score(g) for g in itertools.product(*map(range, arity)) if cost(g) <= limit))
    res = evolve(arity, score, cost, limit, seed=seed, population=30, generations=40)
    assert res.best.feasible and res.best.cost <= limit
    assert res.best.score == best


def test_same_seed_same_answer_and_cost_limit_respected():
    arity, score, cost = _problem(5)
    a = evolve(arity, score, cost, 50, seed=3, population=20, generations=15)
    b = evolve(arity, score, cost, 50, seed=3, population=20, generations=15)
    assert a.best == b.best and [e.genes for e in a.seen] == [e.genes for e in b.seen]
    assert all(e.feasible == (e.cost <= 50) for e in a.seen)


def test_nothing_fits_leaves_an_infeasible_best():
    res = evolve((3, 3), lambda g: float(sum(g)), lambda g: 10 + sum(g), 5, population=6, generations=3)
    assert not res.best.feasible


def test_pareto_front_is_monotone():
    arity, score, cost = _problem(7)
    res = evolve(arity, score, cost, 60, population=20, generations=10)
    front = pareto(res.seen)
    assert all(a.cost <= b.cost and a.score < b.score for a, b in zip(front, front[1:]))
    for e in res.seen:  # nothing beats a front point on both axes
        assert not any(e.cost < f.cost and e.score > f.score for f in front)


def test_repair_puts_weights_inside_the_bias_range():
    space = Space(10, with_candidate_biases(10, bias_samples(10, at_most=4), (6, 8)), (6, 8))
    g = space.repair(Genome(0, (2, 0)))  # conv 6's weights need n_bias >= 4
    assert space.n_bias(g) >= 4
    keys = space.keys(g)
    assert keys["manual_weight_idx"] == [6] and keys["weight_update_ratio"] == [0.25]
    assert space.repair(Genome(0, (0, 0))) == Genome(0, (0, 0))
