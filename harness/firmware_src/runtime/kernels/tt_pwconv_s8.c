/* int8 pointwise (1x1) conv forward (docs section 4), any stride, split weights. */
#include "tt_kernels.h"
#include "tt_simd.h"

#if defined(TT_SIMD_DSP)
/* The output of accumulator acc, element e: the fast stage when the layer allows it (fast is a
 * compile-time constant in each copy of the body below), else the reference one. */
static inline __attribute__((always_inline)) int8_t pw_out(int32_t acc, const tt_rq *rq,
                                                           const tt_per_channel_quant *q,
                                                           int32_t c, const tt_conv_params *p,
                                                           uint8_t *mask, int32_t e, int32_t fast)
{
    if (fast) {
        return tt_out_fast(acc, rq, mask, e);
    }
    return tt_output_s8(acc, q->multiplier[c], q->shift[c], p->y_zp, p->act_min, p->act_max,
                        mask, e);
}

/* The hot case (fast output stage, no mask, one weight array, a channel pair): pairs pixel
 * pairs of a run (pixel i at x0 + i * step) for the weight rows w0 and w1 of n bytes, outputs
 * at y[0], y[1], y[out_c], y[out_c + 1], then 2 out_c further. */
static inline __attribute__((always_inline)) void pw_run(const int8_t *x0, int32_t pairs,
                                                         int32_t step, const int8_t *w0,
                                                         const int8_t *w1, int32_t n,
                                                         const tt_rq *rq, int32_t b0, int32_t b1,
                                                         int8_t *y, int32_t out_c)
{
    const tt_rq rq0 = rq[0], rq1 = rq[1]; /* local copies: read straight from the frame */
    for (; pairs > 0; pairs--) {
        int32_t a[4] = {b0, b1, b0, b1};
        tt_dot22_s8(x0, x0 + step, w0, w1, n, a);
        y[0] = (int8_t)tt_ssat8(tt_rq_apply(a[0], &rq0));
        y[1] = (int8_t)tt_ssat8(tt_rq_apply(a[1], &rq1));
        y[out_c] = (int8_t)tt_ssat8(tt_rq_apply(a[2], &rq0));
        y[out_c + 1] = (int8_t)tt_ssat8(tt_rq_apply(a[3], &rq1));
        x0 += 2 * step;
        y += 2 * out_c;
    }
}

/* pw_run in a function of its own (its loop gets the registers), with copies for the small
 * channel counts of mobile networks where n is a constant: the dot product is straight-line
 * code without dispatch or tail (the output stage costs as much as the MACs there). */
static __attribute__((noinline)) void pw_run_fast(const int8_t *x0, int32_t pairs, int32_t step,
                                                  const int8_t *w0, const int8_t *w1, int32_t n,
                                                  const tt_rq *rq, int32_t b0, int32_t b1,
                                                  int8_t *y, int32_t out_c)
{
    switch (n) {
    case 8:
        pw_run(x0, pairs, step, w0, w1, 8, rq, b0, b1, y, out_c);
        break;
    case 16:
        pw_run(x0, pairs, step, w0, w1, 16, rq, b0, b1, y, out_c);
        break;
    case 24:
        pw_run(x0, pairs, step, w0, w1, 24, rq, b0, b1, y, out_c);
        break;
    case 32:
        pw_run(x0, pairs, step, w0, w1, 32, rq, b0, b1, y, out_c);
        break;
    default:
        pw_run(x0, pairs, step, w0, w1, n, rq, b0, b1, y, out_c);
        break;
    }
}

/* pw_run with a mask (a training forward): element e0 is y[0]'s mask bit. */
static __attribute__((noinline)) void pw_run_fast_mask(const int8_t *x0, int32_t pairs,
                                                       int32_t step, const int8_t *w0,
                                                       const int8_t *w1, int32_t n,
                                                       const tt_rq *rq, int32_t b0, int32_t b1,
                                                       int8_t *y, int32_t out_c, uint8_t *mask,
                                                       int32_t e0)
{
    const tt_rq rq0 = rq[0], rq1 = rq[1];
    for (; pairs > 0; pairs--) {
        int32_t a[4] = {b0, b1, b0, b1};
        tt_dot22_s8(x0, x0 + step, w0, w1, n, a);
        y[0] = tt_out_fast(a[0], &rq0, mask, e0);
        y[1] = tt_out_fast(a[1], &rq1, mask, e0 + 1);
        y[out_c] = tt_out_fast(a[2], &rq0, mask, e0 + out_c);
        y[out_c + 1] = tt_out_fast(a[3], &rq1, mask, e0 + out_c + 1);
        x0 += 2 * step;
        y += 2 * out_c;
        e0 += 2 * out_c;
    }
}

/* pw_run for split weights (a trainable slice: w_lo rows of k bytes, w_hi rows of k_hi bytes,
 * the second channel's rows d_lo / d_hi further), with or without a mask (mask NULL: no bits;
 * element e0 is y[0]'s bit). */
static __attribute__((noinline)) void pw_run_split(const int8_t *x0, int32_t pairs,
                                                   int32_t step, const int8_t *lo0, int32_t d_lo,
                                                   int32_t k, const int8_t *hi0, int32_t d_hi,
                                                   int32_t k_hi, const tt_rq *rq, int32_t b0,
                                                   int32_t b1, int8_t *y, int32_t out_c,
                                                   uint8_t *mask, int32_t e0)
{
    const tt_rq rq0 = rq[0], rq1 = rq[1];
    for (; pairs > 0; pairs--) {
        int32_t a[4] = {b0, b1, b0, b1};
        tt_dot22_s8(x0, x0 + step, lo0, lo0 + d_lo, k, a);
        tt_dot22_s8(x0 + k, x0 + step + k, hi0, hi0 + d_hi, k_hi, a);
        y[0] = tt_out_fast(a[0], &rq0, mask, e0);
        y[1] = tt_out_fast(a[1], &rq1, mask, e0 + 1);
        y[out_c] = tt_out_fast(a[2], &rq0, mask, e0 + out_c);
        y[out_c + 1] = tt_out_fast(a[3], &rq1, mask, e0 + out_c + 1);
        x0 += 2 * step;
        y += 2 * out_c;
        e0 += 2 * out_c;
    }
}

/* DSP path, output channels outermost: for each pair of output channels (an odd last channel
 * is paired with itself, the copy discarded) the output stage constants and the bias with x_zp
 * folded in (bias - x_zp * sum w) are set up once, then the pixels go two at a time through
 * tt_dot22_s8 (each x word widened once for both channels, each weight word once for both
 * pixels). Pixels come in runs with a constant x step: the whole row range when stride is 1,
 * one output row otherwise. Same integer sums as the reference (modulo 2^32, like its int32
 * sums); the fast output stage is bit-exact with tt_output_s8 (tt_simd.h). */
static inline __attribute__((always_inline)) void pw_body(const tt_conv_params *p,
                                                          const tt_per_channel_quant *q,
                                                          const int8_t *x, const int8_t *w_lo,
                                                          const int8_t *w_hi,
                                                          const int32_t *bias, int8_t *y,
                                                          uint8_t *mask, int32_t fast)
{
    const int32_t in_w = p->in_w, in_c = p->in_c, out_c = p->out_c, stride = p->stride;
    const int32_t k = p->k, k_hi = in_c - k, x_zp = p->x_zp;
    const int32_t out_h = tt_conv_out_dim(p->in_h, 1, stride, 0);
    const int32_t out_w = tt_conv_out_dim(in_w, 1, stride, 0);
    const int32_t oh_begin = p->out_row0;
    const int32_t rows = p->out_rows > 0 ? p->out_rows : out_h;
    /* runs of pixels with a constant x step */
    const int32_t n_runs = stride == 1 ? 1 : rows;
    const int32_t run_len = stride == 1 ? rows * out_w : out_w;
    const int32_t step = stride * in_c;
    tt_rq rq[2]; /* set per channel pair when fast (unused otherwise) */
    rq[0].c_lo = rq[1].c_lo = 0u;
    rq[0].c_hi = rq[1].c_hi = rq[0].m = rq[1].m = rq[0].r1 = rq[1].r1 = 0;
    for (int32_t c = 0; c < out_c; c += 2) {
        const int32_t c1 = c + 1 < out_c ? c + 1 : c;
        const int32_t pair = c1 != c;
        if (fast) {
            rq[0] = tt_rq_channel(q->multiplier[c], q->shift[c], p->y_zp);
            rq[1] = tt_rq_channel(q->multiplier[c1], q->shift[c1], p->y_zp);
        }
        const int8_t *lo0 = k > 0 ? w_lo + c * k : w_lo;
        const int8_t *hi0 = k_hi > 0 ? w_hi + c * k_hi : w_hi;
        const int32_t d_lo = (c1 - c) * k, d_hi = (c1 - c) * k_hi;
        int32_t b0 = bias ? bias[c] : 0, b1 = bias ? bias[c1] : 0;
        if (k > 0) {
            b0 -= x_zp * tt_sum_s8(lo0, k);
            b1 -= x_zp * tt_sum_s8(lo0 + d_lo, k);
        }
        if (k_hi > 0) {
            b0 -= x_zp * tt_sum_s8(hi0, k_hi);
            b1 -= x_zp * tt_sum_s8(hi0 + d_hi, k_hi);
        }
        for (int32_t run = 0; run < n_runs; run++) {
            const int8_t *xr = x + ((oh_begin + run) * stride - p->x_row0) * in_w * in_c;
            int32_t e = run * run_len * out_c + c; /* element of (this pixel, channel c) */
            int32_t i = 0;
            if (fast && pair && (k == 0 || k_hi == 0)) {
                const int32_t n = k > 0 ? k : k_hi;
                const int8_t *w0 = k > 0 ? lo0 : hi0;
                if (mask) {
                    pw_run_fast_mask(xr, run_len >> 1, step, w0, w0 + n, n, rq, b0, b1, y + e,
                                     out_c, mask, e);
                } else {
                    pw_run_fast(xr, run_len >> 1, step, w0, w0 + n, n, rq, b0, b1, y + e, out_c);
                }
                i = run_len & ~1;
                e += i * out_c;
            } else if (fast && pair) { /* both weight arrays */
                pw_run_split(xr, run_len >> 1, step, lo0, d_lo, k, hi0, d_hi, k_hi, rq, b0, b1,
                             y + e, out_c, mask, e);
                i = run_len & ~1;
                e += i * out_c;
            }
            for (; i + 1 < run_len; i += 2) {
                int32_t a[4] = {b0, b1, b0, b1};
                const int8_t *x0 = xr + i * step;
                if (k > 0) {
                    tt_dot22_s8_compact(x0, x0 + step, lo0, lo0 + d_lo, k, a);
                }
                if (k_hi > 0) {
                    tt_dot22_s8_compact(x0 + k, x0 + step + k, hi0, hi0 + d_hi, k_hi, a);
                }
                y[e] = pw_out(a[0], &rq[0], q, c, p, mask, e, fast);
                y[e + out_c] = pw_out(a[2], &rq[0], q, c, p, mask, e + out_c, fast);
                if (pair) {
                    y[e + 1] = pw_out(a[1], &rq[1], q, c1, p, mask, e + 1, fast);
                    y[e + out_c + 1] = pw_out(a[3], &rq[1], q, c1, p, mask, e + out_c + 1, fast);
                }
                e += 2 * out_c;
            }
            if (i < run_len) { /* the odd last pixel of the run */
                int32_t a[2] = {b0, b1};
                const int8_t *x0 = xr + i * step;
                if (k > 0) {
                    tt_dot12_s8(x0, lo0, d_lo, k, a);
                }
                if (k_hi > 0) {
                    tt_dot12_s8(x0 + k, hi0, d_hi, k_hi, a);
                }
                y[e] = pw_out(a[0], &rq[0], q, c, p, mask, e, fast);
                if (pair) {
                    y[e + 1] = pw_out(a[1], &rq[1], q, c1, p, mask, e + 1, fast);
                }
            }
        }
    }
}

/* The inference copy (fast output stage, no mask) in a function of its own, like the general
 * one below: one frame at a time on the stack. */
static __attribute__((noinline)) void pw_fast(const tt_conv_params *p,
                                              const tt_per_channel_quant *q, const int8_t *x,
                                              const int8_t *w_lo, const int8_t *w_hi,
                                              const int32_t *bias, int8_t *y)
{
    pw_body(p, q, x, w_lo, w_hi, bias, y, (uint8_t *)0, 1);
}

/* The general copy (any output stage, a mask) in a function of its own. */
static __attribute__((noinline)) void pw_any(const tt_conv_params *p,
                                             const tt_per_channel_quant *q, const int8_t *x,
                                             const int8_t *w_lo, const int8_t *w_hi,
                                             const int32_t *bias, int8_t *y, uint8_t *mask,
                                             int32_t fast)
{
    pw_body(p, q, x, w_lo, w_hi, bias, y, mask, fast);
}
#endif

void tt_pwconv_s8(const tt_conv_params *p, const tt_per_channel_quant *q, const int8_t *x,
                  const int8_t *w_lo, const int8_t *w_hi, const int32_t *bias, int8_t *y,
                  uint8_t *mask)
{
#if defined(TT_SIMD_DSP)
    const int32_t fast = tt_rq_fast_ok(q->multiplier, q->shift, p->out_c, p->y_zp, p->act_min,
                                       p->act_max);
    if (fast && !mask) {
        pw_fast(p, q, x, w_lo, w_hi, bias, y);
    } else {
        pw_any(p, q, x, w_lo, w_hi, bias, y, mask, fast);
    }
#else
    const int32_t in_w = p->in_w, in_c = p->in_c, out_c = p->out_c, stride = p->stride;
    const int32_t k = p->k, k_hi = in_c - k, x_zp = p->x_zp;
    const int32_t out_h = tt_conv_out_dim(p->in_h, 1, stride, 0);
    const int32_t out_w = tt_conv_out_dim(in_w, 1, stride, 0);
    const int32_t oh_begin = p->out_row0;
    const int32_t oh_end = p->out_rows > 0 ? p->out_row0 + p->out_rows : out_h;
    const int32_t x_row0 = p->x_row0;
    int32_t e = 0;
    for (int32_t oh = oh_begin; oh < oh_end; oh++) {
        for (int32_t ow = 0; ow < out_w; ow++) {
            const int8_t *xp = x + ((oh * stride - x_row0) * in_w + ow * stride) * in_c;
            for (int32_t c = 0; c < out_c; c++) {
                const int8_t *lo = k > 0 ? w_lo + c * k : (const int8_t *)0;
                const int8_t *hi = k_hi > 0 ? w_hi + c * k_hi : (const int8_t *)0;
                const int32_t acc = tt_dot_split_s8(bias ? bias[c] : 0, xp, lo, hi, k, k_hi, x_zp);
                y[e] = tt_output_s8(acc, q->multiplier[c], q->shift[c], p->y_zp, p->act_min,
                                    p->act_max, mask, e);
                e++;
            }
        }
    }
#endif
}
