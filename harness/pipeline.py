"""From a scenario to checked numbers: build, memory report, emulator run, checks.

``Pipeline`` runs each stage at most once per scenario and keeps the result, so the
pytest items of one scenario (build, memory, run, ...) share one build and one run, and
the CLI calls the same code. Every check returns a ``Check`` whose text is the failure
report a user reads: the numbers against the budget, the reason, the console tail.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from .baseline import BASELINE, Baseline, largest, symbols_by_region
from .boards import Board, load_board
from .elf import MemoryReport, memory_report
from .emulators.base import Run
from .errors import BudgetExceeded, BuildError, MctError
from .paths import FIRMWARE_SRC, PACKAGE
from .scenario import Scenario
from .toolchain import STACK_GUARD, Firmware, build_firmware
from .units import fmt_bytes, fmt_count

log = logging.getLogger(__name__)

REPO = PACKAGE.parent  # the source checkout when run from one (tests, benchmarks)
TRAIN_APP = FIRMWARE_SRC / "app" / "train"  # the package's training loop, whatever apps a project adds

#: The checks of a scenario, in order; ``gate`` ones need no emulator.
CHECKS: tuple[tuple[str, bool], ...] = (
    ("build", True),
    ("memory", True),
    ("run", False),
    ("instructions", False),
    ("stack", False),
    ("accuracy", False),
    ("parity", False),
    ("baseline", False),
)


def applicable_checks(scenario: Scenario) -> list[tuple[str, bool]]:
    """The checks that can say something about this scenario (name, is it a gate check)."""
    out = []
    for name, gate in CHECKS:
        e, b = scenario.expect, scenario.budgets
        if e.over_budget is not None and not gate:
            continue  # expected to be rejected: nothing to run
        if name == "instructions" and not scenario.trains and (
                e.region_instructions is None and e.step_instructions is None
                and b.step_instructions is None and b.step_ms is None):
            continue
        if name == "stack" and e.status != "ok":
            continue  # a run that must fault or hang prints no final stack record
        if name in ("accuracy", "parity") and (not scenario.trains or e.status != "ok"):
            continue  # nothing to learn from, or a run that must stop before its evaluation
        if name == "instructions" and e.status != "ok" and (
                e.region_instructions is None and e.step_instructions is None
                and b.step_instructions is None and b.step_ms is None):
            continue  # the steps of a run that must stop are not a measurement
        if name == "accuracy" and e.accuracy_after is None and e.accuracy_gain is None:
            continue
        if name == "parity" and e.parity == "none":
            continue
        out.append((name, gate))
    return out


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    summary: str
    details: str = ""
    skipped: bool = False

    def text(self) -> str:
        return self.summary + (f"\n{self.details}" if self.details else "")


@dataclass
class Outcome:
    """Everything learned about one scenario so far (filled lazily by ``Pipeline``)."""

    scenario: Scenario
    board: Board
    firmware: Firmware | None = None
    build_error: MctError | None = None
    memory: MemoryReport | None = None
    run: Run | None = None
    run_error: MctError | None = None
    workload: Any = None  # harness.workload.Workload for training scenarios
    host_records: list[dict] | None = None
    host_error: str | None = None
    reference: Any = None  # harness.reference.TrainResult
    metrics: dict[str, Any] = field(default_factory=dict)


def _tail(text: str, n: int = 15) -> str:
    lines = text.rstrip("\n").splitlines()
    shown = lines[-n:]
    head = f"console (last {len(shown)} of {len(lines)} lines):" if lines else "console: (nothing printed)"
    return "\n".join([head] + [f"  | {line}" for line in shown])


def _app_dir(app: str) -> Path:
    """The app's folder (harness.project.find_app), or a BuildError saying why there is none."""
    from .project import find_app

    try:
        return find_app(app)
    except ValueError as e:
        raise BuildError(f"firmware app {app!r}: {e}", "name an app folder that exists") from None


def _app_sources(app_dir: Path) -> list[Path]:
    """The C sources of the app in ``app_dir``: its ``*.c``, each a file inside that folder (a source
    that is a link out of the app folder is refused: a project's app builds from its own folder only)."""
    sources = sorted(app_dir.glob("*.c"))
    for src in sources:
        if app_dir.resolve() not in src.resolve().parents:
            raise BuildError(f"{src} is a link out of the app folder {app_dir} (to {src.resolve()})",
                             "keep the app's sources inside its folder")
    return sources


class Pipeline:
    """Runs the stages of scenarios on demand and caches their results in memory."""

    def __init__(self, emulator: str = "qemu", report_dir: Path | None = None,
                 baseline: Path | None = None, update_baseline: bool = False,
                 progress: Callable[[str], None] | None = None):
        self.progress = progress or (lambda _msg: None)  # stage announcements for long runs
        self.emulator = emulator
        self.report_dir = report_dir
        self.baseline = Baseline(baseline or REPO / BASELINE, update=update_baseline)
        self._outcomes: dict[tuple[Path, str], Outcome] = {}

    def outcome(self, scenario: Scenario) -> Outcome:
        key = (scenario.file, scenario.name)
        if key not in self._outcomes:
            self._outcomes[key] = Outcome(scenario, load_board(scenario.board))
        return self._outcomes[key]

    # -- stages ------------------------------------------------------------------------------
    def build(self, scenario: Scenario) -> Outcome:
        out = self.outcome(scenario)
        if out.firmware is not None or out.build_error is not None:
            return out
        try:
            if scenario.trains:
                src = (f"model file {scenario.model.file.name}" if scenario.model and scenario.model.file
                       else "seeded random weights")
                self.progress(f"preparing the model ({src}): quantizing it, planning memory, generating C")
                out.workload = self._workload(scenario)
                w = out.workload
                out.metrics.update(
                    arena_planned=w.compiled.arena_size, trainable_bytes=w.compiled.emitted.trainable_bytes,
                    arena_deferred_updates=w.compiled.deferred_arena, scheme=w.scheme.describe(),
                    pretrain_accuracy=w.pretrain_accuracy, prefix=w.compiled.prefix.describe(),
                    arenas=asdict(w.compiled.arenas))
                if w.compiled.prefix_plan is not None:
                    out.metrics["prefix_extra_macs"] = w.compiled.prefix_plan.extra_macs
                if w.model_sha256:
                    out.metrics["model_sha256"] = w.model_sha256
                    out.metrics["model_file"] = str(scenario.model.file)
                out.firmware = build_firmware(
                    out.board, _app_sources(TRAIN_APP), generated=w.files(),
                    include_dirs=[TRAIN_APP], defines={},
                    stack_size=scenario.stack, name=scenario.name, progress=self.progress)
            else:
                fw = scenario.firmware
                assert fw is not None
                defines = {f"TT_CASE_{fw.case.upper()}": "1"} if fw.case else {}
                app_dir = _app_dir(fw.app)
                out.firmware = build_firmware(
                    out.board, _app_sources(app_dir), generated={}, include_dirs=[app_dir], defines=defines,
                    stack_size=scenario.stack, name=scenario.name, progress=self.progress)
        except MctError as e:
            out.build_error = e
            return out
        out.memory = memory_report(out.firmware.elf, out.board)
        m = out.memory
        out.metrics.update(flash=m.flash, static_sram=m.static_sram, stack_reserved=m.stack_reserved,
                           data_region=m.data_region)
        out.metrics["largest_symbols"] = largest(symbols_by_region(out.firmware.elf, out.board))
        return out

    def _workload(self, scenario: Scenario):
        from .workload import prepare

        assert scenario.model and scenario.dataset and scenario.training
        return prepare(scenario.model, scenario.dataset, scenario.training)

    def run(self, scenario: Scenario) -> Outcome:
        out = self.build(scenario)
        if out.firmware is None or out.run is not None or out.run_error is not None:
            return out
        from .emulators import get_emulator

        self.progress(f"running on {self.emulator} (timeout {scenario.timeout:.0f} s)")
        try:
            out.run = get_emulator(self.emulator).run(out.firmware.elf, out.board,
                                                      timeout_s=scenario.timeout,
                                                      profile=scenario.trains,
                                                      console_limit=scenario.console_limit)
        except MctError as e:
            out.run_error = e
            return out
        r = out.run
        out.metrics.update(status=r.status, exit_code=r.exit_code, insn_total=r.insn_total,
                           wall_s=round(r.wall_s, 3), counting=r.method, isolation=r.isolation)
        steps = r.step_instructions()
        if steps:
            out.metrics["step_instructions"] = max(steps)
        regions = r.region_instructions()
        if regions:
            out.metrics["region_instructions"] = regions[0]
        hwm = _stack_high_water(r)
        if hwm is not None and out.memory is not None:
            out.metrics["stack_high_water"] = hwm
            out.metrics["peak_sram"] = out.memory.peak_sram(hwm)
        if r.profile:
            top = sorted(r.profile.items(), key=lambda kv: -kv[1])[:12]
            out.metrics["profile"] = {name: n for name, n in top}
        if scenario.trains:
            out.metrics.update(_training_metrics(r.records))
            if out.memory is not None and hwm is not None and out.workload is not None:
                arena = out.workload.compiled.arena_size
                trainable = out.workload.compiled.emitted.trainable_bytes
                state = out.workload.sgd_state_bytes  # momentum buffers, shuffle order (docs §10)
                out.metrics["sram_breakdown"] = {
                    "arena": arena, "trainable_params": trainable,
                    "other_static": out.memory.static_sram - arena - trainable - state, "stack": hwm}
                if state:
                    out.metrics["sram_breakdown"]["sgd_state"] = state
            if steps:
                out.metrics["step_instructions_mean"] = round(sum(steps) / len(steps))
            evals = r.eval_instructions()
            n_test = len(out.workload.test_y) if out.workload is not None else 0
            if evals and n_test:
                out.metrics["predict_instructions"] = round(evals[0] / n_test)
        if r.class_total:
            from .cycles import run_metrics

            out.metrics["insn_classes"] = dict(r.class_total)
            n_test = len(out.workload.test_y) if out.workload is not None else 0
            out.metrics.update(run_metrics(r.step_classes(), r.eval_classes(), n_test, out.board))
        return out

    def host_run(self, scenario: Scenario) -> Outcome:
        """The same generated C built natively for the host (the parity oracle)."""
        out = self.build(scenario)
        if out.workload is None or out.host_records is not None or out.host_error is not None:
            return out
        import subprocess

        from .records import scan_records
        from .toolchain import build_host_program

        try:
            exe = build_host_program(_app_sources(TRAIN_APP) + _kernel_sources(),
                                     out.workload.files(), name=f"{scenario.name}-host",
                                     progress=self.progress)
            self.progress("running the same C natively on the host")
            proc = subprocess.run([str(exe)], capture_output=True, text=True,
                                  timeout=max(60.0, 10 * scenario.timeout))
            records, err = scan_records(proc.stdout)
            device_exit = out.run.exit_code if out.run is not None else 0
            if err is not None:
                out.host_error = f"the host-native build printed a malformed record: {err}"
            elif proc.returncode != device_exit:
                out.host_error = (f"the host-native build exited {proc.returncode}, the emulator "
                                  f"{device_exit}: {proc.stderr[-500:].strip()}")
            out.host_records = list(records)
        except (MctError, OSError, subprocess.TimeoutExpired) as e:
            out.host_error = f"host-native build could not run: {e}"
        return out

    def reference(self, scenario: Scenario) -> Outcome:
        """The numpy reference of the same training (harness.reference)."""
        out = self.build(scenario)
        if out.workload is None or out.reference is not None:
            return out
        from . import reference as ref

        w, t = out.workload, scenario.training
        assert t is not None
        self.progress("training the numpy reference")
        from .workload import sgd_config

        cfg = ref.TrainConfig(epochs=w.epochs, lr=t.lr, classifier_lr=t.classifier_lr, qas=t.qas,
                              rounding=t.rounding, seed=t.seed, **sgd_config(t, len(w.train_y)))
        out.reference = ref.train(w.qmodel, w.scheme, w.train_x, w.train_y, cfg, w.test_x, w.test_y)
        out.metrics["reference_accuracy_before"] = out.reference.acc_before
        out.metrics["reference_accuracy_after"] = out.reference.acc_after
        out.metrics["reference_epoch_loss"] = [round(x, 6) for x in out.reference.epoch_loss]
        return out

    # -- checks ------------------------------------------------------------------------------
    def check(self, scenario: Scenario, name: str) -> Check:
        fn: Callable[[Scenario], Check] = getattr(self, f"_check_{name}")
        return fn(scenario)

    def _check_build(self, s: Scenario) -> Check:
        out = self.build(s)
        if s.expect.over_budget and isinstance(out.build_error, BudgetExceeded):
            return Check("build", True, f"rejected as expected, at link time: {out.build_error.message}")
        if out.build_error is not None:
            return Check("build", False, f"build failed: {out.build_error.message}",
                         f"fix: {out.build_error.fix}" if out.build_error.fix else "")
        assert out.firmware is not None
        return Check("build", True, f"built {out.firmware.elf}")

    def _needs_build(self, s: Scenario, name: str) -> Outcome | Check:
        out = self.build(s)
        if out.firmware is None:
            return Check(name, False, f"{name}: not checked, the build failed "
                                      f"({out.build_error.message if out.build_error else '?'})")
        return out

    def _check_memory(self, s: Scenario) -> Check:
        """The gate: the reserved layout (static SRAM + the whole ``stack:``) against budgets.sram,
        and flash against budgets.flash. No emulator: the measured high-water is the stack item's."""
        if s.expect.over_budget:
            return self._check_rejected(s)
        out = self._needs_build(s, "memory")
        if isinstance(out, Check):
            return out
        m = out.memory
        assert m is not None
        sram_budget = s.budgets.sram or out.board.sram
        flash_budget = s.budgets.flash or out.board.flash
        planned = m.static_sram + m.stack_reserved
        rows = [
            f"  flash              {fmt_bytes(m.flash):>24}   budget {fmt_bytes(flash_budget)}",
            f"  static SRAM        {fmt_bytes(m.static_sram):>24}   (.data {m.data} B + .bss {m.bss} B)",
            f"  reserved stack     {fmt_bytes(m.stack_reserved):>24}   (stack:, of which the lowest "
            f"{STACK_GUARD} B are the MPU guard)",
            f"  static + stack     {fmt_bytes(planned):>24}   budget {fmt_bytes(sram_budget)} (budgets.sram)",
            f"  data region        {fmt_bytes(m.data_region):>24}   (samples; not counted as flash)",
        ]
        problems, fixes = [], []
        if m.flash > flash_budget:
            problems.append(f"flash {fmt_bytes(m.flash)} exceeds the budget {fmt_bytes(flash_budget)} "
                            f"by {m.flash - flash_budget} B (budgets.flash)")
            fixes.append("shrink the code or constants (largest symbols below) or raise budgets.flash")
        if planned > sram_budget:
            problems.append(f"SRAM layout: static {fmt_bytes(m.static_sram)} + reserved stack "
                            f"{fmt_bytes(m.stack_reserved)} = {fmt_bytes(planned)} exceeds the budget "
                            f"{fmt_bytes(sram_budget)} by {planned - sram_budget} B (budgets.sram)")
            fixes.append(self._layout_fix(s, out, sram_budget))
        if out.workload is not None:
            rows += out.workload.compiled.plan_lines()
            if out.workload.sgd_state_bytes:
                opts = out.workload.options
                rows.append(f"  sgd state          {out.workload.sgd_state_bytes:>9} B SRAM (momentum buffers, "
                            f"shuffle order); lr table {4 * len(opts.lr_factors)} B flash")
        largest = "\n".join(f"    {sym.size:>8} B  {sym.region:<6} {sym.name}" for sym in m.symbols[:8])
        details = "\n".join(rows) + ("\n  largest symbols:\n" + largest if largest else "")
        if problems:
            return Check("memory", False, "memory (the gate: static + reserved stack, no run): "
                         + "; ".join(problems) + ". Fix: " + "; ".join(fixes), details)
        return Check("memory", True, f"flash {fmt_bytes(m.flash)}, SRAM {fmt_bytes(planned)} "
                                     f"(static + reserved stack) within budget", details)

    def _known_high_water(self, s: Scenario, out: Outcome) -> tuple[int, str] | None:
        """The stack high-water of this session's run, else of the run recorded in the baseline."""
        if "stack_high_water" in out.metrics:
            return int(out.metrics["stack_high_water"]), "this run"
        try:
            entry = self.baseline.entry(s.file, s.name, s.board)
        except MctError:
            return None
        hwm = (entry or {}).get("metrics", {}).get("stack_high_water")
        return (int(hwm), f"the run recorded in {self.baseline.path.name}") if hwm is not None else None

    def _layout_fix(self, s: Scenario, out: Outcome, budget: int) -> str:
        """What to change when static + reserved stack exceeds budgets.sram."""
        m = out.memory
        assert m is not None
        planned = m.static_sram + m.stack_reserved
        room = (budget - m.static_sram) // 512 * 512  # the largest stack that fits, in 512 B steps
        raise_it = f"or raise budgets.sram to {_size_value(planned)}"
        if room < 512:  # the smallest stack the linker script accepts
            return (f"static SRAM alone ({fmt_bytes(m.static_sram)}) leaves no room for a stack in "
                    f"budgets.sram: shrink static buffers (largest symbols below) {raise_it}")
        known = self._known_high_water(s, out)
        if known is None:
            return (f"lower `stack:` to at most {_size_value(room)} (what fits beside the static data; "
                    f"the run measures the high-water and the stack item suggests a value) {raise_it}")
        hwm, source = known
        need = suggested_stack(hwm)
        if need <= room:
            return (f"lower `stack:` (now {_size_value(m.stack_reserved)}; {source} used {hwm} B of "
                    f"stack, so stack: {_size_value(need)} would do: high-water + {STACK_GUARD} B MPU "
                    f"guard + margin) {raise_it}")
        return (f"{source} used {hwm} B of stack, which needs stack: {_size_value(need)} "
                f"(with the {STACK_GUARD} B MPU guard and a margin), but only {_size_value(room)} fits "
                f"beside the static data: shrink static buffers or raise budgets.sram to "
                f"{_size_value(m.static_sram + need)}")

    def _check_rejected(self, s: Scenario) -> Check:
        """A scenario that must not fit: the gate must reject it, with the numbers."""
        out = self.build(s)
        what = s.expect.over_budget
        if isinstance(out.build_error, BudgetExceeded):
            return Check("memory", True, f"rejected as expected: {out.build_error.message}")
        if out.firmware is None or out.memory is None:
            return Check("memory", False, f"memory: not checked, the build failed "
                                          f"({out.build_error.message if out.build_error else '?'})")
        m = out.memory
        if what == "sram":
            used, budget = m.static_sram + m.stack_reserved, s.budgets.sram or out.board.sram
        else:
            used, budget = m.flash, s.budgets.flash or out.board.flash
        if used > budget:
            return Check("memory", True, f"rejected as expected: {what} {fmt_bytes(used)} exceeds the "
                                         f"budget {fmt_bytes(budget)} by {used - budget} B")
        return Check("memory", False, f"expected the gate to reject this scenario for {what}, but it "
                                      f"fits: {fmt_bytes(used)} of {fmt_bytes(budget)}")

    def _needs_run(self, s: Scenario, name: str) -> Outcome | Check:
        """The outcome, if the run this check reads ended as the scenario expects; otherwise a
        failed Check saying that nothing was checked and why (never a PASS on a broken run)."""
        out = self.run(s)
        if out.firmware is None:
            return Check(name, False, f"{name}: not checked, the build failed")
        if out.run is None:
            msg = out.run_error.message if out.run_error else "no run"
            fix = f"\nfix: {out.run_error.fix}" if out.run_error and out.run_error.fix else ""
            return Check(name, False, f"{name}: the emulator could not run the firmware: {msg}{fix}")
        if name != "run" and (why := _unexpected_end(s, out.run)) is not None:
            hint = self._overflow_hint(s, out) if name == "stack" else None
            return Check(name, False, f"{name}: not checked: the run ended with {out.run.status}: "
                                      f"{out.run.reason()}{why}" + (f"; {hint}" if hint else ""),
                         _tail(out.run.console))
        return out

    def _check_run(self, s: Scenario) -> Check:
        out = self._needs_run(s, "run")
        if isinstance(out, Check):
            return out
        r = out.run
        assert r is not None
        e = s.expect
        problems = []
        if r.status != e.status:
            problems.append(f"expected the run to end with status {e.status!r}, it ended with "
                            f"{r.status!r}: {r.reason()}")
        overflow = self._overflow_hint(s, out)
        if overflow:
            problems.append(overflow)
        if e.exit_code is not None and r.exit_code != e.exit_code:
            problems.append(f"expected exit code {e.exit_code}, got {r.exit_code}")
        if e.fault is not None:
            kind = r.fault.get("kind") if r.fault else None
            if kind != e.fault:
                problems.append(f"expected fault {e.fault!r}, got {kind!r}")
        if r.record_error is not None:
            problems.append(f"malformed record: {r.record_error}")
        div = next((x for x in r.records if x.get("t") == "diverged"), None)
        if div is not None:
            problems.append(f"training diverged: the loss became NaN, infinite or above 1e6 at epoch "
                            f"{div.get('epoch')} step {div.get('step')} (lower training.lr or "
                            "training.classifier_lr)")
        if e.status == "ok" and r.status == "ok" and not any(x.get("t") == "done" for x in r.records):
            problems.append("the firmware exited 0 without printing its 'done' record")
        details = _tail(r.console)
        if problems:
            return Check("run", False, "; ".join(problems), details)
        return Check("run", True, f"run ended as expected: {r.reason()} "
                                  f"({fmt_count(r.insn_total)} instructions, {r.wall_s:.2f} s)", details)

    def _check_instructions(self, s: Scenario) -> Check:
        out = self._needs_run(s, "instructions")
        if isinstance(out, Check):
            return out
        r = out.run
        assert r is not None
        e, b = s.expect, s.budgets
        if (not s.trains and e.region_instructions is None and e.step_instructions is None
                and b.step_instructions is None and b.step_ms is None):
            return Check("instructions", True, "no instruction expectation or budget", skipped=True)
        problems, rows = [], []
        regions, steps = r.region_instructions(), r.step_instructions()
        if e.region_instructions is not None:
            if not regions:
                problems.append("expected a region count, but the firmware marked no region "
                                "(tt_mark_region_begin/end were never called)")
            for i, n in enumerate(regions):
                rows.append(f"  region {i}: {fmt_count(n)} instructions (expected {e.region_instructions.text})")
                if not e.region_instructions.check(n):
                    problems.append(f"region {i}: {n} instructions, expected {e.region_instructions.text}")
        limit = b.step_instructions
        if e.step_instructions is not None or limit is not None:
            if not steps:
                problems.append("expected training steps, but the firmware marked none "
                                "(tt_mark_step_begin/end were never called)")
            for i, n in enumerate(steps):
                if e.step_instructions is not None and not e.step_instructions.check(n):
                    problems.append(f"step {i}: {n} instructions, expected {e.step_instructions.text}")
                if limit is not None and n > limit:
                    problems.append(f"step {i}: {fmt_count(n)} instructions exceeds the budget "
                                    f"{fmt_count(limit)} by {n - limit}")
            if steps:
                rows.append(f"  steps: {len(steps)}, max {fmt_count(max(steps))}, "
                            f"min {fmt_count(min(steps))} instructions"
                            + (f" (budget {fmt_count(limit)})" if limit else ""))
        if b.step_ms is not None:
            problems += self._step_ms_problems(b.step_ms, r, out.board)
        if steps and (s.trains or b.step_ms is not None):
            rows += _cycle_rows(out.metrics, "step", "per training step", b.step_ms)
        if s.trains and "predict_instructions" in out.metrics:
            rows.append(f"  inference: {fmt_count(out.metrics['predict_instructions'])} instructions "
                        "per sample")
            rows += _cycle_rows(out.metrics, "predict", "per inference", None)
        rows.append(f"  counted by: {r.method}")
        if problems:
            return Check("instructions", False, "; ".join(problems[:5]), "\n".join(rows))
        return Check("instructions", True, "instruction counts as expected", "\n".join(rows))

    @staticmethod
    def _step_ms_problems(budget: float, r: Run, board: Board) -> list[str]:
        """budgets.step_ms against each training step's estimate on the board's own core."""
        from .cycles import CORE_MODEL, estimate, fmt_ms, to_ms

        model = CORE_MODEL[board.core]  # the scenario loader refuses other cores
        classes = r.step_classes()
        if not classes:
            return [f"budgets.step_ms = {budget:g} ms cannot be checked: the run has no instruction "
                    f"classes (counted by: {r.method})"]
        problems = []
        for i, c in enumerate(classes):
            ms = to_ms(estimate(c)[model], board.clock_hz)
            if ms > budget:
                problems.append(
                    f"step {i}: an estimated {fmt_ms(ms)} ms on {board.name} ({board.core} at "
                    f"{board.clock_hz / 1e6:g} MHz, cycle model {model}) exceeds the budget "
                    f"budgets.step_ms = {budget:g} ms by {fmt_ms(ms - budget)} ms; make the step faster "
                    f"(the instruction profile shows the dominant kernels) or raise budgets.step_ms "
                    f"to {_ms_value(ms)}")
        return problems

    def _check_accuracy(self, s: Scenario) -> Check:
        out = self._needs_run(s, "accuracy")
        if isinstance(out, Check):
            return out
        m, e = out.metrics, s.expect
        if "accuracy_after" not in m:
            return Check("accuracy", False, "the firmware printed no evaluation after training "
                                            f"({out.run.reason() if out.run else 'no run'})",
                         _tail(out.run.console) if out.run else "")
        before, after = m["accuracy_before"], m["accuracy_after"]
        gain = after - before
        losses = ", ".join(f"{x:.4f}" for x in m.get("epoch_loss", []))
        details = (f"  test accuracy      {before:.4f} -> {after:.4f} (gain {gain:+.4f}) on "
                   f"{len(out.workload.test_y)} samples\n  epoch mean loss    {losses}")
        problems = []
        if e.accuracy_after is not None and not e.accuracy_after.check(after):
            problems.append(f"accuracy after training {after:.4f}, expected {e.accuracy_after.text}")
        if e.accuracy_gain is not None and not e.accuracy_gain.check(gain):
            problems.append(f"accuracy gain {gain:+.4f} ({before:.4f} -> {after:.4f}), "
                            f"expected {e.accuracy_gain.text}")
        if problems:
            return Check("accuracy", False, "; ".join(problems), details)
        return Check("accuracy", True, f"learned on the device: {before:.4f} -> {after:.4f}", details)

    def _check_parity(self, s: Scenario) -> Check:
        out = self._needs_run(s, "parity")
        if isinstance(out, Check):
            return out
        r, e = out.run, s.expect
        assert r is not None and out.workload is not None
        from . import reference as ref
        from .elf import symbol_sizes

        problems, rows = [], []
        # 1. the same C on the host prints the same records, bit for bit
        self.host_run(s)
        if out.host_error:
            problems.append(out.host_error)
        else:
            keep = ("eval", "epoch", "params")
            dev = [x for x in r.records if x.get("t") in keep]
            host = [x for x in (out.host_records or []) if x.get("t") in keep]
            if dev != host:
                first = next((i for i, (a, b) in enumerate(zip(dev, host)) if a != b), min(len(dev), len(host)))
                problems.append(f"host-native build and emulator differ at record {first}: "
                                f"emulator {dev[first] if first < len(dev) else None} vs host "
                                f"{host[first] if first < len(host) else None}")
            else:
                rows.append(f"  host == emulator   {len(dev)} records identical (checksums, losses, accuracies)")
        # 2. the parameters the device starts from are the model's
        want = ref.param_checksum(out.workload.qmodel, out.workload.scheme)
        got = out.metrics.get("checksum_before")
        if got != want:
            problems.append(f"initial parameter checksum {got} != the model's {want}")
        # 3. the numpy reference trains the same way
        self.reference(s)
        rr = out.reference
        before = out.metrics.get("accuracy_before")
        if before is not None and rr.acc_before is not None:
            if before != rr.acc_before:
                problems.append(f"accuracy before training: device {before:.4f}, reference "
                                f"{rr.acc_before:.4f}; the int8 forward pass must agree exactly")
            else:
                rows.append(f"  forward pass       identical predictions before training "
                            f"(accuracy {before:.4f} on both)")
        acc = out.metrics.get("accuracy_after")
        if acc is not None and rr.acc_after is not None:
            diff_pp = 100 * abs(acc - rr.acc_after)
            rows.append(f"  accuracy after     device {acc:.4f}, reference {rr.acc_after:.4f} "
                        f"(|diff| {diff_pp:.2f} pp, allowed {e.reference_pp} pp)")
            if diff_pp > e.reference_pp:
                problems.append(f"device accuracy {acc:.4f} differs from the reference "
                                f"{rr.acc_after:.4f} by {diff_pp:.2f} pp (allowed {e.reference_pp} pp)")
        dev_loss = out.metrics.get("epoch_loss", [])
        for i, (a, b) in enumerate(zip(dev_loss, rr.epoch_loss)):
            rel = abs(a - b) / max(abs(b), 1e-9)
            if rel > e.loss_rtol:
                problems.append(f"epoch {i + 1} loss: device {a:.6f}, reference {b:.6f} "
                                f"(relative {rel:.3g} > {e.loss_rtol})")
        rows.append("  epoch loss         device " + ", ".join(f"{x:.5f}" for x in dev_loss)
                    + "\n                     reference " + ", ".join(f"{x:.5f}" for x in rr.epoch_loss))
        same = out.metrics.get("checksum_after") == rr.checksum
        rows.append(f"  checksum after     device {out.metrics.get('checksum_after')}, reference "
                    f"{rr.checksum} ({'identical' if same else 'different: float sums differ in order'})")
        # 4. the planner's arena is the one in the ELF
        sizes = dict(symbol_sizes(out.firmware.elf)) if out.firmware else {}
        planned = out.workload.compiled.arena_size
        if sizes.get("tt_arena") != planned:
            problems.append(f"planned arena {planned} B but the ELF's tt_arena is {sizes.get('tt_arena')} B")
        else:
            rows.append(f"  arena              planned {planned} B == ELF symbol tt_arena")
        if problems:
            return Check("parity", False, "; ".join(problems), "\n".join(rows))
        return Check("parity", True, "host == emulator bit for bit; device matches the reference",
                     "\n".join(rows))

    def _check_baseline(self, s: Scenario) -> Check:
        """The metrics against reports/baseline.json, within the scenario's ``tolerance:``."""
        out = self._needs_run(s, "baseline")  # a broken run's numbers are no regression signal
        if isinstance(out, Check):
            return out
        assert out.firmware is not None
        try:
            v = self.baseline.check(s, out.metrics, symbols_by_region(out.firmware.elf, out.board))
        except MctError as e:
            return Check("baseline", False, e.message, f"fix: {e.fix}" if e.fix else "")
        return Check("baseline", v.ok, v.summary, v.details, v.skipped)

    def _check_stack(self, s: Scenario) -> Check:
        """The run: the measured stack high-water against the usable stack (``stack:`` minus the MPU
        guard), and peak SRAM (static + high-water) against budgets.sram; suggests a ``stack:``."""
        out = self._needs_run(s, "stack")
        if isinstance(out, Check):
            return out
        r, m = out.run, out.memory
        assert r is not None and m is not None
        hwm = _stack_high_water(r)
        if hwm is None and r.status != "ok":
            hint = self._overflow_hint(s, out)
            return Check("stack", False, f"stack: not measured, the run did not complete: {r.reason()}"
                         + (f"; {hint}" if hint else ""))
        if hwm is None:
            if s.expect.status != "ok":
                return Check("stack", True, "no stack record (the run was expected to stop early)",
                             skipped=True)
            return Check("stack", False, "the firmware printed no stack high-water mark "
                                         "(a {\"t\":\"mem\",\"stack\":N} record)", _tail(r.console))
        budget = s.budgets.sram or out.board.sram
        peak = m.peak_sram(hwm)
        usable = m.stack_reserved - STACK_GUARD
        need = suggested_stack(hwm)
        details = (f"  stack high-water   {fmt_bytes(hwm):>24}   usable {fmt_bytes(usable)} = stack: "
                   f"{fmt_bytes(m.stack_reserved)} - {STACK_GUARD} B MPU guard\n"
                   f"  peak SRAM          {fmt_bytes(peak):>24}   budget {fmt_bytes(budget)} (budgets.sram)\n"
                   f"    = static {m.static_sram} B + stack high-water {hwm} B\n"
                   f"  suggested stack:   {_size_value(need):>24}   (high-water + {STACK_GUARD} B guard + "
                   f"margin, rounded up to 512 B)")
        problems = []
        if hwm > usable:
            problems.append(f"stack high-water {hwm} B exceeds the usable stack {usable} B (stack: "
                            f"{m.stack_reserved} B minus the {STACK_GUARD} B MPU guard): raise `stack:` "
                            f"to {_size_value(need)}")
        if peak > budget:
            problems.append(f"peak SRAM: static {fmt_bytes(m.static_sram)} + stack high-water {hwm} B = "
                            f"{fmt_bytes(peak)} exceeds the budget {fmt_bytes(budget)} by {peak - budget} B "
                            f"(budgets.sram): the stack the run really used does not fit; shrink static "
                            f"buffers or raise budgets.sram to {_size_value(m.static_sram + need)}")
        if s.expect.stack is not None and not s.expect.stack.check(hwm):
            problems.append(f"stack high-water {hwm} B, expected {s.expect.stack.text}")
        if problems:
            return Check("stack", False, "stack (measured by the run): " + "; ".join(problems), details)
        headroom = f"stack: {_size_value(m.stack_reserved)} leaves {usable - hwm} B unused"
        if need < m.stack_reserved:
            headroom += f"; stack: {_size_value(need)} would do"
        elif need > m.stack_reserved:
            headroom += f"; little margin: consider stack: {_size_value(need)}"
        return Check("stack", True, f"peak SRAM {fmt_bytes(peak)} (static + stack high-water {hwm} B) "
                                    f"within budget; {headroom}", details)

    def _overflow_hint(self, s: Scenario, out: Outcome) -> str | None:
        """What to change after a stack-overflow fault the scenario did not expect."""
        r, m = out.run, out.memory
        f = r.fault if r is not None else None
        if f is None or f.get("kind") != "stack_overflow" or s.expect.fault == "stack_overflow":
            return None
        reserved = m.stack_reserved if m is not None else s.stack
        known = self._known_high_water(s, out)
        to = (suggested_stack(known[0]) if known and suggested_stack(known[0]) > reserved
              else _round_up(2 * reserved, 512))
        return (f"the stack (stack: {_size_value(reserved)}, of which the lowest {STACK_GUARD} B are the "
                f"MPU guard: {reserved - STACK_GUARD} B usable) overflowed: raise `stack:` (e.g. to "
                f"{_size_value(to)}); the stack item then measures the high-water and suggests a value")


def suggested_stack(high_water: int) -> int:
    """A ``stack:`` for a measured high-water: + the MPU guard + a margin (a quarter, at least
    256 B), rounded up to 512 B."""
    return _round_up(high_water + STACK_GUARD + max(256, high_water // 4), 512)


def _round_up(n: int, step: int) -> int:
    return -(-n // step) * step


def _size_value(n: int) -> str:
    """A size as a scenario would write it: ``1KiB``, ``1.5KiB``, ``8200B``."""
    if n >= 1024 and n % 512 == 0:
        return f"{n / 1024:g}KiB"
    return f"{n}B"


def _unexpected_end(s: Scenario, r: Run) -> str | None:
    """None if the run ended as ``s`` expects (status, fault kind, exit code); else what was
    expected, as a clause for a "not checked" message."""
    e = s.expect
    if r.status != e.status:
        return f" (expected {e.status})"
    if e.fault is not None and (r.fault or {}).get("kind") != e.fault:
        return f" (expected fault {e.fault})"
    if e.exit_code is not None and r.exit_code != e.exit_code:
        return f" (expected exit code {e.exit_code})"
    return None


def _kernel_sources() -> list[Path]:
    return sorted((FIRMWARE_SRC / "runtime" / "kernels").glob("*.c"))


def _training_metrics(records) -> dict[str, Any]:
    m: dict[str, Any] = {}
    evals = [x for x in records if x.get("t") == "eval"]
    if evals:
        m["accuracy_before"] = evals[0]["correct"] / max(evals[0]["total"], 1)
    if len(evals) > 1:
        m["accuracy_after"] = evals[-1]["correct"] / max(evals[-1]["total"], 1)
    epochs = [x for x in records if x.get("t") == "epoch"]
    if epochs:
        m["epoch_loss"] = [x["loss_u"] / 1e6 for x in epochs]
        m["epoch_train_correct"] = [x["train_correct"] for x in epochs]
    params = {x.get("phase"): x["checksum"] for x in records if x.get("t") == "params"}
    if params:
        m["checksum_before"], m["checksum_after"] = params.get("before"), params.get("after")
    return m


def _ms_value(ms: float) -> str:
    """A budgets.step_ms value at or just above ``ms``: 3 significant digits, rounded up."""
    import math

    digits = max(0, 2 - math.floor(math.log10(ms))) if ms > 0 else 2
    step = 10.0 ** -digits
    return f"{math.ceil(ms / step - 1e-9) * step:.{digits}f}ms"


def _cycle_rows(m: dict[str, Any], region: str, what: str, budget: float | None) -> list[str]:
    """The check's lines of estimated cycles and ms (harness/cycles.py) for a region."""
    cm = m.get("cycle_model")
    if not isinstance(cm, dict) or region not in cm:
        return []
    from .cycles import describe, fmt_ms

    cyc = cm[region]["cycles"]
    rows = [f"  estimated {what}: {describe(m, region)}",
            f"    cycles: M4 {fmt_count(cyc['m4'])}; M7 {fmt_count(cyc['m7_low'])} to "
            f"{fmt_count(cyc['m7_high'])}"]
    if f"{region}_ms" in m:
        own = "the M7's conservative end" if cm.get("own") == "m7_high" else "the M4 model"
        rows.append(f"    this board: {fmt_ms(m[f'{region}_ms'])} ms ({own})"
                    + (f", budget {budget:g} ms (budgets.step_ms)" if budget is not None else ""))
    classes = cm[region]["classes"]
    rows.append("    by class: " + ", ".join(f"{k} {fmt_count(v)}" for k, v in classes.items() if v))
    return rows


def _stack_high_water(r: Run) -> int | None:
    for rec in reversed(r.records):
        if rec.get("t") == "mem" and "stack" in rec:
            return int(rec["stack"])
    return None
