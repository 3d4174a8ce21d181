"""The value parsers of the scenario schema (``harness.scenario.SCHEMA``): each takes a value
as YAML gives it and returns it parsed, or raises ``ValueError`` saying what it expected (the
loader adds ``file:line`` and the key). Every number is finite and fits the C type the firmware
keeps it in; every text is bounded and has no control characters; errors quote values with
``yamlsrc.quote`` (at most 200 characters, whatever the value's size).
"""
from __future__ import annotations

import difflib
import math
import re
import unicodedata
from typing import Any, Callable

from .baseline import Limit
from .units import Comparison, parse_comparison, parse_count, parse_ms, parse_size
from .yamlsrc import excerpt, quote

INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1
MAX_TEXT = 200                 # characters of a one-line text value (name, board, case, ...)
MAX_DESCRIPTION = 500
MAX_TIMEOUT_S = 24 * 3600.0
MAX_ADDRESSABLE = 2**32        # sizes: a 32-bit part addresses no more
LR_RANGE = (1e-30, 1e30)       # learning rates: finite, normal and exact enough in float32
MAX_INPUT_HW, MAX_INPUT_C = 1024, 16
MAX_CLASS_ID = 255
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
_TAG = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# pytest's own marks (and this plugin's): a tag of that name would change how items run.
RESERVED_TAGS = frozenset({
    "skip", "skipif", "xfail", "usefixtures", "filterwarnings", "parametrize", "tryfirst",
    "trylast", "timeout", "flaky", "asyncio", "gate", "emulate", "slow", "mcutrain_tag"})


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _text(v: Any, limit: int = MAX_TEXT) -> str:
    """A non-empty one-line string without control characters."""
    if not isinstance(v, str) or not v.strip():
        raise ValueError(f"expected a non-empty string, got {quote(v)}")
    if len(v) > limit:
        raise ValueError(f"expected at most {limit} characters, got {len(v)}: {quote(v, 60)}")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in v):
        raise ValueError(f"expected one line of text without control characters, got {quote(v)}")
    return v


def _str(v: Any) -> str:
    return _text(v)


def _name(v: Any) -> str:
    text = _text(v, 100)
    if not _NAME.fullmatch(text):
        raise ValueError(f"expected a name of letters, digits and - _ . + (starting with a letter or "
                         f"digit), got {quote(v)}")
    return text


def _description(v: Any) -> str:
    """Free text; line breaks and runs of blanks (YAML folded text) become one space."""
    if not isinstance(v, str):
        raise ValueError(f"expected text, got {quote(v)}")
    if len(v) > MAX_DESCRIPTION:
        raise ValueError(f"expected at most {MAX_DESCRIPTION} characters, got {len(v)}")
    if any(unicodedata.category(c) in ("Cc", "Cf") and c not in "\n\t" for c in v):
        raise ValueError(f"expected text without control characters, got {quote(v)}")
    return " ".join(v.split())


def _int(v: Any) -> int:
    if not _is_int(v) or not -INT32_MAX - 1 <= v <= INT32_MAX:
        raise ValueError(f"expected an integer that fits an int32_t, got {quote(v)}")
    return v


def _pos_seconds(v: Any) -> float:
    if not _is_number(v) or not 0 < v <= MAX_TIMEOUT_S or not math.isfinite(v):
        raise ValueError(f"expected a positive number of seconds (at most {MAX_TIMEOUT_S:.0f}), "
                         f"got {quote(v)}")
    return float(v)


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(v: Any) -> str:
        if not isinstance(v, str) or v not in choices:
            close = difflib.get_close_matches(v, choices, n=1) if isinstance(v, str) and len(v) < 100 else []
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"expected one of {', '.join(choices)}, got {quote(v)}{hint}")
        return v
    return parse


def _boards(v: Any) -> tuple[str, ...]:
    boards = [v] if isinstance(v, str) else v
    if not isinstance(boards, list) or not boards or len(boards) > 16:
        raise ValueError(f"expected a board name or a list of up to 16, got {quote(v)}")
    for b in boards:
        _name(b)
    if len(set(boards)) != len(boards):
        raise ValueError(f"a board repeats in {quote(v)}")
    return tuple(boards)


def _tags(v: Any) -> tuple[str, ...]:
    tags = [v] if isinstance(v, str) else v
    if not isinstance(tags, list) or len(tags) > 32:
        raise ValueError(f"expected a tag or a list of up to 32 tags, got {quote(v)}")
    for t in tags:
        if not isinstance(t, str) or not _TAG.fullmatch(t) or len(t) > 64:
            raise ValueError(f"a tag is a word of letters, digits and _ (starting with a letter), "
                             f"got {quote(t)}")
        if t.lower() in RESERVED_TAGS:
            raise ValueError(f"{t!r} is a pytest mark: as a tag it would look like a request to "
                             "skip, xfail or select differently; choose another word")
    return tuple(tags)


def _pos_size(v: Any) -> int:
    n = parse_size(v)
    if not 0 < n <= MAX_ADDRESSABLE:
        raise ValueError(f"expected a positive size of at most 4GiB, got {quote(v)}")
    return n


def _pos_count(v: Any) -> int:
    n = parse_count(v)
    if n <= 0:
        raise ValueError(f"expected a positive count, got {quote(v)}")
    return n


def _pos_ms(v: Any) -> float:
    ms = parse_ms(v)
    if ms <= 0:
        raise ValueError(f"expected a positive duration such as 400ms or 0.4s, got {quote(v)}")
    return ms


def _sample_count(v: Any) -> int:
    n = _pos_count(v)
    if n > INT32_MAX:
        raise ValueError(f"expected a sample count that fits an int32_t, got {quote(v)}")
    return n


def _seed32(v: Any) -> int:
    """A seed the firmware keeps in a uint32_t (nonzero: the generator's state)."""
    n = parse_count(v)
    if not 0 < n <= UINT32_MAX:
        raise ValueError(f"expected a seed in 1..{UINT32_MAX} (a nonzero uint32_t), got {quote(v)}")
    return n


_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _number(v: Any) -> float:
    """A finite number; also the text YAML 1.1 leaves a string (``1e-3`` has no dot)."""
    if isinstance(v, str) and len(v) <= 40 and _FLOAT_TEXT.fullmatch(v.strip()):
        v = float(v)
    if not _is_number(v):
        raise ValueError(f"expected a number, got {quote(v)}")
    try:
        x = float(v)
    except OverflowError:
        raise ValueError(f"expected a number of sane size, got {quote(v)}") from None
    if not math.isfinite(x):
        raise ValueError(f"expected a finite number, got {quote(v)}")
    return x


def _pos_number(v: Any) -> float:
    n = _number(v)
    if n <= 0:
        raise ValueError(f"expected a positive number, got {quote(v)}")
    return n


def _bounded(lo: float, hi: float, what: str, lo_open: bool = False) -> Callable[[Any], float]:
    def parse(v: Any) -> float:
        x = _number(v)
        if not (lo < x if lo_open else lo <= x) or x > hi:
            raise ValueError(f"expected {what} in {'(' if lo_open else '['}{lo:g}, {hi:g}], got {quote(v)}")
        return x
    return parse


_lr = _bounded(*LR_RANGE, "a learning rate")


def _nonneg_int(v: Any) -> int:
    """A seed or index: a whole number that fits a uint32_t."""
    if not _is_int(v) or not 0 <= v <= UINT32_MAX:
        raise ValueError(f"expected a whole number in 0..{UINT32_MAX}, got {quote(v)}")
    return v


def _epochs(v: Any) -> int:
    if not _is_int(v) or not 0 <= v < INT32_MAX:
        raise ValueError(f"expected a whole number of epochs in 0..{INT32_MAX - 1} (the firmware "
                         f"counts them in an int32_t), got {quote(v)}")
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {quote(v)}")
    return v


def _shape3(v: Any) -> tuple[int, int, int]:
    if not isinstance(v, list) or len(v) != 3 or not all(_is_int(x) and x > 0 for x in v):
        raise ValueError(f"expected [height, width, channels], got {quote(v)}")
    h, w, c = v
    if h > MAX_INPUT_HW or w > MAX_INPUT_HW or c > MAX_INPUT_C:
        raise ValueError(f"input {quote(v)} is too large: at most {MAX_INPUT_HW} x {MAX_INPUT_HW} "
                         f"pixels and {MAX_INPUT_C} channels")
    return (h, w, c)


def _classes(v: Any) -> tuple[int, ...]:
    if (not isinstance(v, list) or not v
            or not all(_is_int(x) and 0 <= x <= MAX_CLASS_ID for x in v)):
        raise ValueError(f"expected a list of class ids such as [0, 1, 2], got {quote(v)}")
    if len(set(v)) != len(v):
        raise ValueError(f"class ids repeat in {quote(v)}")
    return tuple(v)


MAX_WINDOW = 1 << 16


def _window(v: Any) -> int:
    """Time steps of a window or between windows."""
    if not _is_int(v) or not 1 <= v <= MAX_WINDOW:
        raise ValueError(f"expected a number of time steps in 1..{MAX_WINDOW}, got {quote(v)}")
    return v


def _columns(v: Any) -> tuple[str, ...]:
    """CSV column names."""
    if not isinstance(v, list) or not v or len(v) > 64:
        raise ValueError(f"expected a list of 1 to 64 column names such as [ax, ay, az], got {quote(v)}")
    names = tuple(_text(c, 100) for c in v)
    if len(set(names)) != len(names):
        raise ValueError(f"a column repeats in {quote(v)}")
    return names


_APP = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


def _app(v: Any) -> str:
    """The plain name of an app folder: the package's (harness/firmware_src/app/) or one of the
    project's ``apps`` folders (harness.project); no path, no link out of its folder."""
    from .project import find_app, known_apps

    name = _text(v, 64)
    if not _APP.fullmatch(name):
        raise ValueError(f"expected the plain name of an app folder (no '/', '..' or absolute path), "
                         f"got {quote(v)}; apps: {', '.join(known_apps())}")
    find_app(name)
    return name


def app_cases(app: str) -> tuple[str, ...]:
    """The cases an app declares: every ``TT_CASE_<NAME>`` its C sources and headers test, in lower
    case (an app without any has no cases)."""
    from .project import find_app

    found: set[str] = set()
    for src in sorted(find_app(app).glob("*.[ch]")):
        found.update(m.lower() for m in re.findall(r"\bTT_CASE_([A-Z0-9_]+)\b",
                                                   src.read_text(encoding="utf-8", errors="replace")))
    return tuple(sorted(found))


# dataset.shift: {kind, strength[, seed]} or the fields of harness.data.transforms.DomainShift.
SHIFT_KINDS = ("brightness", "contrast", "rotation", "noise", "sensor")
_SHIFT_FIELDS: dict[str, Callable[[Any], Any]] = {
    "brightness": _bounded(-1.0, 1.0, "a brightness offset"),
    "contrast": _bounded(0.0, 10.0, "a contrast factor"),
    "rotation_deg": _bounded(-360.0, 360.0, "an angle in degrees"),
    "noise_std": _bounded(0.0, 1.0, "a noise standard deviation"),
    "seed": _nonneg_int,
}
_SHIFT_PRESET: dict[str, Callable[[Any], Any]] = {
    "kind": _choice(*SHIFT_KINDS), "strength": _bounded(0.0, 1.0, "a strength"), "seed": _nonneg_int}


def _shift(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ValueError(f"expected a mapping such as {{kind: sensor, strength: 0.5}}, got {quote(v)}")
    fields = _SHIFT_PRESET if "kind" in v else _SHIFT_FIELDS
    unknown = [k for k in v if k not in fields]
    if unknown:
        raise ValueError(f"unknown key {quote(unknown[0], 60)}: use kind, strength and seed, or "
                         f"{', '.join(_SHIFT_FIELDS)}")
    if "kind" in v and "strength" not in v:
        raise ValueError("a shift with 'kind' needs a 'strength' in [0, 1]")
    out = {}
    for k, x in v.items():
        try:
            out[k] = fields[k](x)
        except ValueError as e:
            raise ValueError(f"{k}: {e}") from None
    return out


# training.sparse_update: pre-checked here so the scheme parser only ever sees sane values.
_SPARSE_KEYS = ("n_bias_update", "manual_weight_idx", "weight_update_ratio", "n_weight_update")
_MAX_CONVS = 4096


def _sparse_update(v: Any) -> Any:
    from .sparse.scheme import SHORTHANDS  # late: keeps scenario loading light

    if isinstance(v, str):
        if v.strip() not in SHORTHANDS:
            raise ValueError(f"expected one of {', '.join(SHORTHANDS)} or a mapping of "
                             f"{', '.join(_SPARSE_KEYS)}, got {quote(v)}")
        return v
    if not isinstance(v, dict):
        raise ValueError(f"expected one of {', '.join(SHORTHANDS)} or a mapping of "
                         f"{', '.join(_SPARSE_KEYS)}, got {quote(v)}")
    if "paper" in v:  # one of the paper's 15 shipped schemes, by name
        from .sparse.paper_schemes import check_name
        extra = [k for k in v if k != "paper"]
        if extra:
            raise ValueError(f"paper: names a whole scheme and takes no other keys, got also "
                             f"{quote(extra[0], 60)}: keep paper alone or write the scheme out with "
                             f"{', '.join(_SPARSE_KEYS)}")
        check_name(v["paper"])
        return v
    for k, x in v.items():
        if k not in _SPARSE_KEYS:
            raise ValueError(f"unknown key {quote(k, 60)}: use {', '.join(_SPARSE_KEYS)}, or paper "
                             "(one of the paper's schemes by name) alone")
        if x is None:
            continue
        if k in ("n_bias_update", "n_weight_update"):
            if not (x == "all" and k == "n_bias_update") and not (_is_int(x) and 0 <= x <= _MAX_CONVS):
                raise ValueError(f"{k}: expected a number of convs in 0..{_MAX_CONVS}"
                                 f"{' or all' if k == 'n_bias_update' else ''}, got {quote(x)}")
        elif k == "manual_weight_idx":
            items = x.split("-") if isinstance(x, str) and len(x) <= MAX_TEXT else x
            if not isinstance(items, list) or len(items) > _MAX_CONVS or not all(
                    (_is_int(i) and 0 <= i < _MAX_CONVS)
                    or (isinstance(i, str) and i.strip().isdigit() and len(i.strip()) <= 5) for i in items):
                raise ValueError(f"{k}: expected conv indices such as [36, 39] or '36-39', got {quote(x)}")
        else:
            items = x.split("-") if isinstance(x, str) and len(x) <= MAX_TEXT else (
                [x] if _is_number(x) else x)
            if not isinstance(items, list) or len(items) > _MAX_CONVS:
                raise ValueError(f"{k}: expected ratios in [0, 1] such as [1, 0.5], got {quote(x)}")
            for r in items:
                try:
                    _bounded(0.0, 1.0, "a ratio")(float(r) if isinstance(r, str) and len(r) < 30 else r)
                except ValueError:
                    raise ValueError(f"{k}: expected ratios in [0, 1] such as [1, 0.5], got {quote(x)}") \
                        from None
    return v


def _prefix(v: Any) -> Any:
    """engine.prefix: auto | none | {until: <layer>, rows: n, mode: recompute | slide}
    (rows and mode optional)."""
    if isinstance(v, str) and v.strip() in ("auto", "none"):
        return v.strip()
    if not isinstance(v, dict):
        raise ValueError(f"expected auto, none or {{until: <layer name>, rows: <n>}}, got {quote(v)}")
    for k in v:
        if k not in ("until", "rows", "mode"):
            raise ValueError(f"unknown key {quote(k, 60)}: use until, rows, mode")
    if "until" not in v:
        raise ValueError("a fixed prefix needs until: <layer name> (the last streamed layer)")
    until = _name(v["until"])
    rows = v.get("rows")
    if rows is not None and not (_is_int(rows) and 1 <= rows <= 4096):
        raise ValueError(f"rows: expected a number of rows in 1..4096, got {quote(rows)}")
    mode = v.get("mode")
    if mode is not None and mode not in ("recompute", "slide"):
        raise ValueError(f"mode: expected recompute or slide, got {quote(mode)}")
    return {"until": until, "rows": rows, "mode": mode}


def _tolerance(parse: Callable[[Any], Limit]) -> Callable[[Any], Limit]:
    def checked(v: Any) -> Limit:
        if (isinstance(v, bool) or not isinstance(v, (int, float, str))
                or (isinstance(v, int) and v.bit_length() > 64) or len(str(v)) > 40):
            raise ValueError(f"expected a tolerance such as 1%, 512B or '1% or 64B', got {quote(v)}")
        if (isinstance(v, float) and not math.isfinite(v)) or re.search(r"nan|inf", str(v), re.I):
            raise ValueError(f"expected a finite tolerance, got {quote(v)}")
        try:
            limit = parse(v)
        except OverflowError:
            raise ValueError(f"tolerance {quote(v)} is too large") from None
        if not (math.isfinite(limit.pct) and math.isfinite(limit.amount)):
            raise ValueError(f"expected a finite tolerance, got {quote(v)}")
        return limit
    return checked


def _cmp_float(v: Any) -> Comparison:
    return parse_comparison(v, float)


def _cmp_count(v: Any) -> Comparison:
    return parse_comparison(v, parse_count)


def _cmp_size(v: Any) -> Comparison:
    return parse_comparison(v, parse_size)
