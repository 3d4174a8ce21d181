"""A user's recorded time series in a CSV file, read as untrusted input.

One row per time step, a header row naming the columns. The ``label`` column holds each
step's class: integers 0..K-1, or names (sorted names become 0..K-1). An optional
``session`` column separates recordings. Every other column is a channel (or only those
listed in ``channels``) and must be numeric. Consecutive rows with the same label (and
session) form a run; windows of ``window`` rows every ``stride`` rows are cut inside runs,
and the last quarter of each run's windows are the test split (``series.cut_with_tail``).
"""
from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DatasetError
from .raw import RawImages
from .series import cut_with_tail

MAX_BYTES = 256 << 20
MAX_COLUMNS = 64
MAX_CLASSES = 256
MAX_FIELD = 1000
_INT = re.compile(r"\s*[0-9]{1,3}\s*")
_EXAMPLE = "a header row 'ax,ay,az,label' then one row per time step, e.g. '0.02,-0.98,0.11,0'"


@dataclass(frozen=True)
class CsvOptions:
    window: int
    stride: int
    label: str = "label"
    session: str | None = None
    channels: tuple[str, ...] | None = None


def _short(v: str) -> str:
    return repr(v if len(v) <= 40 else v[:40] + "...")


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise DatasetError(f"{path.name}: {size} bytes, more than a CSV dataset may have "
                               f"({MAX_BYTES >> 20} MiB)", fix="keep a shorter recording")
        data = path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{path.name}: cannot read ({e.strerror or e})", fix="check the path") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DatasetError(f"{path.name}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x})",
                           fix=f"save the file as UTF-8 CSV: {_EXAMPLE}") from None


def _columns(path: Path, header: list[str], opts: CsvOptions) -> tuple[int, int | None, list[int]]:
    names = [h.strip() for h in header]
    if len(names) > MAX_COLUMNS + 2:
        raise DatasetError(f"{path.name}:1: {len(names)} columns, more than {MAX_COLUMNS} channels",
                           fix="keep the sensor columns, the label and the session")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DatasetError(f"{path.name}:1: column {_short(dup[0])} appears twice in the header",
                           fix="give every column its own name")

    def find(name: str, key: str) -> int:
        if name not in names:
            raise DatasetError(f"{path.name}:1: no column {_short(name)} (dataset.{key}); the header has "
                               f"{', '.join(_short(n) for n in names[:MAX_COLUMNS])}",
                               fix=f"name the column in dataset.{key}, or add it to the file: {_EXAMPLE}")
        return names.index(name)

    label = find(opts.label, "label")
    session = find(opts.session, "session") if opts.session is not None else None
    if opts.channels is not None:
        chans = [find(c, "channels") for c in opts.channels]
    else:
        chans = [i for i in range(len(names)) if i != label and i != session]
    if not chans:
        raise DatasetError(f"{path.name}:1: no channel columns besides the label",
                           fix=f"add the sensor columns: {_EXAMPLE}")
    if label in chans or (session is not None and session in chans):
        raise DatasetError(f"{path.name}:1: the label or session column is listed in dataset.channels",
                           fix="list only sensor columns in dataset.channels")
    return label, session, chans


def load_csv(path: Path, opts: CsvOptions) -> RawImages:
    """Read and validate ``path`` and cut it into windows; one DatasetError (``file:line``) per problem."""
    path = Path(path)
    text = _read_text(path)
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(rows, None)
        if header is None or not any(h.strip() for h in header):
            raise DatasetError(f"{path.name}:1: no header row", fix=f"start the file with {_EXAMPLE}")
        label_i, session_i, chans = _columns(path, header, opts)
        names = [header[i].strip() for i in chans]
        values: list[list[float]] = []
        labels: list[str] = []
        sessions: list[str] = []
        for row in rows:
            line = rows.line_num
            if not row or all(not f.strip() for f in row):
                continue
            if len(row) != len(header):
                raise DatasetError(f"{path.name}:{line}: {len(row)} fields, the header has {len(header)}",
                                   fix="give every row a value for every column")
            vals = []
            for i, name in zip(chans, names):
                cell = row[i].strip()
                try:
                    v = float(cell) if len(cell) <= MAX_FIELD else math.nan
                except ValueError:
                    v = math.nan
                if not math.isfinite(v):
                    raise DatasetError(f"{path.name}:{line}: column {_short(name)} holds {_short(cell)}, "
                                       "not a finite number",
                                       fix="fill or drop that row (channels are numbers), or leave the column "
                                           "out with dataset.channels")
                vals.append(v)
            lab = row[label_i].strip()
            if not lab or len(lab) > 100:
                raise DatasetError(f"{path.name}:{line}: label {_short(lab)} is empty or too long",
                                   fix="give every row its class (an integer 0..K-1 or a short name)")
            values.append(vals)
            labels.append(lab)
            sessions.append(row[session_i].strip() if session_i is not None else "")
    except csv.Error as e:
        raise DatasetError(f"{path.name}:{rows.line_num}: not valid CSV ({e})",
                           fix=f"write plain comma-separated values: {_EXAMPLE}") from None
    if not values:
        raise DatasetError(f"{path.name}: no data rows after the header", fix=f"add rows: {_EXAMPLE}")
    class_names, ids = _class_ids(path, labels)
    data = np.asarray(values, dtype=np.float32)
    runs, run_labels = _runs(data, ids, sessions)
    train, test = cut_with_tail(runs, run_labels, opts.window, opts.stride)
    if train.y.size == 0:
        longest = max(r.shape[0] for r in runs)
        raise DatasetError(f"{path.name}: no run of one label is long enough for two windows of "
                           f"{opts.window} rows (the longest has {longest} rows)",
                           fix="use a shorter dataset.window or longer recordings")
    return RawImages(name=path.name, train_images=train.x, train_labels=train.y, test_images=test.x,
                     test_labels=test.y, class_names=class_names, max_value=None, kind="series")


def _class_ids(path: Path, labels: Sequence[str]) -> tuple[tuple[str, ...], np.ndarray]:
    distinct = sorted(set(labels))
    if len(distinct) > MAX_CLASSES:
        raise DatasetError(f"{path.name}: {len(distinct)} distinct labels, more than {MAX_CLASSES}",
                           fix="is the label column right? set dataset.label")
    if all(_INT.fullmatch(v) for v in distinct):
        ids = np.asarray([int(v) for v in labels], dtype=np.int64)
        k = int(ids.max()) + 1
        if k > MAX_CLASSES:
            raise DatasetError(f"{path.name}: label {k - 1} is above {MAX_CLASSES - 1}",
                               fix="relabel the classes to 0..K-1")
        return tuple(str(i) for i in range(k)), ids
    index = {v: i for i, v in enumerate(distinct)}
    return tuple(distinct), np.asarray([index[v] for v in labels], dtype=np.int64)


def _runs(data: np.ndarray, ids: np.ndarray, sessions: Sequence[str]) -> tuple[list[np.ndarray], list[int]]:
    """Split the rows where the label or the session changes."""
    sess = np.asarray(sessions, dtype=object)
    change = np.flatnonzero((ids[1:] != ids[:-1]) | (sess[1:] != sess[:-1])) + 1
    bounds = [0, *change.tolist(), len(ids)]
    runs = [data[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    return runs, [int(ids[a]) for a in bounds[:-1]]
