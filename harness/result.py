"""The typed result of one scenario's build and run: what a user's test asserts on.

``RunResult.from_outcome`` reads the pipeline's ``Outcome`` (the same build and run the scenario's
pytest items share) into named, documented, read-only fields. A field is None when the stage that
measures it did not happen: a build that failed has no ``flash``; a firmware that is not a training
loop has no ``accuracy_after``; a run without the cycle model has no ``step_ms``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from .elf import FLASH, SRAM


@dataclass(frozen=True)
class Symbol:
    """One of the ELF's largest symbols: its name, region (``sram`` or ``flash``) and size in bytes."""

    name: str
    region: str
    size: int


@dataclass(frozen=True)
class RunResult:
    """One scenario built for one board and run on the emulator.

    Bytes are exact (from the ELF and the firmware's own stack measurement); instruction counts are
    exact (counted by the emulator plugin); accuracies are fractions in [0, 1] measured on the
    device's test set; times are estimates of the real part from the cycle model (harness/cycles.py).
    """

    scenario: str
    """The scenario's name (``name[board]`` when retargeted or expanded from a ``board:`` list)."""
    board: str
    """The board profile it was built for."""
    file: Path
    """The scenario file."""
    status: str
    """``ok`` (ran and exited 0), the emulator's end (``fault``, ``timeout``, ``exit``, ...), or
    ``build-failed`` / ``run-failed`` when that stage could not complete (see ``error``)."""
    error: str | None
    """Why the build or the run failed (the message and its fix), or None."""
    flash: int | None
    """Flash bytes the firmware occupies (text + rodata + data's load image)."""
    static_sram: int | None
    """SRAM bytes placed by the linker (data + bss: the arena, trainable parameters, buffers)."""
    peak_sram: int | None
    """``static_sram`` plus the stack's measured high-water mark: the run's SRAM peak."""
    stack_high_water: int | None
    """Deepest stack use measured on the device, in bytes."""
    step_instructions: int | None
    """Instructions of the slowest training step (exact)."""
    step_instructions_mean: int | None
    """Mean instructions per training step."""
    step_ms: float | None
    """Estimated milliseconds of the slowest step on the board's own core at its clock."""
    predict_instructions: int | None
    """Instructions of one inference (the evaluation's count over its test samples)."""
    accuracy_before: float | None
    """Test accuracy before on-device training."""
    accuracy_after: float | None
    """Test accuracy after on-device training."""
    epoch_loss: tuple[float, ...]
    """Mean training loss of each epoch, as the device computed it."""
    checksum_before: int | None
    """FNV-1a of the trainable parameters before training (the device's record)."""
    checksum_after: int | None
    """The same checksum after training: equal on every machine for the same scenario."""
    largest_symbols: tuple[Symbol, ...]
    """The largest symbols of SRAM then flash, largest first."""
    metrics: Mapping[str, Any]
    """Every metric of the report (read-only), including those without a field here."""

    @property
    def trained(self) -> bool:
        """Whether a training run produced its final evaluation."""
        return self.accuracy_after is not None

    @staticmethod
    def from_outcome(out: Any) -> "RunResult":
        s, m = out.scenario, dict(out.metrics)
        if out.build_error is not None:
            status, error = "build-failed", str(out.build_error)
        elif out.run_error is not None:
            status, error = "run-failed", str(out.run_error)
        elif out.run is None:
            status, error = "not-run", None
        else:
            status, error = str(m.get("status", out.run.status)), None
        symbols = m.get("largest_symbols") or {}
        largest = tuple(Symbol(name, region, int(size))
                        for region in (SRAM, FLASH) for name, size in (symbols.get(region) or {}).items())
        return RunResult(
            scenario=s.name, board=s.board, file=Path(s.file), status=status, error=error,
            flash=_int(m.get("flash")), static_sram=_int(m.get("static_sram")),
            peak_sram=_int(m.get("peak_sram")), stack_high_water=_int(m.get("stack_high_water")),
            step_instructions=_int(m.get("step_instructions")),
            step_instructions_mean=_int(m.get("step_instructions_mean")),
            step_ms=_float(m.get("step_ms")),
            predict_instructions=_int(m.get("predict_instructions")),
            accuracy_before=_float(m.get("accuracy_before")), accuracy_after=_float(m.get("accuracy_after")),
            epoch_loss=tuple(float(x) for x in m.get("epoch_loss") or ()),
            checksum_before=_int(m.get("checksum_before")), checksum_after=_int(m.get("checksum_after")),
            largest_symbols=largest, metrics=MappingProxyType(m))


def _int(v: Any) -> int | None:
    return None if v is None else int(v)


def _float(v: Any) -> float | None:
    return None if v is None else float(v)
