"""Host reference of on-device training: what the device computes, in numpy (docs/arithmetic.md).

Owns one training step of an int8 ``QModel`` under a sparse-update scheme: the integer forward
(``harness.model.qops``), softmax cross-entropy (``harness.model.rtmath``), the float32
straight-through backward with 1-bit clamp masks (§7), and the in-place SGD updates with or
without QAS and with nearest, stochastic or error-feedback rounding (§8, §8.1); plus a float (non-quantized) training
path with the same scheme masking, and the parameter checksum (§9).

Order of work in one step (the C runtime follows it; stochastic rounding draws from one
xorshift32 stream seeded once per ``train`` and never reset between steps or epochs):

1. integer forward of the sample; the loss and ``dlogits`` (§6);
2. ops in *reverse* graph order; only ops whose output needs a gradient are visited (the
   outputs of trainable layers and everything downstream of them: backprop stops at the
   earliest updated conv, whose input gradient is never computed). For each op:

   - Linear (every fully connected layer is trained in full: the classifier and any hidden
     int8 layer, whose mask is its fused ReLU / ReLU6 clamp's): float32 — ``b[j] -= lr * g[j]`` for
     ``j = 0..N_out-1``, then ``W[j][i] -= lr * (g[j] * x_r[i])`` row-major, no draws;
     int8 — as a conv below (mask, bias, weights ``[j][i]``, one draw per element);
     then ``g_x = W^T g`` with the updated weights.
   - Conv / depthwise / pointwise: ``g_a = g_y * mask``; if the bias is trainable, the biases
     ``c = 0..C_out-1`` in order; if ``k > 0``, the weights of the trainable slice in layout
     order ``[c][kh][kw][i]`` with ``i < k`` (depthwise ``[c][kh][kw]`` with ``c < k``);
     then ``g_x`` with the weights as just updated, if the input needs a gradient.
   - Global average pool: ``g_x = g_y / (H*W)`` broadcast.  Residual add: ``g_y`` (times
     its mask if it fuses an activation) to both inputs (a tensor read by several ops sums
     their gradients).  Max / average pool: ``pool_grad_input``.  Flatten: ``g_y`` reshaped.

   Each updated element takes exactly one xorshift32 draw (stochastic mode only), in the order
   above: a layer's biases, then its weights; layers from the classifier towards the input.

Updates (§8), float32, one rounded operation each: ``dw = (lr * g_W) / s_w[c]`` with QAS,
``(lr * g_W) * s_w[c]`` without; ``db = (lr * g_b) / (s_x * s_w[c])`` with QAS,
``(lr * g_b) * (s_x * s_w[c])`` without. Then ``w = clamp(R((float)w - dw), -127, 127)`` and
``b = clamp_int32(R((float)b - db))``. The clamps saturate in the float domain (the C code
must compare before casting: a float-to-int cast out of range is undefined). Note that
``(float)b`` is exact only for ``|b| <= 2**24``.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from .errors import ScenarioError
from .model import qops
from .model.graph import Add, Conv, Flatten, GlobalAvgPool, Graph, Linear, Pool
from .model.qmodel import (QAdd, QAvgPool, QConv, QFlatten, QLayer, QLinear, QLinearFloat, QModel,
                           QParams, QPool)
from .model.rtmath import DEFAULT_SEED, Xorshift32, fnv1a32, round_nearest, round_stochastic, softmax_xent
from .sgd.lr_schedule import LrSchedule, scaled_lr
from .sgd.momentum import Velocity, momentum_step
from .sgd.shuffle import epoch_orders
from .sparse.scheme import ResolvedScheme, SparseScheme, requires_grad

log = logging.getLogger(__name__)

F32 = np.float32
INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
ROUNDING = ("nearest", "stochastic", "feedback")


# --- real-valued ops: forward and backward of one sample ----------------------------------
# Tensors are (H, W, C) or (N,); conv forward also takes a leading batch axis. Every op works
# in the dtype it is given (float32 on the training paths, float64 in the gradient checks).

def _pad(x: np.ndarray, op: Conv) -> np.ndarray:
    """``x`` with the window's zero padding per side on its H and W axes."""
    w = op.window
    if not (w.pt or w.pb or w.pl or w.pr):
        return x
    width = [(0, 0)] * (x.ndim - 3) + [(w.pt, w.pb), (w.pl, w.pr), (0, 0)]
    return np.pad(x, width)


def _patches(x: np.ndarray, op: Conv) -> np.ndarray:
    """Input windows of every output position: (..., Ho, Wo, C, KH, KW), a view."""
    win = op.window
    view = np.lib.stride_tricks.sliding_window_view(_pad(x, op), (win.kh, win.kw), axis=(-3, -2))
    h, w = op.out_hw(x.shape[-3], x.shape[-2])
    return view[..., : win.sh * (h - 1) + 1 : win.sh, : win.sw * (w - 1) + 1 : win.sw, :, :, :]


def conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, op: Conv) -> np.ndarray:
    """Real pre-activation ``a = conv(x, w) + b`` of a conv, depthwise or pointwise layer."""
    pt = _patches(x, op)
    if op.kind == "depthwise":
        a = np.einsum("...ckl,ckl->...c", pt, w[..., 0])
    else:
        _check_dense(op)
        a = np.tensordot(pt, w, axes=([-3, -2, -1], [3, 1, 2]))
    return a + b


def conv_grad_bias(g_a: np.ndarray) -> np.ndarray:
    """``g_b[c] = sum over positions of g_a[., c]``."""
    return g_a.sum(axis=(0, 1))


def conv_grad_weight(g_a: np.ndarray, x: np.ndarray, op: Conv, k: int) -> np.ndarray:
    """Gradient of the trainable weight slice: ``[C_out, KH, KW, k]`` (depthwise ``[k, KH, KW, 1]``)."""
    pt = _patches(x, op)
    if op.kind == "depthwise":
        return np.einsum("hwc,hwckl->ckl", g_a[..., :k], pt[:, :, :k])[..., None]
    _check_dense(op)
    gw = np.tensordot(g_a, pt[:, :, :k], axes=([0, 1], [0, 1]))  # (C_out, k, KH, KW)
    return gw.transpose(0, 2, 3, 1)


def conv_grad_input(g_a: np.ndarray, w: np.ndarray, op: Conv, in_shape: tuple[int, ...]) -> np.ndarray:
    """``g_x[i] = sum over (c, taps) of g_a * w`` (the transposed conv), shape ``in_shape``."""
    h, wd, c = in_shape
    win = op.window
    ho, wo = g_a.shape[0], g_a.shape[1]
    g = np.zeros((h + win.pt + win.pb, wd + win.pl + win.pr, c), dtype=np.result_type(g_a, w))
    for kh in range(win.kh):
        for kw in range(win.kw):
            dst = g[kh : kh + win.sh * (ho - 1) + 1 : win.sh, kw : kw + win.sw * (wo - 1) + 1 : win.sw, :]
            if op.kind == "depthwise":
                dst += g_a * w[:, kh, kw, 0]
            else:
                dst += g_a @ w[:, kh, kw, :]
    return g[win.pt : win.pt + h, win.pl : win.pl + wd, :]


def _check_dense(op: Conv) -> None:
    if op.groups != 1:
        raise ScenarioError(f"{op.name}: grouped conv (groups={op.groups}) is not supported by "
                            "the training reference", fix="use groups=1 or a depthwise conv")


def avgpool_forward(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=(-3, -2))


def avgpool_grad_input(g_y: np.ndarray, in_shape: tuple[int, ...]) -> np.ndarray:
    """``g_x[h, w, c] = g_y[c] / (H*W)``."""
    h, w, _ = in_shape
    q = (g_y / np.asarray(h * w, dtype=g_y.dtype)).astype(g_y.dtype)
    return np.broadcast_to(q, in_shape).copy()


def pool_grad_input(g_y: np.ndarray, x_q: np.ndarray, layer: QPool) -> np.ndarray:
    """Input gradient of an int8 max / average pool (docs/arithmetic.md §7), float32, in the
    C kernel's order: ``g_x = 0``, then per output position (row-major, all channels at once)
    max adds ``g_y`` at the window's first max tap (window order kh, then kw; taps inside
    the input), avg adds ``g_y / n`` to each of its ``n`` taps inside the input. With a fused
    activation an output adds nothing unless ``act_min < u < act_max`` (u its pooled value
    before the clamp)."""
    op = layer.op
    win = op.window
    h, w, c = x_q.shape
    ho, wo = g_y.shape[:2]
    g_x = np.zeros((h, w, c), dtype=np.float32)
    full = layer.act_min <= -128 and layer.act_max >= 127
    xi = x_q.astype(np.int32)
    chans = np.arange(c)
    for oh in range(ho):
        h0 = oh * win.sh - win.pt
        ih0, ih1 = max(h0, 0), min(h0 + win.kh, h)
        for ow in range(wo):
            w0 = ow * win.sw - win.pl
            iw0, iw1 = max(w0, 0), min(w0 + win.kw, w)
            patch = xi[ih0:ih1, iw0:iw1, :].reshape(-1, c)  # taps in window order
            g = g_y[oh, ow].astype(np.float32)
            if op.mode == "max":
                at = np.argmax(patch, axis=0)  # the first maximum
                u = patch[at, chans]
            else:
                n = patch.shape[0]
                s = patch.sum(axis=0)
                u = np.where(s > 0, s + n // 2, s - n // 2)
                u = np.sign(u) * (np.abs(u) // n)
            keep = np.ones(c, dtype=bool) if full else (u > layer.act_min) & (u < layer.act_max)
            if op.mode == "max":
                ih = ih0 + at // (iw1 - iw0)
                iw = iw0 + at % (iw1 - iw0)
                g_x[ih[keep], iw[keep], chans[keep]] += g[keep]
            else:
                v = (g / np.float32(n)).astype(np.float32)
                g_x[ih0:ih1, iw0:iw1, keep] += v[keep]
    return g_x


def pool_forward(x: np.ndarray, op: Pool) -> np.ndarray:
    """Real max / average pool of (H, W, C) or (N, H, W, C): over the taps inside the input."""
    batch = x[None] if x.ndim == 3 else x
    if op.mode == "max":
        taps, _ = qops.pool_windows(batch, op, -np.inf)
        y = taps.max(axis=0)
    else:
        taps, count = qops.pool_windows(batch, op, 0.0)
        y = taps.sum(axis=0) / count[None, :, :, None].astype(batch.dtype)
    y = y.astype(x.dtype)
    return y[0] if x.ndim == 3 else y


def pool_grad_input_real(g_y: np.ndarray, x: np.ndarray, op: Pool) -> np.ndarray:
    """Input gradient of a real pool (one sample): the rules of ``pool_grad_input`` (max: the
    first max tap in window order; avg: ``g / n`` to the ``n`` taps inside the input)."""
    win = op.window
    h, w, c = x.shape
    g_x = np.zeros(x.shape, dtype=g_y.dtype)
    chans = np.arange(c)
    for oh in range(g_y.shape[0]):
        h0 = oh * win.sh - win.pt
        ih0, ih1 = max(h0, 0), min(h0 + win.kh, h)
        for ow in range(g_y.shape[1]):
            w0 = ow * win.sw - win.pl
            iw0, iw1 = max(w0, 0), min(w0 + win.kw, w)
            if op.mode == "max":
                at = np.argmax(x[ih0:ih1, iw0:iw1, :].reshape(-1, c), axis=0)
                g_x[ih0 + at // (iw1 - iw0), iw0 + at % (iw1 - iw0), chans] += g_y[oh, ow]
            else:
                n = (ih1 - ih0) * (iw1 - iw0)
                g_x[ih0:ih1, iw0:iw1, :] += g_y[oh, ow] / np.asarray(n, dtype=g_y.dtype)
    return g_x


def _activate(a: np.ndarray, act: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A real ReLU / ReLU6 and its straight-through mask (None without activation)."""
    if act == "relu6":
        return np.clip(a, 0, 6), (a > 0) & (a < 6)
    if act == "relu":
        return np.maximum(a, 0), a > 0
    return a, None


def linear_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return x @ w.T + b


def linear_grad_weight(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``g_W = g x^T``."""
    return np.outer(g, x)


def linear_grad_input(g: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``g_x = W^T g``."""
    return g @ w


def weight_slice(op: Conv | Linear, k: int) -> tuple[slice, ...]:
    """Index of the trainable weight slice: input channels ``< k`` (depthwise: channels)."""
    if isinstance(op, Conv) and op.kind == "depthwise":
        return (slice(0, k),)
    return (Ellipsis, slice(0, k))


# --- updates (§8) ------------------------------------------------------------------------

def weight_delta(g_w: np.ndarray, s_w: np.ndarray, lr: float, qas: bool) -> np.ndarray:
    """The int8-unit step of a weight: ``(lr*g)/s_w`` with QAS, ``(lr*g)*s_w`` without.

    ``s_w`` broadcasts against ``g_w`` (per output channel, axis 0).
    """
    step = F32(lr) * g_w.astype(np.float32)
    s = np.asarray(s_w, dtype=np.float32).reshape((-1,) + (1,) * (g_w.ndim - 1))
    return (step / s if qas else step * s).astype(np.float32)


def bias_delta(g_b: np.ndarray, s_x: float, s_w: np.ndarray, lr: float, qas: bool) -> np.ndarray:
    """The int32-unit step of a bias: ``(lr*g)/(s_x*s_w)`` with QAS, ``(lr*g)*(s_x*s_w)`` without."""
    step = F32(lr) * g_b.astype(np.float32)
    s = F32(s_x) * np.asarray(s_w, dtype=np.float32)
    return (step / s if qas else step * s).astype(np.float32)


def _rounded(v: np.ndarray, rounding: str, rng: Xorshift32) -> np.ndarray:
    if rounding == "nearest":
        return round_nearest(v)
    return round_stochastic(v, rng.draw(v.size))


def apply_int8(w: np.ndarray, dw: np.ndarray, rounding: str, rng: Xorshift32) -> np.ndarray:
    """``clamp(R((float)w - dw), -127, 127)`` as int8; draws in C (row-major) order of ``w``."""
    v = w.astype(np.float32) - dw
    return np.clip(_rounded(v, rounding, rng), -127, 127).astype(np.int8)


RESIDUAL_UNIT = F32(2.0 ** -8)  # one step of the ``feedback`` residual, in weight steps


def apply_int8_feedback(w: np.ndarray, e: np.ndarray, dw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Error-feedback update of §8.1: ``(w', e')`` from int8 weights ``w``, their int8 residuals
    ``e`` (units of 2^-8 weight step) and steps ``dw``, all float32 ops:
    ``v = ((float)w + (float)e * 2^-8) - dw``; ``w' = clamp(R(v), -127, 127)`` (R nearest);
    ``e' = clamp(R((v - w') * 256), -128, 127)``. A NaN ``v`` keeps ``w`` and ``e``."""
    v = (w.astype(np.float32) + e.astype(np.float32) * RESIDUAL_UNIT) - dw
    with np.errstate(invalid="ignore", over="ignore"):
        r = np.clip(round_nearest(v), F32(-127), F32(127)).astype(np.float32)
        q = round_nearest((v - r).astype(np.float32) * F32(256.0))
        q = np.clip(q, F32(-128), F32(127))
    bad = np.isnan(v)
    w_new = np.where(bad, w, np.where(bad, F32(0), r).astype(np.int8))
    e_new = np.where(bad, e, np.where(bad, F32(0), q).astype(np.int8))
    return w_new.astype(np.int8), e_new.astype(np.int8)


def apply_int32_feedback(b: np.ndarray, e: np.ndarray, db: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Error-feedback update of int32 biases (§8.1): ``v = ((float)b + (float)e * 2^-8) - db``;
    ``b' = clamp_int32(R(v))`` (R nearest, clamped before the conversion);
    ``e' = clamp(R((v - (float)b') * 256), -128, 127)``. A NaN ``v`` keeps ``b`` and ``e``."""
    v = (b.astype(np.float32) + e.astype(np.float32) * RESIDUAL_UNIT) - db
    bad = np.isnan(v)
    with np.errstate(invalid="ignore", over="ignore"):
        r = np.clip(np.where(bad, F32(0), round_nearest(v)).astype(np.float64), INT32_MIN, INT32_MAX)
        b_new = r.astype(np.int32)
        q = round_nearest((v - b_new.astype(np.float32)).astype(np.float32) * F32(256.0))
        q = np.clip(np.where(bad, F32(0), q), F32(-128), F32(127)).astype(np.int8)
    return np.where(bad, b, b_new).astype(np.int32), np.where(bad, e, q).astype(np.int8)


def apply_int32(b: np.ndarray, db: np.ndarray, rounding: str, rng: Xorshift32) -> np.ndarray:
    """``clamp_int32(R((float)b - db))``; the clamp saturates before the integer conversion."""
    v = b.astype(np.float32) - db
    r = _rounded(v, rounding, rng).astype(np.float64)
    return np.clip(r, INT32_MIN, INT32_MAX).astype(np.int32)


# --- configuration and state -------------------------------------------------------------

@dataclass(frozen=True)
class TrainConfig:
    """On-device training hyper-parameters (SGD, batch 1; by default no momentum, constant lr)."""

    epochs: int = 1
    lr: float = 0.01
    classifier_lr: float | None = None  # the float classifier's lr (None: lr)
    qas: bool = True
    rounding: str = "nearest"  # or "stochastic", "feedback" (§8.1: int8 residuals of weights and biases)
    seed: int = DEFAULT_SEED  # xorshift32 seed (stochastic rounding)
    scheme: SparseScheme = field(default_factory=SparseScheme.last_layer)
    # docs/arithmetic.md §10: the visiting order, the lr per step, the classifier's momentum
    shuffle_seed: int = 0  # nonzero: shuffle before every epoch with this xorshift32 stream
    schedule: LrSchedule = field(default_factory=LrSchedule)
    momentum: float = 0.0  # of the float classifier (0: plain SGD, no buffers)

    def __post_init__(self) -> None:
        _check_sgd(self)
        if self.rounding not in ROUNDING:
            raise ScenarioError(f"rounding {self.rounding!r} is unknown",
                                fix="use rounding: nearest, stochastic or feedback")
        if not (isinstance(self.epochs, int) and self.epochs >= 0):
            raise ScenarioError(f"epochs = {self.epochs!r} is not a count",
                                fix="give a whole number of epochs >= 0")
        if self.classifier_lr is not None and not (np.isfinite(self.classifier_lr)
                                                   and self.classifier_lr >= 0):
            raise ScenarioError(f"classifier_lr = {self.classifier_lr!r} is not a learning rate",
                                fix="give a finite learning rate >= 0, e.g. 0.05")
        if not (np.isfinite(self.lr) and self.lr >= 0):
            raise ScenarioError(f"lr = {self.lr!r} is not a learning rate",
                                fix="give a finite learning rate >= 0, e.g. 0.01")
        if not 0 < self.seed <= 0xFFFFFFFF:
            raise ScenarioError(f"seed = {self.seed!r} cannot seed xorshift32",
                                fix="give a nonzero 32-bit seed, e.g. 0x2545F491")


def _check_sgd(cfg: TrainConfig) -> None:
    if not 0 <= cfg.shuffle_seed <= 0xFFFFFFFF:
        raise ScenarioError(f"shuffle_seed = {cfg.shuffle_seed!r} cannot seed xorshift32",
                            fix="give a nonzero 32-bit seed, or 0 for no shuffling")
    if not (np.isfinite(cfg.momentum) and 0 <= cfg.momentum < 1):
        raise ScenarioError(f"momentum = {cfg.momentum!r} is not in [0, 1)",
                            fix="give e.g. momentum: 0.9, or 0 for plain SGD")


@dataclass
class TrainState:
    """Mutable training state: the model's layers (trainable ones copied, updated in place),
    the resolved scheme, the config and the generator."""

    graph: Graph
    input_qp: QParams
    layers: list[QLayer]
    scheme: ResolvedScheme
    cfg: TrainConfig
    rng: Xorshift32
    need: set[str]  # tensors whose gradient the backward computes
    shapes: dict[str, tuple[int, ...]]  # of every tensor (graph.shapes())
    logits: np.ndarray | None = None  # of the last step, before its update
    # rounding "feedback": the int8 residuals of each trained int8 weight slice (by op name, in
    # the slice's layout) and int32 bias (by "<op name>.bias"); zeros at the layer's first update
    residuals: dict[str, np.ndarray] = field(default_factory=dict)
    velocity: Velocity | None = None  # the float classifier's momentum buffers (§10.3)

    @property
    def qmodel(self) -> QModel:
        return QModel(graph=self.graph, input=self.input_qp, layers=tuple(self.layers))


@dataclass(frozen=True)
class TrainResult:
    epoch_loss: tuple[float, ...]  # mean loss per epoch
    epoch_train_acc: tuple[float, ...]  # accuracy on the training samples as they were seen
    acc_before: float | None  # test accuracy before training (None without a test split)
    acc_after: float | None
    qmodel: QModel  # the trained model
    checksum: int  # FNV-1a of the trainable parameters (§9)
    steps: int


def _resolve(graph: Graph, scheme: SparseScheme | ResolvedScheme) -> ResolvedScheme:
    return scheme if isinstance(scheme, ResolvedScheme) else scheme.resolve(graph)


def init_state(qmodel: QModel, cfg: TrainConfig,
               scheme: SparseScheme | ResolvedScheme | None = None) -> TrainState:
    """A training state on a copy of ``qmodel``'s trainable parameters (``qmodel`` is not changed)."""
    resolved = _resolve(qmodel.graph, cfg.scheme if scheme is None else scheme)
    if resolved.graph_name != qmodel.graph.name:
        raise ScenarioError(f"scheme was resolved for graph {resolved.graph_name!r}, the model is "
                            f"{qmodel.graph.name!r}", fix="resolve the scheme against this model")
    layers: list[QLayer] = []
    for op, layer in zip(qmodel.graph.ops, qmodel.layers):
        if isinstance(layer, QConv) and resolved.layer(op.name).trainable:
            layer = dataclasses.replace(layer, w=layer.w.copy(), b=layer.b.copy())
        elif isinstance(layer, (QLinear, QLinearFloat)):
            layer = dataclasses.replace(layer, w=layer.w.copy(), b=layer.b.copy())
        layers.append(layer)
    state = TrainState(qmodel.graph, qmodel.input, layers, resolved, cfg, Xorshift32(cfg.seed),
                       requires_grad(qmodel.graph, resolved), qmodel.graph.shapes())
    head = layers[-1]
    if cfg.momentum and isinstance(head, QLinearFloat):
        state.velocity = Velocity.zeros(head.w, head.b)
    return state


# --- one training step -------------------------------------------------------------------

def _real(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """``s * (q - z)`` in float32, as the C runtime dequantizes."""
    return F32(scale) * (q.astype(np.int32) - zero_point).astype(np.float32)


def _w_real(layer: QConv | QLinear) -> np.ndarray:
    s = np.asarray(layer.w_scale, dtype=np.float32).reshape((-1,) + (1,) * (layer.w.ndim - 1))
    return (layer.w.astype(np.float32) * s).astype(np.float32)


def _add_grad(grads: dict[str, np.ndarray], name: str, g: np.ndarray) -> None:
    grads[name] = grads[name] + g if name in grads else g


def train_step(state: TrainState, x_q: np.ndarray, label: int,
               record: dict[str, tuple[np.ndarray, np.ndarray | None]] | None = None) -> float:
    """One SGD step on one int8 sample ``x_q`` (H, W, C); returns the loss (float32 value).

    The step's logits (before the update) are left in ``state.logits``.

    ``record``, if given, receives each trained layer's real gradients by op name:
    ``(g_b, g_W of the trainable slice or None)``, as computed before that layer's update.
    """
    cfg, scheme = state.cfg, state.scheme
    try:
        trace = qops.forward(state.qmodel, np.asarray(x_q, dtype=np.int8)[None], keep=True)
    except OverflowError as e:  # saturated parameters overflow an int32 accumulator
        raise _diverged(f"the forward pass overflows ({e})", cfg.lr) from None
    logits = state.logits = trace.logits[0]
    if not np.all(np.isfinite(logits)):
        raise _diverged("the logits are not finite", cfg.lr)
    loss, dlogits = softmax_xent(logits, int(label))
    t = {k: v[0] for k, v in trace.tensors.items()}
    shapes = state.shapes
    grads: dict[str, np.ndarray] = {state.graph.output: dlogits}
    for idx in range(len(state.graph.ops) - 1, -1, -1):
        op, layer = state.graph.ops[idx], state.layers[idx]
        if op.output not in grads:
            continue
        g_y = grads.pop(op.output)
        if isinstance(layer, QLinearFloat):
            x_r = _real(t[op.input], layer.x.scale, layer.x.zero_point)
            g_w = linear_grad_weight(g_y, x_r).astype(np.float32)
            if record is not None:
                record[op.name] = (g_y.copy(), g_w)
            lr = F32(cfg.lr if cfg.classifier_lr is None else cfg.classifier_lr)
            if state.velocity is not None and idx == len(state.graph.ops) - 1:
                momentum_step(layer.b, state.velocity.b, g_y, lr, cfg.momentum)
                momentum_step(layer.w, state.velocity.w, g_w, lr, cfg.momentum)
            else:
                layer.b[...] = layer.b - lr * g_y
                layer.w[...] = layer.w - lr * g_w
            if op.input in state.need:
                _add_grad(grads, op.input, linear_grad_input(g_y, layer.w).astype(np.float32))
        elif isinstance(layer, (QConv, QLinear)):
            g_a = (g_y * trace.masks[op.name][0]).astype(np.float32)
            if isinstance(layer, QLinear):
                update_bias, k = True, op.in_features
            else:
                u = scheme.layer(op.name)
                update_bias, k = u.update_bias, u.weight_channels
            s_x = layer.x.scale
            g_b = conv_grad_bias(g_a) if isinstance(layer, QConv) else g_a
            g_w = None
            if update_bias:
                db = bias_delta(g_b, s_x, layer.w_scale, cfg.lr, cfg.qas)
                if cfg.rounding == "feedback":  # §8.1
                    e = state.residuals.setdefault(op.name + ".bias", np.zeros(db.shape, dtype=np.int8))
                    layer.b[...], state.residuals[op.name + ".bias"] = apply_int32_feedback(layer.b, e, db)
                else:
                    layer.b[...] = apply_int32(layer.b, db, cfg.rounding, state.rng)
            if k:
                x_r = _real(t[op.input], s_x, layer.x.zero_point)
                sl = weight_slice(op, k)
                if isinstance(layer, QLinear):
                    g_w = linear_grad_weight(g_a, x_r).astype(np.float32)
                    s_w = layer.w_scale
                else:
                    g_w = conv_grad_weight(g_a, x_r, op, k).astype(np.float32)
                    s_w = layer.w_scale[:k] if op.kind == "depthwise" else layer.w_scale
                dw = weight_delta(g_w, s_w, cfg.lr, cfg.qas)
                if cfg.rounding == "feedback":
                    e = state.residuals.setdefault(op.name, np.zeros(dw.shape, dtype=np.int8))
                    layer.w[sl], state.residuals[op.name] = apply_int8_feedback(
                        np.ascontiguousarray(layer.w[sl]), e, dw)
                else:
                    layer.w[sl] = apply_int8(np.ascontiguousarray(layer.w[sl]), dw, cfg.rounding, state.rng)
            if record is not None and (update_bias or k):
                record[op.name] = (g_b.astype(np.float32), g_w)
            if op.input in state.need:
                w_r = _w_real(layer)
                if isinstance(layer, QLinear):
                    g_x = linear_grad_input(g_a, w_r)
                else:
                    g_x = conv_grad_input(g_a, w_r, op, shapes[op.input])
                _add_grad(grads, op.input, g_x.astype(np.float32))
        elif isinstance(layer, QAvgPool):
            if op.input in state.need:
                _add_grad(grads, op.input, avgpool_grad_input(g_y, shapes[op.input]))
        elif isinstance(layer, QAdd):
            if op.name in trace.masks:  # a fused activation: its clamp's mask (§7)
                g_y = (g_y * trace.masks[op.name][0]).astype(np.float32)
            for name in op.inputs:
                if name in state.need:
                    _add_grad(grads, name, g_y)
        elif isinstance(layer, QPool):
            if op.input in state.need:
                _add_grad(grads, op.input, pool_grad_input(g_y, t[op.input], layer))
        elif isinstance(layer, QFlatten):
            if op.input in state.need:
                _add_grad(grads, op.input, g_y.reshape(shapes[op.input]))
        else:  # pragma: no cover - QLayer is closed
            raise TypeError(type(layer).__name__)
    return float(loss)


def evaluate(qmodel: QModel, x_q: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of the integer model."""
    return qops.accuracy(qmodel, np.asarray(x_q, dtype=np.int8), np.asarray(y))


def _diverged(what: str, lr: float) -> ScenarioError:
    return ScenarioError(f"training diverged: {what}", fix=f"lower the learning rate (lr = {lr})")


def _check_loss(loss: float, epoch: int, step: int, lr: float) -> None:
    if not np.isfinite(loss):
        raise _diverged(f"the loss is {loss} at epoch {epoch}, step {step}", lr)


def train(qmodel: QModel, scheme: SparseScheme | ResolvedScheme | None, x_train_q: np.ndarray,
          y_train: np.ndarray, cfg: TrainConfig, x_test_q: np.ndarray | None = None,
          y_test: np.ndarray | None = None) -> TrainResult:
    """On-device training of ``qmodel`` (unchanged; the result holds the trained copy).

    Samples are visited in the given order every epoch (the device reads them in that order),
    or with ``cfg.shuffle_seed`` in a new order each epoch; ``cfg.schedule`` scales the rates
    per step (§10); ``scheme`` ``None`` means ``cfg.scheme``.
    """
    state = init_state(qmodel, cfg, scheme)
    has_test = x_test_q is not None and y_test is not None
    before = evaluate(qmodel, x_test_q, y_test) if has_test else None
    losses, accs = [], []
    x_train_q = np.asarray(x_train_q, dtype=np.int8)
    visits = _visits(cfg, len(y_train))
    for epoch in range(cfg.epochs):
        total, correct = 0.0, 0
        for i, (x, y) in enumerate(_epoch_samples(x_train_q, y_train, visits, epoch)):
            _step_rates(state, cfg, visits, epoch * len(y_train) + i)
            loss = train_step(state, x, int(y))
            _check_loss(loss, epoch, i, cfg.lr)
            total += loss
            correct += int(np.argmax(state.logits) == int(y))
        n = max(len(y_train), 1)
        losses.append(total / n)
        accs.append(correct / n)
        log.info("epoch %d: loss %.4f, train accuracy %.3f", epoch, losses[-1], accs[-1])
    state.cfg = cfg
    trained = state.qmodel
    after = evaluate(trained, x_test_q, y_test) if has_test else None
    return TrainResult(tuple(losses), tuple(accs), before, after, trained,
                       param_checksum(trained, state.scheme), cfg.epochs * len(y_train))


@dataclass(frozen=True)
class _Visits:
    """Per epoch the sample order (None: as given) and per step the lr factor (None: constant)."""

    orders: list[np.ndarray] | None
    factors: np.ndarray | None


def _visits(cfg: TrainConfig, n: int) -> _Visits:
    orders = epoch_orders(n, cfg.epochs, cfg.shuffle_seed) if cfg.shuffle_seed else None
    factors = None if cfg.schedule.constant else cfg.schedule.factors(cfg.epochs, n)
    return _Visits(orders, factors)


def _epoch_samples(x: np.ndarray, y: np.ndarray, visits: _Visits, epoch: int):
    if visits.orders is None:
        return zip(x, y)
    order = visits.orders[epoch]
    return zip(x[order], np.asarray(y)[order])


def _step_rates(state: TrainState, cfg: TrainConfig, visits: _Visits, step: int) -> None:
    """This step's rates, ``lr * factor`` in float32 as the device scales them (§10.2)."""
    if visits.factors is None:
        return
    f = visits.factors[step]
    head = cfg.lr if cfg.classifier_lr is None else cfg.classifier_lr
    state.cfg = dataclasses.replace(cfg, lr=scaled_lr(cfg.lr, f), classifier_lr=scaled_lr(head, f))


def param_checksum(qmodel: QModel, scheme: SparseScheme | ResolvedScheme) -> int:
    """FNV-1a over the trainable parameters (§9): per trainable layer in graph order its int8
    weight slice (row-major) then its int32 biases; the float classifier's weights then bias."""
    resolved = _resolve(qmodel.graph, scheme)
    h = None
    for op, layer in zip(qmodel.graph.ops, qmodel.layers):
        chunks: list[bytes] = []
        if isinstance(layer, QConv):
            u = resolved.layer(op.name)
            if u.weight_channels:
                chunks.append(np.ascontiguousarray(layer.w[weight_slice(op, u.weight_channels)]).tobytes())
            if u.update_bias:
                chunks.append(layer.b.astype("<i4").tobytes())
        elif isinstance(layer, QLinear):
            chunks += [layer.w.astype(np.int8).tobytes(), layer.b.astype("<i4").tobytes()]
        elif isinstance(layer, QLinearFloat):
            chunks += [layer.w.astype("<f4").tobytes(), layer.b.astype("<f4").tobytes()]
        for c in chunks:
            h = fnv1a32(c) if h is None else fnv1a32(c, h)
    return fnv1a32(b"") if h is None else h


# --- float training path (same scheme masking, no quantization) ---------------------------

@dataclass(frozen=True)
class FloatModel:
    """A folded float model: ``params`` keyed ``"<op>.weight"`` / ``"<op>.bias"`` (graph.py),
    float32, conv weights ``[C_out][K][K][C_in/groups]``. ReLU6 is a real clamp to [0, 6],
    ReLU to [0, inf); pools follow the int8 rules' windows (taps inside the input only)."""

    graph: Graph
    params: Mapping[str, np.ndarray]


def dequantize(qmodel: QModel) -> FloatModel:
    """The float model an int8 model stands for: ``w = s_w w_q``, ``b = s_x s_w b_q``."""
    params: dict[str, np.ndarray] = {}
    for op, layer in zip(qmodel.graph.ops, qmodel.layers):
        if isinstance(layer, (QConv, QLinear)):
            s_w = np.asarray(layer.w_scale, dtype=np.float32)
            params[f"{op.name}.weight"] = _w_real(layer)
            params[f"{op.name}.bias"] = (layer.b.astype(np.float64)
                                         * (F32(layer.x.scale) * s_w).astype(np.float64)).astype(np.float32)
        elif isinstance(layer, QLinearFloat):
            params[f"{op.name}.weight"] = np.asarray(layer.w, dtype=np.float32).copy()
            params[f"{op.name}.bias"] = np.asarray(layer.b, dtype=np.float32).copy()
    return FloatModel(qmodel.graph, params)


@dataclass(frozen=True)
class FloatTrace:
    """Every tensor of a float forward pass and the masks of the ReLU / ReLU6 clamps (by op name)."""

    logits: np.ndarray
    tensors: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]


def float_forward(model: FloatModel, x: np.ndarray) -> FloatTrace:
    """Float forward of one sample (H, W, C) or a batch (N, H, W, C) of real inputs."""
    p = model.params
    t: dict[str, np.ndarray] = {model.graph.input: x}
    masks: dict[str, np.ndarray] = {}
    for op in model.graph.ops:
        if isinstance(op, Conv):
            a = conv_forward(t[op.input], p[f"{op.name}.weight"], p[f"{op.name}.bias"], op)
            if op.relu6:
                masks[op.name] = (a > 0) & (a < 6)
                a = np.clip(a, 0, 6)
            elif op.relu:
                a, masks[op.name] = _activate(a, "relu")
            t[op.output] = a
        elif isinstance(op, Add):
            a, m = _activate(t[op.inputs[0]] + t[op.inputs[1]], op.act)
            if m is not None:
                masks[op.name] = m
            t[op.output] = a
        elif isinstance(op, GlobalAvgPool):
            t[op.output] = avgpool_forward(t[op.input])
        elif isinstance(op, Pool):
            t[op.output] = pool_forward(t[op.input], op)
        elif isinstance(op, Flatten):
            x_in = t[op.input]
            t[op.output] = x_in.reshape(*x_in.shape[:-3], -1)
        elif isinstance(op, Linear):
            a = linear_forward(t[op.input], p[f"{op.name}.weight"], p[f"{op.name}.bias"])
            a, m = _activate(a, op.act)
            if m is not None:
                masks[op.name] = m
            t[op.output] = a
        else:  # pragma: no cover - Op is closed
            raise TypeError(op)
    return FloatTrace(t[model.graph.output], t, masks)


def float_backward(model: FloatModel, scheme: ResolvedScheme, trace: FloatTrace,
                   g_logits: np.ndarray, lr: float,
                   record: dict[str, tuple[np.ndarray, np.ndarray | None]] | None = None, *,
                   classifier_lr: float | None = None, velocity: Velocity | None = None,
                   momentum: float = 0.0) -> None:
    """Backward of one sample with the scheme's masking, SGD-updating ``model.params`` in place
    in the device's order (bias, weight slice, then ``g_x`` with the updated weights).

    The convs and hidden Linears step with ``lr``, the classifier (the last Linear) with
    ``classifier_lr`` (None: ``lr``), as ``train_step`` does for a float classifier."""
    graph, p = model.graph, model.params
    need = requires_grad(graph, scheme)
    shapes = graph.shapes()
    lr_t = np.asarray(lr, dtype=g_logits.dtype)
    lr_fc = np.asarray(lr if classifier_lr is None else classifier_lr, dtype=g_logits.dtype)
    grads: dict[str, np.ndarray] = {graph.output: g_logits}
    for op in reversed(graph.ops):
        if op.output not in grads:
            continue
        g_y = grads.pop(op.output)
        if isinstance(op, Conv):
            mask = trace.masks.get(op.name)
            g_a = g_y if mask is None else g_y * mask
            u = scheme.layer(op.name)
            w, b = p[f"{op.name}.weight"], p[f"{op.name}.bias"]
            g_b = conv_grad_bias(g_a)
            g_w = None
            if u.update_bias:
                b[...] = b - lr_t * g_b
            if u.weight_channels:
                g_w = conv_grad_weight(g_a, trace.tensors[op.input], op, u.weight_channels)
                sl = weight_slice(op, u.weight_channels)
                w[sl] = w[sl] - lr_t * g_w
            if record is not None and u.trainable:
                record[op.name] = (g_b, g_w)
            if op.input in need:
                _add_grad(grads, op.input, conv_grad_input(g_a, w, op, shapes[op.input]))
        elif isinstance(op, Linear):
            w, b = p[f"{op.name}.weight"], p[f"{op.name}.bias"]
            mask = trace.masks.get(op.name)  # a hidden layer's ReLU / ReLU6
            g_a = g_y if mask is None else g_y * mask
            g_w = linear_grad_weight(g_a, trace.tensors[op.input])
            if record is not None:
                record[op.name] = (g_a.copy(), g_w)
            lr_l = lr_fc if op is graph.ops[-1] else lr_t  # a hidden layer steps like a conv
            if velocity is not None and op is graph.ops[-1]:  # the classifier's momentum (§10.3)
                momentum_step(b, velocity.b, g_a, lr_l, momentum)
                momentum_step(w, velocity.w, g_w, lr_l, momentum)
            else:
                b[...] = b - lr_l * g_a
                w[...] = w - lr_l * g_w
            if op.input in need:
                _add_grad(grads, op.input, linear_grad_input(g_a, w))
        elif isinstance(op, GlobalAvgPool):
            if op.input in need:
                _add_grad(grads, op.input, avgpool_grad_input(g_y, shapes[op.input]))
        elif isinstance(op, Add):
            mask = trace.masks.get(op.name)
            g_a = g_y if mask is None else g_y * mask
            for name in op.inputs:
                if name in need:
                    _add_grad(grads, name, g_a)
        elif isinstance(op, Pool):
            if op.input in need:
                _add_grad(grads, op.input, pool_grad_input_real(g_y, trace.tensors[op.input], op))
        elif isinstance(op, Flatten):
            if op.input in need:
                _add_grad(grads, op.input, g_y.reshape(shapes[op.input]))


@dataclass(frozen=True)
class FloatTrainResult:
    epoch_loss: tuple[float, ...]
    epoch_train_acc: tuple[float, ...]
    acc_before: float | None
    acc_after: float | None
    model: FloatModel
    steps: int


def float_evaluate(model: FloatModel, x: np.ndarray, y: np.ndarray, batch: int = 256) -> float:
    """Top-1 accuracy of the float model on real inputs (N, H, W, C)."""
    if len(y) == 0:
        return 0.0
    pred = np.concatenate([np.argmax(float_forward(model, x[i:i + batch]).logits, axis=-1)
                           for i in range(0, len(y), batch)])
    return float(np.mean(pred == np.asarray(y)))


def train_float(model: FloatModel, scheme: SparseScheme | ResolvedScheme, x_train: np.ndarray,
                y_train: np.ndarray, cfg: TrainConfig, x_test: np.ndarray | None = None,
                y_test: np.ndarray | None = None) -> FloatTrainResult:
    """Float32 SGD (batch 1; shuffle, lr schedule and classifier momentum as ``cfg`` says, §10)
    of the parameters ``scheme`` names, on real inputs.

    The same loss (§6) and update order as the device, the classifier stepping with
    ``cfg.classifier_lr`` (None: ``cfg.lr``); ``cfg.qas``, ``rounding`` and ``seed`` do not apply. ``model`` is not changed.
    """
    resolved = _resolve(model.graph, scheme)
    work = FloatModel(model.graph, {k: np.array(v, dtype=np.float32) for k, v in model.params.items()})
    has_test = x_test is not None and y_test is not None
    before = float_evaluate(work, x_test, y_test) if has_test else None
    losses, accs = [], []
    visits = _visits(cfg, len(y_train))
    head = model.graph.ops[-1]
    velocity = (Velocity.zeros(work.params[f"{head.name}.weight"], work.params[f"{head.name}.bias"])
                if cfg.momentum else None)
    for epoch in range(cfg.epochs):
        total, correct = 0.0, 0
        for i, (x, y) in enumerate(_epoch_samples(x_train, y_train, visits, epoch)):
            lr, classifier_lr = cfg.lr, cfg.classifier_lr
            if visits.factors is not None:
                f = visits.factors[epoch * len(y_train) + i]
                lr = scaled_lr(cfg.lr, f)
                classifier_lr = scaled_lr(cfg.lr if cfg.classifier_lr is None else cfg.classifier_lr, f)
            trace = float_forward(work, np.asarray(x, dtype=np.float32))
            if not np.all(np.isfinite(trace.logits)):
                raise _diverged(f"the logits are not finite at epoch {epoch}, step {i}", cfg.lr)
            loss, dlogits = softmax_xent(trace.logits, int(y))
            _check_loss(float(loss), epoch, i, cfg.lr)
            float_backward(work, resolved, trace, dlogits, lr, classifier_lr=classifier_lr,
                           velocity=velocity, momentum=cfg.momentum)
            total += float(loss)
            correct += int(np.argmax(trace.logits) == int(y))
        n = max(len(y_train), 1)
        losses.append(total / n)
        accs.append(correct / n)
    after = float_evaluate(work, x_test, y_test) if has_test else None
    return FloatTrainResult(tuple(losses), tuple(accs), before, after, work, cfg.epochs * len(y_train))
