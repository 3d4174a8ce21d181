"""A seeded evolutionary search over genomes of small integers: tournament selection, uniform
crossover, per-gene mutation, elitism. Maximises a score subject to a cost limit; every choice
comes from one ``numpy.random.Generator`` seeded by the caller, and ties break on the genome
itself, so the result is the same on every machine."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

Genes = tuple[int, ...]


@dataclass(frozen=True)
class Evaluated:
    genes: Genes
    score: float
    cost: int
    feasible: bool


@dataclass(frozen=True)
class EvolveResult:
    best: Evaluated
    seen: tuple[Evaluated, ...]  # every distinct genome evaluated, in the order first met
    generations: int


def evolve(arity: Sequence[int], score: Callable[[Genes], float], cost: Callable[[Genes], int],
           limit: int, *, seed: int = 0, population: int = 40, generations: int = 30,
           mutation: float | None = None, repair: Callable[[Genes], Genes] = lambda g: g,
           initial: Sequence[Genes] = ()) -> EvolveResult:
    """Best genome (gene j in ``0..arity[j]-1``) with ``cost <= limit``, maximising ``score``.

    ``score`` and ``cost`` are called once per distinct genome (cached here). The all-zero
    genome and ``initial`` seed the population, the rest is random."""
    rng = np.random.default_rng(seed)
    n = len(arity)
    p_mut = mutation if mutation is not None else 1.0 / max(n, 1)
    cache: dict[Genes, Evaluated] = {}

    def ev(g: Genes) -> Evaluated:
        g = repair(tuple(int(v) for v in g))
        if g not in cache:
            c = int(cost(g))
            cache[g] = Evaluated(g, float(score(g)), c, c <= limit)
        return cache[g]

    def key(e: Evaluated) -> tuple:  # larger is better; infeasible ranks by how far over
        return (1, e.score, -e.cost, _neg(e.genes)) if e.feasible else (0, -e.cost, 0.0, _neg(e.genes))

    def random_genome() -> Genes:
        return tuple(int(rng.integers(0, a)) for a in arity)

    pop = [ev(tuple([0] * n))] + [ev(g) for g in initial]
    while len(pop) < population:
        pop.append(ev(random_genome()))
    for _ in range(generations):
        pop.sort(key=key, reverse=True)
        elite = pop[: max(2, population // 10)]
        children: list[Evaluated] = list(elite)
        while len(children) < population:
            a, b = _tournament(pop, rng, key), _tournament(pop, rng, key)
            mask = rng.random(n) < 0.5
            child = [x if m else y for x, y, m in zip(a.genes, b.genes, mask)]
            for j in range(n):
                if rng.random() < p_mut:
                    child[j] = int(rng.integers(0, arity[j]))
            children.append(ev(tuple(child)))
        pop = children
    pop.sort(key=key, reverse=True)
    return EvolveResult(pop[0], tuple(cache.values()), generations)


def _neg(g: Genes) -> tuple[int, ...]:
    return tuple(-v for v in g)  # ties: prefer the smaller genome (fewer, smaller updates)


def _tournament(pop: list[Evaluated], rng: np.random.Generator, key, size: int = 3) -> Evaluated:
    picks = rng.integers(0, len(pop), size)
    return max((pop[int(i)] for i in picks), key=key)


def pareto(points: Sequence[Evaluated]) -> list[Evaluated]:
    """The points no other point beats on both score (higher) and cost (lower), by cost."""
    front: list[Evaluated] = []
    for e in sorted(points, key=lambda e: (e.cost, -e.score)):
        if not front or e.score > front[-1].score:
            front.append(e)
    return front
