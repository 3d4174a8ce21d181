"""The Tiny Training Engine, end to end: QModel + sparse scheme -> planned, emitted C."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.qmodel import QModel
from ..sparse.scheme import ResolvedScheme
from .autodiff import autodiff, forward_program
from .emit_c import EmittedModel, TrainOptions, emit
from . import patch
from .inplace import inplace_dw_grads
from .memplan import MemoryPlan, plan_memory
from .patch import Option, PatchPlan, PrefixChoice
from .program import Program
from .prune import prune
from .support import check_supported
from .schedule import lifetimes


@dataclass(frozen=True)
class Arenas:
    """The training arena with and without each of the engine's two memory optimisations
    (the paper's Fig. 10 columns, plus streaming): ``[streamed][in_place]``."""

    layerwise_deferred: int  # layer by layer, updates after the whole backward pass
    layerwise_in_place: int  # layer by layer, each update as soon as its gradient is ready
    streamed_deferred: int  # frozen prefix streamed, updates deferred
    streamed_in_place: int  # both (what the firmware uses)


@dataclass(frozen=True)
class CompiledTraining:
    train: Program
    train_plan: MemoryPlan
    infer: Program
    infer_plan: MemoryPlan
    deferred_arena: int  # the training arena if updates waited for the whole backward pass
    emitted: EmittedModel
    prefix: PrefixChoice  # how the frozen prefix runs
    prefix_plan: PatchPlan | None  # its strips, when streamed
    prefix_options: tuple[Option, ...]  # every choice priced (empty when the scenario fixed it)
    arenas: Arenas

    @property
    def arena_size(self) -> int:
        return self.emitted.arena_size

    def plan_lines(self) -> list[str]:
        """The memory plan in a few lines: the arena, how the prefix runs, and what each of
        the two optimisations (streaming, in-place updates) saves."""
        a = self.arenas
        how = "picked by the compiler (engine.prefix: auto)" if self.prefix_options else "set by engine.prefix"
        lines = [f"  arena              {self.arena_size:>9} B   (training plan {self.train_plan.arena_size} B, "
                 f"inference plan {self.infer_plan.arena_size} B)",
                 f"  frozen prefix      {self.prefix.describe()}, {how}"]
        if self.prefix_plan is not None:
            lines.append(f"                     {self.prefix_plan.summary()}")
        lines.append(f"  training arena     layer by layer: {a.layerwise_deferred} B with updates after the "
                     f"backward pass, {a.layerwise_in_place} B in place; streamed prefix: "
                     f"{a.streamed_deferred} B, {a.streamed_in_place} B")
        if self.emitted.residual_bytes:
            lines.append(f"  update residuals   {self.emitted.residual_bytes:>9} B   (rounding: feedback, int8 per "
                         f"trainable int8 weight, static; counted in the trainable parameters)")
        return lines

    def files(self) -> dict[str, str]:
        return {"tt_model.h": self.emitted.header, "tt_model.c": self.emitted.source}


def compile_training(qmodel: QModel, scheme: ResolvedScheme, opts: TrainOptions,
                     prefix: PrefixChoice | None = None) -> CompiledTraining:
    """autodiff -> prune -> in-place depthwise gradients -> stream the frozen prefix ->
    schedule -> memory plan -> C.

    ``prefix=None`` lets ``patch.choose`` pick where streaming ends, the strip height and the
    mode (see its docstring); a ``PrefixChoice`` fixes them
    (``PrefixChoice(None)``: layer by layer; ``rows=0`` or ``mode=""``: the best for that end).
    """
    check_supported(qmodel)
    layer_train = inplace_dw_grads(prune(autodiff(qmodel), qmodel, scheme), qmodel)
    bufs, steps = forward_program(qmodel, training=False)
    layer_infer = Program(tuple(bufs), tuple(steps))
    priced: tuple[Option, ...] = ()
    if prefix is None or (prefix.end is not None and (prefix.rows == 0 or not prefix.mode)):
        priced = tuple(o for o in patch.options(layer_train, layer_infer, qmodel, prefix.end if prefix else None)
                       if prefix is None or ((not prefix.rows or o.choice.rows == prefix.rows)
                                             and (not prefix.mode or o.choice.mode == prefix.mode)))
        prefix = patch.choose(list(priced)).choice
    train, infer, pplan = patch.apply(layer_train, layer_infer, qmodel, prefix)
    train_plan = plan_memory(lifetimes(train))
    deferred = plan_memory(lifetimes(train, qmodel, deferred_updates=True)).arena_size
    infer_plan = plan_memory(lifetimes(infer))
    if pplan is None:  # layer by layer: the streamed columns are these
        arenas = Arenas(deferred, train_plan.arena_size, deferred, train_plan.arena_size)
    else:
        arenas = Arenas(plan_memory(lifetimes(layer_train, qmodel, deferred_updates=True)).arena_size,
                        plan_memory(lifetimes(layer_train)).arena_size, deferred, train_plan.arena_size)
    emitted = emit(qmodel, scheme, train, train_plan, infer, infer_plan, opts)
    return CompiledTraining(train, train_plan, infer, infer_plan, deferred, emitted, prefix, pplan,
                            priced, arenas)


def emit_dataset(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 epochs: int, section: str = ".tt_data", shuffle_seed: int = 0) -> dict[str, str]:
    """``tt_data.h`` / ``tt_data.c``: int8 samples and labels in the board's data region.

    On a device the samples come from a sensor or external memory; here they sit in a
    section the linker places in the data region, outside the flash and SRAM budgets.
    A nonzero ``shuffle_seed`` makes the device visit them in a new order every epoch
    (``TT_SHUFFLE_SEED``, docs/arithmetic.md §10.1).
    """
    from .cformat import c_literal

    def arr(name: str, a: np.ndarray, ctype: str) -> str:
        flat = np.ascontiguousarray(a).reshape(-1)
        body = c_literal(flat) if flat.size else "0"
        return (f'const {ctype} {name}[{max(flat.size, 1)}] __attribute__((section("{section}"), '
                f"aligned(8))) = {{{body}}};\n")

    n_train, n_test = len(train_x), len(test_x)
    size = int(np.prod(train_x.shape[1:])) if n_train else int(np.prod(test_x.shape[1:]))
    header = f"""/* Generated by mcutrain: the scenario's samples (int8, model input quantization). */
#ifndef TT_DATA_H
#define TT_DATA_H
#include <stdint.h>
#define TT_N_TRAIN {n_train}
#define TT_N_TEST {n_test}
#define TT_EPOCHS {epochs}
#define TT_SAMPLE_SIZE {size}
{f"#define TT_SHUFFLE_SEED {shuffle_seed}u" + chr(10) if shuffle_seed else ""}extern const int8_t tt_train_x[];
extern const uint8_t tt_train_y[];
extern const int8_t tt_test_x[];
extern const uint8_t tt_test_y[];
#endif
"""
    source = ('#include "tt_data.h"\n'
              + arr("tt_train_x", train_x.astype(np.int8), "int8_t")
              + arr("tt_train_y", train_y.astype(np.uint8), "uint8_t")
              + arr("tt_test_x", test_x.astype(np.int8), "int8_t")
              + arr("tt_test_y", test_y.astype(np.uint8), "uint8_t"))
    return {"tt_data.h": header, "tt_data.c": source}
