"""The harness's error hierarchy: every error names its cause and the fix."""
from __future__ import annotations


class MctError(Exception):
    """Base class. ``str(err)`` is the whole message a user sees: cause, then fix."""

    def __init__(self, message: str, fix: str | None = None):
        self.message = message
        self.fix = fix
        super().__init__(message if not fix else f"{message}\n  fix: {fix}")


class ScenarioError(MctError):
    """A scenario file is malformed or asks for something impossible."""


class DatasetError(MctError):
    """A dataset is missing or cannot be loaded."""


class ToolMissing(MctError):
    """A required external tool (compiler, emulator) is not installed."""


class BuildError(MctError):
    """The cross-compiler or linker failed."""


class BudgetExceeded(MctError):
    """A memory or instruction budget was exceeded."""


class EmulatorError(MctError):
    """The emulator could not run, or the firmware misbehaved on it."""


class RecordError(MctError):
    """The firmware printed a malformed ``@tt`` record."""


class ModelImportError(MctError):
    """A model file from another framework (a .tflite) that the importer cannot read faithfully."""
