"""insncount.c's Thumb-2 decoder against the disassembler: every instruction QEMU translates
while a training firmware (fashion-new-classes: int8 forward with the DSP paths, float
backward, QAS updates, the startup and the console) and the class-test firmware run gets the
class that arm-none-eabi-objdump's mnemonic implies (``expected_class``, written from the
ARMv7-M instruction set by mnemonic, independently of the plugin's bit patterns)."""
from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from harness.boards import REPO, load_board
from harness.emulators.plugin import ensure_plugin
from harness.emulators.qemu import QemuEmulator
from harness.pipeline import Pipeline
from harness.scenario import load_scenarios
from harness.toolchain import build_firmware

CONDS = ("eq", "ne", "cs", "cc", "hs", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al")
LOAD_STORE = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "str", "strb", "strh", "ldrt", "ldrbt", "ldrht",
              "ldrsbt", "ldrsht", "strt", "strbt", "strht", "ldrex", "ldrexb", "ldrexh", "strex",
              "strexb", "strexh", "pld", "pli", "vldr", "vstr"}
MULTIPLE = {"ldm", "ldmia", "ldmfd", "ldmdb", "ldmea", "stm", "stmia", "stmea", "stmdb", "stmfd",
            "push", "pop", "vldm", "vldmia", "vldmdb", "vstm", "vstmia", "vstmdb", "vpush", "vpop",
            "ldrd", "strd"}
MULTIPLY = {"mul", "muls", "mla", "mls", "smull", "umull", "smlal", "umlal"}
DSP_PREFIXES = ("smla", "smul", "smua", "smls", "smus", "smml", "smmu", "umaal", "qadd", "qsub", "qdadd",
                "qdsub", "qasx", "qsax", "sadd", "ssub", "sasx", "ssax", "shadd", "shsub", "shasx",
                "shsax", "uadd", "usub", "uasx", "usax", "uqadd", "uqsub", "uqasx", "uqsax", "uhadd",
                "uhsub", "uhasx", "uhsax", "sxtab", "sxtah", "uxtab", "uxtah", "sxtb16", "uxtb16",
                "sel", "usad", "ssat16", "usat16", "pkhbt", "pkhtb")
FPU_MAC = {"vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"}
BRANCH = {"b", "bl", "bx", "blx", "cbz", "cbnz", "tbb", "tbh"}
KNOWN = LOAD_STORE | MULTIPLE | MULTIPLY | FPU_MAC | BRANCH | {"sdiv", "udiv", "vdiv", "vsqrt", "mov", "add"}


def expected_class(mnemonic: str, operands: str) -> str:
    m = mnemonic.split(".")[0]
    if m not in KNOWN and not m.startswith(DSP_PREFIXES) and m[-2:] in CONDS and \
            (m[:-2] in KNOWN or m[:-2].startswith(DSP_PREFIXES) or m[:-2].startswith("v")):
        m = m[:-2]  # a condition inside an IT block, or b<c>
    if m in LOAD_STORE:
        return "load_store"
    if m in MULTIPLE:
        return "load_store_multiple"
    if m in MULTIPLY or (m in ("smull", "smlal", "umull", "umlal")):
        return "multiply"
    if m.startswith(DSP_PREFIXES) and m not in ("smull", "smlal"):
        return "dsp"
    if m in ("sdiv", "udiv"):
        return "divide"
    if m in FPU_MAC:
        return "fpu_mac"
    if m in ("vdiv", "vsqrt"):
        return "fpu_div"
    if m.startswith("v"):
        return "fpu"
    if m in BRANCH or (m in ("mov", "add") and operands.startswith("pc,")):
        return "branch"
    return "other"


def disassembly(elf: Path) -> dict[int, tuple[str, str]]:
    out = subprocess.run(["arm-none-eabi-objdump", "-d", "--no-show-raw-insn", str(elf)],
                         capture_output=True, text=True, check=True).stdout
    insns = {}
    for line in out.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s+(\S+)\s*([^;@<]*)", line)
        if m:
            insns[int(m.group(1), 16)] = (m.group(2), m.group(3).strip())
    return insns


def decoded(elf: Path, board, limit: int) -> dict[int, str]:
    """Address -> the plugin's class of every instruction QEMU translated in the first ``limit``
    instructions of the run."""
    with tempfile.TemporaryDirectory() as td:
        out = Path(td) / "counts.txt"
        args = f"{ensure_plugin()},out={out},mode=insn,classes=1,decode=1,limit={limit}"
        cmd = QemuEmulator().command(elf, board, args, sandbox=False)
        subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=120, check=False, cwd=td)
        classes = {}
        for line in out.read_text().splitlines():
            parts = line.split()
            if parts[0] == "insn":
                classes[int(parts[1], 16)] = parts[2]
        return classes


def mismatches(elf: Path, board, limit: int) -> tuple[int, list[str]]:
    dis = disassembly(elf)
    got = decoded(elf, board, limit)
    bad = []
    for addr, cls in sorted(got.items()):
        mnemonic, operands = dis.get(addr, ("?", ""))
        want = expected_class(mnemonic, operands)
        if cls != want:
            bad.append(f"{addr:#x} {mnemonic} {operands}: plugin {cls}, expected {want}")
    return len(got), bad


def test_expected_class_reads_mnemonics():
    assert expected_class("bne.n", "8010 <x>") == "branch"
    assert expected_class("ldrsbne", "r0, [r1]") == "load_store"
    assert expected_class("smlabb", "r0, r1, r2, r0") == "dsp"
    assert expected_class("vmla.f32", "s0, s1, s2") == "fpu_mac"
    assert expected_class("mov", "pc, lr") == "branch" and expected_class("movs", "r0, #1") == "other"


@pytest.mark.parametrize("board_name", ["stm32f746", "stm32f4"])
def test_plugin_classes_agree_with_the_disassembler_on_a_training_firmware(board_name):
    scenario = next(s for s in load_scenarios(REPO / "scenarios" / "fashion.yaml")
                    if s.name == "fashion-new-classes")
    assert scenario.dataset is not None and scenario.training is not None
    # 6 training and 4 test samples, one epoch: every kernel runs, in a fraction of a second
    small = replace(scenario, board=board_name, name=f"decode-{board_name}",
                    dataset=replace(scenario.dataset, train=6, test=4),
                    training=replace(scenario.training, epochs=1))
    board = load_board(board_name)
    out = Pipeline().build(small)
    assert out.firmware is not None, out.build_error
    n, bad = mismatches(out.firmware.elf, board, 2_000_000_000)
    assert n > 3000 and bad == [], "\n".join(bad[:40])


def test_plugin_classes_agree_with_the_disassembler_on_the_class_test_firmware():
    board = load_board("stm32f746")
    fw = build_firmware(board, [REPO / "harness" / "firmware_src" / "app" / "insnclass" / "main.c"], name="insnclass")
    n, bad = mismatches(fw.elf, board, 10_000_000)
    assert n > 100 and bad == [], "\n".join(bad[:40])
