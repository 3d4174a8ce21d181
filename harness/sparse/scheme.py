"""Sparse-update schemes with the paper's keys, resolved against a graph, and their memory.

A ``SparseScheme`` is what a scenario writes (``n_bias_update``, ``manual_weight_idx``,
``weight_update_ratio``, a shorthand ``last_layer`` / ``bias_only`` / ``full``, or one of the
paper's 15 shipped schemes by name, ``{paper: mbv2-w0.35/49kb}``: see ``paper_schemes``); a
``ResolvedScheme`` says, for every conv of one graph, whether its bias is updated and how many
of its leading input channels (depthwise: channels) have their weights updated.
``estimate_memory`` prices a resolved scheme analytically (paper-facts.md §1: 8-bit
activations and weights, 32-bit biases, 1-bit masks); the training compiler plans exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from ..errors import ScenarioError
from ..model.graph import Add, Conv, Flatten, GlobalAvgPool, Graph, Linear, Pool

SHORTHANDS = ("last_layer", "bias_only", "full")
KEYS = ("n_bias_update", "manual_weight_idx", "weight_update_ratio", "n_weight_update")
PAPER_KEY = "paper"  # {paper: <model>/<budget>} or {paper: <budget>}: a scheme of paper_schemes


def round_half_away(x: float) -> int:
    """Round to nearest, ties away from zero (how ``k = round(r * C_in)`` is taken)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


@dataclass(frozen=True)
class SparseScheme:
    """A sparse-update scheme in the paper's terms (paper-facts.md §1).

    ``shorthand`` is ``None`` for an explicit scheme, else one of ``SHORTHANDS``; the explicit
    keys must then stay at their defaults. ``n_bias_update`` counts convs back from the last
    one (``"all"`` = every conv); ``manual_weight_idx`` are 0-based conv indices from the input,
    each with one ``weight_update_ratio`` (fraction of input channels, 0 = bias only).
    ``n_weight_update`` (the paper's alternative to ``manual_weight_idx``) selects the last n
    convs instead. ``paper`` names one of the paper's shipped schemes instead (``"49kb"`` or
    ``"mbv2-w0.35/49kb"``), resolved against the graph's model. The classifier is always trained.
    """

    n_bias_update: int | str = 0
    manual_weight_idx: tuple[int, ...] = ()
    weight_update_ratio: tuple[float, ...] = ()
    n_weight_update: int = 0
    shorthand: str | None = None
    paper: str | None = None

    def __post_init__(self) -> None:
        if self.paper is not None:
            from .paper_schemes import check_name, valid_names
            try:
                check_name(self.paper)
            except ValueError as e:
                raise ScenarioError(str(e), fix=f"use one of: {valid_names()}") from None
            if (self.shorthand is not None or self.n_bias_update != 0 or self.manual_weight_idx
                    or self.weight_update_ratio or self.n_weight_update):
                raise ScenarioError(f"paper scheme {self.paper!r} takes no other keys",
                                    fix="either name the paper's scheme alone ({paper: ...}) or "
                                        "write a scheme out with n_bias_update / manual_weight_idx / "
                                        "weight_update_ratio")
            return
        if self.shorthand is not None:
            if self.shorthand not in SHORTHANDS:
                raise ScenarioError(f"unknown sparse-update scheme {self.shorthand!r}",
                                    fix=f"use one of {', '.join(SHORTHANDS)} or give the keys "
                                        "n_bias_update / manual_weight_idx / weight_update_ratio")
            if (self.n_bias_update != 0 or self.manual_weight_idx or self.weight_update_ratio
                    or self.n_weight_update):
                raise ScenarioError(f"scheme {self.shorthand!r} is a shorthand and takes no keys",
                                    fix="either use the shorthand alone or spell the scheme out "
                                        "with n_bias_update / manual_weight_idx / "
                                        "weight_update_ratio")
            return
        n = self.n_bias_update
        if isinstance(n, bool) or not (n == "all" or (isinstance(n, int) and n >= 0)):
            raise ScenarioError(f"n_bias_update = {n!r} is not a conv count",
                                fix="give a whole number >= 0 (convs counted back from the last "
                                    "one) or 'all'")
        for i in self.manual_weight_idx:
            if isinstance(i, bool) or not isinstance(i, int) or i < 0:
                raise ScenarioError(f"manual_weight_idx contains {i!r}",
                                    fix="list 0-based conv indices counted from the input, "
                                        "e.g. [3, 5] or '3-5'")
        if len(set(self.manual_weight_idx)) != len(self.manual_weight_idx):
            raise ScenarioError(f"manual_weight_idx {list(self.manual_weight_idx)} lists a conv "
                                "twice", fix="list each conv index once")
        nw = self.n_weight_update
        if isinstance(nw, bool) or not isinstance(nw, int) or nw < 0:
            raise ScenarioError(f"n_weight_update = {nw!r} is not a conv count",
                                fix="give a whole number >= 0")
        if nw and self.manual_weight_idx:
            raise ScenarioError("both manual_weight_idx and n_weight_update are set",
                                fix="keep one: manual_weight_idx lists convs, "
                                    "n_weight_update takes the last n")
        key, n_w = (("n_weight_update", nw) if nw else
                    ("manual_weight_idx", len(self.manual_weight_idx)))
        if len(self.weight_update_ratio) != n_w:
            raise ScenarioError(
                f"weight_update_ratio has {len(self.weight_update_ratio)} entries but "
                f"{key} asks for {n_w} layers",
                fix="give one ratio per updated layer, or a single number for all of them")
        for r in self.weight_update_ratio:
            if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0.0 <= r <= 1.0:
                raise ScenarioError(
                    f"weight_update_ratio {r!r} is outside 0..1",
                    fix="give the fraction of input channels to update (0 = bias only, 1 = all); "
                        "for an absolute count c of C_in channels write c / C_in")

    @classmethod
    def last_layer(cls) -> SparseScheme:
        return cls(shorthand="last_layer")

    @classmethod
    def bias_only(cls) -> SparseScheme:
        return cls(shorthand="bias_only")

    @classmethod
    def full(cls) -> SparseScheme:
        return cls(shorthand="full")

    @classmethod
    def from_config(cls, value: object) -> SparseScheme:
        """From a scenario value: a shorthand string or a mapping of the paper's keys.

        ``manual_weight_idx`` may be a list or the paper's ``"21-24-27"`` string;
        ``weight_update_ratio`` a list, a ``"1-0.5"`` string, or one number for every layer;
        ``n_weight_update: n`` (the paper's alternative) means the weights of the last n convs.
        """
        if isinstance(value, str):
            return cls(shorthand=value.strip())
        if not isinstance(value, Mapping):
            raise ScenarioError(f"sparse-update scheme must be a name or a mapping, got {value!r}",
                                fix=f"write one of {', '.join(SHORTHANDS)} or a mapping with "
                                    "n_bias_update / manual_weight_idx / weight_update_ratio")
        if PAPER_KEY in value:
            extra = sorted(map(str, set(value) - {PAPER_KEY}))
            if extra:
                raise ScenarioError(f"paper scheme {value[PAPER_KEY]!r} takes no other keys "
                                    f"(got {', '.join(extra)})",
                                    fix="either name the paper's scheme alone ({paper: ...}) or write "
                                        "a scheme out with n_bias_update / manual_weight_idx / "
                                        "weight_update_ratio")
            return cls(paper=value[PAPER_KEY])
        unknown = sorted(set(value) - set(KEYS))
        if unknown:
            raise ScenarioError(f"unknown sparse-update key(s) {', '.join(map(str, unknown))}",
                                fix=f"use only {', '.join(KEYS)}, or {PAPER_KEY} alone")
        n_bias = value.get("n_bias_update", 0)
        if n_bias is None:
            n_bias = 0
        idx = _parse_list(value.get("manual_weight_idx"), int, "manual_weight_idx")
        nw = value.get("n_weight_update") or 0
        n_layers = nw if isinstance(nw, int) and not isinstance(nw, bool) and not idx else len(idx)
        ratio = _parse_ratio(value.get("weight_update_ratio"), n_layers)
        return cls(n_bias_update=n_bias, manual_weight_idx=tuple(idx),
                   weight_update_ratio=tuple(ratio), n_weight_update=nw)

    @classmethod
    def paper_scheme(cls, name: str) -> SparseScheme:
        """One of the paper's shipped schemes by name (``"49kb"`` or ``"mcunet-5fps/99kb"``)."""
        return cls(paper=name)

    def explicit(self, graph: Graph) -> SparseScheme:
        """This scheme with a paper name replaced by its keys for ``graph``'s model."""
        if self.paper is None:
            return self
        from .paper_schemes import lookup
        p = lookup(self.paper, graph.name)
        return SparseScheme(p.n_bias_update, p.manual_weight_idx, p.weight_update_ratio)

    def resolve(self, graph: Graph) -> ResolvedScheme:
        """Per-conv updates of this scheme on ``graph``; ScenarioError if it does not fit."""
        if self.paper is not None:
            resolved = self.explicit(graph).resolve(graph)
            return ResolvedScheme(resolved.graph_name, resolved.layers, self)
        convs = graph.convs()
        n = len(convs)
        if self.shorthand == "last_layer":
            return _resolved(graph, [(False, 0)] * n, self)
        if self.shorthand == "bias_only":
            return _resolved(graph, [(True, 0)] * n, self)
        if self.shorthand == "full":
            return _resolved(graph, [(True, _channels(c)) for c in convs], self)
        n_bias = n if self.n_bias_update == "all" else int(self.n_bias_update)
        if n_bias > n:
            raise ScenarioError(f"n_bias_update = {n_bias} but graph {graph.name!r} has {n} convs",
                                fix=f"use 0..{n} or 'all'")
        first_bias = n - n_bias
        updates = [(i >= first_bias, 0) for i in range(n)]
        idx = self.manual_weight_idx
        if self.n_weight_update:
            if self.n_weight_update > n:
                raise ScenarioError(f"n_weight_update = {self.n_weight_update} but graph "
                                    f"{graph.name!r} has {n} convs", fix=f"use 0..{n}")
            idx = tuple(range(n - self.n_weight_update, n))
        for i, r in zip(idx, self.weight_update_ratio):
            if i >= n:
                raise ScenarioError(f"manual_weight_idx {i} is out of range: graph {graph.name!r} "
                                    f"has {n} convs (indices 0..{n - 1})",
                                    fix=f"use conv indices 0..{n - 1}")
            if i < first_bias:
                key = "n_weight_update" if self.n_weight_update else "manual_weight_idx"
                raise ScenarioError(
                    f"{key}: weight-updated conv {i} lies outside the bias-updated range (n_bias_update = "
                    f"{n_bias} covers convs {first_bias}..{n - 1})",
                    fix=f"raise n_bias_update to at least {n - i}, or update fewer weights")
            updates[i] = (True, round_half_away(float(r) * _channels(convs[i])))
        return _resolved(graph, updates, self)


def _parse_list(value: object, kind: type, key: str) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        parts = [p for p in value.strip().split("-") if p.strip()]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        parts = [value]
    try:
        out = [kind(p) if isinstance(p, str) else p for p in parts]
    except ValueError:
        raise ScenarioError(f"{key} = {value!r} cannot be read",
                            fix="write a list, e.g. [1, 2], or the paper's '1-2' string") from None
    return out


def _parse_ratio(value: object, n: int) -> list[float]:
    if value is None:
        return [1.0] * n  # the paper's default: a listed layer is updated fully
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)] * n
    return _parse_list(value, float, "weight_update_ratio")


def _channels(conv: Conv) -> int:
    """Channels a weight ratio counts: input channels; for a depthwise conv the channels."""
    if conv.kind == "depthwise":
        return conv.out_ch
    if conv.groups != 1:
        raise ScenarioError(f"{conv.name}: grouped conv (groups={conv.groups}) is not supported "
                            "by sparse update", fix="use groups=1 or a depthwise conv")
    return conv.in_ch


@dataclass(frozen=True)
class LayerUpdate:
    """What one conv updates: its bias, and the weights of its first ``weight_channels``
    input channels (depthwise: of its first ``weight_channels`` channels)."""

    conv_index: int
    name: str
    update_bias: bool
    weight_channels: int
    channels: int  # the count weight_channels is out of (C_in; depthwise C)

    @property
    def trainable(self) -> bool:
        return self.update_bias or self.weight_channels > 0


@dataclass(frozen=True)
class ResolvedScheme:
    """A scheme on one graph: one ``LayerUpdate`` per conv in graph order; the classifier
    (the final Linear) and every hidden fully connected layer are always trained in full
    (the scheme's keys address convs only)."""

    graph_name: str
    layers: tuple[LayerUpdate, ...]
    source: SparseScheme

    def layer(self, name: str) -> LayerUpdate:
        for u in self.layers:
            if u.name == name:
                return u
        raise KeyError(name)

    @property
    def earliest(self) -> int | None:
        """Conv index of the earliest updated conv: backprop stops there (None: classifier only)."""
        return next((u.conv_index for u in self.layers if u.trainable), None)

    @property
    def earliest_name(self) -> str | None:
        i = self.earliest
        return None if i is None else self.layers[i].name

    def describe(self) -> str:
        parts = []
        for u in self.layers:
            if u.trainable:
                w = f"w {u.weight_channels}/{u.channels}" if u.weight_channels else "bias"
                parts.append(f"{u.conv_index}:{w}")
        return ", ".join(parts) + (", " if parts else "") + "classifier"


def _resolved(graph: Graph, updates: list[tuple[bool, int]], source: SparseScheme) -> ResolvedScheme:
    convs = graph.convs()
    ops = graph.ops
    if not ops or not isinstance(ops[-1], Linear):
        raise ScenarioError(f"graph {graph.name!r} does not end in a Linear classifier",
                            fix="sparse update trains the classifier; end the model with one")
    layers = tuple(LayerUpdate(i, c.name, b, k, _channels(c))
                   for i, (c, (b, k)) in enumerate(zip(convs, updates)))
    return ResolvedScheme(graph.name, layers, source)


def requires_grad(graph: Graph, scheme: ResolvedScheme) -> set[str]:
    """Tensors whose gradient the backward pass computes: outputs of trainable layers and
    everything downstream of them (the classifier is always trainable)."""
    trainable = {u.name for u in scheme.layers if u.trainable}
    need: set[str] = set()
    for op in graph.ops:
        ins = op.inputs if isinstance(op, Add) else (op.input,)
        if isinstance(op, Linear) or op.name in trainable or any(t in need for t in ins):
            need.add(op.output)
    return need


@dataclass(frozen=True)
class MemoryEstimate:
    """Analytic SRAM a scheme needs for training, in bytes (the compiler computes exact plans).

    Trainable parameters: int8 weight slices, int32 biases of updated convs, the classifier
    (float32 weights and bias, or int8 weights and int32 bias). Saved activations: the int8
    input-channel slice of every weight-updated layer (the classifier's input included), and
    a 1-bit mask (packed per tensor) for every clamp the gradient passes through.
    """

    weight_bytes: int
    bias_bytes: int
    classifier_bytes: int
    activation_bytes: int
    mask_bytes: int

    @property
    def trainable_bytes(self) -> int:
        return self.weight_bytes + self.bias_bytes + self.classifier_bytes

    @property
    def saved_bytes(self) -> int:
        return self.activation_bytes + self.mask_bytes

    @property
    def total_bytes(self) -> int:
        return self.trainable_bytes + self.saved_bytes


def estimate_memory(graph: Graph, scheme: ResolvedScheme, classifier: str = "float") -> MemoryEstimate:
    """Price ``scheme`` on ``graph``; ``classifier`` is ``"float"`` or ``"int8"``."""
    if classifier not in ("float", "int8"):
        raise ScenarioError(f"classifier {classifier!r} is neither 'float' nor 'int8'",
                            fix="use classifier: float (the paper's) or int8")
    shapes = graph.shapes()
    need = requires_grad(graph, scheme)
    weight = bias = cls_bytes = act = mask = 0
    for op in graph.ops:
        if isinstance(op, Conv):
            u = scheme.layer(op.name)
            k = u.weight_channels
            if u.update_bias:
                bias += 4 * op.out_ch
            if k:
                h, w, _ = shapes[op.input]
                if op.kind == "depthwise":
                    weight += k * op.window.kh * op.window.kw
                else:
                    weight += op.out_ch * op.window.kh * op.window.kw * k
                act += h * w * k
            if op.output in need:
                mask += (math.prod(shapes[op.output]) + 7) // 8
        elif isinstance(op, Linear):
            n = op.in_features * op.out_features
            int8 = classifier == "int8" or op is not graph.ops[-1]  # a hidden layer is int8
            cls_bytes += n + 4 * op.out_features if int8 else 4 * (n + op.out_features)
            act += op.in_features
            if int8:
                mask += (op.out_features + 7) // 8
        elif isinstance(op, Add):
            if op.act != "none" and op.output in need:
                mask += (math.prod(shapes[op.output]) + 7) // 8
        elif isinstance(op, Pool):
            if op.mode == "max" and op.output in need:  # the backward finds the max tap again
                act += math.prod(shapes[op.input])
        elif not isinstance(op, (GlobalAvgPool, Flatten)):  # pragma: no cover - Op is closed
            raise TypeError(op)
    return MemoryEstimate(weight, bias, cls_bytes, act, mask)
