"""The search space of sparse-update schemes: how many biases (counted back from the last conv)
and, for each weight candidate conv, the fraction of its input channels to update.

A ``Genome`` is plain integers (indices into the allowed choices), so that a search over it is
exact and the same on every machine; ``Space.keys`` turns it into the paper's scenario keys.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import MctError
from ..model.graph import Graph

RATIOS = (0.0, 0.125, 0.25, 0.5, 1.0)  # the paper's per-layer choices (0: bias only)
CANDIDATES = ("later-pw", "later", "all")


@dataclass(frozen=True)
class Genome:
    bias: int  # index into Space.bias_choices
    ratios: tuple[int, ...]  # per weight candidate: index into RATIOS


@dataclass(frozen=True)
class Space:
    n_convs: int
    bias_choices: tuple[int, ...]  # sampled n_bias_update values, ascending, starting at 0
    candidates: tuple[int, ...]  # conv indices (from the input) whose weights may be updated

    def n_bias(self, g: Genome) -> int:
        return self.bias_choices[g.bias]

    def repair(self, g: Genome) -> Genome:
        """The genome with n_bias_update raised to the smallest sampled value covering every
        weight-updated conv (the paper's rule: weights only inside the bias-updated range)."""
        lowest = min((c for c, r in zip(self.candidates, g.ratios) if r), default=None)
        if lowest is None:
            return g
        need = self.n_convs - lowest
        if self.bias_choices[g.bias] >= need:
            return g
        b = next(i for i, k in enumerate(self.bias_choices) if k >= need)
        return Genome(b, g.ratios)

    def keys(self, g: Genome) -> dict[str, object]:
        """The scenario's ``sparse_update:`` mapping (the paper's keys)."""
        picked = [(c, RATIOS[r]) for c, r in zip(self.candidates, g.ratios) if r]
        return {"n_bias_update": self.n_bias(g), "manual_weight_idx": [c for c, _ in picked],
                "weight_update_ratio": [r for _, r in picked]}

    def describe(self, g: Genome) -> str:
        picked = [f"{c}@{RATIOS[r]:g}" for c, r in zip(self.candidates, g.ratios) if r]
        return f"bias {self.n_bias(g)}, weights " + (" ".join(picked) if picked else "none")


def bias_samples(n: int, at_most: int = 12) -> tuple[int, ...]:
    """n_bias_update values measured: every one for a small net, else ``at_most`` values spread
    over 0..n (denser near the output, where the paper's schemes lie)."""
    if n + 1 <= at_most:
        return tuple(range(n + 1))
    out = {0, n}
    for j in range(1, at_most - 1):
        out.add(round(n * (j / (at_most - 1)) ** 1.5))
    return tuple(sorted(out))


def weight_candidates(graph: Graph, which: str) -> tuple[int, ...]:
    """Conv indices whose weights the search may update: ``later-pw`` the pointwise (and plain
    conv) layers of the later half, ``later`` every conv of the later half, ``all`` every conv."""
    if which not in CANDIDATES:
        raise MctError(f"--weights {which!r} is not a candidate set", f"use one of {', '.join(CANDIDATES)}")
    convs = graph.convs()
    n = len(convs)
    first = 0 if which == "all" else n // 2
    return tuple(i for i in range(first, n)
                 if which != "later-pw" or convs[i].kind != "depthwise")


def with_candidate_biases(space_n: int, bias: tuple[int, ...], candidates: tuple[int, ...]) -> tuple[int, ...]:
    """Bias choices including the one that reaches the earliest weight candidate (the weight
    runs' baseline)."""
    if not candidates:
        return bias
    return tuple(sorted(set(bias) | {space_n - min(candidates)}))
