"""Scenario loading: defaults, common: merging, board lists, and file:line errors."""
from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.scenario import load_scenarios


def write(tmp_path: Path, text: str) -> Path:
    d = tmp_path / "scenarios"
    d.mkdir(exist_ok=True)
    p = d / "s.yaml"
    p.write_text(text)
    return p


GOOD = """\
common:
  board: stm32f746
  budgets: {sram: 256KiB}
  timeout: 5
scenarios:
  - name: a
    firmware: {app: selftest, case: loop}
    budgets: {flash: 64KiB}
  - name: b
    board: [stm32f746]
    firmware: {app: selftest}
    expect: {status: fault, fault: stack_overflow}
"""


def test_common_defaults_merge_key_by_key(tmp_path):
    a, b = load_scenarios(write(tmp_path, GOOD))
    assert a.budgets.sram == 256 * 1024 and a.budgets.flash == 64 * 1024
    assert a.timeout == 5.0 and a.line == 6 and a.firmware.case == "loop"
    assert b.expect.status == "fault" and b.expect.fault == "stack_overflow"
    assert b.budgets.sram == 256 * 1024 and b.budgets.flash is None


@pytest.mark.parametrize("text,line,needle", [
    ("scenarios:\n  - name: a\n    firmware: {app: selftest}\n    budgets:\n      sramm: 1KiB\n",
     5, "unknown key 'budgets.sramm'"),
    ("scenarios:\n  - name: a\n    firmware: {app: selftest}\n    timeout: -1\n", 4, "timeout"),
    ("scenarios:\n  - name: a\n    firmware: {app: selftest}\n    budgets: {sram: 400KiB}\n", 4,
     "larger than the part's sram"),
    ("scenarios:\n  - name: a\n    board: nosuchboard\n    firmware: {app: selftest}\n", 2, "nosuchboard"),
    ("scenarios:\n  - firmware: {app: selftest}\n", 2, "missing required key 'name'"),
    ("scenarios:\n  - name: a\n    firmware: {app: selftest}\n  - name: a\n    firmware: {app: selftest}\n", 4,
     "used twice"),
    ("scenarios:\n  - name: a\n    firmware: {app: selftest}\n    expect: {status: crashed}\n", 4,
     "expected one of ok, exit, fault, timeout, flood"),
    ("scenarios:\n  - name: a\n   firmware: {app: selftest}\n", 3, "not valid YAML"),
])
def test_errors_name_file_line_and_cause(tmp_path, text, line, needle):
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as err:
        load_scenarios(path)
    msg = str(err.value)
    assert f"{path}:{line}:" in msg, msg
    assert needle in msg, msg


def test_unknown_key_suggests_the_close_one(tmp_path):
    path = write(tmp_path, "scenarios:\n  - name: a\n    firmware: {app: selftest}\n    budgest: {}\n")
    with pytest.raises(ScenarioError, match="did you mean 'budgets'"):
        load_scenarios(path)


def test_readme_documents_every_key():
    from harness.pipeline import REPO
    from harness.scenario import schema_markdown

    readme = (REPO / "scenarios" / "README.md").read_text()
    assert schema_markdown() in readme, "regenerate the key table of scenarios/README.md"


def test_scheme_index_outside_the_model_is_an_error_with_line(tmp_path):
    path = write(tmp_path, """\
scenarios:
  - name: s
    model: {arch: small}
    dataset: {name: digits, classes: [0, 1]}
    training:
      sparse_update: {n_bias_update: 3, manual_weight_idx: [40], weight_update_ratio: [1]}
""")
    with pytest.raises(ScenarioError) as err:
        load_scenarios(path)
    assert f"{path}:6:" in str(err.value) and "out of range" in str(err.value)  # the key's line


def test_ratio_outside_0_1_is_an_error(tmp_path):
    path = write(tmp_path, """\
scenarios:
  - name: s
    model: {arch: small}
    dataset: {name: digits}
    training:
      sparse_update: {n_bias_update: 3, manual_weight_idx: [6], weight_update_ratio: [1.5]}
""")
    with pytest.raises(ScenarioError, match="weight_update_ratio"):
        load_scenarios(path)
