"""A scenario's ``dataset:`` section checked when the file loads: a named dataset or a file
(``dataset.file``, confined to the scenario's folder), the keys that only a time series or
only a CSV file takes, and the data against the model input. Every problem is one
``ScenarioError`` at the line of the key concerned, with the data file's own problem (and
its line, for a CSV file) inside the message.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import DatasetError, ScenarioError
from .workload import DataSpec
from .yamlsrc import LineDict

# Samples per class in each fixed-split named dataset's train and test split (tests/test_bad_scenarios.py
# checks these against the loaders), so a count larger than the data is refused without loading it.
DATASET_SPLITS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "fashion_mnist": ((6000,) * 10, (1000,) * 10),
    "digits": ((134, 136, 133, 137, 136, 136, 136, 134, 130, 135), (44, 46, 44, 46, 45, 46, 45, 45, 44, 45)),
    "mnist": ((400,) * 10, (100,) * 10),
}
SERIES_KEYS = ("window", "stride")
CSV_KEYS = ("label", "session", "channels")


def data_path(value: str, scenario: Path, where: str) -> Path:
    """``dataset.file`` resolved against the scenario's folder; it must stay inside that folder."""
    rel = Path(value)
    base = scenario.resolve().parent
    shown = repr(value[:200])
    if rel.is_absolute() or ".." in rel.parts:
        raise ScenarioError(f"{where}: dataset.file {shown} must be a relative path inside the scenario's "
                            f"folder {base}",
                            "copy the data file under the scenario's folder (e.g. data/) and name it relative")
    target = base / rel
    try:
        real = target.resolve(strict=True)
    except FileNotFoundError:
        raise ScenarioError(f"{where}: dataset.file {shown}: no such file ({target})",
                            "check the path (relative to the scenario file)") from None
    except (OSError, RuntimeError, ValueError) as e:
        raise ScenarioError(f"{where}: dataset.file {shown} cannot be resolved ({str(e)[:200]})",
                            "fix the symlink loop or the path") from None
    if real.is_dir():
        raise ScenarioError(f"{where}: dataset.file {shown} is a folder ({real}), not a data file",
                            "name the .npz or .csv file, e.g. data/NAME.npz")
    if base not in real.parents:
        raise ScenarioError(f"{where}: dataset.file {shown} leads outside the scenario's folder (to {real})",
                            "copy the data file under the scenario's folder")
    if real.suffix.lower() not in (".npz", ".csv"):
        raise ScenarioError(f"{where}: dataset.file {shown} is neither .npz (samples) nor .csv (a time series)",
                            "save samples with np.savez_compressed(path, x=x, y=y), or a recording as CSV")
    return real


def data_spec(d: LineDict, path: Path, line: int) -> DataSpec:
    """The ``DataSpec`` of a validated ``dataset:`` mapping, its keys checked against its source."""
    from .data.dataset import WINDOWED

    def at(key: str) -> str:
        return f"{path}:{d.line_of(key)}"

    if (d["name"] is None) == (d["file"] is None):
        raise ScenarioError(f"{path}:{d.line}: dataset needs exactly one of 'name:' (a named dataset) and "
                            "'file:' (your own .npz or .csv, relative to the scenario file)",
                            "write dataset: {name: fashion_mnist} or dataset: {file: data/NAME.npz}")
    file = data_path(d["file"], path, at("file")) if d["file"] is not None else None
    windowed = d["name"] in WINDOWED or (file is not None and file.suffix.lower() == ".csv")
    given = set(getattr(d, "key_lines", {}))
    source = d["name"] or d["file"]
    for key in SERIES_KEYS:
        if key in given and not windowed:
            raise ScenarioError(f"{at(key)}: dataset.{key} cuts a time series into windows, and "
                                f"{source!r} holds samples already",
                                f"remove dataset.{key}; it applies to a .csv file, imu_watch and basic_motions")
    for key in CSV_KEYS:
        if key in given and (file is None or file.suffix.lower() != ".csv"):
            raise ScenarioError(f"{at(key)}: dataset.{key} names a column of a .csv file, and {source!r} "
                                "is not one", f"remove dataset.{key}")
    fields: dict[str, Any] = dict(d)
    fields["file"] = file
    return DataSpec(**fields)


def dataset_splits(d: LineDict, data: DataSpec, model_input: tuple[int, int, int],
                   path: Path) -> tuple[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """The source's title and its samples per class (train, test), after checking that its
    samples fit the model input. Loads the file (or windowed dataset) once, cached."""
    if data.file is None and data.name in DATASET_SPLITS:
        return data.name, DATASET_SPLITS[data.name]
    from .data.dataset import Source, fit_samples, load_raw

    key = "file" if data.file is not None else "name"
    where = f"{path}:{d.line_of(key)}"
    source = Source(name=data.name, file=data.file, window=data.window, stride=data.stride, label=data.label,
                    session=data.session, channels=data.channels)
    title = data.file.name if data.file is not None else str(data.name)
    try:
        raw = load_raw(source, model_input)
        fit_samples(raw, raw.train_images[:1], model_input)
    except DatasetError as e:
        raise ScenarioError(f"{where}: dataset.{key}: {e.message}", e.fix) from None
    train, test = raw.counts()
    if sum(train) == 0:
        raise ScenarioError(f"{where}: dataset.{key}: {title} gives no training windows of "
                            f"{source.resolved(model_input).window} steps: its recordings are shorter",
                            "use a smaller dataset.window")
    if data.classes is None:
        empty = [c for c, n in enumerate(train) if n == 0]
        if empty:
            raise ScenarioError(f"{where}: dataset.{key}: labels are 0..K-1 and every class needs training "
                                f"samples, but {title} has none of class {empty[0]} (it has labels up to "
                                f"{len(train) - 1})",
                                "relabel the classes to 0..K-1, or choose the classes to use with "
                                "dataset.classes")
    shift = data.shift or {}
    if raw.kind == "series" and (shift.get("rotation_deg") or shift.get("kind") in ("rotation", "sensor")):
        raise ScenarioError(f"{path}:{d.line_of('shift')}: dataset.shift: a rotation turns images; "
                            f"{title} is a time series",
                            "use kind: brightness (an offset), contrast or noise")
    return title, (train, test)
