"""A small hand-made QModel for engine tests (no training, no calibration needed)."""
import numpy as np

from harness.model.graph import Add, Conv, GlobalAvgPool, Graph, Linear
from harness.model.qmodel import QAdd, QAvgPool, QConv, QLinearFloat, QModel, QParams


def tiny_graph() -> Graph:
    return Graph("tiny", (8, 8, 1), (
        Conv("c0", "input", "t0", 1, 8, 3, stride=2, padding=1, relu6=True),     # 4x4x8
        Conv("c1", "t0", "t1", 8, 16, 1, relu6=True),                           # pw expand
        Conv("c2", "t1", "t2", 16, 16, 3, padding=1, groups=16, relu6=True),    # dw
        Conv("c3", "t2", "t3", 16, 8, 1),                                       # pw project
        Add("a4", ("t3", "t0"), "t4"),
        Conv("c5", "t4", "t5", 8, 12, 1, relu6=True),
        GlobalAvgPool("p6", "t5", "t6"),
        Linear("fc", "t6", "logits", 12, 3),
    ))


def tiny_qmodel(seed: int = 0) -> QModel:
    rng = np.random.default_rng(seed)
    g = tiny_graph()
    q = QParams(0.05, -10)
    layers = []
    for op in g.ops:
        if isinstance(op, Conv):
            c = op.out_ch
            layers.append(QConv(op, q, q, rng.integers(-127, 128, op.weight_shape, dtype=np.int8),
                                np.full(c, 0.01, np.float32), rng.integers(-500, 500, c).astype(np.int32),
                                np.full(c, 1 << 30, np.int32), np.full(c, -3, np.int32),
                                -10 if op.relu6 else -128, 110 if op.relu6 else 127))
        elif isinstance(op, Add):
            layers.append(QAdd(op, q, q, q, 1 << 30, 0, 1 << 30, 0, 1 << 30, -19))
        elif isinstance(op, GlobalAvgPool):
            layers.append(QAvgPool(op, q, q, 1 << 30, -4))
        else:
            layers.append(QLinearFloat(op, q, rng.standard_normal((3, 12)).astype(np.float32),
                                       np.zeros(3, np.float32)))
    return QModel(g, QParams(1 / 255, -128), tuple(layers))
