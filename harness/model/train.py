"""Host float training (the "cloud" pretraining): a float32 numpy forward/backward of a
``Graph``, BatchNorm in training mode, Adam or SGD with momentum, seeded and deterministic.

Float semantics of the IR: ``Conv`` = convolution + bias, then BatchNorm when ``bn``, then
ReLU6 when ``relu6``; ``Add`` = sum; ``GlobalAvgPool`` = mean over H and W; ``Linear`` =
``x W^T + b``. Convolutions loop over the K*K kernel taps and do one matmul (or, depthwise,
one broadcast multiply) per tap on strided views, so nothing is copied into im2col buffers.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

try:  # a dependency of scikit-learn, hence installed with the project
    from threadpoolctl import threadpool_limits
except ImportError:  # pragma: no cover
    from contextlib import nullcontext as _null

    def threadpool_limits(limits: int):  # type: ignore[no-redef]
        return _null()

from .fold import BN_EPS, identity_bn
from .graph import Add, Conv, GlobalAvgPool, Graph, Linear, param_names

log = logging.getLogger(__name__)

Params = dict[str, np.ndarray]


# --- ops -------------------------------------------------------------------------------

def _out_hw(op: Conv, h: int, w: int) -> tuple[int, int]:
    win = op.window
    if not win.regular:  # the ops below read kernel / stride / padding only
        raise ValueError(f"{op.name}: float training takes square kernels, equal strides and one "
                         f"padding on every side, not a {win.kh}x{win.kw} kernel, stride "
                         f"{win.sh}x{win.sw}, padding ({win.pt}, {win.pb}, {win.pl}, {win.pr})")
    ho, wo = op.out_hw(h, w)
    if ho < 1 or wo < 1:
        raise ValueError(f"{op.name}: input {h}x{w} too small for kernel {op.kernel}")
    return ho, wo


def _tap(xp: np.ndarray, kh: int, kw: int, s: int, ho: int, wo: int) -> np.ndarray:
    return xp[:, kh:kh + s * (ho - 1) + 1:s, kw:kw + s * (wo - 1) + 1:s, :]


def colsum(a: np.ndarray) -> np.ndarray:
    """Sum over every axis but the last, as one BLAS call (much faster than ``sum(axis=...)``)."""
    a2 = a.reshape(-1, a.shape[-1])
    return np.ones(a2.shape[0], dtype=a.dtype) @ a2


def _dw_taps(xp: np.ndarray, w: np.ndarray, s: int, ho: int, wo: int):
    """Yield (tap view, per-element weight row, kh, kw) of a depthwise conv.

    For stride 1 the (W, C) axes of each tap are folded into one contiguous run and the
    weight is tiled along it, which makes numpy's inner loop long instead of C wide.
    """
    n, hp, wp, c = xp.shape
    k = w.shape[1]
    if s == 1:
        xp2 = xp.reshape(n, hp, wp * c)
        for kh in range(k):
            for kw in range(k):
                yield xp2[:, kh:kh + ho, kw * c:(kw + wo) * c], np.tile(w[:, kh, kw, 0], wo), kh, kw
    else:
        for kh in range(k):
            for kw in range(k):
                yield _tap(xp, kh, kw, s, ho, wo), w[:, kh, kw, 0], kh, kw


def _pad(x: np.ndarray, p: int) -> np.ndarray:
    if not p:
        return x
    n, h, w, c = x.shape
    xp = np.zeros((n, h + 2 * p, w + 2 * p, c), dtype=x.dtype)
    xp[:, p:p + h, p:p + w, :] = x
    return xp


def _im2col(xp: np.ndarray, k: int, s: int, ho: int, wo: int) -> np.ndarray:
    """(N*Ho*Wo, K*K*C) patches, tap-major then channel (matching OHWI weights)."""
    cols = [_tap(xp, kh, kw, s, ho, wo) for kh in range(k) for kw in range(k)]
    return np.concatenate(cols, axis=3).reshape(-1, k * k * xp.shape[3])


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray, op: Conv) -> np.ndarray:
    """Float convolution (N,H,W,Cin) -> (N,Ho,Wo,Cout), weights OHWI, symmetric padding."""
    n, h, wd, _ = x.shape
    ho, wo = _out_hw(op, h, wd)
    p, k, s = op.padding, op.kernel, op.stride
    dtype = np.result_type(x.dtype, w.dtype)
    if op.kind == "depthwise":
        xp = _pad(x, p)
        y = np.zeros((n, ho, wo * op.out_ch) if s == 1 else (n, ho, wo, op.out_ch), dtype=dtype)
        tmp = np.empty_like(y)
        for tap, wt, _, _ in _dw_taps(xp, w, s, ho, wo):
            np.multiply(tap, wt, out=tmp)
            y += tmp
        y = y.reshape(n, ho, wo, op.out_ch)
    elif op.groups == 1:
        if k == 1 and s == 1 and p == 0:
            cols = x.reshape(-1, op.in_ch)
        else:
            cols = _im2col(_pad(x, p), k, s, ho, wo)
        y = (cols @ w.reshape(op.out_ch, -1).T).reshape(n, ho, wo, op.out_ch)
    else:
        xp = _pad(x, p)
        y = np.zeros((n, ho, wo, op.out_ch), dtype=dtype)
        cig, cog = op.in_ch // op.groups, op.out_ch // op.groups
        for kh in range(k):
            for kw in range(k):
                tap = _tap(xp, kh, kw, s, ho, wo)
                for gi in range(op.groups):
                    ci, co = slice(gi * cig, (gi + 1) * cig), slice(gi * cog, (gi + 1) * cog)
                    y[..., co] += tap[..., ci] @ w[co, kh, kw, :].T
    y += b
    return y


def conv2d_backward(gy: np.ndarray, x: np.ndarray, w: np.ndarray, op: Conv,
                    need_input_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients (grad_input, grad_weight, grad_bias) of ``conv2d`` given grad_output ``gy``."""
    n, h, wd, _ = x.shape
    _, ho, wo, _ = gy.shape
    p, k, s = op.padding, op.kernel, op.stride
    gb = colsum(gy)
    gy2 = gy.reshape(-1, op.out_ch)
    if op.kind == "depthwise":
        xp = _pad(x, p)
        gxp = np.zeros_like(xp) if need_input_grad else None
        gw = np.zeros_like(w)
        c = op.out_ch
        gyf = gy.reshape(n, ho, wo * c) if s == 1 else gy
        prod = np.empty_like(gyf)
        for tap, wt, kh, kw in _dw_taps(xp, w, s, ho, wo):
            np.multiply(gyf, tap, out=prod)
            gw[:, kh, kw, 0] = colsum(prod.reshape(-1, c))
            if gxp is not None:
                np.multiply(gyf, wt, out=prod)
                if s == 1:
                    gxp.reshape(n, xp.shape[1], -1)[:, kh:kh + ho, kw * c:(kw + wo) * c] += prod
                else:
                    _tap(gxp, kh, kw, s, ho, wo)[...] += prod
    elif op.groups == 1:
        pointwise = k == 1 and s == 1 and p == 0
        cols = x.reshape(-1, op.in_ch) if pointwise else _im2col(_pad(x, p), k, s, ho, wo)
        gw = (gy2.T @ cols).reshape(w.shape)
        gxp = None
        if need_input_grad:
            gcols = gy2 @ w.reshape(op.out_ch, -1)
            if pointwise:
                return gcols.reshape(x.shape), gw, gb
            gxp = np.zeros((n, h + 2 * p, wd + 2 * p, op.in_ch), dtype=gcols.dtype)
            gcols = gcols.reshape(n, ho, wo, k * k, op.in_ch)
            for t in range(k * k):
                _tap(gxp, t // k, t % k, s, ho, wo)[...] += gcols[:, :, :, t, :]
    else:
        xp = _pad(x, p)
        gxp = np.zeros_like(xp) if need_input_grad else None
        gw = np.zeros_like(w)
        cig, cog = op.in_ch // op.groups, op.out_ch // op.groups
        for kh in range(k):
            for kw in range(k):
                tap2 = _tap(xp, kh, kw, s, ho, wo).reshape(-1, op.in_ch)
                for gi in range(op.groups):
                    ci, co = slice(gi * cig, (gi + 1) * cig), slice(gi * cog, (gi + 1) * cog)
                    gw[co, kh, kw, :] = gy2[:, co].T @ tap2[:, ci]
                    if gxp is not None:
                        _tap(gxp, kh, kw, s, ho, wo)[..., ci] += gy[..., co] @ w[co, kh, kw, :]
    gx = None
    if gxp is not None:
        gx = gxp[:, p:p + h, p:p + wd, :] if p else gxp
    return gx, gw, gb


def relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 6.0)


# --- whole-graph forward / backward ---------------------------------------------------------

@dataclass(frozen=True)
class FloatTrace:
    """A float forward pass: logits, every tensor by name, and what backward needs per op."""

    logits: np.ndarray
    tensors: dict[str, np.ndarray]
    saved: dict[str, dict[str, np.ndarray]] = field(repr=False)
    batch_stats: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False)  # BN mean, var


def forward_float(graph: Graph, params: Params, x: np.ndarray,
                  mode: Literal["eval", "train"] = "eval") -> FloatTrace:
    """Float32 forward of a batch (N, H, W, C). ``mode="train"`` normalizes BN with batch
    statistics (and returns them); ``"eval"`` uses the running statistics."""
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(graph.input_shape):
        raise ValueError(f"{graph.name}: expected input (N, {', '.join(map(str, graph.input_shape))}), "
                         f"got {x.shape}")
    if x.dtype != np.float64:  # float64 is kept for gradient checks; anything else is float32
        x = x.astype(np.float32, copy=False)
    t: dict[str, np.ndarray] = {graph.input: x}
    saved: dict[str, dict[str, np.ndarray]] = {}
    stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for op in graph.ops:
        if isinstance(op, Conv):
            z = conv2d(t[op.input], params[f"{op.name}.weight"], params[f"{op.name}.bias"], op)
            sv: dict[str, np.ndarray] = {}
            if op.bn:
                gamma, beta = params[f"{op.name}.bn_gamma"], params[f"{op.name}.bn_beta"]
                if mode == "train":
                    m = z.shape[0] * z.shape[1] * z.shape[2]
                    mean = colsum(z) / m
                    var = colsum(np.square(z - mean)) / m
                    stats[op.name] = (mean, var)
                else:
                    mean, var = params[f"{op.name}.bn_mean"], params[f"{op.name}.bn_var"]
                inv_std = (1.0 / np.sqrt(var + BN_EPS)).astype(z.dtype)
                xhat = (z - mean) * inv_std
                sv["xhat"], sv["inv_std"] = xhat, inv_std
                z = xhat * gamma + beta
            if op.relu6:
                sv["pre"] = z
                z = relu6(z)
            saved[op.name] = sv
            t[op.output] = z
        elif isinstance(op, Add):
            t[op.output] = t[op.inputs[0]] + t[op.inputs[1]]
        elif isinstance(op, GlobalAvgPool):
            t[op.output] = t[op.input].mean(axis=(1, 2))
        elif isinstance(op, Linear):
            t[op.output] = t[op.input] @ params[f"{op.name}.weight"].T + params[f"{op.name}.bias"]
        else:  # pragma: no cover
            raise TypeError(op)
    return FloatTrace(logits=t[graph.output], tensors=t, saved=saved, batch_stats=stats)


def backward_float(graph: Graph, params: Params, trace: FloatTrace, grad_logits: np.ndarray) -> Params:
    """Gradients of every parameter (BN gamma/beta included) given d loss / d logits.

    BN is differentiated in training mode (through the batch statistics). Gradients have
    the dtype of the forward pass (float32, or float64 for gradient checks)."""
    grads: Params = {}
    g: dict[str, np.ndarray] = {graph.output: grad_logits}
    t = trace.tensors

    def acc(name: str, value: np.ndarray) -> None:
        g[name] = g[name] + value if name in g else value

    for op in reversed(graph.ops):
        gy = g.pop(op.output, None)
        if gy is None:
            continue
        if isinstance(op, Linear):
            grads[f"{op.name}.weight"] = gy.T @ t[op.input]
            grads[f"{op.name}.bias"] = gy.sum(axis=0)
            acc(op.input, gy @ params[f"{op.name}.weight"])
        elif isinstance(op, GlobalAvgPool):
            n, h, w, c = t[op.input].shape
            acc(op.input, np.broadcast_to((gy / (h * w))[:, None, None, :], (n, h, w, c)).copy())
        elif isinstance(op, Add):
            acc(op.inputs[0], gy)
            acc(op.inputs[1], gy)
        elif isinstance(op, Conv):
            sv = trace.saved[op.name]
            if op.relu6:
                pre = sv["pre"]
                gy = gy * ((pre > 0.0) & (pre < 6.0))
            if op.bn:
                xhat, inv_std = sv["xhat"], sv["inv_std"]
                gamma = params[f"{op.name}.bn_gamma"]
                sum_gy, sum_gy_xhat = colsum(gy), colsum(gy * xhat)
                grads[f"{op.name}.bn_beta"] = sum_gy
                grads[f"{op.name}.bn_gamma"] = sum_gy_xhat
                m = gy.shape[0] * gy.shape[1] * gy.shape[2]
                # d xhat = gy * gamma; d z = inv_std/m * (m dxhat - sum dxhat - xhat sum(dxhat xhat))
                gy = (gamma * inv_std / m) * (m * gy - sum_gy - xhat * sum_gy_xhat)
            need_gx = op.input != graph.input
            gx, gw, gb = conv2d_backward(gy, t[op.input],
                                         params[f"{op.name}.weight"], op, need_gx)
            grads[f"{op.name}.weight"], grads[f"{op.name}.bias"] = gw, gb
            if gx is not None:
                acc(op.input, gx)
    return grads


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy and its gradient w.r.t. the logits (float32)."""
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    n = logits.shape[0]
    idx = (np.arange(n), labels)
    loss = float(-np.mean(np.log(np.maximum(p[idx], 1e-30))))
    gz = p.copy()
    gz[idx] -= 1.0
    return loss, (gz / n).astype(logits.dtype)


# --- parameters ----------------------------------------------------------------------------

def init_params(graph: Graph, seed: int) -> Params:
    """He-normal conv weights, LeCun-normal classifier, zero biases, identity BN."""
    rng = np.random.default_rng(seed)
    params: Params = {}
    for op in graph.ops:
        if isinstance(op, Conv):
            fan_in = op.kernel * op.kernel * (op.in_ch // op.groups)
            params[f"{op.name}.weight"] = (rng.standard_normal(op.weight_shape)
                                           * math.sqrt(2.0 / fan_in)).astype(np.float32)
            params[f"{op.name}.bias"] = np.zeros(op.out_ch, np.float32)
            if op.bn:
                params.update(identity_bn(op.name, op.out_ch))
        elif isinstance(op, Linear):
            params[f"{op.name}.weight"] = (rng.standard_normal(op.weight_shape)
                                           * math.sqrt(1.0 / op.in_features)).astype(np.float32)
            params[f"{op.name}.bias"] = np.zeros(op.out_features, np.float32)
    return params


def check_params(graph: Graph, params: Params) -> None:
    """Raise ValueError naming the first missing or mis-shaped parameter."""
    for op in graph.ops:
        for key in param_names(op):
            if key not in params:
                raise ValueError(f"{graph.name}: parameter {key!r} is missing")
        if isinstance(op, (Conv, Linear)) and params[f"{op.name}.weight"].shape != op.weight_shape:
            raise ValueError(f"{graph.name}: {op.name}.weight has shape "
                             f"{params[f'{op.name}.weight'].shape}, expected {op.weight_shape}")


# --- training ------------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of host pretraining; part of the cache key."""

    epochs: int = 6
    batch_size: int = 64
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = 3e-3
    momentum: float = 0.9  # SGD momentum; Adam beta1
    weight_decay: float = 1e-4  # decoupled, on conv/linear weights only
    schedule: Literal["cosine", "constant"] = "cosine"
    bn_momentum: float = 0.1  # running = (1 - m) running + m batch (PyTorch convention)
    seed: int = 0


@dataclass(frozen=True)
class TrainResult:
    params: Params
    config: TrainConfig
    epoch_loss: tuple[float, ...]
    epoch_train_acc: tuple[float, ...]
    test_acc: float | None  # float eval-mode accuracy on the given test set
    seconds: float


def predict_float(graph: Graph, params: Params, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Eval-mode logits (float32) of a batch, computed in chunks."""
    outs = [forward_float(graph, params, x[i:i + batch_size]).logits
            for i in range(0, x.shape[0], batch_size)]
    if not outs:
        return np.zeros((0, graph.ops[-1].out_features), np.float32)  # type: ignore[union-attr]
    return np.concatenate(outs)


def accuracy_float(graph: Graph, params: Params, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(predict_float(graph, params, x), axis=1) == y))


def _is_decayed(key: str) -> bool:
    return key.endswith(".weight")


def train(graph: Graph, x: np.ndarray, y: np.ndarray, config: TrainConfig = TrainConfig(),
          params: Params | None = None, x_test: np.ndarray | None = None,
          y_test: np.ndarray | None = None) -> TrainResult:
    """Train ``graph`` on float32 images ``x`` (N, H, W, C) with integer labels ``y``.

    Starts from ``params`` (copied) or a seeded initialization. Deterministic for a given
    config and data (shuffling and init come from ``config.seed``). BLAS runs on one thread:
    the matrices are small, so it is faster (no spinning threads on a shared machine) and the
    summation order, hence the result, does not depend on the machine's core count.
    """
    with threadpool_limits(limits=1):
        return _train(graph, x, y, config, params, x_test, y_test)


def _train(graph: Graph, x: np.ndarray, y: np.ndarray, config: TrainConfig, params: Params | None,
           x_test: np.ndarray | None, y_test: np.ndarray | None) -> TrainResult:
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"train: {x.shape[0]} images and {y.shape[0]} labels")
    n_cls = graph.ops[-1].out_features  # type: ignore[union-attr]
    if int(np.max(y)) >= n_cls:
        raise ValueError(f"train: label {int(np.max(y))} out of range for {n_cls} classes")
    t0 = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    if params:
        p = {k: v.astype(np.float32, copy=True) for k, v in params.items()}
    else:
        p = init_params(graph, config.seed)
    check_params(graph, p)
    trainable = [k for k in p if not (k.endswith(".bn_mean") or k.endswith(".bn_var"))]
    m1 = {k: np.zeros_like(p[k]) for k in trainable}
    m2 = {k: np.zeros_like(p[k]) for k in trainable} if config.optimizer == "adam" else {}
    n = x.shape[0]
    steps_per_epoch = math.ceil(n / config.batch_size)
    total = steps_per_epoch * config.epochs
    step = 0
    losses: list[float] = []
    accs: list[float] = []
    b1, b2, eps = config.momentum, 0.999, 1e-8
    for epoch in range(config.epochs):
        order = rng.permutation(n)
        ep_loss, ep_correct = 0.0, 0
        for i in range(0, n, config.batch_size):
            idx = order[i:i + config.batch_size]
            xb, yb = x[idx], y[idx]
            tr = forward_float(graph, p, xb, mode="train")
            loss, gl = softmax_cross_entropy(tr.logits, yb)
            if not math.isfinite(loss):
                raise FloatingPointError(f"train: loss became {loss} at epoch {epoch}, step {step}; "
                                         "lower TrainConfig.lr")
            ep_loss += loss * len(idx)
            ep_correct += int(np.sum(np.argmax(tr.logits, axis=1) == yb))
            grads = backward_float(graph, p, tr, gl)
            lr = config.lr
            if config.schedule == "cosine":
                lr = config.lr * 0.5 * (1.0 + math.cos(math.pi * step / total))
            step += 1
            for k in trainable:
                gk = grads[k]
                if config.optimizer == "adam":
                    m1[k] = b1 * m1[k] + (1 - b1) * gk
                    m2[k] = b2 * m2[k] + (1 - b2) * gk * gk
                    upd = (m1[k] / (1 - b1 ** step)) / (np.sqrt(m2[k] / (1 - b2 ** step)) + eps)
                else:
                    m1[k] = config.momentum * m1[k] + gk
                    upd = m1[k]
                if config.weight_decay and _is_decayed(k):
                    upd = upd + config.weight_decay * p[k]
                p[k] = (p[k] - lr * upd).astype(np.float32)
            mom = config.bn_momentum
            for name, (mean, var) in tr.batch_stats.items():
                cnt = xb.shape[0] * np.prod(tr.saved[name]["xhat"].shape[1:3])
                unbiased = var * (cnt / max(cnt - 1, 1))
                p[f"{name}.bn_mean"] = ((1 - mom) * p[f"{name}.bn_mean"] + mom * mean).astype(np.float32)
                p[f"{name}.bn_var"] = ((1 - mom) * p[f"{name}.bn_var"] + mom * unbiased).astype(np.float32)
        losses.append(ep_loss / n)
        accs.append(ep_correct / n)
        log.info("%s epoch %d: loss %.4f train acc %.4f (%.1fs)", graph.name, epoch + 1,
                 losses[-1], accs[-1], time.perf_counter() - t0)
    test_acc = None
    if x_test is not None and y_test is not None:
        test_acc = accuracy_float(graph, p, x_test, y_test)
    return TrainResult(params=p, config=config, epoch_loss=tuple(losses), epoch_train_acc=tuple(accs),
                       test_acc=test_acc, seconds=time.perf_counter() - t0)
