"""Peak SRAM of a scheme as the gate measures it from the ELF (.data + .bss + the reserved
stack), predicted from the real training compiler's plan: the arena and the trainable
parameter copies come from ``compile_training`` (cached per scheme); everything else in
static SRAM (runtime state, buffers, the firmware's own data) does not depend on the scheme
and is calibrated once per search by building one ELF with the real toolchain."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from ..engine.compiler import compile_training
from ..engine.emit_c import TrainOptions
from ..engine.patch import PrefixChoice
from ..model.qmodel import QModel
from ..scenario import Scenario
from ..sparse.scheme import SparseScheme


@dataclass(frozen=True)
class Planned:
    arena: int
    trainable: int

    @property
    def scheme_bytes(self) -> int:
        return self.arena + self.trainable


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


class Pricer:
    """Planner results per scheme (cached), and the predicted peak once calibrated."""

    def __init__(self, qmodel: QModel, opts: TrainOptions, prefix: PrefixChoice | None):
        self.qmodel, self.opts, self.prefix = qmodel, opts, prefix
        self.fixed: int | None = None
        self._cache: dict[tuple, Planned] = {}
        self.compiles = 0
        self.seconds = 0.0

    def planned(self, keys: dict) -> Planned:
        k = _key(keys)
        if k not in self._cache:
            t0 = time.monotonic()
            scheme = SparseScheme.from_config(keys).resolve(self.qmodel.graph)
            c = compile_training(self.qmodel, scheme, self.opts, self.prefix)
            self._cache[k] = Planned(c.arena_size, c.emitted.trainable_bytes)
            self.compiles += 1
            self.seconds += time.monotonic() - t0
        return self._cache[k]

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
                   Planned(c.arena_size, c.emitted.trainable_bytes))
