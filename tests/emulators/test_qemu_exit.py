"""harness/emulators/qemu.py: how QEMU's end and the firmware's exit record make a Run's status
(the exit record is the firmware's last line; QEMU itself then exits 0 on the board reset)."""
import signal
from pathlib import Path

from harness.emulators.qemu import ISOLATION, _Counts, _make_run, _Proc, _split_exit


def run(stdout: str, rc: int | None = 0, **kw):
    proc = _Proc(rc, stdout, kw.pop("stderr", ""), 0.1, kw.pop("timed_out", False),
                 kw.pop("flooded", False), len(stdout), 1000)
    return _make_run(proc, _Counts(), {}, Path("x.elf"), "test", "7.2", 5.0, [], ("qemu", "-M", "m"),
                     ISOLATION)


def test_exit_record_gives_the_exit_code_and_leaves_the_console():
    r = run('@tt {"t":"done"}\n@tt {"t":"exit","code":3}\n')
    assert (r.status, r.exit_code) == ("exit", 3)
    assert r.console == '@tt {"t":"done"}\n' and r.records == ({"t": "done"},)
    r = run('@tt {"t":"exit","code":0}\n')
    assert (r.status, r.exit_code, r.console, r.records) == ("ok", 0, "", ())


def test_only_the_last_line_is_the_exit_record():
    text = '@tt {"t":"exit","code":5}\nmore text\n'
    assert _split_exit(text) == (text, None)
    r = run(text)
    assert (r.status, r.exit_code) == ("exit", None)
    assert r.reason() == "the firmware reset the board without printing an exit record"


def test_fault_record_then_exit_record():
    r = run('@tt {"t":"fault","kind":"null_write","pc":232,"lr":1605,"cfsr":130,"addr":0}\n'
            '@tt {"t":"exit","code":127}\n')
    assert (r.status, r.exit_code, r.fault["kind"]) == ("fault", 127, "null_write")


def test_sigsys_is_an_error_naming_the_sandbox():
    r = run("boot\n", rc=-signal.SIGSYS)
    assert r.status == "error" and r.exit_code == -signal.SIGSYS
    assert r.reason().startswith("emulator error: QEMU was killed by SIGSYS (its seccomp sandbox stopped")


def test_no_peer_warning_is_not_an_error():
    r = run('@tt {"t":"exit","code":0}\n', stderr="qemu-system-arm: warning: nic lan9118.0 has no peer\n")
    assert r.status == "ok"
    r = run("", rc=1, stderr="qemu-system-arm: warning: nic lan9118.0 has no peer\n"
                             "qemu-system-arm: unsupported machine type\n")
    assert r.status == "error" and "unsupported machine type" in r.reason()


def test_flood_cut_mid_record_is_not_malformed():
    r = run('@tt {"t":"boot"}\nflood\n@tt {"t":"step","n', rc=None, flooded=True)
    assert r.status == "flood" and r.record_error is None and r.records == ({"t": "boot"},)
