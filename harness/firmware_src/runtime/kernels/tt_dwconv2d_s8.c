/* int8 depthwise conv forward (docs section 4), channel multiplier 1, weights split by
 * channel (c < k in w_lo). */
#include "tt_kernels.h"
#include "tt_simd.h"

#if defined(TT_SIMD_DSP)
/* Widest kernel with a SIMD interior path; wider kernels take the border path everywhere. */
#define DW_K_MAX 7

/* Border-column output (some tap columns fall outside the input): acc = b + sum over the
 * taps of rows [kh0, kh1) and columns [kw0, kw1) of (x - x_zp) * w, one tap at a time; xr is
 * x at tap (kh0, kw0), wr the weight of that tap. */
static inline __attribute__((always_inline)) int32_t dw_border(const int8_t *xr, const int8_t *wr,
                                                               int32_t b, int32_t rows,
                                                               int32_t cols, int32_t row_step,
                                                               int32_t ch, int32_t kk,
                                                               int32_t x_zp)
{
    int32_t acc = b;
    for (int32_t kh = 0; kh < rows; kh++, xr += row_step, wr += kk) {
        const int8_t *xt = xr;
        for (int32_t kw = 0; kw < cols; kw++, xt += ch) {
            acc += ((int32_t)*xt - x_zp) * (int32_t)wr[kw];
        }
    }
    return acc;
}

/* Memory operands of the 3x3 interior loop below (one channel). */
typedef struct {
    uint32_t c_lo;
    int32_t c_hi, m, r1; /* tt_rq */
    int32_t bz;          /* bias - x_zp * sum w */
    const int8_t *y_end;
    uint32_t w21;        /* [w(2, 2), 0] */
} dw3_run;

/* One tap row at pointer xr: LDRSB of taps 0 and 1, PKHBT, SMLAD with the pair word, LDRSB of
 * tap 2 (the 16x16 MAC of tap 2 follows). */
#define DW3_ROW(xr, wpair)                                                                      \
    "ldrsb %[t0], [" xr "]\n\t"                                                                 \
    "ldrsb %[t1], [" xr ", %[ch]]\n\t"                                                          \
    "pkhbt %[t0], %[t0], %[t1], lsl #16\n\t"                                                    \
    "smlad %[acc], %[t0], " wpair ", %[acc]\n\t"                                                \
    "ldrsb %[t1], [" xr ", %[ch2]]\n\t"

/* The interior outputs of a 3x3 depthwise channel in one output row, fast output stage, no
 * mask: x0 points at the first output's tap (0, 0); outputs go to y, y + ch, ... up to
 * run->y_end (at least one); x0 moves by step (ch or 2 ch) per output. One asm loop so that
 * four weight words stay in registers (13 registers: x0, y, row, ch, 2 ch, 4 weight words,
 * 4 temporaries; the rest is read from the stack). Per output 9 LDRSB, 3 PKHBT, 3 SMLAD,
 * 3 SMLAxy, 4 ADD and 16 for the output stage, two loads and the loop. */
static inline __attribute__((always_inline)) void dw3_interior_fast(
    const int8_t *x0, int32_t row, int32_t ch, int32_t stride, uint32_t w00, uint32_t w10,
    uint32_t w20, uint32_t w01, const dw3_run *run, int8_t *y)
{
    const int32_t ch2 = 2 * ch;
    int32_t acc;
    uint32_t t0, t1, tx;
#define DW3_LOOP(step)                                                                          \
    __asm__ volatile("1:\n\t"                                                                   \
                     "ldr %[acc], %[bz]\n\t"                                                    \
                     DW3_ROW("%[x0]", "%[w00]")                                                 \
                     "smlabb %[acc], %[t1], %[w01], %[acc]\n\t"                                 \
                     "add %[tx], %[x0], %[row]\n\t"                                             \
                     DW3_ROW("%[tx]", "%[w10]")                                                 \
                     "smlabt %[acc], %[t1], %[w01], %[acc]\n\t"                                 \
                     "add %[tx], %[tx], %[row]\n\t"                                             \
                     DW3_ROW("%[tx]", "%[w20]")                                                 \
                     "ldr %[t0], %[w21]\n\t"                                                    \
                     "smlabb %[acc], %[t1], %[t0], %[acc]\n\t"                                  \
                     "add %[x0], %[x0], " step "\n\t"                                           \
                     "ldr %[t0], %[clo]\n\t"                                                    \
                     "ldr %[t1], %[chi]\n\t"                                                    \
                     "ldr %[tx], %[m]\n\t"                                                      \
                     "smlal %[t0], %[t1], %[acc], %[tx]\n\t"                                    \
                     "lsr %[acc], %[acc], #31\n\t"                                              \
                     "mov %[tx], #0x80000000\n\t"                                               \
                     "smlal %[t0], %[t1], %[acc], %[tx]\n\t"                                    \
                     "ldr %[tx], %[r1]\n\t"                                                     \
                     "asr %[t1], %[t1], %[tx]\n\t"                                              \
                     "ssat %[t1], #8, %[t1]\n\t"                                                \
                     "strb %[t1], [%[y]]\n\t"                                                   \
                     "add %[y], %[y], %[ch]\n\t"                                                \
                     "ldr %[tx], %[end]\n\t"                                                    \
                     "cmp %[y], %[tx]\n\t"                                                      \
                     "bne 1b"                                                                   \
                     : [x0] "+r"(x0), [y] "+r"(y), [acc] "=&r"(acc), [t0] "=&r"(t0),            \
                       [t1] "=&r"(t1), [tx] "=&r"(tx)                                           \
                     : [row] "r"(row), [ch] "r"(ch), [ch2] "r"(ch2), [w00] "r"(w00),            \
                       [w10] "r"(w10), [w20] "r"(w20), [w01] "r"(w01), [w21] "m"(run->w21),     \
                       [clo] "m"(run->c_lo), [chi] "m"(run->c_hi), [m] "m"(run->m),             \
                       [r1] "m"(run->r1), [bz] "m"(run->bz), [end] "m"(run->y_end)              \
                     : "cc", "memory")
    if (stride == 1) {
        DW3_LOOP("%[ch]");
    } else {
        DW3_LOOP("%[ch2]");
    }
#undef DW3_LOOP
}

/* DSP path, channels outermost. Per channel: the output stage constants, the weights widened
 * to int16 pairs of neighbouring taps in a row ([w(kh, 2j), w(kh, 2j + 1)]; an odd last tap
 * alone) and the weight sum of each tap row are set up once; then each output row has its tap
 * rows inside the input [kh0, kh1) (all but at the top and bottom), the bias with x_zp folded
 * in over those rows (bias - x_zp * sum w), and is a left border, an interior and a right
 * border. Interior columns read two taps with LDRSB, pack them with PKHBT and take both
 * products with one SMLAD (3x3 with all rows inside: one asm loop with the weights in
 * registers); border columns sum (x - x_zp) * w over the taps inside. Same integer sums as the
 * reference (modulo 2^32, like its int32 sums). */
static inline __attribute__((always_inline)) void dw_body(const tt_conv_params *p,
                                                          const tt_per_channel_quant *q,
                                                          const int8_t *x, const int8_t *w_lo,
                                                          const int8_t *w_hi,
                                                          const int32_t *bias, int8_t *y,
                                                          uint8_t *mask, int32_t fast)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, ch = p->in_c;
    const int32_t kk = p->kernel, stride = p->stride, pad = p->pad;
    const int32_t k = p->k, x_zp = p->x_zp, kk2 = kk * kk;
    const int32_t out_h = tt_conv_out_dim(in_h, kk, stride, pad);
    const int32_t out_w = tt_conv_out_dim(in_w, kk, stride, pad);
    const int32_t oh_begin = p->out_row0;
    const int32_t rows = p->out_rows > 0 ? p->out_rows : out_h;
    const int32_t y_zp = p->y_zp, act_min = p->act_min, act_max = p->act_max;
    const int32_t row_step = in_w * ch, col_step = stride * ch;
    /* Interior columns [ow_lo, ow_hi): every tap column inside the input. */
    int32_t ow_lo = (pad + stride - 1) / stride;
    int32_t ow_hi = in_w - kk + pad >= 0 ? (in_w - kk + pad) / stride + 1 : 0;
    ow_hi = ow_hi > out_w ? out_w : ow_hi;
    ow_lo = ow_lo > ow_hi ? ow_hi : ow_lo;
    const int32_t simd = kk <= DW_K_MAX;
    tt_rq rq = {0u, 0, 0, 0};
    uint32_t wt[DW_K_MAX][(DW_K_MAX + 1) / 2]; /* filled for the kernel's rows (simd) */
    int32_t row_sum[DW_K_MAX];
    for (int32_t c = 0; c < ch; c++) {
        const int8_t *wc = c < k ? w_lo + c * kk2 : w_hi + (c - k) * kk2;
        const int32_t mult = q->multiplier[c], shift = q->shift[c];
        if (fast) {
            rq = tt_rq_channel(mult, shift, y_zp);
        }
        const int32_t b = bias ? bias[c] : 0;
        const int8_t *xc = x + c;
        if (simd) {
            for (int32_t kh = 0; kh < kk; kh++) {
                for (int32_t j = 0; j < kk; j += 2) {
                    const int32_t w1 = j + 1 < kk ? wc[kh * kk + j + 1] : 0;
                    wt[kh][j >> 1] = tt_pkhbt(wc[kh * kk + j], w1);
                }
                row_sum[kh] = tt_sum_s8(wc + kh * kk, kk);
            }
        }
        const int32_t k3 = simd && kk == 3; /* the five weight words of a 3x3 kernel */
        const uint32_t w00 = k3 ? wt[0][0] : 0u, w10 = k3 ? wt[1][0] : 0u;
        const uint32_t w20 = k3 ? wt[2][0] : 0u, w21 = k3 ? wt[2][1] : 0u;
        const uint32_t w01 = k3 ? (wt[0][1] & 0xFFFFu) | (wt[1][1] << 16) : 0u;
        for (int32_t r = 0; r < rows; r++) {
            const int32_t ih0 = (oh_begin + r) * stride - pad, ih0_tile = ih0 - p->x_row0;
            /* tap rows inside the input, and the bias with x_zp folded in over them */
            const int32_t kh0 = ih0 < 0 ? -ih0 : 0, kh1 = in_h - ih0 < kk ? in_h - ih0 : kk;
            int32_t bz = b;
            for (int32_t kh = kh0; simd && kh < kh1; kh++) {
                bz -= x_zp * row_sum[kh];
            }
            const int32_t lo = simd ? ow_lo : out_w, hi = simd ? ow_hi : out_w;
            const int8_t *x_row = xc + (ih0_tile + kh0) * row_step; /* tap row kh0, image col 0 */
            int32_t e = r * out_w * ch + c;
            int32_t ow = 0;
            for (; ow < lo; ow++, e += ch) {
                const int32_t iw0 = ow * stride - pad, kw0 = iw0 < 0 ? -iw0 : 0;
                const int32_t kw1 = in_w - iw0 < kk ? in_w - iw0 : kk;
                const int32_t acc = dw_border(x_row + (iw0 + kw0) * ch, wc + kh0 * kk + kw0, b,
                                              kh1 - kh0, kw1 - kw0, row_step, ch, kk, x_zp);
                y[e] = tt_out_any(acc, &rq, mult, shift, y_zp, act_min, act_max, mask, e, fast);
            }
            const int8_t *xp = x_row + (ow * stride - pad) * ch;
            if (kk == 3 && kh0 == 0 && kh1 == 3 && fast && !mask && (stride == 1 || stride == 2) &&
                ow < hi) {
                const dw3_run run = {rq.c_lo, rq.c_hi, rq.m,  rq.r1,
                                     bz,      y + e + (hi - ow) * ch, w21};
                dw3_interior_fast(xp, row_step, ch, stride, w00, w10, w20, w01, &run, y + e);
                e += (hi - ow) * ch;
                ow = hi;
            } else {
                for (; ow < hi; ow++, e += ch, xp += col_step) {
                    int32_t acc = bz;
                    const int8_t *xr = xp;
                    for (int32_t kh = kh0; kh < kh1; kh++, xr += row_step) {
                        const int8_t *xt = xr;
                        int32_t j = 0;
                        for (; j + 1 < kk; j += 2, xt += 2 * ch) {
                            acc = tt_smlad(tt_pkhbt(xt[0], xt[ch]), wt[kh][j >> 1], acc);
                        }
                        if (j < kk) {
                            acc = tt_smlabb((uint32_t)(int32_t)xt[0], wt[kh][j >> 1], acc);
                        }
                    }
                    y[e] = tt_out_any(acc, &rq, mult, shift, y_zp, act_min, act_max, mask, e,
                                      fast);
                }
            }
            for (; ow < out_w; ow++, e += ch) {
                const int32_t iw0 = ow * stride - pad, kw0 = iw0 < 0 ? -iw0 : 0;
                const int32_t kw1 = in_w - iw0 < kk ? in_w - iw0 : kk;
                const int32_t acc = dw_border(x_row + (iw0 + kw0) * ch, wc + kh0 * kk + kw0, b,
                                              kh1 - kh0, kw1 - kw0, row_step, ch, kk, x_zp);
                y[e] = tt_out_any(acc, &rq, mult, shift, y_zp, act_min, act_max, mask, e, fast);
            }
        }
    }
}

/* ---- the widened-plane path ------------------------------------------------------------------
 * Per channel, a band of input rows is copied into a stack plane of int16 (x - x_zp), one
 * element per pixel, and the weights into a table of adjacent-tap pairs
 * wp[kh][j] = [w(kh, j), w(kh, j + 1)] (0 past the row's end). Any run of taps inside the
 * input, from tap column kw0 on, is then one LDR of two neighbouring plane elements and one
 * SMLAD with wp[kh][kw0 + 2i] per two taps (an odd last tap: SMLABB with the pair's low half),
 * whatever the parity of kw0: borders cost as much per tap as the interior, and no x_zp is
 * folded in (the plane holds x - x_zp). Interior outputs of 3x3 / 5x5 / 7x7 kernels run loops
 * with the kernel size a constant (unrolled). Same int32 sums as the reference, in another
 * order (exact 16x16 products, wrapping sums). Used when a band of at least one output row
 * fits the plane. */
#define DW_XS_MAX 512 /* int16 elements of the plane (1 KiB of stack) */

/* acc + sum over rows [0, rows) and columns [0, cols) of plane(xs) * w, the plane's rows
 * xs_row apart, the pair table's rows kk apart. */
static inline __attribute__((always_inline)) int32_t dw_taps(const int16_t *xs,
                                                             const uint32_t *wp, int32_t rows,
                                                             int32_t cols, int32_t xs_row,
                                                             int32_t kk, int32_t acc)
{
    for (int32_t kh = 0; kh < rows; kh++, xs += xs_row, wp += kk) {
        int32_t j = 0;
        for (; j + 1 < cols; j += 2) {
            acc = tt_smlad(tt_ld32((const int8_t *)(const void *)(xs + j)), wp[j], acc);
        }
        if (j < cols) {
            acc = tt_smlabb((uint32_t)(int32_t)xs[j], wp[j], acc);
        }
    }
    return acc;
}

/* Two outputs (the second one's taps S plane columns to the right) over tap rows [0, rows)
 * and all K tap columns (K odd, a constant; S a constant): each weight pair is loaded once for
 * both, and with S = 2 the second output's tap pairs are the first one's shifted by one pair
 * (shared loads). An odd last tap takes the low half of its pair word. */
static inline __attribute__((always_inline)) void dw_taps2(const int16_t *xs, const uint32_t *wp,
                                                           int32_t rows, int32_t K, int32_t S,
                                                           int32_t xs_row, int32_t *a0,
                                                           int32_t *a1)
{
    int32_t acc0 = *a0, acc1 = *a1;
    for (int32_t kh = 0; kh < rows; kh++, xs += xs_row, wp += K) {
        for (int32_t j = 0; j + 1 < K; j += 2) {
            const uint32_t w = wp[j];
            acc0 = tt_smlad(tt_ld32((const int8_t *)(const void *)(xs + j)), w, acc0);
            acc1 = tt_smlad(tt_ld32((const int8_t *)(const void *)(xs + S + j)), w, acc1);
        }
        const uint32_t w = wp[K - 1];
        acc0 = tt_smlabb((uint32_t)(int32_t)xs[K - 1], w, acc0);
        acc1 = tt_smlabb((uint32_t)(int32_t)xs[S + K - 1], w, acc1);
    }
    *a0 = acc0;
    *a1 = acc1;
}

/* Output rows per band for a plane of DW_XS_MAX elements, rows of in_w + 2 pad (0: not even
 * one output row fits). */
static inline int32_t dw_band_rows(int32_t in_w, int32_t kk, int32_t stride, int32_t pad)
{
    const int32_t in_rows = DW_XS_MAX / (in_w + 2 * pad);
    return in_rows < kk ? 0 : (in_rows - kk) / stride + 1;
}

/* The plane path. The plane's rows are the band's input rows with pad zero columns on each
 * side (x - x_zp = 0 there, as the reference skips those taps), so every output runs all K tap
 * columns: only the tap rows at the top and bottom edges vary. Outputs go in pairs through
 * dw_taps2 (kernel size and stride constants: 3 / 5 / 7 x stride 1 / 2), an odd last one or
 * another kernel size through dw_taps. */
static inline __attribute__((always_inline)) void dw_plane_body(const tt_conv_params *p,
                                                                const tt_per_channel_quant *q,
                                                                const int8_t *x,
                                                                const int8_t *w_lo,
                                                                const int8_t *w_hi,
                                                                const int32_t *bias, int8_t *y,
                                                                uint8_t *mask, int32_t fast)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, ch = p->in_c;
    const int32_t kk = p->kernel, stride = p->stride, pad = p->pad;
    const int32_t k = p->k, x_zp = p->x_zp, kk2 = kk * kk;
    const int32_t out_h = tt_conv_out_dim(in_h, kk, stride, pad);
    const int32_t out_w = tt_conv_out_dim(in_w, kk, stride, pad);
    const int32_t oh_begin = p->out_row0;
    const int32_t rows = p->out_rows > 0 ? p->out_rows : out_h;
    const int32_t y_zp = p->y_zp, act_min = p->act_min, act_max = p->act_max;
    const int32_t row_step = in_w * ch, band = dw_band_rows(in_w, kk, stride, pad);
    const int32_t pw = in_w + 2 * pad; /* plane row */
    tt_rq rq = {0u, 0, 0, 0};
    int16_t xs[DW_XS_MAX];
    uint32_t wp[DW_K_MAX * DW_K_MAX];
    for (int32_t c = 0; c < ch; c++) {
        const int8_t *wc = c < k ? w_lo + c * kk2 : w_hi + (c - k) * kk2;
        const int32_t mult = q->multiplier[c], shift = q->shift[c];
        if (fast) {
            rq = tt_rq_channel(mult, shift, y_zp);
        }
        const int32_t b = bias ? bias[c] : 0;
        for (int32_t kh = 0; kh < kk; kh++) {
            const int8_t *wr = wc + kh * kk;
            for (int32_t j = 0; j + 1 < kk; j++) {
                wp[kh * kk + j] = tt_pkhbt(wr[j], wr[j + 1]);
            }
            wp[kh * kk + kk - 1] = tt_pkhbt(wr[kk - 1], 0);
        }
        for (int32_t rb = 0; rb < rows; rb += band) {
            const int32_t re = rb + band < rows ? rb + band : rows;
            int32_t ih_lo = (oh_begin + rb) * stride - pad;
            int32_t ih_hi = (oh_begin + re - 1) * stride - pad + kk;
            ih_lo = ih_lo < 0 ? 0 : ih_lo;
            ih_hi = ih_hi > in_h ? in_h : ih_hi;
            {
                const int8_t *src = x + (ih_lo - p->x_row0) * row_step + c;
                int16_t *dst = xs;
                for (int32_t ih = ih_lo; ih < ih_hi; ih++) {
                    for (int32_t i = 0; i < pad; i++) {
                        *dst++ = 0;
                    }
                    for (int32_t n = in_w; n > 0; n--, src += ch) {
                        *dst++ = (int16_t)((int32_t)*src - x_zp);
                    }
                    for (int32_t i = 0; i < pad; i++) {
                        *dst++ = 0;
                    }
                }
            }
            for (int32_t r = rb; r < re; r++) {
                const int32_t ih0 = (oh_begin + r) * stride - pad;
                const int32_t kh0 = ih0 < 0 ? -ih0 : 0, kh1 = in_h - ih0 < kk ? in_h - ih0 : kk;
                const int32_t n_rows = kh1 - kh0;
                const int16_t *xp = xs + (ih0 + kh0 - ih_lo) * pw; /* tap (kh0, 0) of output 0 */
                const uint32_t *wrow = wp + kh0 * kk;
                int32_t e = r * out_w * ch + c;
                int32_t ow = 0;
#define DW_PLANE_PAIRS(K, S)                                                                    \
    for (; ow + 1 < out_w; ow += 2, e += 2 * ch, xp += 2 * (S)) {                              \
        int32_t a0 = b, a1 = b;                                                                 \
        dw_taps2(xp, wrow, n_rows, K, S, pw, &a0, &a1);                                         \
        y[e] = tt_out_any(a0, &rq, mult, shift, y_zp, act_min, act_max, mask, e, fast);        \
        y[e + ch] = tt_out_any(a1, &rq, mult, shift, y_zp, act_min, act_max, mask, e + ch,     \
                               fast);                                                           \
    }
                if (kk == 3 && stride == 1) {
                    DW_PLANE_PAIRS(3, 1)
                } else if (kk == 3 && stride == 2) {
                    DW_PLANE_PAIRS(3, 2)
                } else if (kk == 5 && stride == 1) {
                    DW_PLANE_PAIRS(5, 1)
                } else if (kk == 5 && stride == 2) {
                    DW_PLANE_PAIRS(5, 2)
                } else if (kk == 7 && stride == 1) {
                    DW_PLANE_PAIRS(7, 1)
                } else if (kk == 7 && stride == 2) {
                    DW_PLANE_PAIRS(7, 2)
                }
#undef DW_PLANE_PAIRS
                for (; ow < out_w; ow++, e += ch, xp += stride) {
                    const int32_t acc = dw_taps(xp, wrow, n_rows, kk, pw, kk, b);
                    y[e] = tt_out_any(acc, &rq, mult, shift, y_zp, act_min, act_max, mask, e,
                                      fast);
                }
            }
        }
    }
}

/* Two copies of the plane path (one function and one plane on the stack at a time), both with
 * the fast output stage: without a mask (inference) and with one (a training forward). Layers
 * that need the reference output stage take dw_any. */
static __attribute__((noinline)) void dw_plane_fast(const tt_conv_params *p,
                                                    const tt_per_channel_quant *q,
                                                    const int8_t *x, const int8_t *w_lo,
                                                    const int8_t *w_hi, const int32_t *bias,
                                                    int8_t *y)
{
    dw_plane_body(p, q, x, w_lo, w_hi, bias, y, (uint8_t *)0, 1);
}

static __attribute__((noinline)) void dw_plane_mask(const tt_conv_params *p,
                                                    const tt_per_channel_quant *q,
                                                    const int8_t *x, const int8_t *w_lo,
                                                    const int8_t *w_hi, const int32_t *bias,
                                                    int8_t *y, uint8_t *mask)
{
    dw_plane_body(p, q, x, w_lo, w_hi, bias, y, mask, 1);
}

/* Two copies of dw_body, each a function of its own (one stack frame at a time): the fast
 * output stage without a mask (inference), and any output stage with a mask. */
static __attribute__((noinline)) void dw_fast(const tt_conv_params *p,
                                              const tt_per_channel_quant *q, const int8_t *x,
                                              const int8_t *w_lo, const int8_t *w_hi,
                                              const int32_t *bias, int8_t *y)
{
    dw_body(p, q, x, w_lo, w_hi, bias, y, (uint8_t *)0, 1);
}

static __attribute__((noinline)) void dw_any(const tt_conv_params *p,
                                             const tt_per_channel_quant *q, const int8_t *x,
                                             const int8_t *w_lo, const int8_t *w_hi,
                                             const int32_t *bias, int8_t *y, uint8_t *mask,
                                             int32_t fast)
{
    dw_body(p, q, x, w_lo, w_hi, bias, y, mask, fast);
}
#endif

void tt_dwconv2d_s8(const tt_conv_params *p, const tt_per_channel_quant *q, const int8_t *x,
                    const int8_t *w_lo, const int8_t *w_hi, const int32_t *bias, int8_t *y,
                    uint8_t *mask)
{
#if defined(TT_SIMD_DSP)
    const int32_t fast = tt_rq_fast_ok(q->multiplier, q->shift, p->in_c, p->y_zp, p->act_min,
                                       p->act_max);
    /* The plane path whenever the fast output stage applies and a band of one output row fits
     * its plane; dw_body (3x3 asm interior, border taps one by one) for wider images and
     * kernels and for the reference output stage. */
    const int32_t plane = fast && p->kernel <= DW_K_MAX &&
                          dw_band_rows(p->in_w, p->kernel, p->stride, p->pad) > 0;
    if (plane && !mask) {
        dw_plane_fast(p, q, x, w_lo, w_hi, bias, y);
    } else if (plane) {
        dw_plane_mask(p, q, x, w_lo, w_hi, bias, y, mask);
    } else if (fast && !mask) {
        dw_fast(p, q, x, w_lo, w_hi, bias, y);
    } else {
        dw_any(p, q, x, w_lo, w_hi, bias, y, mask, fast);
    }
#else
    const int32_t in_h = p->in_h, in_w = p->in_w, ch = p->in_c;
    const int32_t kk = p->kernel, stride = p->stride, pad = p->pad;
    const int32_t k = p->k, x_zp = p->x_zp;
    const int32_t out_h = tt_conv_out_dim(in_h, kk, stride, pad);
    const int32_t out_w = tt_conv_out_dim(in_w, kk, stride, pad);
    const int32_t oh_begin = p->out_row0;
    const int32_t oh_end = p->out_rows > 0 ? p->out_row0 + p->out_rows : out_h;
    const int32_t x_row0 = p->x_row0;
    int32_t e = 0;
    for (int32_t oh = oh_begin; oh < oh_end; oh++) {
        for (int32_t ow = 0; ow < out_w; ow++) {
            for (int32_t c = 0; c < ch; c++) {
                const int8_t *wc = c < k ? w_lo + c * kk * kk : w_hi + (c - k) * kk * kk;
                int32_t acc = bias ? bias[c] : 0;
                for (int32_t kh = 0; kh < kk; kh++) {
                    const int32_t ih = oh * stride - pad + kh;
                    if (ih < 0 || ih >= in_h) {
                        continue;
                    }
                    for (int32_t kw = 0; kw < kk; kw++) {
                        const int32_t iw = ow * stride - pad + kw;
                        if (iw < 0 || iw >= in_w) {
                            continue;
                        }
                        acc += ((int32_t)x[((ih - x_row0) * in_w + iw) * ch + c] - x_zp) *
                               (int32_t)wc[kh * kk + kw];
                    }
                }
                y[e] = tt_output_s8(acc, q->multiplier[c], q->shift[c], p->y_zp, p->act_min,
                                    p->act_max, mask, e);
                e++;
            }
        }
    }
#endif
}
