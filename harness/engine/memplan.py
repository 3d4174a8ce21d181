"""Static memory planning: tensor lifetimes over a schedule -> offsets in one arena.

Greedy by size with first fit, as TFLM's GreedyMemoryPlanner and TinyEngine do: buffers
are placed largest first (ties: earlier first use, then name), each at the lowest offset
where it overlaps no already placed buffer whose lifetime intersects its own. Lifetimes
are inclusive step ranges ``[first, last]``; two buffers may share bytes only if their
lifetimes are disjoint. The plan is a value: it can be printed, checked and compared.
"""
from __future__ import annotations

from dataclasses import dataclass

ALIGN = 8  # bytes; every offset is a multiple, so float32 and int32 views are aligned


@dataclass(frozen=True)
class Lifetime:
    name: str
    size: int  # bytes
    first: int  # first step that writes it
    last: int  # last step that reads it

    def overlaps_in_time(self, other: "Lifetime") -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass(frozen=True)
class Placement:
    buf: Lifetime
    offset: int

    @property
    def end(self) -> int:
        return self.offset + _aligned(self.buf.size)


@dataclass(frozen=True)
class MemoryPlan:
    placements: tuple[Placement, ...]
    arena_size: int

    def offset(self, name: str) -> int:
        for p in self.placements:
            if p.buf.name == name:
                return p.offset
        raise KeyError(name)

    def peak_live_bytes(self) -> int:
        """The lower bound no plan can beat: the largest sum of live sizes at one step."""
        if not self.placements:
            return 0
        last = max(p.buf.last for p in self.placements)
        return max(sum(_aligned(p.buf.size) for p in self.placements if p.buf.first <= t <= p.buf.last)
                   for t in range(last + 1))

    def check(self) -> None:
        """Raise AssertionError if two buffers that live together share bytes."""
        ps = self.placements
        for i, a in enumerate(ps):
            assert a.offset % ALIGN == 0, a
            assert a.end <= self.arena_size, a
            for b in ps[i + 1:]:
                if a.buf.overlaps_in_time(b.buf):
                    assert a.end <= b.offset or b.end <= a.offset, (a, b)

    def table(self) -> str:
        rows = [f"arena: {self.arena_size} B (lower bound {self.peak_live_bytes()} B), "
                f"{len(self.placements)} buffers",
                f"  {'offset':>8} {'size':>8}  {'steps':>11}  name"]
        for p in sorted(self.placements, key=lambda p: (p.offset, p.buf.first)):
            rows.append(f"  {p.offset:>8} {p.buf.size:>8}  {p.buf.first:>5}-{p.buf.last:<5}  {p.buf.name}")
        return "\n".join(rows)


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_memory(buffers: list[Lifetime]) -> MemoryPlan:
    """Place every buffer; the arena is the highest end reached."""
    names = [b.name for b in buffers]
    if len(set(names)) != len(names):
        raise ValueError("buffer names must be unique")
    for b in buffers:
        if b.size < 0 or b.first > b.last:
            raise ValueError(f"bad lifetime {b}")
    order = sorted(buffers, key=lambda b: (-b.size, b.first, b.name))
    placed: list[Placement] = []
    for buf in order:
        if buf.size == 0:
            placed.append(Placement(buf, 0))
            continue
        live = sorted((p for p in placed if p.buf.size and p.buf.overlaps_in_time(buf)),
                      key=lambda p: p.offset)
        offset = 0
        for p in live:
            if offset + _aligned(buf.size) <= p.offset:
                break
            offset = max(offset, p.end)
        placed.append(Placement(buf, offset))
    arena = max((p.end for p in placed), default=0)
    plan = MemoryPlan(tuple(sorted(placed, key=lambda p: (p.buf.first, p.buf.name))), arena)
    plan.check()
    return plan
