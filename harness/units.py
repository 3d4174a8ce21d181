"""Parsing of sizes (``256KiB``), counts (``20M``) and comparisons (``>= 0.80``) in scenarios."""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

_SIZE_UNITS = {"": 1, "b": 1, "kib": 1024, "kb": 1024, "k": 1024, "mib": 1024**2, "mb": 1024**2,
               "m": 1024**2}
_COUNT_UNITS = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}
_NUM = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)"


MAX_UNIT_VALUE = 2**63 - 1  # sizes and counts beyond this fit no C type the harness emits
_MAX_TEXT = 40  # characters of a size or count written as text: "1.5MiB" needs 6


def _show(value: object) -> str:
    from .yamlsrc import quote  # late: yamlsrc imports errors only, but keep units standalone

    return quote(value, 60)


def _scaled(value: object, units: dict[str, int], what: str, example: str) -> int:
    """An exact integer from an int or a ``<decimal><unit>`` string (no float rounding)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"expected a {what} such as {example}, got {_show(value)}")
    if isinstance(value, int):
        n = value
    else:
        m = re.fullmatch(_NUM + r"\s*([A-Za-z]*)", value.strip()) if len(value) <= _MAX_TEXT else None
        if not m or m.group(2).lower() not in units:
            raise ValueError(f"expected a {what} such as {example}, got {_show(value)}")
        exact = Fraction(m.group(1)) * units[m.group(2).lower()]
        if exact.denominator != 1:
            raise ValueError(f"{what} {_show(value)} is not a whole number"
                             + (" of bytes" if what == "size" else ""))
        n = int(exact)
    if abs(n) > MAX_UNIT_VALUE:
        raise ValueError(f"{what} {_show(value)} is too large (at most {MAX_UNIT_VALUE})")
    return n


def parse_size(value: object) -> int:
    """Bytes from ``4096``, ``"256KiB"``, ``"1MiB"`` (KiB = KB = 1024 bytes, as linkers count)."""
    return _scaled(value, _SIZE_UNITS, "size", "4096, 256KiB or 1MiB")


def parse_count(value: object) -> int:
    """Counts from ``1500``, ``"20M"``, ``"1.5k"`` (decimal multipliers)."""
    return _scaled(value, _COUNT_UNITS, "count", "1500, 20M or 1.5k")


_MS_UNITS = {"": Fraction(1), "ms": Fraction(1), "s": Fraction(1000), "us": Fraction(1, 1000)}


def parse_ms(value: object) -> float:
    """Milliseconds from ``400`` (a bare number is ms), ``"400ms"``, ``"0.4s"``, ``"250us"``."""
    example = "400, 400ms or 0.4s"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a duration such as {example}, got {_show(value)}")
    if isinstance(value, (int, float)):
        if isinstance(value, int) and abs(value) > MAX_UNIT_VALUE:
            raise ValueError(f"duration {_show(value)} is too large (at most {MAX_UNIT_VALUE} ms)")
        if not math.isfinite(value):
            raise ValueError(f"expected a duration such as {example}, got {_show(value)}")
        return float(value)
    m = re.fullmatch(_NUM + r"\s*([A-Za-z]*)", value.strip()) if len(value) <= _MAX_TEXT else None
    if not m or m.group(2).lower() not in _MS_UNITS:
        raise ValueError(f"expected a duration such as {example}, got {_show(value)}")
    return float(Fraction(m.group(1)) * _MS_UNITS[m.group(2).lower()])


def fmt_bytes(n: float) -> str:
    """``123456`` -> ``"120.6 KiB (123456 B)"``."""
    n = int(n)
    if abs(n) < 1024:
        return f"{n} B"
    if abs(n) < 1024**2:
        return f"{n / 1024:.1f} KiB ({n} B)"
    return f"{n / 1024**2:.2f} MiB ({n} B)"


def fmt_count(n: float) -> str:
    n = int(n)
    if abs(n) >= 1_000_000:
        return f"{n / 1e6:.3f}M ({n})"
    if abs(n) >= 10_000:
        return f"{n / 1e3:.1f}k ({n})"
    return str(n)


_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class Comparison:
    """``op value``, e.g. ``>= 0.8``; ``check(x)`` says whether ``x op value`` holds."""

    op: str
    value: float
    text: str

    def check(self, x: float) -> bool:
        return _OPS[self.op](x, self.value)


def parse_comparison(value: object, parse: Callable[[object], float] = float) -> Comparison:
    """``">= 0.80"``, ``"<= 4KiB"`` (with ``parse=parse_size``) or a bare value meaning ``==``."""
    example = "'>= 0.8'"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"expected a comparison such as {example}, got {_show(value)}")
    text = str(value).strip() if not isinstance(value, int) or value.bit_length() < 128 else "?"
    m = re.fullmatch(r"(>=|<=|==|!=|>|<)?\s*(\S.*)", text) if len(text) <= _MAX_TEXT else None
    if m is None:
        raise ValueError(f"expected a comparison such as {example}, got {_show(value)}")
    op = m.group(1) or "=="
    try:
        number = float(parse(m.group(2).strip()))
    except (ValueError, OverflowError) as e:
        raise ValueError(f"expected a comparison such as {example}, got {_show(value)} ({e})") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number to compare with, got {_show(value)}")
    return Comparison(op, number, text if m.group(1) else f"== {text}")
