"""harness/emulators/base.py: the Run value's helpers."""
from harness.emulators.base import Run


def make(**kw):
    base = dict(status="ok", exit_code=0, console="", records=(), record_error=None, marks=(),
                insn_total=0, profile={}, method="test", wall_s=0.0, emulator="qemu", emulator_version="7.2")
    return Run(**{**base, **kw})


def test_mark_pairs_skip_unmatched_marks():
    r = make(marks=(("tt_mark_step_begin", 10), ("tt_mark_step_end", 25), ("tt_mark_step_end", 30),
                    ("tt_mark_eval_begin", 40), ("tt_mark_step_begin", 50), ("tt_mark_step_end", 58),
                    ("tt_mark_eval_end", 70), ("tt_mark_step_begin", 80)))
    assert r.step_instructions() == [15, 8]
    assert r.eval_instructions() == [30]
    assert r.region_instructions() == []


def test_reasons():
    assert make().reason() == "exit code 0"
    assert make(status="exit", exit_code=3).reason() == "exit code 3"
    f = {"t": "fault", "kind": "stack_overflow", "pc": 0x1a2, "lr": 0, "cfsr": 0x92}
    assert make(status="fault", exit_code=127, records=(f,)).reason() == \
        "fault: stack_overflow at pc=0x000001a2 (lr=0x00000000, cfsr=0x00000092)"
    g = {"t": "fault", "kind": "stack_overflow", "pc": 0, "lr": 0, "cfsr": 0x92, "addr": 0x200000f0}
    assert make(status="fault", records=(g,)).reason() == (
        "fault: stack_overflow at an unknown pc (no exception frame could be stacked) "
        "(lr=0x00000000, cfsr=0x00000092, address 0x200000f0)")
    assert make(status="timeout", timeout_s=2.5, exit_code=None).reason() == \
        "timeout after 2.5 s (guest hung)"
    assert make(status="error", detail="qemu-system-arm: bad").reason() == \
        "emulator error: qemu-system-arm: bad"


def test_reasons_of_the_isolation_and_flood_endings():
    n = {"t": "fault", "kind": "null_write", "pc": 0xe8, "lr": 0x645, "cfsr": 0x82, "addr": 0}
    assert make(status="fault", records=(n,)).reason() == (
        "fault: null_write (a write through a NULL pointer) at pc=0x000000e8 "
        "(lr=0x00000645, cfsr=0x00000082, address 0x00000000)")
    s = {"t": "fault", "kind": "semihosting", "pc": 0x12a, "lr": 0x80d, "cfsr": 0, "op": 0x12}
    assert make(status="fault", records=(s,)).reason() == (
        "fault: semihosting (a host call, refused: the harness serves none) at pc=0x0000012a "
        "(lr=0x0000080d, cfsr=0x00000000, operation 0x00000012 SYS_SYSTEM)")
    assert make(status="flood", exit_code=None, console_limit=65536, console_bytes=70000).reason() == (
        "console output exceeded 65536 bytes; the run was stopped (70000 bytes printed by then; "
        "the last lines are kept)")
    assert make(status="exit", exit_code=None,
                detail="the firmware reset the board without printing an exit record").reason() == \
        "the firmware reset the board without printing an exit record"
