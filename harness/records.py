"""The firmware's output protocol: ``@tt {json}`` record lines among human text.

A record is one console line ``@tt {"t":"<type>","key":<value>,...}``: a JSON object with a
non-empty string ``t`` and values that are integers (fixed point where fractional) or short
strings (a fault kind, a phase name); floats, booleans, null, arrays, nested objects and
repeated keys are errors. Any other line is human text and is ignored.
"""
from __future__ import annotations

import json
from typing import Any, Union

from .errors import RecordError

PREFIX = "@tt"
Value = Union[int, str]
Record = dict[str, Value]

_FIX = ('print records as one line \'@tt {"t":"<type>","key":<integer>,...}\' '
        "(harness/firmware_src/runtime/tt_io.h: tt_rec_begin / tt_rec_int / tt_rec_end)")


class _Bad(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Bad(f"key {k!r} appears twice")
        out[k] = v
    return out


def _reject_constant(name: str) -> Any:
    raise _Bad(f"{name} is not a number")


def _parse_line(text: str) -> Record:
    if not text.startswith(PREFIX + " "):
        raise _Bad(f"a record starts with '{PREFIX} ' followed by a JSON object")
    body = text[len(PREFIX) + 1:].strip()
    try:
        obj = json.loads(body, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise _Bad(f"invalid JSON: {e.msg} at column {e.colno + len(PREFIX) + 1}") from None
    if not isinstance(obj, dict):
        raise _Bad(f"expected a JSON object, got {type(obj).__name__}")
    t = obj.get("t")
    if not isinstance(t, str) or not t:
        raise _Bad("missing the record type \"t\" (a non-empty string)")
    for k, v in obj.items():
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            kind = "null" if v is None else type(v).__name__
            raise _Bad(f"value of {k!r} is {kind} ({json.dumps(v)}); records carry integers "
                       "(fixed point for fractions) or strings")
    return obj


def scan_records(console: str) -> tuple[list[Record], RecordError | None]:
    """Every well-formed record in order, and the error of the first malformed one (or None)."""
    records: list[Record] = []
    error: RecordError | None = None
    for n, raw in enumerate(console.splitlines(), start=1):
        line = raw.rstrip("\r")
        if not line.startswith(PREFIX):
            continue
        try:
            records.append(_parse_line(line))
        except _Bad as e:
            if error is None:
                shown = line if len(line) <= 200 else line[:200] + "..."
                error = RecordError(f"console line {n}: malformed record ({e}): {shown}", _FIX)
    return records, error


def parse_records(console: str) -> list[Record]:
    """Every record in the console text; RecordError naming the first malformed line."""
    records, error = scan_records(console)
    if error is not None:
        raise error
    return records
