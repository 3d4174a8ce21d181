"""Sizes, counts and comparisons as scenarios write them."""
import pytest

from harness.units import parse_comparison, parse_count, parse_size


@pytest.mark.parametrize("text,expected", [
    (4096, 4096), ("256KiB", 262144), ("256 KB", 262144), ("1MiB", 1048576), ("0.5KiB", 512),
    ("100", 100),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["256 apples", "1.3B", True, "", "KiB"])
def test_parse_size_rejects(bad):
    with pytest.raises(ValueError, match="size"):
        parse_size(bad)


@pytest.mark.parametrize("text,expected", [
    (1500, 1500), ("20M", 20_000_000), ("1.5k", 1500), ("2G", 2_000_000_000)])
def test_parse_count(text, expected):
    assert parse_count(text) == expected


def test_comparison_ops_and_units():
    c = parse_comparison(">= 0.80")
    assert c.check(0.8) and not c.check(0.79)
    s = parse_comparison("<= 4KiB", parse_size)
    assert s.value == 4096 and s.check(4096) and not s.check(4097)
    bare = parse_comparison(10245, parse_count)
    assert bare.op == "==" and bare.check(10245) and not bare.check(10246)
    assert bare.text == "== 10245"
    with pytest.raises(ValueError, match="comparison"):
        parse_comparison(">= lots")
