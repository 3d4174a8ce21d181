"""Benchmark: int8 forward kernel instructions on a model's own layer shapes. Prints a table.

    python benchmarks/bench_kernels.py                       # MobileNetV2-w0.35 at 128x128, M7
    python benchmarks/bench_kernels.py --board stm32f4 --input 64

Every conv layer of the model (and its residual adds) runs once on QEMU with pseudo-random
data and calibrated-model-like parameters (int8 activation range, right shifts 6..11,
multipliers in [2^30, 2^31)), between the region markers, so the counts are exact. A layer
too large for the benchmark's buffers runs as row strips (the row-range fields of
tt_conv_params), which is the same work plus a few instructions of set-up per strip.
Results are bit-exact with the portable C (tests/runtime/test_kernels_dsp.py); this measures
only speed.
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict

from harness.boards import load_board
from harness.emulators import get_emulator
from harness.model import zoo
from harness.model.graph import Add, Conv
from harness.toolchain import build_firmware

X_MAX = 36 * 1024  # bytes of the input tile buffer
Y_MAX = 20 * 1024  # bytes of the output buffer
W_MAX = 40 * 1024  # bytes of weights

_MAIN = r"""
#include <stdint.h>
#include "tt_io.h"
#include "tt_kernels.h"
#include "tt_marks.h"

typedef struct { int32_t op, h, w, c_in, c_out, kernel, stride, pad, rows; } bench_layer;
static const bench_layer layers[] = {
%(LAYERS)s
};
static int8_t bx[%(X_MAX)d], by[%(Y_MAX)d], bw[%(W_MAX)d];
static int32_t bbias[512], bmult[512], bshift[512];
static uint32_t st = 0x2468ACEu;
static uint32_t rnd(void) { st ^= st << 13; st ^= st >> 17; st ^= st << 5; return st; }
static void fill(int8_t *v, int32_t n)
{
    for (int32_t i = 0; i < n; i++) v[i] = (int8_t)(rnd() >> 24);
}

int main(void);
int main(void)
{
    fill(bx, (int32_t)sizeof bx);
    fill(bw, (int32_t)sizeof bw);
    for (int32_t c = 0; c < 512; c++) {
        bbias[c] = (int32_t)(rnd() %% 20001u) - 10000;
        bmult[c] = (int32_t)(0x40000000u + (rnd() >> 2));
        bshift[c] = -6 - (int32_t)(rnd() %% 6u);
    }
    const tt_per_channel_quant q = {bmult, bshift};
    for (uint32_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
        const bench_layer *l = &layers[i];
        tt_conv_params p = {l->h, l->w, l->c_in, l->c_out, l->kernel, l->stride, l->pad, 0,
                            -128, -5, -128, 127, 0, 0, 0,
                            l->kernel, l->stride, l->pad, l->pad, l->pad};
        const int32_t out_h = tt_conv_out_dim(l->h, l->kernel, l->stride, l->pad);
        tt_mark_region_begin();
        if (l->op == 3) {
            tt_add_params a = {-3, 7, -1, 1518500250, -1, 1073741824, -1, 1431655765, -9};
            tt_add_s8(&a, bx, bx + 4096, by, l->h * l->w * l->c_in);
        } else {
            for (int32_t r0 = 0; r0 < out_h; r0 += l->rows) {
                int32_t lo = r0 * l->stride - l->pad;
                p.x_row0 = lo < 0 ? 0 : lo;
                p.out_row0 = r0;
                p.out_rows = out_h - r0 < l->rows ? out_h - r0 : l->rows;
                if (p.out_rows == out_h) { p.out_rows = 0; p.x_row0 = 0; }
                const int8_t *none = (const int8_t *)0;
                if (l->op == 0) tt_pwconv_s8(&p, &q, bx, none, bw, bbias, by, (uint8_t *)0);
                else if (l->op == 1) tt_dwconv2d_s8(&p, &q, bx, none, bw, bbias, by, (uint8_t *)0);
                else tt_conv2d_s8(&p, &q, bx, none, bw, bbias, by, (uint8_t *)0);
            }
        }
        tt_mark_region_end();
    }
    return 0;
}
"""

KIND = {"pw": 0, "dw": 1, "conv": 2, "add": 3}


def layer_rows(graph) -> list[tuple[str, tuple, int]]:
    """(kind, (h, w, c_in, c_out, kernel, stride, pad, rows), MACs) per layer, in order."""
    shapes = graph.shapes()
    out = []
    for op in graph.ops:
        if isinstance(op, Conv):
            h, w, c = shapes[op.input]
            ho, wo = op.out_hw(h, w)
            kind = "dw" if op.groups > 1 else ("pw" if op.kernel == 1 else "conv")
            macs = ho * wo * op.out_ch * op.kernel ** 2 * (1 if op.groups > 1 else op.in_ch)
            # rows per strip so that the input tile and the output fit the buffers
            rows = ho
            while rows > 1 and (rows * wo * op.out_ch > Y_MAX
                                or ((rows - 1) * op.stride + op.kernel) * w * c > X_MAX):
                rows -= 1
            out.append((kind, (h, w, c, op.out_ch, op.kernel, op.stride, op.padding, rows), macs))
        elif isinstance(op, Add):
            h, w, c = shapes[op.inputs[0]]
            out.append(("add", (h, w, c, c, 1, 1, 0, h), 0))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="stm32f746")
    ap.add_argument("--model", default="mbv2", choices=["mbv2"])
    ap.add_argument("--width", type=float, default=0.35)
    ap.add_argument("--input", type=int, default=128)
    ap.add_argument("--per-layer", action="store_true", help="print every layer")
    args = ap.parse_args()
    graph = zoo.mobilenet_v2(args.width, args.input, 10)
    rows = layer_rows(graph)
    table = ",\n".join("    {%d, %s}" % (KIND[k], ", ".join(map(str, g))) for k, g, _ in rows)
    src = _MAIN % {"LAYERS": table, "X_MAX": X_MAX, "Y_MAX": Y_MAX, "W_MAX": W_MAX}
    board = load_board(args.board)
    fw = build_firmware(board, [], generated={"bench_kernels.c": src}, stack_size=8192,
                        name="bench-kernels")
    run = get_emulator("qemu").run(fw.elf, board, timeout_s=300)
    if run.status != "ok":
        print(run.reason(), file=sys.stderr)
        return 1
    begins = [n for name, n in run.marks if name == "tt_mark_region_begin"]
    ends = [n for name, n in run.marks if name == "tt_mark_region_end"]
    counts = [e - b for b, e in zip(begins, ends)]
    assert len(counts) == len(rows), (len(counts), len(rows))
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    if args.per_layer:
        print(f"{'kind':5} {'h':>4} {'w':>4} {'cin':>4} {'cout':>4} {'k':>2} {'s':>2} "
              f"{'instr':>10} {'MACs':>9} {'instr/MAC':>9}")
    for (kind, g, macs), n in zip(rows, counts):
        per_kind[kind][0] += n
        per_kind[kind][1] += macs
        per_kind[kind][2] += 1
        if args.per_layer:
            ratio = f"{n / macs:9.2f}" if macs else " " * 9
            shape = " ".join(f"{v:4}" for v in g[:4]) + f" {g[4]:2} {g[5]:2}"
            print(f"{kind:5} {shape} {n:10} {macs:9} {ratio}")
    print(f"\n{args.model}-w{args.width} {args.input}x{args.input} on {args.board}: one forward's "
          f"int8 kernels")
    print(f"{'kernel':16} {'layers':>6} {'instructions':>14} {'MACs':>11} {'instr/MAC':>9}")
    total = 0
    for kind, name in (("pw", "tt_pwconv_s8"), ("dw", "tt_dwconv2d_s8"), ("conv", "tt_conv2d_s8"),
                       ("add", "tt_add_s8")):
        n, macs, cnt = per_kind[kind]
        total += n
        ratio = f"{n / macs:9.2f}" if macs else ""
        print(f"{name:16} {cnt:6} {n:14,} {macs:11,} {ratio}")
    print(f"{'total':16} {'':6} {total:14,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
