"""The 15 sparse-update schemes the paper's compiler ships, by model and budget.

Numbers from tiny-training ``compilation/mcu_ir_gen.py`` (repo HEAD 7bf8e05), as listed in
shared/reference/paper-models.md: five analytic memory budgets per model, each with the
paper's keys ``n_bias_update``, ``manual_weight_idx`` and ``weight_update_ratio``
(``weight_select_criteria`` magnitude+ and ``pw1_weight_only`` 0 in all of them). A scenario
names one as ``{paper: <model>/<budget>}`` (``mbv2-w0.35/49kb``) or ``{paper: <budget>}``
with the model taken from the graph (its zoo name: ``mbv2-w0.35``, ``proxyless-w0.3``,
``mcunet-5fps``). The budget names are the paper's analytic extra memory, not a peak.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ScenarioError


@dataclass(frozen=True)
class PaperScheme:
    model: str
    budget: str
    n_bias_update: int
    manual_weight_idx: tuple[int, ...]
    weight_update_ratio: tuple[float, ...]

    @property
    def name(self) -> str:
        return f"{self.model}/{self.budget}"

    def keys(self) -> dict[str, object]:
        """The scheme written out with the paper's keys (a ``sparse_update:`` mapping)."""
        return {"n_bias_update": self.n_bias_update, "manual_weight_idx": list(self.manual_weight_idx),
                "weight_update_ratio": list(self.weight_update_ratio)}


def _row(model: str, budget: str, n_bias: int, idx: str, ratio: str) -> PaperScheme:
    return PaperScheme(model, budget, n_bias, tuple(int(i) for i in idx.split()),
                       tuple(float(r) for r in ratio.split()))


_TABLE = (
    _row("mbv2-w0.35", "49kb", 16, "36 39 40 41 42 45 48 49", "1 1 0 0.25 0.125 0.125 0.125 0.125"),
    _row("mbv2-w0.35", "73kb", 20, "32 33 36 39 41 42 45 48", "0.125 0.5 0.5 1 0.25 0.125 0.125 1"),
    _row("mbv2-w0.35", "99kb", 25, "27 30 33 36 39 42 45 48", "1 1 1 1 1 0.125 0.5 1"),
    _row("mbv2-w0.35", "123kb", 31, "27 30 33 36 39 42 45 48", "1 1 1 1 1 0.5 1 1"),
    _row("mbv2-w0.35", "138kb", 34, "27 30 33 36 39 42 45 48", "1 1 1 1 1 1 1 1"),
    _row("mcunet-5fps", "49kb", 20, "23 24 27 30 33 39", "0 0.25 0.5 0.5 0 0"),
    _row("mcunet-5fps", "74kb", 21, "21 23 24 26 27 30", "1 0 1 0 0.5 1"),
    _row("mcunet-5fps", "99kb", 22, "21 24 27 30 36 39", "1 1 1 1 0.125 0.25"),
    _row("mcunet-5fps", "124kb", 24, "21 24 27 30 33 39", "0.25 1 1 1 0.5 0.5"),
    _row("mcunet-5fps", "148kb", 23, "21 24 27 30 36 39", "1 1 1 1 1 0.5"),
    _row("proxyless-w0.3", "49kb", 21, "39 42 44 45 50 51 54 57", "0.25 1 0 1 0 0.125 0.25 0.25"),
    _row("proxyless-w0.3", "74kb", 28, "33 36 39 42 45 51 54 57", "0.5 0.25 1 1 1 0.5 0.25 0.5"),
    _row("proxyless-w0.3", "98kb", 25, "36 39 42 45 48 51 54 57", "1 0.5 1 1 0.25 0.5 1 1"),
    _row("proxyless-w0.3", "120kb", 32, "36 39 42 45 48 51 54 57", "1 1 1 1 0.5 1 1 1"),
    _row("proxyless-w0.3", "148kb", 45, "36 39 42 45 48 51 54 57", "1 1 1 1 1 1 1 1"),
)

#: model (the zoo graph's name) -> budget -> scheme, in the paper's order.
PAPER_SCHEMES: dict[str, dict[str, PaperScheme]] = {}
for _s in _TABLE:
    PAPER_SCHEMES.setdefault(_s.model, {})[_s.budget] = _s

#: Short model names a scenario may write before the budget (``mbv2/49kb``): the zoo arch names.
ALIASES = {"mbv2": "mbv2-w0.35", "proxyless": "proxyless-w0.3", "mcunet": "mcunet-5fps"}


def all_schemes() -> tuple[PaperScheme, ...]:
    return _TABLE


def valid_names() -> str:
    """Every valid name, grouped by model, for error messages."""
    return "; ".join(f"{m}/{{{', '.join(b)}}}" for m, b in PAPER_SCHEMES.items())


def check_name(text: object) -> tuple[str | None, str]:
    """``(model or None, budget)`` of a paper-scheme name; ValueError (listing the valid names)
    if no model has such a scheme. ``"49kb"`` alone leaves the model to the graph."""
    if not isinstance(text, str) or not text.strip() or len(text) > 100:
        raise ValueError(f"expected a paper scheme name such as 'mbv2-w0.35/49kb' or '49kb', got "
                         f"{text!r:.100}")
    model, _, budget = text.strip().lower().rpartition("/")
    model = ALIASES.get(model, model)
    budgets = {b for m in PAPER_SCHEMES.values() for b in m}
    if (model and budget not in PAPER_SCHEMES.get(model, {})) or (not model and budget not in budgets):
        raise ValueError(f"no paper scheme {text.strip()!r}: the paper ships {valid_names()} "
                         "(or a budget alone, the model taken from model.arch)")
    return (model or None), budget


def lookup(text: str, graph_name: str) -> PaperScheme:
    """The scheme ``text`` names, for the model ``graph_name``; ScenarioError if the model has no
    such scheme or the name is for another model."""
    try:
        model, budget = check_name(text)
    except ValueError as e:
        raise ScenarioError(str(e), f"use one of: {valid_names()}") from None
    if graph_name not in PAPER_SCHEMES:
        raise ScenarioError(
            f"paper scheme {text!r}: the model {graph_name!r} has no paper schemes (the paper's "
            f"are for {', '.join(PAPER_SCHEMES)})",
            "use model.arch mbv2 (width 0.35), proxyless or mcunet, or write the scheme out with "
            "n_bias_update / manual_weight_idx / weight_update_ratio")
    if model is not None and model != graph_name:
        raise ScenarioError(f"paper scheme {text!r} is for {model}, but the model is {graph_name}",
                            f"name one of {graph_name}'s: {', '.join(PAPER_SCHEMES[graph_name])} "
                            f"(e.g. paper: {graph_name}/49kb)")
    schemes = PAPER_SCHEMES[graph_name]
    if budget not in schemes:
        raise ScenarioError(f"paper scheme {text!r}: {graph_name} has no {budget} scheme",
                            f"use one of {graph_name}'s budgets: {', '.join(schemes)}")
    return schemes[budget]
