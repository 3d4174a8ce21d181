"""ΣΔacc (or Fisher score) against predicted peak SRAM of every scheme the search priced, its
Pareto front and the budget, as a small hand-written SVG (no plotting library)."""
from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Sequence

from ..fsutil import write_text_atomic
from .evolve import Evaluated, pareto

W, H, L, R, T, B = 640, 420, 70, 20, 40, 50


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def svg(points: Sequence[Evaluated], best: Evaluated, budget: int, title: str, score_label: str,
        extra: Sequence[tuple[str, int, float]] = ()) -> str:
    """``extra``: labelled reference points (name, peak bytes, score), e.g. the paper's schemes."""
    xs = [p.cost for p in points] + [budget] + [e[1] for e in extra]
    ys = [p.score for p in points] + [e[2] for e in extra]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys + [0.0]), max(ys + [0.0])
    if x1 == x0:
        x1 = x0 + 1
    if y1 == y0:
        y1 = y0 + 1

    def px(v: float) -> float:
        return L + (v - x0) / (x1 - x0) * (W - L - R)

    def py(v: float) -> float:
        return H - B - (v - y0) / (y1 - y0) * (H - T - B)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" '
           f'font-size="11">', f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>',
           f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
           f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>']
    for v in _ticks(x0, x1):
        out.append(f'<text x="{px(v):.1f}" y="{H - B + 15}" text-anchor="middle">{v / 1024:.1f}</text>')
    for v in _ticks(y0, y1):
        out.append(f'<text x="{L - 5}" y="{py(v) + 4:.1f}" text-anchor="end">{v:.3g}</text>')
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">predicted peak SRAM '
               f'(KiB: .data + .bss + reserved stack)</text>')
    out.append(f'<text x="16" y="{(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 16 '
               f'{(T + H - B) / 2})">{escape(score_label)}</text>')
    bx = px(budget)
    out.append(f'<line x1="{bx:.1f}" y1="{T}" x2="{bx:.1f}" y2="{H - B}" stroke="red" stroke-dasharray="4 3"/>')
    out.append(f'<text x="{bx + 3:.1f}" y="{T + 10}" fill="red">budget {budget / 1024:.1f} KiB</text>')
    for p in points:
        out.append(f'<circle cx="{px(p.cost):.1f}" cy="{py(p.score):.1f}" r="2.2" '
                   f'fill="{"#4a7ebb" if p.feasible else "#bbbbbb"}"/>')
    front = pareto(points)
    if len(front) > 1:
        path = " ".join(f"{px(p.cost):.1f},{py(p.score):.1f}" for p in front)
        out.append(f'<polyline points="{path}" fill="none" stroke="#1b3d6d" stroke-width="1.2"/>')
    out.append(f'<circle cx="{px(best.cost):.1f}" cy="{py(best.score):.1f}" r="5" fill="none" '
               f'stroke="green" stroke-width="2"/>')
    out.append(f'<text x="{px(best.cost) + 7:.1f}" y="{py(best.score) - 6:.1f}" fill="green">chosen</text>')
    for name, peak, score in extra:
        out.append(f'<rect x="{px(peak) - 3:.1f}" y="{py(score) - 3:.1f}" width="6" height="6" fill="orange"/>')
        out.append(f'<text x="{px(peak) + 5:.1f}" y="{py(score) + 12:.1f}" fill="#a0522d">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_svg(path: Path, text: str) -> None:
    write_text_atomic(path, text)
