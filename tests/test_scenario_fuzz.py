"""Fuzzing the scenario loader: nothing but the project's own error ever comes out of it.

Each example takes one scenario of a committed file (``scenarios/*.yaml``, with the file's
``common:``), puts random values (ints of any size, floats with NaN and infinities, strings,
lists, mappings, None, booleans, and words the schema knows) in place of one to three of its
values, writes it back as YAML, and loads it: it must either load or raise a ``MctError``.
A second test flips, inserts and deletes bytes of the files' text.

Seeded (``derandomize``) and a few hundred examples by default; a longer run is one variable
away: ``MCUTRAIN_FUZZ_EXAMPLES=20000 python3 -m pytest tests/test_scenario_fuzz.py``.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import MctError
from harness.scenario import load_scenarios
from harness.yamlsrc import load_yaml

REPO = Path(__file__).resolve().parent.parent
FILES = sorted((REPO / "scenarios").glob("*.yaml"))
EXAMPLES = int(os.environ.get("MCUTRAIN_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def plain(v: Any) -> Any:
    """The loaded document as plain dicts and lists (what ``yaml.safe_dump`` writes)."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def single_scenario_docs() -> list[dict]:
    """Each committed scenario alone with its file's ``common:`` (fast to load, all keys kept)."""
    docs = []
    for f in FILES:
        doc = plain(load_yaml(f))
        for entry in doc["scenarios"]:
            one = {"scenarios": [entry]}
            if "common" in doc:
                one["common"] = doc["common"]
            docs.append(one)
    return docs


DOCS = single_scenario_docs()


def paths(v: Any, prefix: tuple = ()) -> list[tuple]:
    """Every position in a document: mapping keys' values and list items, inner ones included."""
    out = [prefix] if prefix else []
    if isinstance(v, dict):
        for k, x in v.items():
            out += paths(x, prefix + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += paths(x, prefix + (i,))
    return out


def replaced(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {**doc, head: replaced(doc[head], rest, value)}
    out = list(doc)
    out[head] = replaced(doc[head], rest, value)
    return out


WORDS = ["none", "all", "last_layer", "bias_only", "full", "small", "mbv2", "digits", "fashion_mnist",
         "selftest", "loop", "hang", "ok", "fault", "exit", "exact", "sram", "flash", "stm32f746",
         "stm32f4", "256KiB", "1MiB", "20M", "1.5k", ">= 0.8", "<= 4KiB", "== 5137", "1% or 64B", "2%",
         "1.0pp", "36-39-40", "1-0.5", "nan", "inf", "-1", "1e39", "0x10", "..", "/etc", "skip", "xfail",
         "", " ", "\n", "a\n## b", "\x00", "\u2028", "é", "9" * 300]

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-2**40, max_value=2**40),
    st.integers(min_value=-10**400, max_value=10**400),
    st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63, 10**1000]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e39, 1e-45, 0.0, -0.0, 0.5, 1e308]),
    st.text(max_size=30), st.sampled_from(WORDS),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(st.one_of(st.sampled_from(WORDS), st.text(max_size=8)),
                                            inner, max_size=4)),
    max_leaves=12)


def like(original: Any) -> st.SearchStrategy:
    """Values of the original's own type (they get past the type checks, into the range checks,
    the cross-key checks and the model builder)."""
    if isinstance(original, bool):
        return st.booleans()
    if isinstance(original, int):
        return st.one_of(st.integers(min_value=-2, max_value=3 * max(1, original)),
                         st.integers(min_value=-2**70, max_value=2**70))
    if isinstance(original, float) and math.isfinite(original):
        return st.one_of(st.floats(min_value=-2 * abs(original), max_value=3 * abs(original) + 1),
                         st.floats(allow_nan=True, allow_infinity=True))
    if isinstance(original, str):
        return st.one_of(st.sampled_from(WORDS), st.text(max_size=12))
    if isinstance(original, list) and original and all(isinstance(x, int) for x in original):
        return st.lists(st.integers(min_value=-1, max_value=2 * max(1, *original) + 2), min_size=0,
                        max_size=len(original) + 2)
    return values


def leaves(doc: Any) -> list[tuple]:
    return [p for p in paths(doc) if not isinstance(get(doc, p), (dict, list))
            or (isinstance(get(doc, p), list) and all(not isinstance(x, (dict, list)) for x in get(doc, p)))]


def get(doc: Any, path: tuple) -> Any:
    for k in path:
        doc = doc[k]
    return doc


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "scenarios"


def load_only_mct_errors(path: Path, text: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text)
    try:
        load_scenarios(path)
    except MctError as e:
        assert str(path) in str(e), f"the error does not name the file: {e}"
        assert len(str(e)) < 2000, f"an error of {len(str(e))} characters"


@FUZZ
@given(data=st.data())
def test_random_values_give_only_mct_errors(fuzz_dir, data):
    doc = data.draw(st.sampled_from(DOCS), label="scenario")
    for _ in range(data.draw(st.integers(1, 3), label="substitutions")):
        anywhere = data.draw(st.integers(0, 4), label="kind") == 0
        places = paths(doc) if anywhere else leaves(doc)
        if not places:  # an earlier substitution left nothing to replace
            break
        where = data.draw(st.sampled_from(places), label="path")
        typed = not anywhere and data.draw(st.booleans(), label="typed")
        doc = replaced(doc, where, data.draw(like(get(doc, where)) if typed else values, label="value"))
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=1 << 20)
    load_only_mct_errors(fuzz_dir / "fuzz.yaml", text.encode())


@settings(FUZZ, max_examples=max(1, EXAMPLES // 2))
@given(data=st.data())
def test_random_byte_edits_give_only_mct_errors(fuzz_dir, data):
    text = bytearray(data.draw(st.sampled_from(FILES), label="file").read_bytes())
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        i = data.draw(st.integers(0, len(text)), label="offset")
        edit = data.draw(st.sampled_from(["flip", "insert", "delete"]), label="edit")
        new = data.draw(st.binary(min_size=1, max_size=4).filter(bool) if edit == "insert" else
                        st.binary(min_size=1, max_size=1), label="bytes")
        if edit == "insert":
            text[i:i] = new
        elif edit == "delete":
            del text[i:i + data.draw(st.integers(1, 40), label="length")]
        elif i < len(text):
            text[i] = new[0]
    load_only_mct_errors(fuzz_dir / "bytes.yaml", bytes(text))


def test_the_fuzz_bases_are_valid():
    """The documents the fuzzer mutates load as they are (so a failure is the mutation's)."""
    for f in FILES:
        assert load_scenarios(f)
    assert len(DOCS) >= 10 and all(paths(d) for d in DOCS)
