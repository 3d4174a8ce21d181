"""Benchmark: instructions of the general-window conv kernels (tt_conv_window.h) on QEMU, one
layer per row, beside the regular kernel on the nearest regular window (same shapes, pads
(1, 1, 1, 1) instead of TFLite's (0, 1, 0, 1), or the square kernel of the same area).

    python benchmarks/bench_windows.py                  # Cortex-M7 (stm32f746)
    python benchmarks/bench_windows.py --board stm32f4

Each kernel call runs once between the region markers on pseudo-random data, so the counts
are exact: forward (int8, with a mask, as in training), input gradient and the fused weight
update (all input channels trainable, stochastic rounding).
"""
from __future__ import annotations

import argparse
import sys

from harness.boards import load_board
from harness.emulators import get_emulator
from harness.toolchain import build_firmware

#: name, depthwise, (h, w, c_in, c_out), general window (kh, kw, sh, sw, pt, pb, pl, pr),
#: regular window to compare (k, s, pad)
LAYERS = [
    ("dw 3x3 s2 SAME 16x16x48", 1, (16, 16, 48, 48), (3, 3, 2, 2, 0, 1, 0, 1), (3, 2, 1)),
    ("conv 3x3 s2 SAME 48x48x3->16", 0, (48, 48, 3, 16), (3, 3, 2, 2, 0, 1, 0, 1), (3, 2, 1)),
    ("conv 10x4 s2 SAME 49x10x1->64", 0, (49, 10, 1, 64), (10, 4, 2, 2, 4, 5, 1, 1), (6, 2, 2)),
    ("conv 4x3 s1 SAME 32x3x1->8", 0, (32, 3, 1, 8), (4, 3, 1, 1, 1, 2, 1, 1), (3, 1, 1)),
    ("pw s(2,1) 12x12x32->32", 0, (12, 12, 32, 32), (1, 1, 2, 1, 0, 0, 0, 0), (1, 2, 0)),
]

_MAIN = r"""
#include <stdint.h>
#include "tt_kernels.h"
#include "tt_marks.h"

typedef struct { int32_t dw, h, w, c_in, c_out, kh, kw, sh, sw, pt, pb, pl, pr, k, s, pad; } layer;
static const layer layers[] = {
%(LAYERS)s
};
static int8_t bx[13000], by[13000], bw[12000];
static uint8_t bm[1700];
static float bga[12800], bgx[12800];
static int32_t bbias[256], bmult[256], bshift[256];
static float bscale[256];
static uint32_t st = 0x2468ACEu;
static uint32_t rnd(void) { st ^= st << 13; st ^= st >> 17; st ^= st << 5; return st; }

static void one(const tt_conv_params *p, int32_t dw, int32_t general)
{
    const tt_per_channel_quant q = {bmult, bshift};
    tt_rng rng;
    tt_rng_seed(&rng, 7u);
    const tt_update_params u = {0.01f, 1, TT_ROUND_STOCHASTIC, &rng, (int8_t *)0};
    const int32_t pw = !general && p->kernel == 1;
    tt_mark_region_begin();
    if (general) {
        if (dw) tt_dwconv2d_win_s8(p, &q, bx, bw, (const int8_t *)0, bbias, by, bm);
        else tt_conv2d_win_s8(p, &q, bx, bw, (const int8_t *)0, bbias, by, bm);
    } else if (dw) tt_dwconv2d_s8(p, &q, bx, bw, (const int8_t *)0, bbias, by, bm);
    else if (pw) tt_pwconv_s8(p, &q, bx, bw, (const int8_t *)0, bbias, by, bm);
    else tt_conv2d_s8(p, &q, bx, bw, (const int8_t *)0, bbias, by, bm);
    tt_mark_region_end();
    tt_mark_region_begin();
    if (general) {
        if (dw) tt_dwconv2d_win_grad_input_f32(p, bga, bw, (const int8_t *)0, bscale, bgx);
        else tt_conv2d_win_grad_input_f32(p, bga, bw, (const int8_t *)0, bscale, bgx);
    } else if (dw) tt_dwconv2d_grad_input_f32(p, bga, bw, (const int8_t *)0, bscale, bgx);
    else if (pw) tt_pwconv_grad_input_f32(p, bga, bw, (const int8_t *)0, bscale, bgx);
    else tt_conv2d_grad_input_f32(p, bga, bw, (const int8_t *)0, bscale, bgx);
    tt_mark_region_end();
    tt_mark_region_begin();
    if (general) {
        if (dw) tt_dwconv2d_win_update_weight_s8(p, bx, bga, 0.02f, bscale, bw, &u);
        else tt_conv2d_win_update_weight_s8(p, bx, bga, 0.02f, bscale, bw, &u);
    } else if (dw) tt_dwconv2d_update_weight_s8(p, bx, bga, 0.02f, bscale, bw, &u);
    else if (pw) tt_pwconv_update_weight_s8(p, bx, bga, 0.02f, bscale, bw, &u);
    else tt_conv2d_update_weight_s8(p, bx, bga, 0.02f, bscale, bw, &u);
    tt_mark_region_end();
}

int main(void);
int main(void)
{
    for (uint32_t i = 0; i < sizeof bx; i++) bx[i] = (int8_t)(rnd() >> 24);
    for (uint32_t i = 0; i < sizeof bw; i++) bw[i] = (int8_t)(rnd() >> 26);
    for (uint32_t i = 0; i < sizeof bga / sizeof bga[0]; i++) bga[i] = (float)((int32_t)(rnd() >> 20) - 2048) * 0x1p-14f;
    for (int32_t c = 0; c < 256; c++) {
        bbias[c] = (int32_t)(rnd() %% 20001u) - 10000;
        bmult[c] = (int32_t)(0x40000000u + (rnd() >> 2));
        bshift[c] = -6 - (int32_t)(rnd() %% 6u);
        bscale[c] = 0.01f;
    }
    for (uint32_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        const layer *l = &layers[i];
        const tt_conv_params g = {l->h, l->w, l->c_in, l->c_out, l->kh, l->sh, l->pt, l->c_in,
                                  -3, -5, -128, 127, 0, 0, 0, l->kw, l->sw, l->pb, l->pl, l->pr};
        const tt_conv_params r = {l->h, l->w, l->c_in, l->c_out, l->k, l->s, l->pad, l->c_in,
                                  -3, -5, -128, 127, 0, 0, 0, l->k, l->s, l->pad, l->pad, l->pad};
        one(&g, l->dw, 1);
        one(&r, l->dw, 0);
    }
    return 0;
}
"""


def macs(dw: int, h: int, w: int, cin: int, cout: int, kh: int, kw: int, sh: int, sw: int,
         pads: tuple[int, int, int, int]) -> int:
    pt, pb, pl, pr = pads
    ho, wo = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    return ho * wo * cout * kh * kw * (1 if dw else cin)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="stm32f746")
    args = ap.parse_args()
    rows = [f"    {{{dw}, {', '.join(map(str, shape + win + reg))}}}"
            for _, dw, shape, win, reg in LAYERS]
    src = _MAIN % {"LAYERS": ",\n".join(rows)}
    board = load_board(args.board)
    fw = build_firmware(board, [], generated={"bench_windows.c": src}, stack_size=8192,
                        name="bench-windows")
    run = get_emulator("qemu").run(fw.elf, board, timeout_s=600)
    if run.status != "ok":
        print(run.reason(), file=sys.stderr)
        return 1
    begins = [n for name, n in run.marks if name == "tt_mark_region_begin"]
    ends = [n for name, n in run.marks if name == "tt_mark_region_end"]
    counts = [e - b for b, e in zip(begins, ends)]
    assert len(counts) == 6 * len(LAYERS), len(counts)
    print(f"general-window kernels on {args.board}: instructions (instructions per MAC)")
    print(f"{'layer':32} {'path':8} {'forward':>18} {'grad input':>18} {'update':>18}")
    for i, (name, dw, shape, win, reg) in enumerate(LAYERS):
        m_gen = macs(dw, *shape, *win[:4], win[4:])
        k, s, p = reg
        m_reg = macs(dw, *shape, k, k, s, s, (p,) * 4)
        for j, (path, m) in enumerate((("general", m_gen), (f"reg k{k}", m_reg))):
            c = counts[6 * i + 3 * j: 6 * i + 3 * j + 3]
            cells = " ".join(f"{n:>10,} ({n / m:5.1f})" for n in c)
            print(f"{name if j == 0 else '':32} {path:8} {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
