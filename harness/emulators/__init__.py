"""Emulator backends behind one interface (``base.Emulator`` returning ``base.Run``)."""
from __future__ import annotations

from ..errors import EmulatorError
from .base import Emulator, Run

__all__ = ["Emulator", "Run", "get_emulator"]


def get_emulator(name: str = "qemu") -> Emulator:
    """The backend called ``name``."""
    if name == "qemu":
        from .qemu import QemuEmulator

        return QemuEmulator()
    if name == "renode":
        raise EmulatorError("the Renode backend is not implemented yet",
                            "run with --emulator qemu (Renode is a later issue)")
    raise EmulatorError(f"unknown emulator {name!r}", "use one of: qemu")
