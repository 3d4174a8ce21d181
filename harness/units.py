"""Parsing of sizes (``256KiB``), counts (``20M``) and comparisons (``>= 0.80``) in scenarios."""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Callable

_SIZE_UNITS = {"": 1, "b": 1, "kib": 1024, "kb": 1024, "k": 1024, "mib": 1024**2, "mb": 1024**2,
               "m": 1024**2}
_COUNT_UNITS = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000}
_NUM = r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)"


def parse_size(value: object) -> int:
    """Bytes from ``4096``, ``"256KiB"``, ``"1MiB"`` (KiB = KB = 1024 bytes, as linkers count)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 256KiB, got {value!r}")
    if isinstance(value, int):
        return value
    m = re.fullmatch(_NUM + r"\s*([A-Za-z]*)", str(value).strip())
    if not m or m.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"expected a size such as 4096, 256KiB or 1MiB, got {value!r}")
    n = float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]
    if n != int(n):
        raise ValueError(f"size {value!r} is not a whole number of bytes")
    return int(n)


def parse_count(value: object) -> int:
    """Counts from ``1500``, ``"20M"``, ``"1.5k"`` (decimal multipliers)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a count such as 20M, got {value!r}")
    if isinstance(value, int):
        return value
    m = re.fullmatch(_NUM + r"\s*([A-Za-z]*)", str(value).strip())
    if not m or m.group(2).lower() not in _COUNT_UNITS:
        raise ValueError(f"expected a count such as 1500, 20M or 1.5k, got {value!r}")
    n = float(m.group(1)) * _COUNT_UNITS[m.group(2).lower()]
    if n != int(n):
        raise ValueError(f"count {value!r} is not a whole number")
    return int(n)


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
    text = str(value).strip()
    m = re.fullmatch(r"(>=|<=|==|!=|>|<)?\s*(.+)", text)
    assert m is not None
    op = m.group(1) or "=="
    try:
        number = parse(m.group(2).strip())
    except ValueError as e:
        raise ValueError(f"expected a comparison such as '>= 0.8', got {value!r} ({e})") from None
    return Comparison(op, float(number), text if m.group(1) else f"== {text}")
