"""Per-layer parameter and MAC counts of a ``Graph``, printable as a table.

Parameters are counted as after BN folding (conv weight + one bias per output channel);
the backbone is every op except the final classifier, as in the paper's figures.
"""
from __future__ import annotations

from dataclasses import dataclass

from .graph import Add, Conv, GlobalAvgPool, Graph, Linear


@dataclass(frozen=True)
class LayerStats:
    name: str
    kind: str  # conv / depthwise / pointwise / add / avgpool / linear
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    params: int
    macs: int


@dataclass(frozen=True)
class ModelStats:
    graph_name: str
    layers: tuple[LayerStats, ...]

    @property
    def total_params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def backbone_params(self) -> int:
        """Everything but the classifier (the last op when it is a Linear)."""
        return self.total_params - self._classifier("params")

    @property
    def backbone_macs(self) -> int:
        return self.total_macs - self._classifier("macs")

    def _classifier(self, attr: str) -> int:
        last = self.layers[-1] if self.layers else None
        return getattr(last, attr) if last is not None and last.kind == "linear" else 0

    def table(self) -> str:
        """A fixed-width table, one row per layer, then totals."""
        def shp(s: tuple[int, ...]) -> str:
            return "x".join(map(str, s))
        rows = [f"{'layer':<14} {'kind':<10} {'input':>12} {'output':>12} {'params':>9} {'MACs':>12}"]
        rows.append("-" * len(rows[0]))
        for layer in self.layers:
            rows.append(f"{layer.name:<14} {layer.kind:<10} {shp(layer.input_shape):>12} "
                        f"{shp(layer.output_shape):>12} {layer.params:>9,} {layer.macs:>12,}")
        rows.append("-" * len(rows[0]))
        rows.append(f"{'backbone':<14} {'':<10} {'':>12} {'':>12} {self.backbone_params:>9,} "
                    f"{self.backbone_macs:>12,}")
        rows.append(f"{'total':<14} {'':<10} {'':>12} {'':>12} {self.total_params:>9,} "
                    f"{self.total_macs:>12,}")
        return "\n".join(rows)

    def __str__(self) -> str:
        return f"{self.graph_name}\n{self.table()}"


def model_stats(graph: Graph) -> ModelStats:
    shapes = graph.shapes()
    layers = []
    for op in graph.ops:
        if isinstance(op, Conv):
            ish, osh = shapes[op.input], shapes[op.output]
            per_out = op.window.kh * op.window.kw * (op.in_ch // op.groups)
            layers.append(LayerStats(op.name, op.kind, ish, osh, op.out_ch * per_out + op.out_ch,
                                     osh[0] * osh[1] * op.out_ch * per_out))
        elif isinstance(op, Linear):
            layers.append(LayerStats(op.name, "linear", shapes[op.input], shapes[op.output],
                                     op.in_features * op.out_features + op.out_features,
                                     op.in_features * op.out_features))
        elif isinstance(op, Add):
            layers.append(LayerStats(op.name, "add", shapes[op.inputs[0]], shapes[op.output], 0, 0))
        elif isinstance(op, GlobalAvgPool):
            layers.append(LayerStats(op.name, "avgpool", shapes[op.input], shapes[op.output], 0, 0))
    return ModelStats(graph.name, tuple(layers))
