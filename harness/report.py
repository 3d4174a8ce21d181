"""Readable views of a run's ``report.json``: ``summary.md`` for CI step summaries, a
self-contained ``report.html`` with plots, and the old -> new comparison of two reports.

Everything here reads the JSON document only, so ``mcutrain report`` can redo the views of any
past run and ``mcutrain compare`` can diff runs made on other machines.
"""
from __future__ import annotations

import base64
import html
import io
import json
import os
import platform
import secrets
import tempfile
import time
import unicodedata
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import MctError
from .fsutil import write_text_atomic

REPORT_JSON = "report.json"
SUMMARY_MD = "summary.md"
REPORT_HTML = "report.html"

_MARK = {"passed": "✅", "failed": "❌", "skipped": "⏭️"}


# -- reading -----------------------------------------------------------------------------------
def scenario_info(scenario: Any, board: Any) -> dict:
    """What the report needs about a scenario besides its metrics: the budgets in force
    (a scenario without one is held to its board's size, as the memory check does) and where
    it is written."""
    b = scenario.budgets
    return {
        "line": scenario.line, "description": scenario.description,
        "budgets": {"sram": b.sram or board.sram, "flash": b.flash or board.flash,
                    "step_instructions": b.step_instructions, "step_ms": b.step_ms},
        # the baseline tolerances as written, so `mcutrain merge` compares without the YAML
        "tolerance": {f.name: str(getattr(scenario.tolerance, f.name)) for f in fields(scenario.tolerance)},
    }


def report_json_path(path: Path) -> Path:
    """``path`` itself if it is a file, else ``path/report.json``; an error naming the fix."""
    path = Path(path)
    target = path / REPORT_JSON if path.is_dir() else path
    if not target.is_file():
        raise MctError(f"no report at {target}",
                       "give a report directory (reports/<run>/) or its report.json; "
                       "`mcutrain run` or `pytest scenarios/` writes one")
    return target


def newest_report(reports: Path) -> Path:
    """The most recently written ``reports/<run>/report.json``."""
    found = sorted(reports.glob(f"*/{REPORT_JSON}"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise MctError(f"no report under {reports}",
                       "run `mcutrain run` or `python3 -m pytest scenarios/` first, "
                       "or give the report's path")
    return found[-1]


def load_report(path: Path) -> tuple[dict, Path]:
    """The report document and the path of its ``report.json``."""
    target = report_json_path(path)
    try:
        doc = json.loads(target.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise MctError(f"cannot read {target}: {e}", "regenerate it with `mcutrain run`") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("scenarios"), list):
        raise MctError(f"{target} is not an mcutrain report (no 'scenarios' list)",
                       "give a report.json written by `mcutrain run` or pytest")
    return doc, target


def scenario_result(entry: dict) -> str:
    """``passed``, ``failed`` or ``skipped`` for a whole scenario."""
    outcomes = [c.get("outcome") for c in entry.get("checks", {}).values()]
    if not outcomes:
        return "passed" if entry.get("ok", True) else "failed"
    if "failed" in outcomes:
        return "failed"
    return "skipped" if all(o == "skipped" for o in outcomes) else "passed"


def _is_training(m: dict) -> bool:
    return "scheme" in m or "epoch_loss" in m


# -- number formats ----------------------------------------------------------------------------
def _kib(n: float) -> str:
    """Bytes in the unit a reader compares budgets in: ``256 KiB``, ``46.0 KiB``, ``1 MiB``."""
    n = int(n)
    if abs(n) < 1024:
        return f"{n} B"
    if n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    if n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n / 1024:.1f} KiB"


def _mcount(n: float) -> str:
    if abs(n) >= 1e9:
        return f"{n / 1e9:.3f} G"
    if abs(n) >= 1e6:
        return f"{n / 1e6:.2f} M"
    if abs(n) >= 1e4:
        return f"{n / 1e3:.1f} k"
    return f"{int(n)}"


def _acc(x: float) -> str:
    return f"{100 * x:.1f}%"


def _sram_cell(m: dict, budgets: dict) -> str:
    """Peak SRAM against the budget; a gate run (no emulation) shows the linker's plan."""
    budget = budgets.get("sram")
    if "peak_sram" in m:
        value, note = m["peak_sram"], ""
    elif "static_sram" in m:
        value, note = m["static_sram"] + m.get("stack_reserved", 0), " planned"
    else:
        return "—"
    if not budget:
        return f"{_kib(value)}{note}"
    return f"{_kib(value)}{note} / {_kib(budget)} ({100 * value / budget:.0f}%)"


def _flash_cell(m: dict, budgets: dict) -> str:
    if "flash" not in m:
        return "—"
    budget = budgets.get("flash")
    return f"{_kib(m['flash'])} / {_kib(budget)}" if budget else _kib(m["flash"])


def _step_cell(m: dict) -> str:
    n = m.get("step_instructions_mean", m.get("step_instructions"))
    return _mcount(n) if n is not None else "—"


def _ms(v: float) -> str:
    return f"{v:,.0f} ms" if v >= 100 else f"{v:.4g} ms"


def _accuracy_cell(m: dict) -> str:
    if "accuracy_after" not in m:
        return "—"
    before = _acc(m["accuracy_before"]) if "accuracy_before" in m else "?"
    return f"{before} → {_acc(m['accuracy_after'])}"


def _overview_row(entry: dict) -> dict[str, str]:
    m, budgets = entry.get("metrics", {}), entry.get("budgets", {})
    checks = entry.get("checks", {})
    passed = sum(c.get("outcome") == "passed" for c in checks.values())
    counted = sum(c.get("outcome") != "skipped" for c in checks.values())
    result = scenario_result(entry)
    return {
        "scenario": entry["scenario"], "board": entry.get("board", "?"),
        "result": f"{_MARK[result]} {result}",
        "checks": f"{passed}/{counted}" if checks else "—",
        "peak SRAM / budget": _sram_cell(m, budgets),
        "flash / budget": _flash_cell(m, budgets),
        "instructions / step": _step_cell(m),
        "accuracy before → after": _accuracy_cell(m),
    }


def _location(entry: dict) -> str:
    return f"{entry.get('file', '?')}:{entry['line']}" if entry.get("line") else entry.get("file", "?")


def _counts(doc: dict) -> str:
    results = [scenario_result(e) for e in doc["scenarios"]]
    parts = [f"{results.count(r)} {r}" for r in ("passed", "failed", "skipped") if results.count(r)]
    n = len(results)
    return f"{n} scenario{'s' if n != 1 else ''}: {', '.join(parts) or 'none'}"


# -- summary.md --------------------------------------------------------------------------------
def _one_line(text: object) -> str:
    """``text`` on one line: every line break and control character becomes a space."""
    return "".join(" " if c.isspace() or unicodedata.category(c) in ("Cc", "Cf") else c for c in str(text))


def _md(text: object) -> str:
    """A table cell or list item: one line, pipes escaped, no raw HTML."""
    return _one_line(text).replace("|", "\\|").replace("<", "&lt;")


_MD_SPECIAL = set("\\`*_[]<>#!|~")


def _md_text(text: object) -> str:
    """Text from a scenario file (its name) shown as itself: one line, Markdown and HTML inert."""
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in _one_line(text))


def _md_code(text: object) -> str:
    """A code span that no backtick in ``text`` can end early."""
    return "`" + _one_line(text).replace("`", "'") + "`"


def _md_table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(map(_md, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(_md, row)) + " |" for row in rows]
    return lines


def render_summary(doc: dict) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY``: one overview table, then per scenario its checks
    and the summaries of the failing ones."""
    env = doc.get("environment", {})
    lines = [f"## mcutrain — {_counts(doc)}", ""]
    meta = [doc.get("created", "")] + [str(env[k]) for k in ("cross_compiler", "emulator") if k in env]
    lines += [f"<sub>{html.escape(' · '.join(x for x in meta if x))}</sub>", ""]
    rows = [_overview_row(e) for e in doc["scenarios"]]
    if rows:
        lines += _md_table(list(rows[0]), (list(r.values()) for r in rows)) + [""]
    if isinstance(doc.get("baseline"), dict):  # a merged report: the comparison made once, by the merge
        lines += _md_baseline(doc["baseline"])
    for entry in doc["scenarios"]:
        result = scenario_result(entry)
        lines.append(f"### {_MARK[result]} {_md_text(entry['scenario'])} · "
                     f"{_md_text(entry.get('board', '?'))} · {_md_code(_location(entry))}")
        scheme = entry.get("metrics", {}).get("scheme")
        if scheme:
            lines.append(f"scheme: {_md_code(scheme)}")
        checks = entry.get("checks", {})
        if checks:
            lines += [""] + _md_table(list(checks), [[f"{_MARK.get(c.get('outcome'), '?')} "
                                                     f"{c.get('outcome')}" for c in checks.values()]])
        failing = [(name, c) for name, c in checks.items() if c.get("outcome") == "failed"]
        if failing:
            lines.append("")
            lines += [f"- **{name}**: {_md(c.get('summary', ''))}" for name, c in failing]
        lines.append("")
    return "\n".join(lines)


_BASELINE_MARK = {"ok": "✅ within", "regressed": "❌ regressed", "skipped": "⏭️ not compared"}


def _baseline_header(b: dict) -> str:
    return (f"{b.get('within', 0)} within tolerance, {b.get('regressed', 0)} regressed, "
            f"{b.get('skipped', 0)} not compared")


def _md_baseline(b: dict) -> list[str]:
    """The ``baseline`` record of a merged report (``mcutrain merge``): one row per scenario."""
    lines = [f"### Baseline ({_md_code(b.get('path', '?'))}): {_baseline_header(b)}", ""]
    rows = [[str(r.get("key", "?")), _BASELINE_MARK.get(r.get("verdict"), str(r.get("verdict"))),
             str(r.get("summary", ""))] for r in b.get("scenarios", [])]
    return lines + _md_table(["scenario", "baseline", "summary"], rows) + [""]


# -- plots -------------------------------------------------------------------------------------
DEVICE_COLOR, REFERENCE_COLOR, BUDGET_COLOR = "#1f77b4", "#ff7f0e", "#d62728"
SRAM_PARTS = (("arena", "activation arena", "#4c72b0"),
              ("trainable_params", "trainable parameters", "#55a868"),
              ("sgd_state", "momentum buffers, shuffle order", "#ccb974"),
              ("other_static", "other static data", "#8172b2"),
              ("stack", "stack", "#c44e52"))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display: figures are only ever rendered to PNG
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "axes.titleweight": "bold",
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


def plot_loss(m: dict, board: str):
    """Mean training loss per epoch, device against the numpy reference."""
    device, reference = m.get("epoch_loss"), m.get("reference_epoch_loss")
    if not device:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    epochs = list(range(1, len(device) + 1))
    ax.plot(epochs, device, "-o", color=DEVICE_COLOR, lw=2.5, ms=8, label=f"device ({board})")
    if reference:
        ax.plot(range(1, len(reference) + 1), reference, "--x", color=REFERENCE_COLOR, lw=1.5,
                ms=9, mew=2, label="reference (numpy)")
        if len(reference) == len(device):
            diff = max(abs(a - b) for a, b in zip(device, reference))
            ax.text(0.98, 0.95, f"max |device − reference| = {diff:.2g}", transform=ax.transAxes,
                    ha="right", va="top", fontsize=9, color="#444")
    ax.set_xticks(epochs)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean cross-entropy loss")
    ax.set_title("Training loss per epoch")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=9)
    return fig


def plot_accuracy(m: dict, board: str):
    """Test accuracy before and after on-device training, device and reference side by side."""
    if "accuracy_after" not in m:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    groups = ("before training", "after training")
    series = ((f"device ({board})", DEVICE_COLOR, (m.get("accuracy_before"), m.get("accuracy_after"))),
              ("reference (numpy)", REFERENCE_COLOR,
               (m.get("reference_accuracy_before"), m.get("reference_accuracy_after"))))
    width = 0.36
    for i, (label, color, values) in enumerate(series):
        labelled = False
        for g, value in enumerate(values):
            x = g + (i - 0.5) * width
            if value is None:
                ax.text(x, 2, "not\nrecorded", ha="center", va="bottom", fontsize=8, color="#777")
                continue
            ax.bar(x, 100 * value, width, color=color, label=None if labelled else label)
            labelled = True
            ax.text(x, 100 * value + 1.5, f"{100 * value:.1f}%", ha="center", va="bottom", fontsize=9)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylim(0, 112)
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Accuracy before → after on-device training")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", fontsize=9)
    return fig


def plot_sram(m: dict, budgets: dict):
    """Peak SRAM as stacked parts (measured stack) beside the linker's plan (reserved stack),
    against the budget."""
    parts = m.get("sram_breakdown")
    if not parts:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 3.9))
    reserved = m.get("stack_reserved", parts["stack"])
    planned = dict(parts, stack=reserved)
    bars = (("measured peak\n(stack high-water)", parts), ("linker plan\n(reserved stack)", planned))
    labels = {"stack": f"stack: {_kib(parts['stack'])} used, {_kib(reserved)} reserved"}
    for y, (_, values) in enumerate(bars):
        left = 0.0
        for key, label, color in SRAM_PARTS:
            if key == "sgd_state" and key not in parts:  # only scenarios that shuffle or use momentum
                continue
            kib = values.get(key, 0) / 1024
            ax.barh(y, kib, left=left, color=color, edgecolor="white", height=0.55,
                    hatch="//" if key == "stack" and y == 1 else None,
                    label=labels.get(key, f"{label}: {_kib(parts.get(key, 0))}") if y == 0 else None)
            left += kib
        ax.text(left, y, f" {_kib(left * 1024)}", va="center", fontsize=9, fontweight="bold")
    budget = budgets.get("sram")
    xmax = max(budget or 0, sum(planned.values())) / 1024
    if budget:
        ax.axvline(budget / 1024, color=BUDGET_COLOR, lw=2, ls="--")
        ax.text(budget / 1024, -0.55, f"budget {_kib(budget)} ", color=BUDGET_COLOR, ha="right",
                va="center", fontsize=9, fontweight="bold")
    ax.set_xlim(0, xmax * 1.08)
    ax.set_ylim(1.5, -0.75)  # inverted: the measured bar on top
    ax.set_yticks(range(len(bars)), [label for label, _ in bars])
    ax.set_xlabel("SRAM (KiB)")
    peak = m.get("peak_sram", sum(parts.values()))
    share = f", {100 * peak / budget:.0f}% of the budget" if budget else ""
    ax.set_title(f"SRAM: peak {_kib(peak)}{share}")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.4, -0.2), ncol=2, fontsize=8, frameon=False)
    return fig


def plot_profile(m: dict):
    """Instructions per function over the whole run (training and evaluation), top first."""
    profile = m.get("profile")
    if not profile:
        return None
    plt = _pyplot()
    items = sorted(profile.items(), key=lambda kv: -kv[1])
    total = m.get("insn_total") or sum(profile.values())
    scale, unit = (1e9, "billions") if items[0][1] >= 2e9 else (1e6, "millions")
    fig, ax = plt.subplots(figsize=(5.6, 0.3 * len(items) + 1.5))
    values = [n / scale for _, n in items]
    ax.barh(range(len(items)), values, color=DEVICE_COLOR, height=0.7)
    for y, (_, n) in enumerate(items):
        ax.text(n / scale, y, f" {100 * n / total:.1f}%", va="center", fontsize=8)
    ax.set_yticks(range(len(items)), [name for name, _ in items], fontfamily="monospace", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, max(values) * 1.15)
    ax.set_xlabel(f"instructions ({unit}); % of the whole run")
    ax.set_title(f"Instructions per kernel\n(top {len(items)}, whole run {_mcount(total)} instructions)")
    ax.grid(axis="x", alpha=0.3)
    return fig


@dataclass(frozen=True)
class Plot:
    """One figure of a scenario: ``name`` keys it, ``title`` is the image's alt text."""

    name: str
    title: str
    make: Callable[[dict, dict], Any]


PLOTS = (
    Plot("loss", "training loss per epoch, device and reference",
         lambda e, m: plot_loss(m, e.get("board", "device"))),
    Plot("accuracy", "test accuracy before and after training",
         lambda e, m: plot_accuracy(m, e.get("board", "device"))),
    Plot("sram", "SRAM breakdown against the budget", lambda e, m: plot_sram(m, e.get("budgets", {}))),
    Plot("profile", "instructions per kernel", lambda e, m: plot_profile(m)),
)


def scenario_figures(entry: dict) -> dict[str, Any]:
    """The matplotlib figures of one scenario that has the data for them, by plot name."""
    m = entry.get("metrics", {})
    figures = {}
    for plot in PLOTS:
        fig = plot.make(entry, m)
        if fig is not None:
            fig.tight_layout()
            figures[plot.name] = fig
    return figures


def _png_base64(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    _pyplot().close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


# -- report.html -------------------------------------------------------------------------------
_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       max-width: 1240px; margin: 1.5em auto; padding: 0 1em; }
h1 { margin-bottom: .2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
small, .meta { color: #666; font-weight: normal; }
table { border-collapse: collapse; margin: .6em 0; }
th, td { border: 1px solid #ddd; padding: 4px 9px; text-align: left; vertical-align: top; }
th { background: #f4f6f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { background: #fdecea; } span.failed, p.failed { color: #b3261e; }
span.passed { color: #1e7b34; } span.skipped { color: #777; }
code { background: #f4f6f8; padding: 0 3px; border-radius: 3px; }
.tables > div { display: inline-block; vertical-align: top; margin-right: 1.5em; max-width: 100%; }
.plots figure { display: inline-block; vertical-align: top; box-sizing: border-box; width: 49%;
                max-width: 630px; margin: 0 0 8px 0; border: 1px solid #eee; padding: 6px; }
.plots img { width: 100%; height: auto; }
"""


def _h(x: object) -> str:
    return html.escape(str(x))


def _html_table(header: list[str], rows: Iterable[list[str]], row_classes: Iterable[str] = ()) -> str:
    """``rows`` hold HTML already escaped by the caller."""
    classes = list(row_classes)
    head = "".join(f"<th>{_h(h)}</th>" for h in header) if any(header) else ""
    body = "".join(
        f"<tr class=\"{classes[i] if i < len(classes) else ''}\">" + "".join(f"<td>{c}</td>" for c in row)
        + "</tr>" for i, row in enumerate(rows))
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def _anchor(entry: dict) -> str:
    return "s-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in entry["scenario"])


def _metrics_rows(m: dict) -> list[list[str]]:
    rows = []
    for key, label, fmt in (
            ("flash", "flash", _kib), ("peak_sram", "peak SRAM (static + stack high-water)", _kib),
            ("static_sram", "static SRAM (.data + .bss)", _kib),
            ("stack_high_water", "stack high-water", _kib),
            ("stack_reserved", "stack reserved", _kib),
            ("arena_planned", "activation arena (planned)", _kib),
            ("trainable_bytes", "trainable parameters", _kib),
            ("step_instructions_mean", "instructions per training step (mean)", _mcount),
            ("step_instructions", "instructions per training step (max)", _mcount),
            ("predict_instructions", "instructions per inference", _mcount),
            ("step_ms", "estimated ms per training step, this board (harness/cycles.py)", _ms),
            ("step_ms_m4", "estimated ms per step, Cortex-M4 (STM32F4 clock)", _ms),
            ("step_ms_m7_low", "estimated ms per step, Cortex-M7 best case (STM32F746 clock)", _ms),
            ("step_ms_m7_high", "estimated ms per step, Cortex-M7 conservative (STM32F746 clock)", _ms),
            ("predict_ms", "estimated ms per inference, this board", _ms),
            ("insn_total", "instructions, whole run", _mcount),
            ("region_instructions", "instructions in the marked region", lambda v: f"{v:,}"),
            ("epoch_train_correct", "correct training samples per epoch", lambda v: ", ".join(map(str, v))),
            ("wall_s", "emulator wall time", lambda v: f"{v:.1f} s")):
        if key in m:
            rows.append([_h(label), _h(fmt(m[key]))])
    return rows


def _scenario_section(entry: dict) -> str:
    m = entry.get("metrics", {})
    result = scenario_result(entry)
    parts = [f"<section id=\"{_anchor(entry)}\">",
             f"<h2><span class=\"{result}\">{_MARK[result]}</span> {_h(entry['scenario'])} "
             f"<small>{_h(entry.get('board', '?'))} · <code>{_h(_location(entry))}</code></small></h2>"]
    if entry.get("description"):
        parts.append(f"<p>{_h(entry['description'])}</p>")
    if m.get("scheme"):
        parts.append(f"<p>sparse-update scheme: <code>{_h(m['scheme'])}</code></p>")
    checks = entry.get("checks", {})
    if checks:
        rows = [[_h(name), f"<span class=\"{_h(c.get('outcome'))}\">"
                 f"{_MARK.get(c.get('outcome'), '?')} {_h(c.get('outcome'))}</span>",
                 _h(c.get("summary", ""))] for name, c in checks.items()]
        tables = [_html_table(["check", "result", "summary"], rows,
                              [c.get("outcome", "") for c in checks.values()])]
    else:
        tables = []
    metric_rows = _metrics_rows(m)
    if metric_rows:
        tables.append(_html_table(["metric", "value"], metric_rows))
    parts.append("<div class=\"tables\">" + "".join(f"<div>{t}</div>" for t in tables) + "</div>")
    figures = scenario_figures(entry)
    if figures:
        alt = {p.name: p.title for p in PLOTS}
        parts.append("<div class=\"plots\">" + "".join(
            f"<figure><img alt=\"{_h(entry['scenario'])}: {_h(alt[name])}\" "
            f"data-plot=\"{name}\" src=\"data:image/png;base64,{_png_base64(fig)}\"></figure>"
            for name, fig in figures.items()) + "</div>")
    elif _is_training(m):
        parts.append("<p class=\"failed\">No plots: the run produced no training data "
                     "(see the failing checks above).</p>")
    parts.append("</section>")
    return "\n".join(parts)


def _html_baseline(b: Any) -> str:
    """The ``baseline`` record of a merged report, or nothing."""
    if not isinstance(b, dict):
        return ""
    outcome = {"ok": "passed", "regressed": "failed", "skipped": "skipped"}
    rows = [[_h(r.get("key", "?")), _h(_BASELINE_MARK.get(r.get("verdict"), r.get("verdict"))),
             _h(r.get("summary", ""))] for r in b.get("scenarios", [])]
    return (f"<h2>Baseline <small><code>{_h(b.get('path', '?'))}</code>: {_h(_baseline_header(b))}</small></h2>\n"
            + _html_table(["scenario", "baseline", "summary"], rows,
                          [outcome.get(r.get("verdict"), "") for r in b.get("scenarios", [])]))


def render_html(doc: dict) -> str:
    """One self-contained page: environment, overview table, then each scenario's checks,
    numbers and plots (PNG embedded as base64)."""
    import matplotlib

    env = dict(doc.get("environment", {}))
    env_rows = [[f"<b>{_h(k.replace('_', ' '))}</b>", _h(v)] for k, v in
                [("created", doc.get("created", "?")), *env.items(),
                 ("rendered with", f"matplotlib {matplotlib.__version__}, "
                                   f"Python {platform.python_version()}")]]
    overview = [_overview_row(e) for e in doc["scenarios"]]
    overview_rows = [[f"<a href=\"#{_anchor(e)}\">{_h(row['scenario'])}</a>"]
                     + [f"<span class=\"{scenario_result(e)}\">{_h(v)}</span>" if k == "result" else _h(v)
                        for k, v in row.items() if k != "scenario"]
                     for e, row in zip(doc["scenarios"], overview)]
    sections = "\n".join(_scenario_section(e) for e in doc["scenarios"])
    header = list(overview[0]) if overview else []
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>mcutrain report — {_h(_counts(doc))}</title>
<style>{_CSS}</style></head>
<body>
<h1>mcutrain report</h1>
<p class="meta">{_h(_counts(doc))}</p>
<h2>Environment</h2>
{_html_table(["", ""], env_rows)}
<h2>Overview</h2>
{_html_table(header, overview_rows, [scenario_result(e) for e in doc["scenarios"]])}
{_html_baseline(doc.get("baseline"))}
{sections}
</body></html>
"""


# -- the run's folder ----------------------------------------------------------------------------
def new_report_dir(parent: Path, stamp: str | None = None) -> Path:
    """Create and return ``parent/<YYYYmmdd-HHMMSS>-<random>``, a folder no other run shares:
    ``os.mkdir`` fails if the name exists, and then another suffix is drawn."""
    stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    while True:
        path = parent / f"{stamp}-{secrets.token_hex(3)}"
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue


def check_writable(folder: Path, what: str, alternative: str) -> None:
    """MctError, before any work starts, unless files can be created in ``folder`` (made later
    if it does not exist yet): its nearest existing ancestor must be a folder that takes a file
    (tried for real, so a read-only file system fails even for root)."""
    folder = Path(folder).absolute()
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    fix = f"make {existing} writable{alternative}"
    if not existing.is_dir():
        raise MctError(f"cannot write the {what} under {folder}: {existing} is a file, not a folder",
                       f"remove or rename {existing}{alternative}")
    try:
        fd, probe = tempfile.mkstemp(prefix=".mcutrain-write-test-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise MctError(f"cannot write the {what} under {folder}: {existing}: {e.strerror or e}",
                       fix) from None
    if not os.access(existing, os.W_OK | os.X_OK):
        raise MctError(f"cannot write the {what} under {folder}: {existing} is not writable", fix)


def check_report_targets(report_parent: Path, history: Path, option: str) -> None:
    """Check, before a run, that its report folder (under ``report_parent``) and the history file
    can be written; ``option`` is the command-line option that picks another report folder."""
    check_writable(report_parent, "report", f", or give another folder with {option}")
    history = Path(history)
    if history.exists() and (history.is_dir() or not os.access(history, os.W_OK)):
        raise MctError(f"cannot append to the run history {history}: "
                       + ("it is a folder" if history.is_dir() else "it is not writable"),
                       f"remove or fix {history} (it is a JSON-lines log, one line per scenario run)")
    check_writable(history.parent, "run history", f" (every run appends to {history.name} there)")


# -- writing -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReportViews:
    summary: Path
    html: Path


def write_views(report: Path) -> ReportViews:
    """Write ``summary.md`` and ``report.html`` beside the report's ``report.json``."""
    doc, path = load_report(report)
    views = ReportViews(path.parent / SUMMARY_MD, path.parent / REPORT_HTML)
    write_text_atomic(views.summary, render_summary(doc))
    write_text_atomic(views.html, render_html(doc))
    return views


def write_views_and_say(report: Path) -> str:
    """``write_views`` for the end of a run: the line that says where the HTML report is.
    A rendering failure is said, not raised: report.json, the run's record, is already written
    and ``mcutrain report`` can redo the views from it."""
    try:
        views = write_views(report)
    except Exception as e:  # noqa: BLE001 - a plotting bug must not lose a finished run
        return (f"HTML report: not written ({type(e).__name__}: {e}); "
                f"retry with `mcutrain report {Path(report).parent}`")
    return f"HTML report: {views.html}  (CI summary: {views.summary})"


# -- compare -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    """A compared metric: its ``kind`` picks the delta's unit; ``better`` is ``lower``,
    ``higher``, or None for numbers that are reported but never judged."""

    name: str
    kind: str  # "bytes" | "instructions" | "accuracy" | "loss" | "seconds" | "ms" | "text"
    better: str | None


COMPARED = (
    Metric("flash", "bytes", "lower"),
    Metric("static_sram", "bytes", "lower"),
    Metric("peak_sram", "bytes", "lower"),
    Metric("stack_high_water", "bytes", "lower"),
    Metric("arena_planned", "bytes", "lower"),
    Metric("trainable_bytes", "bytes", None),  # a scheme choice, not a cost
    Metric("step_instructions", "instructions", "lower"),
    Metric("step_instructions_mean", "instructions", "lower"),
    Metric("predict_instructions", "instructions", "lower"),
    Metric("region_instructions", "instructions", "lower"),
    Metric("step_ms", "ms", "lower"),            # estimates of the cycle model (harness/cycles.py)
    Metric("step_ms_m4", "ms", "lower"),
    Metric("step_ms_m7_low", "ms", "lower"),
    Metric("step_ms_m7_high", "ms", "lower"),
    Metric("predict_ms", "ms", "lower"),
    Metric("insn_total", "instructions", "lower"),
    Metric("accuracy_before", "accuracy", None),  # the pretrained model's, not the training's
    Metric("accuracy_after", "accuracy", "higher"),
    Metric("reference_accuracy_after", "accuracy", "higher"),
    Metric("final_loss", "loss", "lower"),
    Metric("wall_s", "seconds", None),  # host-dependent
    Metric("scheme", "text", None),
)


@dataclass(frozen=True)
class Delta:
    scenario: str
    metric: str
    kind: str
    old: Any
    new: Any
    verdict: str  # "worse" | "better" | "same" | "changed" | "added" | "removed"

    @property
    def change(self) -> str:
        """The difference in the metric's unit: bytes and %, instructions %, accuracy points."""
        old, new = self.old, self.new
        if self.verdict == "same":
            return "="
        if not isinstance(old, (int, float)) or not isinstance(new, (int, float)) or self.kind == "text":
            return ""
        d = new - old
        pct = f"{100 * d / old:+.2f}%" if old else "n/a %"
        if self.kind == "bytes":
            return f"{d:+,} B ({pct})"
        if self.kind == "instructions":
            return pct
        if self.kind == "accuracy":
            return f"{100 * d:+.1f} pt"
        if self.kind == "loss":
            return f"{d:+.4f} ({pct})"
        if self.kind == "ms":
            return pct
        return f"{d:+.1f} s"


def _value(kind: str, v: Any) -> str:
    if v is None:
        return "—"
    if kind == "bytes":
        return f"{v:,} B"
    if kind == "instructions":
        return f"{v:,}"
    if kind == "accuracy":
        return _acc(v)
    if kind == "loss":
        return f"{v:.4f}"
    if kind == "seconds":
        return f"{v:.1f} s"
    if kind == "ms":
        return _ms(v)
    return str(v)


def _compared_values(entry: dict) -> dict[str, Any]:
    m = dict(entry.get("metrics", {}))
    if m.get("epoch_loss"):
        m["final_loss"] = m["epoch_loss"][-1]
    return m


def _judge(metric: Metric, old: Any, new: Any) -> str:
    if old == new:
        return "same"
    if old is None:
        return "added"
    if new is None:
        return "worse" if metric.better else "removed"
    if metric.better is None:
        return "changed"
    lower = new < old
    return "better" if lower == (metric.better == "lower") else "worse"


def _key(entry: dict) -> str:
    return entry["scenario"]


def compare_reports(old: dict, new: dict) -> list[Delta]:
    """Per scenario present in either report: its result, then each metric, old -> new."""
    olds = {_key(e): e for e in old["scenarios"]}
    news = {_key(e): e for e in new["scenarios"]}
    deltas = []
    for name in list(olds) + [n for n in news if n not in olds]:
        o, n = olds.get(name), news.get(name)
        if o is None or n is None:
            deltas.append(Delta(name, "scenario", "text", "present" if o else None,
                                "present" if n else None, "added" if o is None else "removed"))
            continue
        r_old, r_new = scenario_result(o), scenario_result(n)
        verdict = ("same" if r_old == r_new else "worse" if r_new == "failed"
                   else "better" if r_old == "failed" else "changed")
        deltas.append(Delta(name, "result", "text", r_old, r_new, verdict))
        vo, vn = _compared_values(o), _compared_values(n)
        for metric in COMPARED:
            a, b = vo.get(metric.name), vn.get(metric.name)
            if a is None and b is None:
                continue
            deltas.append(Delta(name, metric.name, metric.kind, a, b, _judge(metric, a, b)))
    return deltas


def format_comparison(deltas: list[Delta], old_label: str, new_label: str) -> str:
    """A plain table, one block per scenario, and a last line counting the verdicts."""
    lines = [f"old: {old_label}", f"new: {new_label}", ""]
    header = ("metric", "old", "new", "change", "")
    rows_by_scenario: dict[str, list[tuple[str, ...]]] = {}
    notes: dict[str, list[str]] = {}
    for d in deltas:
        rows_by_scenario.setdefault(d.scenario, [])
        if d.metric == "scheme":  # too long for a column; said below the table when it changed
            if d.verdict != "same":
                notes.setdefault(d.scenario, []).append(f"  scheme: {d.old} -> {d.new}")
            continue
        mark = {"worse": "WORSE", "better": "better", "same": ""}.get(d.verdict, d.verdict)
        rows_by_scenario[d.scenario].append(
            (d.metric, _value(d.kind, d.old), _value(d.kind, d.new), d.change, mark))
    all_rows = [header] + [r for rows in rows_by_scenario.values() for r in rows]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(header))]
    right = (False, True, True, True, False)

    def fmt(row: tuple[str, ...]) -> str:
        cells = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right)]
        return "  " + "  ".join(cells).rstrip()

    for scenario, rows in rows_by_scenario.items():
        lines += [f"== {scenario}", fmt(header)] + [fmt(r) for r in rows] + notes.get(scenario, []) + [""]
    verdicts = [d.verdict for d in deltas]
    lines.append(f"{verdicts.count('worse')} worse, {verdicts.count('better')} better, "
                 f"{verdicts.count('same')} unchanged, "
                 f"{len(verdicts) - sum(verdicts.count(v) for v in ('worse', 'better', 'same'))} other")
    return "\n".join(lines)


def any_worse(deltas: Iterable[Delta]) -> bool:
    return any(d.verdict == "worse" for d in deltas)
