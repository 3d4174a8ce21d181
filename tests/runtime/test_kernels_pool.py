"""The pool and add-with-activation kernels (harness/firmware_src/runtime/tt_kernels_ops.h) against the
numpy reference, bit for bit, built for the host and run on QEMU.

Cases are random (seeded) shapes, general windows (kh x kw, strides, per-side padding up to
kernel - 1, overlapping and not), activation ranges (none, ReLU-like, narrow) and int8 data
with many ties; gradients are float32 with some zeros. Expected bytes come from
``harness.model.qops`` (forward: ``pool_s8``, ``add_s8_masked``) and
``harness.reference.pool_grad_input`` (backward: max to the first max tap, avg g / n, overlapping
windows accumulate in output order). harness/firmware_src/app/pooltest/main.c prints the FNV-1a of each
output; the generated pt_cases.c holds the data and one call per case between the region
marks, so the QEMU run also measures each kernel's instructions (the LeNet-sized cases first).
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from harness import reference as ref
from harness.boards import REPO, load_board
from harness.emulators import get_emulator
from harness.engine.cformat import c_array
from harness.model import qops
from harness.model.graph import Add, Pool
from harness.model.qmodel import QAdd, QParams, QPool
from harness.model.rtmath import fnv1a32
from harness.records import PREFIX
from harness.toolchain import build_firmware, build_host_program

APP = REPO / "harness" / "firmware_src" / "app" / "pooltest" / "main.c"
N_RANDOM = 60


@dataclass(frozen=True)
class Case:
    name: str
    call: str  # C statements (the kernel call between the region marks, then pt_report)
    decls: str
    want: tuple[bytes, ...]  # one per pt_report


def _pool_params(name: str, layer: QPool, shape: tuple[int, int, int]) -> str:
    h, w, c = shape
    win = layer.op.window
    oh, ow = layer.op.out_hw(h, w)
    return (f"static const tt_pool_params {name} = {{{h}, {w}, {c}, {win.kh}, {win.kw}, {win.sh}, "
            f"{win.sw}, {win.pt}, {win.pl}, {oh}, {ow}, {layer.act_min}, {layer.act_max}}};\n")


def _marked(call: str) -> str:
    return f"pt_clear();\n    tt_mark_region_begin();\n    {call}\n    tt_mark_region_end();"


def pool_cases(i: int, shape, mode: str, kh: int, kw: int, sh: int, sw: int, pads, act,
               rng: np.random.Generator, label: str) -> list[Case]:
    """The forward and the backward case of one pool."""
    h, w, c = shape
    op = Pool(f"p{i}", "x", "y", mode, kh, stride=sh, kernel_w=kw, stride_w=sw, pads=pads)
    z = int(rng.integers(-20, 20))
    layer = QPool(op, QParams(0.05, z), QParams(0.05, z), *act)
    x = rng.integers(-6, 6, shape).astype(np.int8) if rng.random() < 0.5 else \
        rng.integers(-128, 128, shape).astype(np.int8)  # small ranges: many ties
    oh, ow = op.out_hw(h, w)
    g = rng.standard_normal((oh, ow, c)).astype(np.float32)
    g[rng.random(g.shape) < 0.1] = 0.0
    y = qops.pool_s8(x[None], layer)[0]
    gx = ref.pool_grad_input(g, x, layer)
    p, xs, gs = f"pt_p{i}", f"pt_x{i}", f"pt_g{i}"
    decls = _pool_params(p, layer, shape) + c_array(xs, x, const=True) + c_array(gs, g, const=True)
    xarg = xs if mode == "max" or act != (-128, 127) else "NULL"
    return [
        Case(f"{label} {mode} forward", _marked(f"tt_pool_{mode}_s8(&{p}, {xs}, pt_y8);")
             + f"\n    pt_report(n++, pt_y8, {y.size});", decls, (y.tobytes(),)),
        Case(f"{label} {mode} backward",
             _marked(f"tt_pool_{mode}_grad_input_f32(&{p}, {xarg}, {gs}, pt_gx);")
             + f"\n    pt_report(n++, pt_gx, {4 * gx.size});", "", (gx.astype("<f4").tobytes(),)),
    ]


def add_case(i: int, n: int, act: tuple[int, int], rng: np.random.Generator, label: str) -> Case:
    op = Add(f"a{i}", ("a", "b"), "y", relu=True)
    mults = [int(rng.integers(1 << 29, (1 << 31) - 1)) for _ in range(3)]
    layer = QAdd(op, QParams(0.05, int(rng.integers(-30, 30))), QParams(0.04, int(rng.integers(-30, 30))),
                 QParams(0.08, int(rng.integers(-30, 30))), mults[0], int(rng.integers(-2, 1)),
                 mults[1], int(rng.integers(-2, 1)), mults[2], int(rng.integers(-21, -18)), *act)
    a = rng.integers(-128, 128, n).astype(np.int8)
    b = rng.integers(-128, 128, n).astype(np.int8)
    y, mask = qops.add_s8_masked(a[None], b[None], layer)
    mask_bytes = np.packbits(mask[0].astype(np.uint8), bitorder="little").tobytes()
    p = f"pt_ap{i}"
    decls = (f"static const tt_add_params {p} = {{{layer.a.zero_point}, {layer.b.zero_point}, "
             f"{layer.y.zero_point}, {layer.a_multiplier}, {layer.a_shift}, {layer.b_multiplier}, "
             f"{layer.b_shift}, {layer.out_multiplier}, {layer.out_shift}}};\n"
             + c_array(f"pt_a{i}", a, const=True) + c_array(f"pt_b{i}", b, const=True))
    call = _marked(f"tt_add_act_s8(&{p}, {act[0]}, {act[1]}, pt_a{i}, pt_b{i}, pt_y8, pt_mask, {n});")
    call += f"\n    pt_report(n++, pt_y8, {n});\n    pt_report(n++, pt_mask, {(n + 7) // 8});"
    return Case(f"{label} add {act}", call, decls, (y[0].tobytes(), mask_bytes))


def _act(rng: np.random.Generator) -> tuple[int, int]:
    r = rng.random()
    if r < 0.4:
        return (-128, 127)
    if r < 0.7:
        return (int(rng.integers(-30, 10)), 127)
    lo = int(rng.integers(-40, 0))
    return (lo, lo + int(rng.integers(5, 60)))


@lru_cache(maxsize=None)
def cases() -> tuple[Case, ...]:
    rng = np.random.default_rng(2026)
    out: list[Case] = []
    # One layer each of LeNet's shapes (the instruction counts the report quotes): conv 5x5 on
    # 28x28 -> 24x24x6, max pool 2x2 stride 2; 8x8x16 avg pool 2x2 stride 2; ResNet-8's add
    # with ReLU on 8x8x16 (its 32x32x16 add is 16x longer).
    out += pool_cases(0, (24, 24, 6), "max", 2, 2, 2, 2, (0, 0, 0, 0), (-128, 127), rng, "lenet")
    out += pool_cases(1, (8, 8, 16), "avg", 2, 2, 2, 2, (0, 0, 0, 0), (-128, 127), rng, "lenet")
    out.append(add_case(2, 8 * 8 * 16, (-5, 127), rng, "resnet8"))
    for i in range(3, 3 + N_RANDOM):
        kh, kw = (int(v) for v in rng.integers(1, 5, 2))
        sh, sw = (int(v) for v in rng.integers(1, 4, 2))
        pads = (int(rng.integers(0, kh)), int(rng.integers(0, kh)),
                int(rng.integers(0, kw)), int(rng.integers(0, kw)))
        h = int(rng.integers(max(1, kh - pads[0] - pads[1]), 10))
        w = int(rng.integers(max(1, kw - pads[2] - pads[3]), 10))
        shape = (h, w, int(rng.integers(1, 9)))
        mode = "max" if i % 2 else "avg"
        out += pool_cases(i, shape, mode, kh, kw, sh, sw, pads, _act(rng), rng, f"random {i}")
        if i % 6 == 0:
            out.append(add_case(1000 + i, int(rng.integers(1, 300)), _act(rng), rng, f"random {i}"))
    return tuple(out)


def generated() -> dict[str, str]:
    cs = cases()
    max_out = max(len(b) for c in cs for b in c.want)
    header = f"""/* Generated by tests/runtime/test_kernels_pool.py. */
#ifndef PT_CASES_H
#define PT_CASES_H
#include <stdint.h>
#define PT_MAX_OUT {max_out}
extern int8_t pt_y8[];
extern float pt_gx[];
extern uint8_t pt_mask[];
void pt_clear(void);
void pt_report(int32_t index, const void *bytes, int32_t n);
int32_t pt_run_all(void);
#endif
"""
    body = "\n    ".join(c.call for c in cs)
    source = ('#include <stddef.h>\n#include "tt_kernels.h"\n#include "tt_marks.h"\n#include "pt_cases.h"\n'
              + "".join(c.decls for c in cs)
              + f"\nint32_t pt_run_all(void)\n{{\n    int32_t n = 0;\n    {body}\n    return n;\n}}\n")
    return {"pt_cases.h": header, "pt_cases.c": source}


def expected() -> list[tuple[str, int]]:
    return [(c.name, fnv1a32(b)) for c in cases() for b in c.want]


def _check(records: list[dict], where: str) -> None:
    want = expected()
    got = [r for r in records if r["t"] == "pt"]
    assert records and records[-1] == {"t": "pt_done", "n": len(want)}, f"{where}: did not finish"
    bad = [(name, i) for i, ((name, fnv), r) in enumerate(zip(want, got)) if r["fnv"] != fnv]
    assert not bad, f"{where}: {len(bad)} output(s) differ from the reference, first: {bad[0]}"


def _parse(text: str) -> list[dict]:
    return [json.loads(line[len(PREFIX) + 1:]) for line in text.splitlines()
            if line.startswith(PREFIX + " ")]


def test_case_mix_covers_the_rules():
    """The random cases hit ties, overlaps, padding and clamps (else the test proves little)."""
    cs = cases()
    assert len(cs) > 2 * N_RANDOM
    assert any("max backward" in c.name for c in cs) and any("avg backward" in c.name for c in cs)
    assert sum(" add " in c.name for c in cs) >= 5
    assert "tt_pool_avg_grad_input_f32(&pt_p1, NULL" in generated()["pt_cases.c"]


def test_pool_kernels_match_reference_on_host():
    exe = build_host_program([APP], generated(), name="pooltest")
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=120).stdout
    _check(_parse(out), "host")


def test_pool_kernels_match_reference_on_qemu():
    board = load_board("stm32f746")
    fw = build_firmware(board, [APP], generated(), name="pooltest", stack_size=8192)
    run = get_emulator("qemu").run(fw.elf, board, timeout_s=300.0)
    assert run.status == "ok", run.reason()
    _check([dict(r) for r in run.records], "stm32f746")
    counts = run.region_instructions()
    assert len(counts) == sum(1 for c in cases())
    # the first five are the LeNet / ResNet-8 layer shapes the report quotes
    names = [c.name for c in cases()]
    print("\n".join(f"{n}: {k} instructions" for n, k in zip(names[:5], counts[:5])))
    assert all(k > 0 for k in counts)
