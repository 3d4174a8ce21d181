"""The user's project: where its scenarios, board profiles, firmware apps, baseline and reports live.

A repository that installs mcutrain configures it in the ``[tool.mcutrain]`` table of its
``pyproject.toml`` (pytest's rootdir, or for the CLI the nearest folder upwards from the working
directory that holds one); pytest's ini options ``mcutrain_*`` (pytest.ini, tox.ini, setup.cfg or
``[tool.pytest.ini_options]``) override it key by key. Every path is relative to the project root.

=========== ============================ ==============================================================
key         default                      meaning
=========== ============================ ==============================================================
scenarios   (any folder named scenarios) files or folders of scenario YAML files
boards      (none)                       folders of extra board profiles (``<name>.yaml``)
apps        (none)                       folders of firmware apps (one sub-folder per app)
baseline    reports/baseline.json        the recorded metrics the ``baseline`` check compares with
reports     reports                      where each run makes its report folder; history.jsonl too
=========== ============================ ==============================================================

The configuration is the repository owner's and is trusted; a scenario file is not: it names an
app or a board only by a plain name, which resolves inside these folders or the package's own
(``harness.paths``), never through a path or a link out of them.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MctError
from .paths import APPS_DIR, BOARDS_DIR
from .yamlsrc import excerpt, quote

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

KEYS = ("scenarios", "boards", "apps", "baseline", "reports")
_LISTS = ("scenarios", "boards", "apps")


class ProjectError(MctError):
    """A bad ``[tool.mcutrain]`` table or ``mcutrain_*`` ini option."""


@dataclass(frozen=True)
class Project:
    """Resolved (absolute) locations of one project. ``scenarios`` empty means the convention: any
    YAML file below a folder named ``scenarios``."""

    root: Path
    scenarios: tuple[Path, ...] = ()
    boards: tuple[Path, ...] = ()
    apps: tuple[Path, ...] = ()
    baseline: Path = Path("reports/baseline.json")
    reports: Path = Path("reports")

    @property
    def history(self) -> Path:
        return self.reports / "history.jsonl"

    def is_scenario_file(self, path: Path) -> bool:
        """Whether pytest should collect ``path`` as a scenario file."""
        if path.suffix not in (".yaml", ".yml") or path.name == "README.yaml":
            return False
        if not self.scenarios:
            return "scenarios" in path.parts
        return any(_within(path, p) for p in self.scenarios)

    def is_scenario_dir(self, path: Path) -> bool:
        if not self.scenarios:
            return "scenarios" in path.parts
        return any(_within(path, p) for p in self.scenarios)

    def app_dirs(self) -> tuple[Path, ...]:
        """The package's apps first, then the project's folders."""
        return (APPS_DIR, *self.apps)

    def board_dirs(self) -> tuple[Path, ...]:
        return (BOARDS_DIR, *self.boards)


def _within(path: Path, folder: Path) -> bool:
    try:
        path.absolute().relative_to(folder)
        return True
    except ValueError:
        return False


def find_root(start: Path) -> Path:
    """The nearest folder from ``start`` upwards that holds a pyproject.toml; else ``start``."""
    start = start.absolute()
    for d in (start, *start.parents):
        if (d / "pyproject.toml").is_file():
            return d
    return start


def read_table(root: Path) -> dict[str, Any]:
    """``[tool.mcutrain]`` of ``root/pyproject.toml`` ({} when either is absent)."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ProjectError(f"{path}: cannot read it as TOML ({e})", "fix the file's syntax") from None
    table = doc.get("tool", {}).get("mcutrain", {}) if isinstance(doc.get("tool"), dict) else {}
    if not isinstance(table, dict):
        raise ProjectError(f"{path}: [tool.mcutrain] must be a table", "write it as '[tool.mcutrain]' "
                           "followed by 'key = value' lines")
    return table


def load_project(root: Path, overrides: dict[str, Any] | None = None) -> Project:
    """The project at ``root``: its ``[tool.mcutrain]`` table with ``overrides`` (ini options, already
    parsed; None or missing keys mean 'not given') on top."""
    root = Path(root).absolute()
    table = read_table(root)
    where = f"{root / 'pyproject.toml'} [tool.mcutrain]"
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ProjectError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}",
                           f"the keys are: {', '.join(KEYS)} (see harness/project.py or the README)")
    values: dict[str, Any] = dict(table)
    sources = {k: where for k in table}
    for k, v in (overrides or {}).items():
        if v not in (None, "", [], ()):
            values[k] = v
            sources[k] = f"ini option mcutrain_{k}"
    out: dict[str, Any] = {}
    for key in _LISTS:
        raw = values.get(key, [])
        if isinstance(raw, (str, Path)):
            raw = [raw]
        if not isinstance(raw, (list, tuple)) or not all(isinstance(p, (str, Path)) and str(p) for p in raw):
            raise ProjectError(f"{sources.get(key, where)}: {key} must be a list of paths, got {quote(raw)}",
                               f'write e.g. {key} = ["{key}"]')
        out[key] = tuple(_resolve(root, p) for p in raw)
    for key in ("boards", "apps"):
        for p in out[key]:
            if not _is_dir(p):
                raise ProjectError(f"{sources[key]}: {key}: no folder {excerpt(str(p), 200)}",
                                   f"create it or remove it from {key}")
    for key, default in (("baseline", "reports/baseline.json"), ("reports", "reports")):
        raw = values.get(key, default)
        if not isinstance(raw, (str, Path)) or not str(raw):
            raise ProjectError(f"{sources.get(key, where)}: {key} must be a path, got {quote(raw)}",
                               f'write e.g. {key} = "{default}"')
        out[key] = _resolve(root, raw)
    return Project(root=root, **out)


def _is_dir(p: Path) -> bool:
    """``p.is_dir()``, False for a path the system refuses to look up (too long, for one)."""
    try:
        return p.is_dir()
    except OSError:
        return False


def _resolve(root: Path, p: str | Path) -> Path:
    q = Path(p).expanduser()
    return q if q.is_absolute() else root / q


def for_cli() -> Project:
    """The project the ``mcutrain`` command works in, as pytest finds its rootdir: the nearest
    folder upwards from the working directory that holds a pyproject.toml, else the directory."""
    return load_project(find_root(Path.cwd()))


_active: Project | None = None


def activate(project: Project | None) -> Project | None:
    """Make ``project`` the one scenario loading and builds resolve apps and boards in (None: the
    working directory's, found again when next needed); returns the one it replaces."""
    global _active
    previous, _active = _active, project
    return previous


def current() -> Project:
    """The active project; without one, the project around the working directory."""
    global _active
    if _active is None:
        _active = for_cli()
    return _active


def find_app(name: str) -> Path:
    """The folder of the app ``name`` (a plain name, checked by the caller) among the package's apps
    and the project's app folders; ValueError naming the known apps when absent or ambiguous, or
    when the folder is a link out of its apps folder."""
    hits = [d / name for d in current().app_dirs() if (d / name).is_dir()]
    if not hits:
        raise ValueError(f"no firmware app {name!r} in {_dirs(current().app_dirs())}; apps: {', '.join(known_apps())}")
    if len(hits) > 1:
        raise ValueError(f"firmware app {name!r} is in more than one apps folder ({', '.join(map(str, hits))}); "
                         "rename one of them")
    app = hits[0]
    if app.resolve().parent != app.parent.resolve():
        raise ValueError(f"{app} is a symbolic link out of its apps folder {app.parent} (to {app.resolve()}); "
                         "apps must live in that folder")
    return app


def known_apps() -> list[str]:
    return sorted({p.name for d in current().app_dirs() if d.is_dir() for p in d.iterdir() if p.is_dir()})


def _dirs(dirs: tuple[Path, ...]) -> str:
    return " or ".join(str(d) for d in dirs)
