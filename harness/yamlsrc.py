"""YAML loading that remembers where every mapping key stands, for ``file:line`` errors.

A scenario file is untrusted input, so loading refuses, each with one ``ScenarioError``
naming the file and line: anything but a regular file (a FIFO, a device), a file larger
than ``MAX_BYTES``, text that is not UTF-8, YAML syntax errors, documents that nest deeper
than ``MAX_DEPTH`` or hold more than ``MAX_VALUES`` values once aliases are expanded (the
"billion laughs" bomb is refused before anything is built from it), unhashable mapping keys,
duplicate keys, and scalars Python cannot build (an integer of thousands of digits).

``quote`` is how every error shows a value: ``repr`` cut to ``QUOTE_CHARS`` characters,
computed without ever expanding more than that (shared, aliased structure stays cheap).
"""
from __future__ import annotations

import errno
import stat
from pathlib import Path
from typing import Any

import yaml

from .errors import ScenarioError

MAX_BYTES = 1 << 20          # a scenario file is a few KiB; refuse anything above 1 MiB
MAX_DEPTH = 32               # a scenario nests about 5 levels deep
MAX_VALUES = 100_000         # values once aliases are expanded; a scenario file holds hundreds
QUOTE_CHARS = 200            # the longest excerpt of a value an error message shows
_BIG_INT_BITS = 256          # integers above this are described, not printed


class LineDict(dict):
    """A dict that knows the line of each key (1-based) and of itself."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: Any) -> int:
        return getattr(self, "key_lines", {}).get(str(key), self.line)


class LineList(list):
    """A list that knows the line of each item (1-based) and of itself."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        lines = getattr(self, "item_lines", [])
        return lines[index] if 0 <= index < len(lines) else self.line


# -- quoting values in messages --------------------------------------------------------------------
class _Full(Exception):
    pass


def excerpt(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` cut to ``limit`` characters (then ``...``), on one line."""
    text = " ".join(text[:limit * 2].split())
    return text if len(text) <= limit else text[:limit] + "..."


def quote(value: Any, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)`` of at most ``limit`` characters (then ``...``); linear in ``limit``."""
    out: list[str] = []
    size = [0]

    def put(s: str) -> None:
        out.append(s)
        size[0] += len(s)
        if size[0] > limit:
            raise _Full

    def walk(v: Any) -> None:
        if isinstance(v, bool) or v is None:
            put(repr(v))
        elif isinstance(v, int):
            put(repr(v) if v.bit_length() <= _BIG_INT_BITS
                else f"<an integer of {len(str(v)) if v.bit_length() < 10_000 else 'thousands of'} digits>")
        elif isinstance(v, str):
            put(repr(v[:limit + 1]) if len(v) > limit else repr(v))
        elif isinstance(v, dict):
            put("{")
            for i, (k, x) in enumerate(v.items()):
                put(", " if i else "")
                walk(k)
                put(": ")
                walk(x)
            put("}")
        elif isinstance(v, (list, tuple, set, frozenset)):
            opening, closing = ("[", "]") if isinstance(v, list) else ("(", ")") if isinstance(v, tuple) \
                else ("{", "}")
            put(opening)
            for i, x in enumerate(v):
                put(", " if i else "")
                walk(x)
            put(closing)
        else:
            text = repr(v)
            put(text[:limit + 1])

    try:
        walk(value)
    except (_Full, RecursionError):
        return "".join(out)[:limit] + "..."
    return "".join(out)


# -- the loader --------------------------------------------------------------------------------------
_DEEP = (f"the document nests more than {MAX_DEPTH} levels deep (or a YAML alias refers to a "
         "mapping or list that contains it)")
_DEEP_FIX = "a scenario needs about 5 levels: flatten the structure"


class _Problem(Exception):
    """A problem at a line of the file being loaded (``load_yaml`` adds the path)."""

    def __init__(self, line: int, message: str, fix: str):
        super().__init__(message)
        self.line, self.message, self.fix = line, message, fix


class _Loader(yaml.SafeLoader):
    """Refuses nesting deeper than ``MAX_DEPTH`` while composing (before Python's recursion
    limit could be reached)."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Problem(self.peek_event().start_mark.line + 1, _DEEP, _DEEP_FIX)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct(loader: _Loader, node: yaml.Node) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, OverflowError, TypeError) as e:
        what = quote(node.value, 60) if isinstance(node, yaml.ScalarNode) else f"tagged {node.tag}"
        raise _Problem(node.start_mark.line + 1, f"cannot read the value {what}: "
                       f"{excerpt(str(e), 120)}",
                       "write a plain number, string, list or mapping") from None


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        key = _construct(loader, key_node)
        try:
            hash(key)
        except TypeError:
            kind = "mapping" if isinstance(key, dict) else "list" if isinstance(key, list) \
                else type(key).__name__
            raise _Problem(line, f"a mapping key must be a plain word, got the {kind} {quote(key, 60)}",
                           "write keys as 'name: value'") from None
        if key in out:
            raise _Problem(line, f"duplicate key {quote(key, 60)}", "remove one of the two entries")
        out[key] = _construct(loader, value_node)
        out.key_lines[str(key)] = line
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    out = LineList(_construct(loader, child) for child in node.value)
    out.line = node.start_mark.line + 1
    out.item_lines = [child.start_mark.line + 1 for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _check_expanded_size(root: yaml.Node) -> None:
    """Refuse deep nesting and alias bombs by walking the node graph (aliases are shared nodes,
    so the walk counts each use) before anything is constructed from it."""
    count = 0
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        line = node.start_mark.line + 1
        if depth > MAX_DEPTH:
            raise _Problem(line, _DEEP, _DEEP_FIX)
        if count > MAX_VALUES:
            raise _Problem(line, f"the document holds more than {MAX_VALUES} values once its YAML "
                           "aliases (*name) are expanded (an alias bomb?)",
                           "write the values out instead of nesting aliases; a scenario file "
                           "holds a few hundred values")
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))


def _read_text(path: Path) -> str:
    try:
        st = path.stat()
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ScenarioError(f"{path}: cannot read: it is a symbolic link that leads back to itself "
                                "(a symlink loop)",
                                "point the link at a real scenario file, or give the file's own path") \
                from None
        if e.errno == errno.ENOENT and path.is_symlink():
            raise ScenarioError(f"{path}: cannot read: it is a symbolic link to a missing file",
                                "point the link at an existing scenario file") from None
        raise ScenarioError(f"{path}: cannot read ({e.strerror or e})", "check the path") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise ScenarioError(f"{path}: cannot read: {kind}", "give the path of a .yaml file")
    if st.st_size > MAX_BYTES:
        raise ScenarioError(f"{path}: the file has {st.st_size} bytes, more than a scenario file may "
                            f"({MAX_BYTES} bytes)", "split it into smaller files; is it really a scenario?")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise ScenarioError(f"{path}: cannot read ({e.strerror or e})", "check the file's permissions") \
            from None
    if len(data) > MAX_BYTES:
        raise ScenarioError(f"{path}: the file is larger than a scenario file may be ({MAX_BYTES} bytes)",
                            "split it into smaller files; is it really a scenario?")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ScenarioError(f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})",
                            "save the file as UTF-8; is it really a scenario file?") from None


def load_yaml(path: Path) -> Any:
    """Parse a YAML file into plain values whose mappings are ``LineDict``s."""
    path = Path(path)
    text = _read_text(path)
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node)
        return loader.construct_document(node)
    except _Problem as e:
        raise ScenarioError(f"{path}:{e.line}: {e.message}", e.fix) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        if mark is not None:
            line = mark.line + 1
        elif isinstance(e, yaml.reader.ReaderError):
            line = text.count("\n", 0, e.position) + 1
        else:
            line = 1
        problem = getattr(e, "problem", None) or str(e)
        if isinstance(e, yaml.reader.ReaderError):
            problem = f"the character #x{e.character:04x} is not allowed (binary data?)" \
                if isinstance(e.character, int) else "unreadable characters"
        raise ScenarioError(f"{path}:{line}: not valid YAML: {excerpt(problem)}",
                            "fix the YAML syntax (indentation, colons, quotes)") from None
    except RecursionError:
        raise ScenarioError(f"{path}: not valid YAML: the document nests too deeply to read",
                            "a scenario needs about 5 levels: flatten the structure") from None
    finally:
        if loader is not None:
            loader.dispose()
