"""Estimated cycles and milliseconds of a training step and an inference, from the exact counts
of executed instructions by class (harness/emulators/plugin/insncount.c), with a per-core cost
model of the Cortex-M4 and the Cortex-M7.

Instructions are not cycles. The plugin gives, per measured region, how many instructions of
each class ran (load/store single, load/store multiple and the words they move, multiply, DSP,
divide, FPU, FPU multiply-accumulate, FPU divide/square root, branch, other) and how many
branches were taken; a core's model turns those counts into cycles:

Cortex-M4 (``m4``): single issue, in order, 3-stage pipeline. Costs are the ARM Cortex-M4
Technical Reference Manual's (r0p1, ARM DDI 0439): chapter 3 "Programmers Model", table
"Cortex-M4 instruction set summary" and section "Load/store timings"; chapter 7 "Floating Point
Unit", table "FPU instruction set":
  - load/store single: 2 cycles; 1 when pipelined: a load or store directly after a load whose
    result (or updated base) it does not use as an address, unless it is a load that updates its
    own base, and a store with an immediate offset, which completes as the next instruction
    executes (the plugin decides this per instruction, see ``load_store_pipelined``);
  - load/store multiple (LDM, STM, PUSH, POP, VLDM, VSTM, VPUSH, VPOP, and LDRD/STRD, which the
    table times like a two-register multiple): 1 + N, N the words moved;
  - multiply: 1 (MUL, MLA, MLS, and the 64-bit SMULL, UMULL, SMLAL, UMLAL);
  - DSP extension (SMLAD, SMULBB, SXTB16, QADD8, ...): 1;
  - SDIV/UDIV: 2 to 12 by the operands; the model takes 12 (rare in this code);
  - FPU: 1 (VADD, VSUB, VMUL, VABS, VNEG, VCVT, VCMP, VMOV...); VMLA/VMLS/VNMLA/VNMLS and the
    fused VFMA/VFMS/VFNMA/VFNMS: 3; VDIV, VSQRT: 14;
  - branch: 1, and a taken branch (or a load into the PC) adds the pipeline refill P, which the
    manual gives as 1 to 3 cycles by the target's alignment and width and whether the address
    was speculated early; the model takes P = 2;
  - everything else: 1.
Not modelled (each makes the estimate low by a cycle where it happens): a load or store whose
address comes from the data-processing instruction just before it, a literal load contending
with the fetch, TBB/TBH and LDR pc blocking for a 3-cycle refill (counted with P = 2); nor
modelled the other way: IT folded into the instruction before. With zero-wait-state memory the
estimate is close to the core's real count.

Cortex-M7 (``m7_low``, ``m7_high``): 6-stage, in-order, superscalar: the Cortex-M7 Technical
Reference Manual (ARM DDI 0489), chapter 1 "Introduction", section "About the processor" and the
features list, says many instruction pairs can be dual-issued, including load/load and
load/store pairs, and that it predicts branches (a branch target address cache). It publishes
no instruction timing table, so the M7 model is a range under stated assumptions:
  - ``m7_high``, the conservative end: single issue with the M4's costs above (loads 2 cycles
    unless pipelined, 1 + N multiples, 3-cycle FPU MACs, 14-cycle VDIV/VSQRT, 12-cycle integer
    divide, P = 2 on every taken branch, as if the predictor never helped), all code and data
    in zero-wait-state memory or cache hits (no cache misses).
  - ``m7_low``, the best case: every pair that can dual-issue does: two instructions per cycle,
    except that at most one multiply or DSP instruction and at most one FPU data-processing
    instruction issues per cycle (one MAC pipeline, one FPU pipeline), multiples move two words
    per cycle (64-bit data path), taken branches are predicted (no refill), VDIV/VSQRT take 14
    cycles and divides 2 without overlapping anything.
  The real count lies between; a step's ``step_ms`` for an M7 board is the high end.

A step's and an inference's estimates are recorded with the class counts in the report's
metrics (``cycle_model``) and as ``step_ms_m4``, ``step_ms_m7_low``, ``step_ms_m7_high``,
``predict_ms_*``; the M4 at the STM32F4 board's clock and the M7 at the STM32F746's, from
harness/boards/*.yaml. Both apply to the instruction stream of the scenario's own build (the
same ARMv7E-M code either core runs)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from .boards import Board, load_board

#: The classes that partition the executed instructions (their sum is the instruction count).
CLASSES = ("load_store", "load_store_multiple", "multiply", "dsp", "divide", "fpu", "fpu_mac",
           "fpu_div", "branch", "other")
#: Counts beside them: pipelined singles (subset of load_store), words moved by multiples,
#: taken branches and PC-writing loads.
EXTRAS = ("load_store_pipelined", "multiple_regs", "branch_taken")

#: Model key -> the board whose clock converts its cycles into milliseconds.
MODEL_BOARDS = {"m4": "stm32f4", "m7_low": "stm32f746", "m7_high": "stm32f746"}
#: A board's core -> the model behind its own ``step_ms`` (the M7's conservative end).
CORE_MODEL = {"cortex-m4": "m4", "cortex-m7": "m7_high"}


@dataclass(frozen=True)
class SerialCosts:
    """A single-issue core: cycles per instruction of each class, plus the extras' adjustments."""

    per_class: Mapping[str, int]
    pipelined_saving: int   # cycles saved by each load_store_pipelined
    per_word: int           # cycles per word moved by a load/store multiple
    taken_penalty: int      # pipeline refill P per taken branch

    def cycles(self, c: Mapping[str, float]) -> float:
        return (sum(self.per_class[k] * c.get(k, 0) for k in CLASSES)
                - self.pipelined_saving * c.get("load_store_pipelined", 0)
                + self.per_word * c.get("multiple_regs", 0)
                + self.taken_penalty * c.get("branch_taken", 0))


#: The Cortex-M4 (TRM tables named in the module's docstring).
M4 = SerialCosts(
    per_class={"load_store": 2, "load_store_multiple": 1, "multiply": 1, "dsp": 1, "divide": 12,
               "fpu": 1, "fpu_mac": 3, "fpu_div": 14, "branch": 1, "other": 1},
    pipelined_saving=1, per_word=1, taken_penalty=2)

M7_DIVIDE_LOW = 2
M7_FPU_DIV = 14


def m7_low_cycles(c: Mapping[str, float]) -> float:
    """The Cortex-M7's best case (assumptions in the module's docstring)."""
    long_ops = c.get("fpu_div", 0) + c.get("divide", 0)
    multiples = c.get("load_store_multiple", 0)
    slots = (sum(c.get(k, 0) for k in CLASSES) - long_ops - multiples
             + max(multiples, c.get("multiple_regs", 0) / 2))
    issue = max(slots / 2, c.get("multiply", 0) + c.get("dsp", 0), c.get("fpu", 0) + c.get("fpu_mac", 0))
    return issue + M7_FPU_DIV * c.get("fpu_div", 0) + M7_DIVIDE_LOW * c.get("divide", 0)


def estimate(c: Mapping[str, float]) -> dict[str, float]:
    """Cycles of a region with class counts ``c``, per model: m4, m7_low, m7_high."""
    return {"m4": M4.cycles(c), "m7_low": m7_low_cycles(c), "m7_high": M4.cycles(c)}


def model_clocks() -> dict[str, int]:
    """Model key -> the clock (Hz) of the board it is reported for."""
    return {k: load_board(b).clock_hz for k, b in MODEL_BOARDS.items()}


def to_ms(cycles: float, clock_hz: int) -> float:
    """Milliseconds, to the nanosecond."""
    return round(cycles / clock_hz * 1e3, 6)


def fmt_ms(ms: float) -> str:
    """``953.1``, ``0.01905``, ``1235``: four significant digits, no exponent."""
    return f"{ms:.0f}" if abs(ms) >= 1000 else f"{ms:.4g}"


def run_metrics(step_classes: list[dict[str, int]], eval_classes: list[dict[str, int]],
                n_test: int, board: Board) -> dict[str, object]:
    """The report's cycle-model metrics of a run: for the training steps (the slowest, by each
    model) and for one inference (the evaluation's classes over its ``n_test`` samples).
    Empty when the run was not classified."""
    clocks = model_clocks()
    own = CORE_MODEL.get(board.core)
    out: dict[str, object] = {}
    model: dict[str, object] = {}
    regions = [("step", step_classes)]
    if eval_classes and n_test:
        regions.append(("predict", [{k: v / n_test for k, v in eval_classes[0].items()}]))
    for name, counts in regions:
        if not counts:
            continue
        per_step = [estimate(c) for c in counts]
        cycles = {k: max(e[k] for e in per_step) for k in clocks}
        worst = max(counts, key=lambda c: sum(c.get(k, 0) for k in CLASSES))
        model[name] = {"classes": {k: round(worst.get(k, 0)) for k in (*CLASSES, *EXTRAS)},
                       "cycles": {k: round(v) for k, v in cycles.items()}}
        for k, clock in clocks.items():
            out[f"{name}_ms_{k}"] = to_ms(cycles[k], clock)
        if own is not None:
            out[f"{name}_ms"] = to_ms(cycles[own], board.clock_hz)
    if model:
        out["cycle_model"] = {"own": own, **model}
    return out


def describe(metrics: Mapping[str, object], region: str = "step") -> str:
    """One line of estimates: the M4 at its board's clock, the M7's range at its board's."""
    clocks = model_clocks()
    m4, lo, hi = (metrics.get(f"{region}_ms_{k}") for k in ("m4", "m7_low", "m7_high"))
    if not isinstance(m4, float) or not isinstance(lo, float) or not isinstance(hi, float):
        return ""
    return (f"{fmt_ms(m4)} ms on the Cortex-M4 at {clocks['m4'] / 1e6:.0f} MHz; "
            f"{fmt_ms(lo)} to {fmt_ms(hi)} ms on the Cortex-M7 at {clocks['m7_high'] / 1e6:.0f} MHz "
            "(cycle model: harness/cycles.py)")
