"""Streamed frozen prefix: run the early, frozen layers strip by strip (patch-based inference).

The largest activations of a CNN at 128x128 live in its first stage (MobileNetV2-w0.35's
block-1 expansion alone is 64x64x48 = 196,608 B), yet a sparse update never trains there:
those layers only produce the feature map the trainable part starts from. This pass runs
that frozen prefix in horizontal strips, as MCUNetV2's patch-based inference does (Lin et
al., NeurIPS 2021, §3) but with full-width strips, so only rows carry a halo:

* the prefix ends at a tensor ``end`` (the first tensor a later step still reads); ``end``
  is produced ``rows`` output rows at a time, straight into its own arena buffer;
* for one strip, every tensor of the prefix is needed only over a range of rows, found by
  walking the prefix backwards (a k x k, stride s, pad p conv needs input rows
  ``[r0*s - p, (r1-1)*s - p + k)`` clipped to the image; an add needs the same rows of both
  inputs); each range is held in a small tile buffer.

Two modes handle the rows two neighbouring strips both need (the halo):

* ``recompute`` (MCUNetV2): every strip computes all its rows, halos twice; the tiles of
  one strip share memory by their lifetimes within it (``plan_memory``);
* ``slide`` (line buffers): each tile is a window sliding down its tensor; the halo rows the
  previous strip computed are moved to the window's top (``tt_move_s8``) and only new rows
  are computed, so no MAC runs twice; the windows all live at once.

Each output element is computed by the same integer operations as the layer-by-layer
forward, so the result is bit-identical; only the row ranges change (the kernels' row-range
fields ``x_row0``, ``out_row0``, ``out_rows``, docs in ``tt_kernels.h``).

``options`` prices every valid end, strip height and mode with the real planner on the real
programs (training and inference); ``choose`` takes the smallest arena among the options that
recompute little, then the fewest extra instructions. On MobileNetV2-w0.35 at 128x128 with
the paper's 49kb scheme it streams up to ``b2_add`` in 2-row slide strips: arena 245,760 ->
71,168 B for +1.31M instructions per step, the kernels' per-call set-up on short strips
(benchmarks/bench_mbv2.py measures each mode against layer by layer).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from math import ceil

from ..model.qmodel import QAdd, QConv, QModel
from .memplan import ALIGN, Lifetime, plan_memory
from .program import INPUT, Buffer, Program, Step

TILES = "tiles"
MODES = ("recompute", "slide")


class PrefixError(ValueError):
    """A fixed prefix the program cannot stream (its end or strip height)."""


@dataclass(frozen=True)
class PrefixChoice:
    """Where streaming ends and how many rows of ``end`` one strip produces (a scenario's
    ``engine.prefix``); ``end=None`` means layer by layer."""

    end: str | None
    rows: int = 0
    mode: str = ""  # "recompute" | "slide"; "" with rows 0: let ``choose`` pick

    def describe(self) -> str:
        if self.end is None:
            return "layer by layer"
        return f"streamed up to {self.end}, {self.rows} row(s) per strip, {self.mode}"


@dataclass(frozen=True)
class PatchPlan:
    """The streamed prefix: its layers, per strip the output rows each layer computes, and
    where each tile sits in the ``tiles`` buffer."""

    layers: tuple[int, ...]  # indices into QModel.layers, in order
    end: str
    rows: int
    mode: str  # "recompute" | "slide"
    strips: tuple[tuple[tuple[int, int], ...], ...]  # [strip][position] -> rows [r0, r1) held after it
    tile_offset: tuple[tuple[str, int], ...]  # tensor -> byte offset in the tiles buffer
    tiles_size: int
    macs_layerwise: int  # the prefix's MACs when run layer by layer
    macs_streamed: int  # ... when streamed (recompute: halo rows once per strip that needs them)
    moved_bytes: int  # slide: bytes of halo rows moved up the windows, over all strips

    def offset(self, tensor: str) -> int:
        return dict(self.tile_offset)[tensor]

    def computed(self, si: int, pos: int) -> tuple[int, int]:
        """Rows of layer ``pos``'s output that strip ``si`` computes."""
        r0, r1 = self.strips[si][pos]
        if self.mode == "slide" and si > 0 and pos < len(self.layers) - 1:
            r0 = max(r0, self.strips[si - 1][pos][1])
        return r0, r1

    def kept(self, si: int, pos: int) -> int:
        """Rows a slide window moves up before strip ``si`` (0: none)."""
        if self.mode != "slide" or si == 0 or pos == len(self.layers) - 1:
            return 0
        (p0, p1), (n0, _) = self.strips[si - 1][pos], self.strips[si][pos]
        return max(0, p1 - n0) if n0 > p0 else 0

    def extra_instructions(self) -> int:
        """A rough price for ``choose``: ``MAC_COST`` per recomputed MAC, one instruction per 4
        moved bytes (word copies) and ``CALL_COST`` per kernel call beyond one per layer. The
        run measures the real cost (benchmarks/bench_mbv2.py compares it with layer by layer)."""
        calls = len(self.strips) * len(self.layers) - len(self.layers)
        return MAC_COST * self.extra_macs + self.moved_bytes // 4 + CALL_COST * calls

    @property
    def extra_macs(self) -> int:
        return self.macs_streamed - self.macs_layerwise

    def summary(self) -> str:
        pct = 100.0 * self.extra_macs / self.macs_layerwise if self.macs_layerwise else 0.0
        cost = (f"recomputed halos +{self.extra_macs} MACs (+{pct:.1f}% of the prefix's {self.macs_layerwise})"
                if self.mode == "recompute" else
                f"halo rows kept in sliding windows: no MAC twice, {self.moved_bytes} B moved")
        return (f"frozen prefix streamed ({self.mode}): {len(self.layers)} layers up to {self.end}, "
                f"{len(self.strips)} strips of {self.rows} row(s); tiles {self.tiles_size} B; {cost}")


def _row_macs(layer: QConv, out_w: int) -> int:
    op = layer.op
    per_out = op.window.kh * op.window.kw * (1 if op.kind == "depthwise" else op.in_ch)
    return out_w * op.out_ch * per_out


def candidate_ends(program: Program, qmodel: QModel) -> list[int]:
    """Step indices j such that steps[0..j] can be streamed: only frozen int8 convs (no
    mask, no saved slice) and adds, and nothing after j reads a tensor they write except
    the one step j writes (a feature map)."""
    shapes = qmodel.graph.shapes()
    out: list[int] = []
    written: set[str] = set()
    for j, s in enumerate(program.steps):
        if s.kind not in ("conv", "add") or len(s.writes) != 1:
            break
        written.add(s.writes[0])
        end = s.writes[0]
        later = {r for t in program.steps[j + 1:] for r in t.reads}
        if len(shapes[end]) == 3 and not (later & (written - {end})) and j >= 1:
            out.append(j)
    return out


def plan_strips(program: Program, qmodel: QModel, j: int, rows: int, mode: str = "recompute") -> PatchPlan:
    """Strips of ``rows`` rows of the tensor step ``j`` writes, over steps[0..j].

    ``mode="recompute"``: each strip computes every row it needs (halos twice), and the tiles
    of one strip share memory by their lifetimes within it. ``mode="slide"``: each tile is a
    window that slides down its tensor; the halo rows the previous strip computed are moved
    up instead of recomputed (line buffers: no MAC twice, tiles all live at once).
    """
    if mode not in MODES:
        raise PrefixError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    shapes = qmodel.graph.shapes()
    steps = program.steps[:j + 1]
    layers = tuple(s.layer for s in steps)
    end = steps[-1].writes[0]
    height = shapes[end][0]
    if not 1 <= rows <= height:
        raise PrefixError(f"rows must be 1..{height} for {end} (its height), got {rows}")

    def row_bytes(t: str) -> int:
        return shapes[t][1] * shapes[t][2]

    strips = []
    tile_rows: dict[str, int] = {}
    held: dict[str, tuple[int, int]] = {}  # slide: each window's rows after the previous strip
    for r0 in range(0, height, rows):
        need: dict[str, tuple[int, int]] = {end: (r0, min(height, r0 + rows))}
        for s in reversed(steps):
            layer = qmodel.layers[s.layer]
            t = s.writes[0]
            if t not in need:  # slide: no fresh row of its consumers needs a new row of it
                need[t] = held[t]
            a, b = need[t]
            if mode == "slide" and t in held:  # only the rows not computed yet drive the inputs
                a = max(a, held[t][1])
                if a >= b:
                    continue
            if isinstance(layer, QConv):
                win = layer.op.window
                h_in = shapes[layer.op.input][0]
                want = {layer.op.input: (max(0, a * win.sh - win.pt),
                                         min(h_in, (b - 1) * win.sh - win.pt + win.kh))}
            else:
                assert isinstance(layer, QAdd)
                want = {t: (a, b) for t in layer.op.inputs}
            for t, (lo, hi) in want.items():
                if t in need:
                    lo, hi = min(lo, need[t][0]), max(hi, need[t][1])
                need[t] = (lo, hi)
        strips.append(tuple(need[s.writes[0]] for s in steps))
        held = {s.writes[0]: need[s.writes[0]] for s in steps[:-1]}
        for s in steps[:-1]:
            a, b = need[s.writes[0]]
            tile_rows[s.writes[0]] = max(tile_rows.get(s.writes[0], 0), b - a)

    if mode == "recompute":
        # one plan for the tiles of a strip: a tile lives from its producer to its last reader
        pos = {s.writes[0]: i for i, s in enumerate(steps)}
        last = {t: max(i for i, s in enumerate(steps) if t in s.reads) for t in tile_rows}
        tiles = plan_memory([Lifetime(t, tile_rows[t] * row_bytes(t), pos[t], last[t]) for t in tile_rows])
        offsets = tuple((p.buf.name, p.offset) for p in tiles.placements)
        size = tiles.arena_size
    else:  # every window lives through all strips
        placed, size = [], 0
        for t in tile_rows:
            placed.append((t, size))
            size += -(-tile_rows[t] * row_bytes(t) // ALIGN) * ALIGN
        offsets = tuple(placed)
    plan = PatchPlan(layers, end, rows, mode, tuple(strips), offsets, size, 0, 0, 0)

    layerwise = streamed = moved = 0
    for i, s in enumerate(steps):
        layer = qmodel.layers[s.layer]
        for si in range(len(strips)):
            keep = plan.kept(si, i)
            if keep:
                moved += keep * row_bytes(s.writes[0])
        if isinstance(layer, QConv):
            h, w, _ = shapes[layer.op.output]
            per_row = _row_macs(layer, w)
            layerwise += h * per_row
            streamed += sum(c1 - c0 for c0, c1 in (plan.computed(si, i) for si in range(len(strips)))) * per_row
    return replace(plan, macs_layerwise=layerwise, macs_streamed=streamed, moved_bytes=moved)


def stream_prefix(program: Program, plan: PatchPlan) -> Program:
    """Replace the prefix's steps by one ``stream`` step that writes ``end`` (and the tiles)."""
    n = len(plan.layers)
    assert tuple(s.layer for s in program.steps[:n]) == plan.layers
    tiles = Buffer(TILES, "i8", (max(plan.tiles_size, 1),), "tiles")
    step = Step("stream", plan.layers[-1], (INPUT,), (plan.end, TILES), plan=plan)
    steps = [step, *program.steps[n:]]
    kept = program.with_steps(steps)
    return replace(kept, buffers=(*kept.buffers, tiles))


def heights(program: Program, qmodel: QModel, j: int) -> list[int]:
    """The strip heights worth trying for an end at step j: one per distinct strip count."""
    h = qmodel.graph.shapes()[program.steps[j].writes[0]][0]
    return sorted({ceil(h / n) for n in range(1, h + 1)})


def find_end(program: Program, qmodel: QModel, end: str) -> int:
    for j in candidate_ends(program, qmodel):
        if program.steps[j].writes[0] == end:
            return j
    valid = [program.steps[j].writes[0] for j in candidate_ends(program, qmodel)]
    raise PrefixError(f"{end!r} cannot end the streamed prefix (a later step reads a tensor before it, "
                      f"or it is trained); valid ends: {', '.join(valid) or 'none'}")



@dataclass(frozen=True)
class Option:
    """One priced way to run the prefix: the arena it needs (training and inference) and
    its rough extra instructions (``PatchPlan.extra_instructions``)."""

    choice: PrefixChoice
    arena: int
    extra: int
    recomputed: float = 0.0  # recomputed MACs / the prefix's MACs


#: ``choose`` takes the smallest arena, then among the options within this many bytes of
#: it, the one with the fewest extra instructions (a few hundred bytes are not worth a slower step).
ARENA_SLACK = 1024
#: ... among the options that recompute at most this share of the prefix's MACs: recomputing
#: more (1-row strips through a deep prefix can double its MACs) costs more time than the
#: bytes it saves are worth; slide mode recomputes nothing.
MAX_RECOMPUTE = 0.10
#: The price model's instructions per recomputed MAC (the int8 kernels run 2.4-8 instructions
#: per MAC, more on 1-row strips) and per extra kernel call (its set-up).
MAC_COST = 4
CALL_COST = 400


def apply(train: Program, infer: Program, qmodel: QModel,
          choice: PrefixChoice) -> tuple[Program, Program, PatchPlan | None]:
    """Both programs with the prefix streamed as ``choice`` says (the same strips)."""
    if choice.end is None:
        return train, infer, None
    plan = plan_strips(train, qmodel, find_end(train, qmodel, choice.end), choice.rows, choice.mode)
    iplan = plan_strips(infer, qmodel, find_end(infer, qmodel, choice.end), choice.rows, choice.mode)
    return stream_prefix(train, plan), stream_prefix(infer, iplan), plan


def options(train: Program, infer: Program, qmodel: QModel, end: str | None = None,
            modes: tuple[str, ...] = MODES) -> list[Option]:
    """Every valid end (or only ``end``), strip height and mode, priced with the real
    planner; layer by layer first (unless ``end`` is given)."""
    from .schedule import lifetimes

    def arena(p: Program) -> int:
        return plan_memory(lifetimes(p)).arena_size

    out = [] if end else [Option(PrefixChoice(None), max(arena(train), arena(infer)), 0)]
    infer_ends = {infer.steps[j].writes[0] for j in candidate_ends(infer, qmodel)}
    ends = [find_end(train, qmodel, end)] if end else candidate_ends(train, qmodel)
    for j in ends:
        t_end = train.steps[j].writes[0]
        if t_end not in infer_ends:
            continue
        for rows in heights(train, qmodel, j):
            for mode in modes:
                choice = PrefixChoice(t_end, rows, mode)
                t, i, plan = apply(train, infer, qmodel, choice)
                assert plan is not None
                out.append(Option(choice, max(arena(t), arena(i)), plan.extra_instructions(),
                                  plan.extra_macs / plan.macs_layerwise if plan.macs_layerwise else 0.0))
    return out


def choose(opts: list[Option]) -> Option:
    """Among the options recomputing at most ``MAX_RECOMPUTE`` of the prefix (all of them if
    none does), the smallest arena; within ``ARENA_SLACK`` of it, the fewest extra
    instructions, then layer by layer before streaming."""
    if not opts:
        raise PrefixError("no valid way to stream this prefix")
    cheap = [o for o in opts if o.recomputed <= MAX_RECOMPUTE] or opts
    best = min(o.arena for o in cheap)
    return min((o for o in cheap if o.arena <= best + ARENA_SLACK),
               key=lambda o: (o.extra, o.arena, o.choice.end is not None))
