"""C emitter: a pruned training program and its memory plans -> ``tt_model.c`` / ``tt_model.h``.

The generated code has one static arena (the larger of the training and the inference
plan; both run from offset 0), frozen weights ``const`` in flash, the trainable slices and
biases and the float classifier in SRAM, and one kernel call per step with constant shapes.
Entry points (``tt_model.h``): ``tt_model_init``, ``tt_predict``, ``tt_logits``, ``tt_train_step``,
``tt_param_checksum``. Kernels are those of ``harness/firmware_src/runtime/tt_kernels.h``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..model.graph import Conv
from ..model.qmodel import QAdd, QAvgPool, QConv, QFlatten, QLinear, QLinearFloat, QModel, QPool
from ..sparse.scheme import ResolvedScheme
from .cformat import c_array, c_float
from .memplan import MemoryPlan
from .patch import TILES, PatchPlan
from .program import INPUT, Program, Step
from .prune import layer_updates

_KERNEL = {"conv": "tt_conv2d", "depthwise": "tt_dwconv2d", "pointwise": "tt_pwconv"}
_CTYPE = {"i8": "int8_t", "f32": "float", "bits": "uint8_t"}


def _kernel(op: Conv) -> str:
    """The C kernel family of a conv layer: the fast regular kernels, or for a general window
    (tt_conv_window.h) the *_win ones (a pointwise layer with one runs the conv kernels)."""
    if op.window.regular:
        # tt_pwconv_s8 & co. take pad 0: a padded 1x1 layer runs the regular conv kernels
        return "tt_conv2d" if op.kind == "pointwise" and op.window.pt else _KERNEL[op.kind]
    return "tt_dwconv2d_win" if op.kind == "depthwise" else "tt_conv2d_win"


def _window_fields(op: Conv) -> str:
    """kernel, stride, pad (the regular window, or height / vertical / top of a general one)."""
    w = op.window
    return f"{w.kh}, {w.sh}, {w.pt}"


def _window_tail(op: Conv) -> str:
    """kernel_w, stride_w, pad_bottom, pad_left, pad_right."""
    w = op.window
    return f"{w.kw}, {w.sw}, {w.pb}, {w.pl}, {w.pr}"


@dataclass(frozen=True)
class TrainOptions:
    lr: float
    classifier_lr: float | None = None  # the float classifier's (None: lr)
    qas: bool = True
    rounding: str = "nearest"  # or "stochastic", "feedback" (int8 residuals, docs §8.1)
    seed: int = 0x2545F491
    # docs/arithmetic.md §10 (harness/sgd): the lr factor of every step (empty: constant lr,
    # today's code) and the float classifier's momentum (0: none, no buffers)
    lr_factors: tuple[float, ...] = ()
    momentum: float = 0.0


@dataclass(frozen=True)
class EmittedModel:
    header: str
    source: str
    arena_size: int
    trainable_bytes: int  # SRAM taken by trainable parameters (slices, biases, classifier)
    residual_bytes: int = 0  # of which the int8 residuals of rounding "feedback" (.bss)
    optimizer_bytes: int = 0  # SRAM of the optimizer's state (the classifier's momentum buffers)


def _split(layer: QConv, k: int) -> tuple[np.ndarray, np.ndarray]:
    w = layer.w
    if layer.op.kind == "depthwise":
        return w[:k], w[k:]
    return w[..., :k], w[..., k:]


class _Emitter:
    def __init__(self, qmodel: QModel, scheme: ResolvedScheme, opts: TrainOptions):
        self.q = qmodel
        self.opts = opts
        self.updates = layer_updates(qmodel, scheme)
        self.decls: list[tuple[str, str]] = []  # (names it defines, C text)
        self.trainable_bytes = 0
        self.residuals: dict[int, int] = {}  # layer -> residual elements (rounding "feedback")
        self.optimizer_bytes = 0

    def k_of(self, i: int) -> int:
        u = self.updates.get(i)
        return u.weight_channels if u else 0

    def weight_halves(self, i: int, layer: QConv) -> tuple[str, str]:
        """The C names of layer i's trainable and frozen weight slices (NULL when empty)."""
        k = self.k_of(i)
        return (f"L{i}_wlo" if k else "NULL"), ("NULL" if k == _width(layer) else f"L{i}_whi")

    def bias_trainable(self, i: int) -> bool:
        u = self.updates.get(i)
        return bool(u and u.update_bias)

    def array(self, name: str, values: np.ndarray, trainable: bool) -> str:
        a = np.ascontiguousarray(values)
        if a.size == 0:
            return "NULL"
        self.decls.append((name, c_array(name, a, const=not trainable)))
        if trainable:
            self.trainable_bytes += a.nbytes
        return name

    def residual(self, i: int, n_bias: int, n_weight: int) -> None:
        """Rounding "feedback": layer i's int8 residuals (.bss, zeroed by tt_model_init), the
        biases' then the weights', one per trainable element (docs §8.1), and the update
        parameters pointing at them: L{i}_updb at the biases', L{i}_upd at the weights' (an
        int8 fully connected layer's one struct at the start: its kernel skips the biases')."""
        if self.opts.rounding != "feedback" or n_bias + n_weight == 0:
            return
        n = n_bias + n_weight
        self.residuals[i] = n
        self.trainable_bytes += n
        self.decls.append((f"L{i}_res", f"static int8_t L{i}_res[{n}];\n"))
        const = "" if self.opts.lr_factors else "const "  # a schedule sets .lr every step
        head = f"static {const}tt_update_params L{i}_upd"
        tail = f" = {{TT_LR, {int(self.opts.qas)}, TT_ROUND_FEEDBACK, &tt_rng_state, L{i}_res"
        if isinstance(self.q.layers[i], QLinear):
            self.decls.append((f"L{i}_upd", f"{head}{tail}}};\n"))
            return
        if n_bias:
            self.decls.append((f"L{i}_updb", f"{head}b{tail}}};\n"))
        if n_weight:
            self.decls.append((f"L{i}_upd", f"{head}{tail} + {n_bias}}};\n"))

    def update_structs(self) -> list[str]:
        """The names of every tt_update_params besides tt_upd (feedback's per-layer ones)."""
        return [name for name, text in self.decls if "tt_update_params L" in text]

    def upd(self, i: int, bias: bool = False) -> str:
        """The update parameters of layer i's weights (``bias``: its conv biases)."""
        if i not in self.residuals:
            return "&tt_upd"
        return f"&L{i}_updb" if bias else f"&L{i}_upd"

    def used_decls(self, code: str) -> str:
        """The declarations ``code`` needs, directly or through another declaration."""
        used: list[str] = []
        # the words (maximal runs of \w) of every text taken so far: a name is used where it is
        # a whole word, as re.search(rf"\b{name}\b") would find it, but each text is scanned
        # once (the parameter arrays are large: one search per name and text took ~20 s at 128x128)
        words = set(re.findall(r"\w+", code))
        pending = list(self.decls)
        changed = True
        while changed:
            changed = False
            for d in list(pending):
                if any(n in words for n in d[0].split()):
                    used.append(d[1])
                    words.update(re.findall(r"\w+", d[1]))
                    pending.remove(d)
                    changed = True
        return "".join(t for n, t in self.decls if t in used)

    # -- parameters ------------------------------------------------------------------------
    def params(self) -> None:
        for i, layer in enumerate(self.q.layers):
            if isinstance(layer, QConv):
                op = layer.op
                k = self.k_of(i)
                lo, hi = _split(layer, k)
                self.array(f"L{i}_wlo", lo, trainable=True)
                self.residual(i, layer.b.size if self.bias_trainable(i) else 0, lo.size)
                self.array(f"L{i}_whi", hi, trainable=False)
                self.array(f"L{i}_bias", layer.b, trainable=self.bias_trainable(i))
                self.array(f"L{i}_wscale", layer.w_scale, trainable=False)
                self.array(f"L{i}_mult", layer.multiplier, trainable=False)
                self.array(f"L{i}_shift", layer.shift, trainable=False)
                h, w, _ = self.q.graph.shapes()[op.input]
                self.decls.append((f"L{i}_p",
                    f"static const tt_conv_params L{i}_p = {{{h}, {w}, {op.in_ch}, {op.out_ch}, "
                    f"{_window_fields(op)}, {k}, {layer.x.zero_point}, "
                    f"{layer.y.zero_point}, {layer.act_min}, {layer.act_max}, 0, 0, 0, "
                    f"{_window_tail(op)}}};\n"))
                self.decls.append((f"L{i}_q",
                    f"static const tt_per_channel_quant L{i}_q = {{L{i}_mult, L{i}_shift}};\n"))
            elif isinstance(layer, QAdd):
                self.decls.append((f"L{i}_p",
                    f"static const tt_add_params L{i}_p = {{{layer.a.zero_point}, {layer.b.zero_point}, "
                    f"{layer.y.zero_point}, {layer.a_multiplier}, {layer.a_shift}, {layer.b_multiplier}, "
                    f"{layer.b_shift}, {layer.out_multiplier}, {layer.out_shift}}};\n"))
            elif isinstance(layer, QAvgPool):
                h, w, c = self.q.graph.shapes()[layer.op.input]
                self.decls.append((f"L{i}_p",
                    f"static const tt_avgpool_params L{i}_p = {{{h}, {w}, {c}, {layer.x.zero_point}, "
                    f"{layer.y.zero_point}, {layer.multiplier}, {layer.shift}}};\n"))
            elif isinstance(layer, QLinearFloat):
                self.array(f"L{i}_w", layer.w.astype(np.float32), trainable=True)
                self.array(f"L{i}_b", layer.b.astype(np.float32), trainable=True)
                self.decls.append((f"L{i}_p",
                    f"static const tt_fc_f32_params L{i}_p = {{{layer.op.in_features}, "
                    f"{layer.op.out_features}, {layer.x.zero_point}, {c_float(layer.x.scale)}}};\n"))
            elif isinstance(layer, QPool):
                self.pool_params(i, layer)
            elif isinstance(layer, QLinear):
                self.fc_s8_params(i, layer)
            elif not isinstance(layer, QFlatten):  # pragma: no cover - autodiff rejects others first
                raise TypeError(layer)

    def pool_params(self, i: int, layer: QPool) -> None:
        op = layer.op
        h, w, c = self.q.graph.shapes()[op.input]
        oh, ow = op.out_hw(h, w)
        win = op.window
        self.decls.append((f"L{i}_p",
            f"static const tt_pool_params L{i}_p = {{{h}, {w}, {c}, {win.kh}, {win.kw}, {win.sh}, "
            f"{win.sw}, {win.pt}, {win.pl}, {oh}, {ow}, {layer.act_min}, {layer.act_max}}};\n"))

    def fc_s8_params(self, i: int, layer: QLinear) -> None:
        """An int8 fully connected layer (hidden or the classifier): trained in full (weights
        and bias in SRAM)."""
        op = layer.op
        self.array(f"L{i}_w", layer.w.astype(np.int8), trainable=True)
        self.residual(i, layer.b.size, layer.w.size)
        self.array(f"L{i}_bias", layer.b.astype(np.int32), trainable=True)
        self.array(f"L{i}_wscale", layer.w_scale, trainable=False)
        self.array(f"L{i}_mult", layer.multiplier, trainable=False)
        self.array(f"L{i}_shift", layer.shift, trainable=False)
        self.decls.append((f"L{i}_p",
            f"static const tt_fc_params L{i}_p = {{{op.in_features}, {op.out_features}, "
            f"{layer.x.zero_point}, {layer.y.zero_point}, {layer.act_min}, {layer.act_max}}};\n"))
        self.decls.append((f"L{i}_q",
            f"static const tt_per_channel_quant L{i}_q = {{L{i}_mult, L{i}_shift}};\n"))

    @staticmethod
    def add_call(i: int, layer: QAdd, a: str, b: str, y: str, mask: str, n: int) -> str:
        if mask == "NULL" and layer.act_min <= -128 and layer.act_max >= 127:
            # a clamp to all of int8 is tt_add_s8's own; with a mask to write (a ReLU whose
            # z_y is -128 still stops the gradient at -128 and 127), the act kernel runs
            return f"tt_add_s8(&L{i}_p, {a}, {b}, {y}, {n});"
        return f"tt_add_act_s8(&L{i}_p, {layer.act_min}, {layer.act_max}, {a}, {b}, {y}, {mask}, {n});"

    # -- steps -----------------------------------------------------------------------------
    def buf(self, program: Program, plan: MemoryPlan, name: str) -> str:
        if name == INPUT:
            return "x"
        b = program.buffer(name)
        return f"(({_CTYPE[b.dtype]} *)(tt_arena + {plan.offset(name)}))"

    def stream(self, s: Step, plan: MemoryPlan) -> str:
        """The streamed prefix (patch.py): per strip, each layer over its row range, from
        and into tiles; the last layer writes its rows straight into the end tensor. In
        slide mode a window first moves up the halo rows it keeps."""
        pp: PatchPlan = s.plan
        shapes = self.q.graph.shapes()
        tiles = plan.offset(TILES)
        out: list[str] = []
        for si, strip in enumerate(pp.strips):
            have = {self.q.layers[li].op.output: rows for li, rows in zip(pp.layers, strip)}

            def at(t: str, row: int, have: dict = have) -> str:  # int8 pointer to image row ``row`` of t
                h, w, c = shapes[t]
                if t == self.q.graph.input:
                    return f"(x + {row * w * c})"
                if t == pp.end:
                    return f"((int8_t *)(tt_arena + {plan.offset(t) + row * w * c}))"
                return f"((int8_t *)(tt_arena + {tiles + pp.offset(t) + (row - have[t][0]) * w * c}))"

            out.append(f"/* strip {si}: {pp.end} rows {strip[-1][0]}..{strip[-1][1] - 1} */")
            for pos, li in enumerate(pp.layers):
                layer = self.q.layers[li]
                t_out = layer.op.output
                keep = pp.kept(si, pos)
                if keep:
                    _, w, c = shapes[t_out]
                    n0, p0 = have[t_out][0], pp.strips[si - 1][pos][0]  # rows n0.. move to the top
                    src = at(t_out, n0, {t_out: (p0, 0)})
                    out.append(f"tt_move_s8({at(t_out, n0)}, {src}, {keep * w * c});")
                a, b = pp.computed(si, pos)
                if a >= b:
                    continue
                if isinstance(layer, QConv):
                    op = layer.op
                    h, w, _ = shapes[op.input]
                    x0 = 0 if op.input == self.q.graph.input else have[op.input][0]
                    name = f"S{si}_L{li}_p"
                    decl = (f"static const tt_conv_params {name} = {{{h}, {w}, {op.in_ch}, {op.out_ch}, "
                            f"{_window_fields(op)}, 0, {layer.x.zero_point}, "
                            f"{layer.y.zero_point}, {layer.act_min}, {layer.act_max}, {x0}, {a}, {b - a}, "
                            f"{_window_tail(op)}}};\n")
                    if (name, decl) not in self.decls:  # training and inference share the strips
                        assert all(n != name for n, _ in self.decls), name
                        self.decls.append((name, decl))
                    out.append(f"{_kernel(op)}_s8(&{name}, &L{li}_q, {at(op.input, x0)}, NULL, "
                               f"L{li}_whi, L{li}_bias, {at(t_out, a)}, NULL);")
                else:
                    assert isinstance(layer, QAdd)
                    ta, tb = layer.op.inputs
                    _, w, c = shapes[t_out]
                    out.append(self.add_call(li, layer, at(ta, a), at(tb, a), at(t_out, a), "NULL",
                                             (b - a) * w * c))
        return "\n    ".join(out)

    def step(self, s: Step, program: Program, plan: MemoryPlan) -> str:
        i = s.layer
        if s.kind == "stream":
            return self.stream(s, plan)
        layer = self.q.layers[i]
        B = lambda n: self.buf(program, plan, n)  # noqa: E731
        r, w = [B(n) for n in s.reads], [B(n) for n in s.writes]
        if s.kind == "conv":
            assert isinstance(layer, QConv)
            mask = w[1] if len(w) > 1 else "NULL"
            wlo, whi = self.weight_halves(i, layer)
            return (f"{_kernel(layer.op)}_s8(&L{i}_p, &L{i}_q, {r[0]}, {wlo}, {whi}, L{i}_bias, "
                    f"{w[0]}, {mask});")
        if s.kind == "save_slice":
            h, wd, c = self.q.graph.shapes()[layer.op.input]
            return f"tt_copy_channels_s8({r[0]}, {h * wd}, {c}, {s.k}, {w[0]});"
        if s.kind == "add":
            assert isinstance(layer, QAdd)
            n = int(np.prod(self.q.graph.shapes()[layer.op.output]))
            return self.add_call(i, layer, r[0], r[1], w[0], w[1] if len(w) > 1 else "NULL", n)
        if s.kind == "pool":
            assert isinstance(layer, QPool)
            return f"tt_pool_{layer.op.mode}_s8(&L{i}_p, {r[0]}, {w[0]});"
        if s.kind == "pool_grad":
            assert isinstance(layer, QPool)
            x = r[1] if len(r) > 1 else "NULL"
            return f"tt_pool_{layer.op.mode}_grad_input_f32(&L{i}_p, {x}, {r[0]}, {w[0]});"
        if s.kind == "fc_s8":
            mask = w[1] if len(w) > 1 else "NULL"
            return f"tt_fc_s8(&L{i}_p, &L{i}_q, {r[0]}, L{i}_w, L{i}_bias, {w[0]}, {mask});"
        if s.kind == "dequantize":
            assert isinstance(layer, QLinear)
            return (f"tt_dequantize_s8_f32({r[0]}, {layer.op.out_features}, {c_float(layer.y.scale)}, "
                    f"{layer.y.zero_point}, {w[0]});")
        if s.kind == "fc_s8_backward":
            assert isinstance(layer, QLinear)
            gx = w[0] if w else "NULL"
            return (f"tt_fc_s8_backward_update(&L{i}_p, {r[1]}, L{i}_w, L{i}_bias, "
                    f"{c_float(layer.x.scale)}, L{i}_wscale, {r[2]}, {r[0]}, {self.upd(i)}, {gx});")
        if s.kind == "avgpool":
            return f"tt_avgpool_s8(&L{i}_p, {r[0]}, {w[0]});"
        if s.kind == "fc":
            return f"tt_fc_f32(&L{i}_p, {r[0]}, L{i}_w, L{i}_b, {w[0]});"
        if s.kind == "loss":
            n = layer.op.out_features
            return (f"*pred = tt_argmax_f32({r[0]}, {n});\n"
                    f"    loss = tt_softmax_xent_f32({r[0]}, {n}, label, {w[0]});")
        if s.kind == "fc_backward":
            gx = w[0] if w else "NULL"
            if self.opts.momentum or self.opts.lr_factors:
                return self.fc_backward_sgd(i, r, gx)
            return f"tt_fc_f32_backward_update(&L{i}_p, {r[1]}, L{i}_w, L{i}_b, {r[0]}, TT_CLASSIFIER_LR, {gx});"
        if s.kind == "avgpool_grad":
            return f"tt_avgpool_grad_input_f32(&L{i}_p, {r[0]}, {w[0]});"
        if s.kind == "mask":
            n = int(np.prod(self.q.graph.shapes()[layer.op.output]))
            return f"tt_mask_apply_f32({r[0]}, {r[1]}, {n}, {w[0]});"
        if s.kind == "bias_update":
            assert isinstance(layer, QConv)
            oh, ow, c = self.q.graph.shapes()[layer.op.output]
            return (f"tt_bias_update_s32(L{i}_bias, {r[0]}, {oh * ow}, {c}, {c_float(layer.x.scale)}, "
                    f"L{i}_wscale, {self.upd(i, bias=True)});")
        if s.kind == "weight_update":
            assert isinstance(layer, QConv)
            return (f"{_kernel(layer.op)}_update_weight_s8(&L{i}_p, {r[1]}, {r[0]}, "
                    f"{c_float(layer.x.scale)}, L{i}_wscale, L{i}_wlo, {self.upd(i)});")
        if s.kind == "grad_input":
            assert isinstance(layer, QConv)
            wlo, whi = self.weight_halves(i, layer)
            return (f"{_kernel(layer.op)}_grad_input_f32(&L{i}_p, {r[0]}, {wlo}, {whi}, "
                    f"L{i}_wscale, {w[0]});")
        if s.kind == "grad_input_inplace":
            assert isinstance(layer, QConv) and layer.op.kind == "depthwise"
            wlo, whi = self.weight_halves(i, layer)
            return (f"tt_dwconv2d_grad_input_inplace_f32(&L{i}_p, {w[0]}, {wlo}, {whi}, L{i}_wscale, "
                    f"{w[1]});")
        if s.kind == "grad_accum":
            n = int(np.prod(program.buffer(s.reads[1]).shape))
            return f"tt_accumulate_f32({r[0]}, {r[1]}, {n});"
        raise ValueError(f"no C for step {s.kind}")  # pragma: no cover

    def fc_backward_sgd(self, i: int, r: list[str], gx: str) -> str:
        """The float classifier's update at a scheduled rate and / or with momentum (§10)."""
        lr = "tt_classifier_lr" if self.opts.lr_factors else "TT_CLASSIFIER_LR"
        if not self.opts.momentum:
            return f"tt_fc_f32_backward_update(&L{i}_p, {r[1]}, L{i}_w, L{i}_b, {r[0]}, {lr}, {gx});"
        layer = self.q.layers[i]
        n_w, n_b = layer.w.size, layer.b.size
        for name, n in ((f"L{i}_vw", n_w), (f"L{i}_vb", n_b)):  # zeroed .bss, counted by the ELF
            self.decls.append((name, f"static float {name}[{n}] __attribute__((aligned(8)));\n"))
        self.optimizer_bytes += 4 * (n_w + n_b)
        return (f"tt_fc_f32_backward_update_momentum(&L{i}_p, {r[1]}, L{i}_w, L{i}_b, {r[0]}, {lr}, "
                f"{c_float(self.opts.momentum)}, L{i}_vw, L{i}_vb, {gx});")

    def checksum(self) -> list[str]:
        lines = []
        for i, layer in enumerate(self.q.layers):
            if isinstance(layer, QConv):
                k = self.k_of(i)
                if k:
                    lines.append(f"h = tt_checksum_fnv1a_s8(h, L{i}_wlo, {_split(layer, k)[0].size});")
                if self.bias_trainable(i):
                    lines.append(f"h = tt_checksum_fnv1a_s32(h, L{i}_bias, {layer.b.size});")
            elif isinstance(layer, QLinear):
                lines.append(f"h = tt_checksum_fnv1a_s8(h, L{i}_w, {layer.w.size});")
                lines.append(f"h = tt_checksum_fnv1a_s32(h, L{i}_bias, {layer.b.size});")
            elif isinstance(layer, QLinearFloat):
                lines.append(f"h = tt_checksum_fnv1a_f32(h, L{i}_w, {layer.w.size});")
                lines.append(f"h = tt_checksum_fnv1a_f32(h, L{i}_b, {layer.b.size});")
        return lines


def _width(layer: QConv) -> int:
    return layer.op.out_ch if layer.op.kind == "depthwise" else layer.op.in_ch


def emit(qmodel: QModel, scheme: ResolvedScheme, train: Program, train_plan: MemoryPlan,
         infer: Program, infer_plan: MemoryPlan, opts: TrainOptions) -> EmittedModel:
    e = _Emitter(qmodel, scheme, opts)
    e.params()
    arena = max(train_plan.arena_size, infer_plan.arena_size, 8)
    h, w, c = qmodel.graph.input_shape
    n_classes = qmodel.layers[-1].op.out_features
    logits = qmodel.layers[-1].op.output
    header = f"""/* Generated by mcutrain's training compiler. Do not edit. */
#ifndef TT_MODEL_H
#define TT_MODEL_H
#include <stdint.h>

#define TT_INPUT_SIZE {h * w * c}
#define TT_NUM_CLASSES {n_classes}
#define TT_ARENA_SIZE {arena}

/* Resets the stochastic-rounding stream (and the residuals of rounding "feedback"). */
void tt_model_init(void);
/* Predicted class of one int8 sample. */
int32_t tt_predict(const int8_t *x);
/* The float32 logits of the last tt_predict (an int8 classifier's, dequantized); valid until
 * the next call into the model. */
const float *tt_logits(void);
/* One training step on one sample; returns the loss, *pred = the class predicted before it. */
float tt_train_step(const int8_t *x, int32_t label, int32_t *pred);
/* FNV-1a over the trainable parameters (docs/arithmetic.md section 9). */
uint32_t tt_param_checksum(void);
#endif
"""
    train_body = "\n    ".join(e.step(s, train, train_plan) for s in train.steps)
    infer_body = "\n    ".join(e.step(s, infer, infer_plan) for s in infer.steps)
    logits_buf = e.buf(infer, infer_plan, logits)
    checksum_body = "\n    ".join(e.checksum())
    rounding = {"nearest": "TT_ROUND_NEAREST", "stochastic": "TT_ROUND_STOCHASTIC",
                "feedback": "TT_ROUND_FEEDBACK"}[opts.rounding]
    scheduled = bool(opts.lr_factors)  # the rates change per step: tt_upd is not const
    e.decls.insert(0, ("tt_upd", f"static {'' if scheduled else 'const '}tt_update_params tt_upd = "
                                 f"{{TT_LR, {int(opts.qas)}, {rounding}, &tt_rng_state, NULL}};\n"))
    init_body = "".join(f"\n    for (int32_t j = 0; j < {n}; ++j) {{\n        L{i}_res[j] = 0;\n    }}"
                        for i, n in e.residuals.items())
    if scheduled:
        header, schedule_c = _lr_schedule_c(header, opts, e.update_structs())
    else:
        schedule_c = ""
    source = f"""/* Generated by mcutrain's training compiler. Do not edit.
 * model {qmodel.graph.name}; scheme: {scheme.describe()}
 * arena {arena} B (training plan {train_plan.arena_size} B, inference plan {infer_plan.arena_size} B)
 */
#include <stddef.h>
#include <stdint.h>
#include "tt_kernels.h"
#include "tt_model.h"

#define TT_LR {c_float(opts.lr)}
#define TT_CLASSIFIER_LR {c_float(opts.lr if opts.classifier_lr is None else opts.classifier_lr)}

static uint8_t tt_arena[TT_ARENA_SIZE] __attribute__((aligned(8)));
static tt_rng tt_rng_state;

{e.used_decls(train_body + infer_body + checksum_body + init_body + schedule_c)}
static int32_t tt_argmax_f32(const float *v, int32_t n)
{{
    int32_t best = 0;
    for (int32_t j = 1; j < n; ++j) {{
        if (v[j] > v[best]) {{
            best = j;
        }}
    }}
    return best;
}}

void tt_model_init(void)
{{
    tt_rng_seed(&tt_rng_state, {opts.seed}u);{init_body}
}}

int32_t tt_predict(const int8_t *x)
{{
    {infer_body}
    return tt_argmax_f32({logits_buf}, {n_classes});
}}
{schedule_c}
const float *tt_logits(void)
{{
    return {logits_buf};
}}

float tt_train_step(const int8_t *x, int32_t label, int32_t *pred)
{{
    float loss;
    {train_body}
    return loss;
}}

uint32_t tt_param_checksum(void)
{{
    uint32_t h = TT_FNV1A_INIT;
    {checksum_body}
    return h;
}}
"""
    return EmittedModel(header, source, arena, e.trainable_bytes, sum(e.residuals.values()),
                        e.optimizer_bytes)


def _lr_schedule_c(header: str, opts: TrainOptions, structs: list[str]) -> tuple[str, str]:
    """The per-step rates (docs/arithmetic.md §10.2): the factor table in flash and
    ``tt_lr_step``, which sets both rates to ``lr * factor`` in float32 (in ``tt_upd`` and in
    ``structs``, the per-layer update parameters of rounding "feedback")."""
    n = len(opts.lr_factors)
    decl = (f"\n/* Learning-rate schedule (docs section 10.2): set the rates of step 0..TT_LR_STEPS-1. */\n"
            f"#define TT_LR_STEPS {n}\nvoid tt_lr_step(int32_t step);\n#endif\n")
    assert header.endswith("#endif\n")
    header = header[: -len("#endif\n")] + decl
    table = c_array("tt_lr_factors", np.asarray(opts.lr_factors, dtype=np.float32), const=True, align=4)
    source = f"""
{table}static float tt_classifier_lr = TT_CLASSIFIER_LR;

void tt_lr_step(int32_t step)
{{
    const float f = tt_lr_factors[step];
    tt_upd.lr = TT_LR * f;{"".join(f"{chr(10)}    {n}.lr = tt_upd.lr;" for n in structs)}
    tt_classifier_lr = TT_CLASSIFIER_LR * f;
}}
"""
    return header, source
