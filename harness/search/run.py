"""One search, end to end: measure the criterion, price schemes with the real planner, evolve
under the budget, and re-price the answer from a real ELF (tightening the limit and searching
again if the calibrated prediction was short by a few bytes of alignment)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from ..errors import MctError
from ..reference import TrainConfig, evaluate, train
from ..scenario import Scenario
from ..sparse.scheme import SparseScheme
from ..units import fmt_bytes
from ..workload import prefix_choice, prepare
from . import contribution, fisher
from .evolve import Evaluated, EvolveResult, evolve
from .memory import ElfPeak, Pricer, elf_peak, with_scheme
from .space import Genome, Space, bias_samples, weight_candidates, with_candidate_biases
from .task import Task, load_task, scenario_config

CRITERIA = ("delta", "fisher")
CLASSIFIER_ONLY = {"n_bias_update": 0, "manual_weight_idx": [], "weight_update_ratio": []}


@dataclass(frozen=True)
class Settings:
    budget: int  # bytes of peak SRAM (.data + .bss + reserved stack)
    criterion: str = "delta"
    samples: int = 200
    holdout: int = 200
    weights: str = "later-pw"
    workers: int = 2
    seed: int = 0
    population: int = 40
    generations: int = 30


@dataclass(frozen=True)
class Found:
    keys: dict
    describe: str
    score: float
    predicted: int  # calibrated planner prediction of the peak
    elf: ElfPeak  # the same scheme built with the real toolchain
    result: EvolveResult
    space: Space
    criterion_seconds: float
    search_seconds: float
    pricer_compiles: int
    pricer_seconds: float
    criterion: object  # contribution.Contribution | fisher.Fisher


def space_of(task: Task, weights: str) -> Space:
    graph = task.qmodel.graph
    n = len(graph.convs())
    cands = weight_candidates(graph, weights)
    return Space(n, with_candidate_biases(n, bias_samples(n), cands), cands)


def measure_criterion(task: Task, space: Space, st: Settings, progress) -> tuple[object, Callable[[Genome], float], float]:
    if st.criterion == "delta":
        c = contribution.measure(task, space, st.workers, progress)
        return c, (lambda g: c.score(space, g)), c.seconds
    f = fisher.measure(task, space, progress)
    return f, (lambda g: f.score(space, g)), f.seconds


def check_settings(s: Scenario, st: Settings) -> None:
    if st.criterion not in CRITERIA:
        raise MctError(f"--criterion {st.criterion!r} is unknown", f"use one of {', '.join(CRITERIA)}")
    if st.budget <= 0:
        raise MctError(f"--budget {st.budget} B is not a memory size", "give e.g. --budget 200KiB")
    if st.workers < 1 or st.population < 4 or st.generations < 1:
        raise MctError("--workers must be >= 1, --population >= 4 and --generations >= 1",
                       "e.g. --workers 2 --population 40 --generations 30")


@dataclass(frozen=True)
class Prepared:
    """What a search measures once and may reuse for several budgets: the task, its space, the
    calibrated pricer and the criterion."""

    scenario: Scenario
    task: Task
    space: Space
    pricer: Pricer
    calibration: ElfPeak
    criterion: object
    score: Callable[[Genome], float]
    criterion_seconds: float


def _check_floor(cal: ElfPeak, budget: int) -> None:
    if cal.peak > budget:
        raise MctError(f"--budget {fmt_bytes(budget)} is below the smallest scheme's peak: training the "
                       f"classifier alone needs {fmt_bytes(cal.peak)} (static {cal.static_sram} B + "
                       f"stack {cal.stack_reserved} B, measured from the ELF)",
                       f"give --budget of at least {cal.peak} B, or lower the scenario's `stack:`")


def prepare_search(s: Scenario, st: Settings, progress: Callable[[str], None] = lambda _m: None,
                   measured: object | None = None) -> Prepared:
    """``measured``: a criterion measured before for the same scenario and settings (reused)."""
    check_settings(s, st)
    task = load_task(s, st.samples, st.holdout)
    space = space_of(task, st.weights)
    assert s.training is not None
    pricer = Pricer(task.qmodel, task.workload.options, prefix_choice(s.training.prefix))
    progress("calibrating the fixed part of the peak: one firmware build (classifier-only scheme)")
    cal = elf_peak(s, CLASSIFIER_ONLY)
    pricer.fixed = cal.fixed
    floor = pricer.peak(CLASSIFIER_ONLY)
    if floor != cal.peak:
        raise MctError(f"the planner's arena for the classifier-only scheme differs from the build's "
                       f"({floor} B vs {cal.peak} B)", "this is a bug in mcutrain search: report it")
    _check_floor(cal, st.budget)  # before the slow part
    if measured is not None:
        crit, crit_s = measured, getattr(measured, "seconds")
        score = lambda g: crit.score(space, g)  # noqa: E731
    else:
        crit, score, crit_s = measure_criterion(task, space, st, progress)
    return Prepared(s, task, space, pricer, cal, crit, score, crit_s)


def search(s: Scenario, st: Settings, progress: Callable[[str], None] = lambda _m: None,
           prepared: Prepared | None = None) -> Found:
    """The scheme with the best score whose peak SRAM (re-priced from a real ELF) fits st.budget;
    ``prepared`` (same scenario and criterion settings) skips the measuring."""
    check_settings(s, st)
    if prepared is None:
        prepared = prepare_search(s, st, progress)
    cal, space, pricer, score = prepared.calibration, prepared.space, prepared.pricer, prepared.score
    _check_floor(cal, st.budget)
    arity = [len(space.bias_choices)] + [5] * len(space.candidates)

    def genome(genes: tuple[int, ...]) -> Genome:
        return Genome(genes[0], tuple(genes[1:]))

    def repair(genes: tuple[int, ...]) -> tuple[int, ...]:
        g = space.repair(genome(genes))
        return (g.bias,) + g.ratios

    limit = st.budget
    t0 = time.monotonic()
    for _attempt in range(4):
        progress(f"evolutionary search (population {st.population}, {st.generations} generations, "
                 f"seed {st.seed}) under {limit} B")
        res = evolve(arity, lambda g: score(genome(g)), lambda g: pricer.peak(space.keys(genome(g))), limit,
                     seed=st.seed, population=st.population, generations=st.generations, repair=repair)
        best = res.best
        if not best.feasible:
            raise MctError(f"no scheme found within {fmt_bytes(st.budget)}", "raise --budget")
        keys = space.keys(genome(best.genes))
        progress(f"re-pricing the answer from a real firmware build: {space.describe(genome(best.genes))}")
        elf = elf_peak(s, keys)
        if elf.peak <= st.budget:
            break
        limit -= elf.peak - st.budget  # alignment the calibration did not see: search again below
    else:
        raise MctError(f"the chosen scheme's ELF peak {elf.peak} B stays above the budget {st.budget} B",
                       "raise --budget a little")
    search_s = time.monotonic() - t0
    return Found(keys, space.describe(genome(best.genes)), best.score, best.cost, elf, res, space,
                 prepared.criterion_seconds, search_s, pricer.compiles, pricer.seconds, prepared.criterion)


def host_accuracy(s: Scenario, keys: dict | str) -> float:
    """Test accuracy after training the scenario (its data, epochs and settings) with this scheme on
    the host reference (what `mcutrain run` compares the device against)."""
    assert s.model and s.dataset and s.training
    w = prepare(s.model, s.dataset, with_scheme(s, keys).training)  # type: ignore[arg-type]
    cfg: TrainConfig = scenario_config(s, s.training.epochs)
    r = train(w.qmodel, w.scheme, w.train_x, w.train_y, cfg)
    return evaluate(r.qmodel, w.test_x, w.test_y)


__all__ = ["Settings", "Found", "search", "host_accuracy", "CRITERIA", "Evaluated", "SparseScheme"]
