"""YAML loading that remembers where every mapping key stands, for ``file:line`` errors."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ScenarioError


class LineDict(dict):
    """A dict that knows the line of each key (1-based) and of itself."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class _Loader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    out = LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise ScenarioError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}",
                                "remove one of the two entries")
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[str(key)] = key_node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: Path) -> Any:
    """Parse a YAML file into plain values whose mappings are ``LineDict``s."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ScenarioError(f"{path}: cannot read ({e.strerror})", "check the path") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    except ScenarioError as e:
        raise ScenarioError(f"{path}: {e.message}", e.fix) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(e, "problem", None) or str(e)
        raise ScenarioError(f"{where}: not valid YAML: {problem}",
                            "fix the YAML syntax (indentation, colons, quotes)") from None
