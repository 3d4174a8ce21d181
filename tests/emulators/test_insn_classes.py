"""insncount.c's instruction classes, exactly, on real QEMU: the Cortex-M7 board (mps2-an500)
and the Cortex-M4 one (mps2-an386), each with its own build.

harness/firmware_src/app/insnclass runs each hand-written kernel for N and 2N iterations between step
marks; the difference of the two steps is N times one iteration's instructions, class by class
(the listing of each kernel is in its comment there). The self-test loop (5 instructions a
sample: ldrsb.w with base update twice, cmp, smlabb, bne) is checked too."""
import pytest

from harness.boards import REPO, load_board
from harness.cycles import CLASSES, EXTRAS
from harness.emulators.qemu import QemuEmulator
from harness.toolchain import build_firmware

BOARD = load_board("stm32f746")
N = 1000

#: Per iteration of each kernel, in the firmware's order (all other counters are 0).
PER_ITERATION = [
    ("dsp", {"dsp": 3, "other": 1, "branch": 1, "branch_taken": 1}),
    ("fpu", {"fpu_div": 2, "fpu_mac": 2, "fpu": 3, "other": 1, "branch": 1, "branch_taken": 1}),
    ("memory", {"load_store_multiple": 7, "multiple_regs": 22, "load_store": 12,
                "load_store_pipelined": 6, "other": 1, "branch": 1, "branch_taken": 1}),
    ("multiply", {"multiply": 4, "divide": 2, "other": 3, "branch": 1, "branch_taken": 1}),
    # tst, nop (every other time), nop never (cbnz jumps over it), subs; beq, cbnz, bl, bx, bne;
    # taken: cbnz, bl, bx, bne and beq every other time
    ("branch", {"other": 2.5, "branch": 5, "branch_taken": 4.5}),
]


@pytest.fixture(scope="module", params=["stm32f746", "stm32f4"])
def run(request):
    board = load_board(request.param)
    fw = build_firmware(board, [REPO / "harness" / "firmware_src" / "app" / "insnclass" / "main.c"], name="insnclass")
    r = QemuEmulator().run(fw.elf, board, timeout_s=20)
    assert r.status == "ok", r.reason()
    return r


@pytest.mark.parametrize("i", range(len(PER_ITERATION)), ids=[k for k, _ in PER_ITERATION])
def test_each_kernel_iteration_has_its_exact_classes(run, i):
    steps = run.step_classes()
    assert len(steps) == 2 * len(PER_ITERATION)
    a, b = steps[2 * i], steps[2 * i + 1]
    delta = {k: b[k] - a[k] for k in (*CLASSES, *EXTRAS)}
    expected = {k: 0 for k in delta} | {k: round(v * N) for k, v in PER_ITERATION[i][1].items()}
    assert delta == expected


def test_classes_partition_every_step_and_the_whole_run(run):
    for c, n in zip(run.step_classes(), run.step_instructions()):
        assert sum(c[k] for k in CLASSES) == n
        assert c["load_store_pipelined"] <= c["load_store"] and c["branch_taken"] <= n
    assert set(run.class_total) == {*CLASSES, *EXTRAS}
    assert sum(run.class_total[k] for k in CLASSES) == run.insn_total > 0


def test_selftest_loop_classes(tmp_path):
    fw = build_firmware(BOARD, [REPO / "harness" / "firmware_src" / "app" / "selftest" / "main.c"],
                        defines={"TT_CASE_LOOP": 1}, name="selftest-loop")
    r = QemuEmulator().run(fw.elf, BOARD, timeout_s=10)
    assert r.status == "ok", r.reason()
    region = r.class_pairs("tt_mark_region_begin", "tt_mark_region_end")
    assert len(region) == 1 and sum(region[0][k] for k in CLASSES) == r.region_instructions()[0] == 5137
    c = region[0]
    assert c["dsp"] == 1024                            # one smlabb a sample
    assert c["load_store"] >= 2048                     # two ldrsb a sample, both updating their
    assert c["load_store_pipelined"] <= 2              # base: not pipelined (M4 TRM)
    assert c["branch_taken"] >= 1023                   # bne back, every sample but the last
    assert c["fpu"] == c["fpu_div"] == c["multiply"] == c["divide"] == 0
