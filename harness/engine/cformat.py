"""C literals for numpy arrays: exact (float32 round-trips through ``%.9g``) and compact."""
from __future__ import annotations

import numpy as np

_CTYPE = {np.dtype(np.int8): "int8_t", np.dtype(np.uint8): "uint8_t", np.dtype(np.int32): "int32_t",
          np.dtype(np.float32): "float"}


def c_literal(values: np.ndarray) -> str:
    """The comma-separated initializer of a flat array, 16 values a line."""
    a = np.asarray(values).reshape(-1)
    if a.dtype == np.float32:
        items = [c_float(float(v)) for v in a]
    elif a.dtype in (np.int8, np.uint8, np.int32):
        # INT32_MIN has no literal in C: 2147483648 alone is out of int's range
        items = ["(-2147483647 - 1)" if int(v) == -2**31 else str(int(v)) for v in a]
    else:
        raise TypeError(f"no C type for {a.dtype}")
    lines = [", ".join(items[i:i + 16]) for i in range(0, len(items), 16)]
    return "\n    " + ",\n    ".join(lines) + "\n" if lines else ""


def c_float(v: float) -> str:
    """An exact float32 C literal (``%.9g`` round-trips float32), e.g. ``0.100000001f``."""
    if not np.isfinite(v):
        raise ValueError(f"non-finite parameter {v}")
    text = f"{np.float32(v):.9g}"
    if "e" not in text and "." not in text:
        text += ".0"
    return text + "f"


def c_array(name: str, values: np.ndarray, const: bool, section: str | None = None,
            align: int = 8) -> str:
    """A static array definition; ``const`` ones land in flash, the others in SRAM (.data)."""
    a = np.asarray(values)
    ctype = _CTYPE[a.dtype]
    attrs = [f"aligned({align})"]
    if section:
        attrs.append(f'section("{section}")')
    qual = "static const" if const else "static"
    return (f"{qual} {ctype} {name}[{max(a.size, 1)}] __attribute__(({', '.join(attrs)})) = "
            f"{{{c_literal(a) if a.size else '0'}}};\n")
