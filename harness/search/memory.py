"""Peak SRAM of a scheme as the gate measures it from the ELF (.data + .bss + the reserved
stack), predicted from the real training compiler's plan: the arena and the trainable
parameter copies come from ``compile_training`` (cached per scheme); everything else in
static SRAM (runtime state, buffers, the firmware's own data) does not depend on the scheme
and is calibrated once per search by building one ELF with the real toolchain."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from ..engine import patch
from ..engine.autodiff import autodiff, forward_program
from ..engine.compiler import compile_training
from ..engine.emit_c import TrainOptions
from ..engine.inplace import inplace_dw_grads
from ..engine.memplan import plan_memory
from ..engine.patch import PrefixChoice
from ..engine.program import Program
from ..engine.prune import layer_updates, prune
from ..engine.schedule import lifetimes
from ..model.qmodel import QConv, QLinear, QLinearFloat, QModel
from ..scenario import Scenario
from ..sparse.scheme import SparseScheme


@dataclass(frozen=True)
class Planned:
    arena: int
    trainable: int
    update_params: int = 0  # feedback's per-layer update parameters in .data (update_params_bytes)

    @property
    def scheme_bytes(self) -> int:
        return self.arena + self.trainable + self.update_params


@dataclass(frozen=True)
class ElfPeak:
    static_sram: int  # .data + .bss
    stack_reserved: int
    planned: Planned

    @property
    def peak(self) -> int:
        """The gate's number: static SRAM plus the whole reserved stack."""
        return self.static_sram + self.stack_reserved

    @property
    def fixed(self) -> int:
        """The part of the peak no scheme changes."""
        return self.peak - self.planned.scheme_bytes


def _key(keys: dict) -> tuple:
    return (keys["n_bias_update"], tuple(keys["manual_weight_idx"]), tuple(keys["weight_update_ratio"]))


UPDATE_PARAMS_BYTES = 20  # sizeof(tt_update_params) on the 32-bit target: lr, qas, rounding, 2 pointers


def trainable_bytes(qmodel: QModel, scheme, opts: TrainOptions | None = None) -> int:
    """SRAM of the trainable parameter copies, as the emitter allocates them (emit_c
    ``_Emitter.params``): each conv's int8 weight slice and, when trained, its int32 biases; the
    float classifier's float32 weights and biases; an int8 fully connected layer's int8 weights
    and int32 biases. With ``opts.rounding == "feedback"`` also the int8 residual of each of
    those int8 / int32 elements (``_Emitter.residual``, counted in ``trainable_bytes`` too)."""
    ups = layer_updates(qmodel, scheme)
    feedback = opts is not None and opts.rounding == "feedback"
    total = 0
    for i, layer in enumerate(qmodel.layers):
        if isinstance(layer, QConv):
            u = ups.get(i)
            k = u.weight_channels if u else 0
            res = 0
            if k:
                lo = layer.w[:k] if layer.op.kind == "depthwise" else layer.w[..., :k]
                total += int(np.asarray(lo, dtype=np.int8).nbytes)
                res += lo.size
            if u and u.update_bias:
                total += int(np.asarray(layer.b).nbytes)
                res += layer.b.size
            total += _residual_array(res) if feedback else 0
        elif isinstance(layer, QLinearFloat):
            total += 4 * (layer.w.size + layer.b.size)
        elif isinstance(layer, QLinear):
            total += layer.w.size + 4 * layer.b.size
            if feedback:
                total += _residual_array(layer.w.size + layer.b.size)
    return total


def _residual_array(n: int) -> int:
    """Bytes of one layer's ``int8_t L{i}_res[n]``: arm-none-eabi-gcc word-aligns arrays, so
    the next object starts at a multiple of 4."""
    return (n + 3) // 4 * 4 if n else 0


def update_params_bytes(qmodel: QModel, scheme, opts: TrainOptions) -> int:
    """SRAM of feedback's per-layer update parameters: one struct per trained bias vector and
    per trained weight slice (one per int8 fully connected layer), in .data only when a
    schedule rewrites their rate every step (const, they sit in flash)."""
    if opts.rounding != "feedback" or not opts.lr_factors:
        return 0
    ups = layer_updates(qmodel, scheme)
    n = 0
    for i, layer in enumerate(qmodel.layers):
        u = ups.get(i)
        if isinstance(layer, QConv) and u:
            n += int(bool(u.weight_channels)) + int(bool(u.update_bias))
        elif isinstance(layer, QLinear):
            n += 1
    return n * UPDATE_PARAMS_BYTES


class Pricer:
    """Planner results per scheme (cached), and the predicted peak once calibrated.

    The search prices thousands of schemes, so it runs the compiler's passes up to the memory
    plan (autodiff, prune, in-place depthwise gradients, the prefix, schedule, plan) and skips
    the C emission; ``check`` compares both numbers with the full ``compile_training`` for one
    scheme, and the answer is re-priced from a real build."""

    def __init__(self, qmodel: QModel, opts: TrainOptions, prefix: PrefixChoice | None):
        self.qmodel, self.opts = qmodel, opts
        self.prefix = prefix if prefix is not None else self._auto_prefix()
        bufs, steps = forward_program(qmodel, training=False)
        self._infer = Program(tuple(bufs), tuple(steps))
        self.fixed: int | None = None
        self._cache: dict[tuple, Planned] = {}
        self.compiles = 0
        self.seconds = 0.0

    def _auto_prefix(self) -> PrefixChoice:
        """engine.prefix: auto picks per scheme; the search fixes the choice it makes for the
        classifier-only scheme (the final answer is built with auto and re-priced)."""
        c = compile_training(self.qmodel, SparseScheme.last_layer().resolve(self.qmodel.graph), self.opts, None)
        return c.prefix

    def planned(self, keys: dict) -> Planned:
        k = _key(keys)
        if k not in self._cache:
            t0 = time.monotonic()
            scheme = SparseScheme.from_config(keys).resolve(self.qmodel.graph)
            q = self.qmodel
            layer_train = inplace_dw_grads(prune(autodiff(q), q, scheme), q)
            try:
                train, infer, _ = patch.apply(layer_train, self._infer, q, self.prefix)
            except patch.PrefixError:  # the scheme trains inside that prefix: choose as auto does
                choice = patch.choose(list(patch.options(layer_train, self._infer, q, None))).choice
                train, infer, _ = patch.apply(layer_train, self._infer, q, choice)
            arena = max(plan_memory(lifetimes(train)).arena_size, plan_memory(lifetimes(infer)).arena_size, 8)
            self._cache[k] = Planned(arena, trainable_bytes(q, scheme, self.opts),
                                     update_params_bytes(q, scheme, self.opts))
            self.compiles += 1
            self.seconds += time.monotonic() - t0
        return self._cache[k]

    def check(self, keys: dict) -> tuple[Planned, Planned]:
        """(this pricer's numbers, the full compiler's) for one scheme."""
        scheme = SparseScheme.from_config(keys).resolve(self.qmodel.graph)
        try:
            c = compile_training(self.qmodel, scheme, self.opts, self.prefix)
        except patch.PrefixError:
            c = compile_training(self.qmodel, scheme, self.opts, None)
        return self.planned(keys), Planned(c.arena_size, c.emitted.trainable_bytes,
                                           update_params_bytes(self.qmodel, scheme, self.opts))

    def peak(self, keys: dict) -> int:
        assert self.fixed is not None, "calibrate first"
        return self.fixed + self.planned(keys).scheme_bytes


def with_scheme(s: Scenario, keys: dict | str, name: str | None = None) -> Scenario:
    assert s.training is not None
    return dataclasses.replace(s, name=name or s.name,
                               training=dataclasses.replace(s.training, sparse_update=keys))


def elf_peak(s: Scenario, keys: dict | str) -> ElfPeak:
    """Build the scenario's firmware with this scheme (cross-compiler, no emulator) and read its
    static SRAM from the ELF, as the gate does."""
    from ..errors import MctError
    from ..pipeline import Pipeline

    out = Pipeline().build(with_scheme(s, keys))
    if out.build_error is not None:
        raise out.build_error
    if out.memory is None or out.workload is None:
        raise MctError("the firmware build gave no memory report", "run `mcutrain doctor`")
    c = out.workload.compiled
    return ElfPeak(out.memory.static_sram, out.memory.stack_reserved,
                   Planned(c.arena_size, c.emitted.trainable_bytes,
                           update_params_bytes(out.workload.qmodel, out.workload.scheme, out.workload.options)))
