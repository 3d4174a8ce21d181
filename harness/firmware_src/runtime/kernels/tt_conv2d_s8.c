/* int8 conv2d forward (docs section 4): any kernel, stride and symmetric pad, split weights. */
#include "tt_kernels.h"
#include "tt_simd.h"

#if defined(TT_SIMD_DSP)
/* Elements (K * K * in_c) up to which the patch path below is used; larger convs take
 * conv_dsp_runs. 32 covers the stems of the models here (3x3x3) at 2 x 2 x 32 x 2 bytes of
 * stack for the widened patches. */
#define CONV_PATCH_MAX 32
#define CONV_PATCH_WORDS (2 * (CONV_PATCH_MAX / 4 + 2))

/* The patch of one output position: the K x K x in_c input values it reads (x_zp where a tap
 * is outside the input), split at k like the weights (taps x k, then taps x (in_c - k)), each
 * part padded with x_zp to whole 4-byte groups and widened to (x - x_zp) int16 lane pairs
 * (SXTAB16 order): xs holds the lo part's groups, then the hi part's. */
static inline __attribute__((always_inline)) void conv_patch(
    const tt_conv_params *p, const int8_t *x, int32_t oh, int32_t ow, uint32_t nzp2,
    uint32_t *xs)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, kk = p->kernel;
    const int32_t k = p->k, k_hi = in_c - k, kk2 = kk * kk;
    const int8_t zp = (int8_t)p->x_zp;
    int8_t lo[CONV_PATCH_MAX + 4], hi[CONV_PATCH_MAX + 4];
    const int32_t ih0 = oh * p->stride - p->pad, iw0 = ow * p->stride - p->pad;
    const int32_t cols_in = iw0 >= 0 && iw0 + kk <= in_w, run = kk * in_c;
    int8_t *const whole = k > 0 ? lo : hi; /* the one part when there is no split */
    for (int32_t kh = 0; kh < kk; kh++) {
        const int32_t ih = ih0 + kh;
        if ((k == 0 || k_hi == 0) && cols_in) {
            /* no split, every tap column inside: a kernel row is one run of x (or x_zp) */
            int8_t *dst = whole + kh * run;
            if (ih >= 0 && ih < in_h) {
                const int8_t *src = x + ((ih - p->x_row0) * in_w + iw0) * in_c;
                for (int32_t i = 0; i < run; i++) {
                    dst[i] = src[i];
                }
            } else {
                for (int32_t i = 0; i < run; i++) {
                    dst[i] = zp;
                }
            }
            continue;
        }
        const int32_t row_in = ih >= 0 && ih < in_h;
        const int8_t *xr = x + ((ih - p->x_row0) * in_w + iw0) * in_c;
        for (int32_t kw = 0; kw < kk; kw++) {
            const int32_t iw = iw0 + kw, t = kh * kk + kw;
            if (row_in && iw >= 0 && iw < in_w) {
                const int8_t *xt = xr + kw * in_c;
                for (int32_t i = 0; i < k; i++) {
                    lo[t * k + i] = xt[i];
                }
                for (int32_t i = 0; i < k_hi; i++) {
                    hi[t * k_hi + i] = xt[k + i];
                }
            } else {
                for (int32_t i = 0; i < k; i++) {
                    lo[t * k + i] = zp;
                }
                for (int32_t i = 0; i < k_hi; i++) {
                    hi[t * k_hi + i] = zp;
                }
            }
        }
    }
    const int32_t n_lo = kk2 * k, n_hi = kk2 * k_hi;
    for (int32_t i = n_lo; i < ((n_lo + 3) & ~3); i++) {
        lo[i] = zp;
    }
    for (int32_t i = n_hi; i < ((n_hi + 3) & ~3); i++) {
        hi[i] = zp;
    }
    for (int32_t g = 0; g < (n_lo + 3) >> 2; g++) {
        const uint32_t v = tt_ld32(lo + 4 * g);
        *xs++ = tt_sxtab16(nzp2, v);
        *xs++ = tt_sxtab16_ror8(nzp2, v);
    }
    for (int32_t g = 0; g < (n_hi + 3) >> 2; g++) {
        const uint32_t v = tt_ld32(hi + 4 * g);
        *xs++ = tt_sxtab16(nzp2, v);
        *xs++ = tt_sxtab16_ror8(nzp2, v);
    }
}

/* DSP path for small patches (K * K * in_c <= CONV_PATCH_MAX, e.g. a 3x3 stem on RGB): output
 * positions two at a time; each one's patch is gathered and widened once (conv_patch), then
 * every pair of output channels takes both positions through tt_dot22_s16x (each weight word
 * widened once for both positions; an odd last channel is paired with itself, an odd last
 * position with itself, the copies discarded). Same integer sums as the reference (padding
 * taps hold x_zp: their (x - x_zp) is 0). */
static inline __attribute__((always_inline)) void conv_patch_body(
    const tt_conv_params *p, const tt_per_channel_quant *q, const int8_t *x, const int8_t *w_lo,
    const int8_t *w_hi, const int32_t *bias, int8_t *y, uint8_t *mask, int32_t fast)
{
    const int32_t in_c = p->in_c, out_c = p->out_c, kk = p->kernel;
    const int32_t k = p->k, k_hi = in_c - k, kk2 = kk * kk;
    const int32_t n_lo = kk2 * k, n_hi = kk2 * k_hi, lo_words = 2 * ((n_lo + 3) >> 2);
    const int32_t out_h = tt_conv_out_dim(p->in_h, kk, p->stride, p->pad);
    const int32_t out_w = tt_conv_out_dim(p->in_w, kk, p->stride, p->pad);
    const int32_t rows = p->out_rows > 0 ? p->out_rows : out_h;
    const int32_t y_zp = p->y_zp, act_min = p->act_min, act_max = p->act_max;
    const uint32_t nzp2 = tt_neg_zp2(p->x_zp);
    uint32_t xs[2][CONV_PATCH_WORDS] __attribute__((aligned(8)));
    for (int32_t r = 0; r < rows; r++) {
        const int32_t oh = p->out_row0 + r;
        for (int32_t ow = 0; ow < out_w; ow += 2) {
            const int32_t two = ow + 1 < out_w;
            conv_patch(p, x, oh, ow, nzp2, xs[0]);
            conv_patch(p, x, oh, two ? ow + 1 : ow, nzp2, xs[1]);
            int32_t e = (r * out_w + ow) * out_c;
            for (int32_t c = 0; c < out_c; c += 2) {
                const int32_t c1 = c + 1 < out_c ? c + 1 : c;
                int32_t a[4];
                a[0] = a[2] = bias ? bias[c] : 0;
                a[1] = a[3] = bias ? bias[c1] : 0;
                if (n_lo > 0) {
                    tt_dot22_s16x(xs[0], xs[1], w_lo + c * n_lo, w_lo + c1 * n_lo, n_lo, a);
                }
                if (n_hi > 0) {
                    tt_dot22_s16x(xs[0] + lo_words, xs[1] + lo_words, w_hi + c * n_hi,
                                  w_hi + c1 * n_hi, n_hi, a);
                }
                tt_rq rq0 = {0u, 0, 0, 0}, rq1 = {0u, 0, 0, 0};
                if (fast) {
                    rq0 = tt_rq_channel(q->multiplier[c], q->shift[c], y_zp);
                    rq1 = tt_rq_channel(q->multiplier[c1], q->shift[c1], y_zp);
                }
                y[e + c] = tt_out_any(a[0], &rq0, q->multiplier[c], q->shift[c], y_zp, act_min,
                                      act_max, mask, e + c, fast);
                if (c1 != c) {
                    y[e + c1] = tt_out_any(a[1], &rq1, q->multiplier[c1], q->shift[c1], y_zp,
                                           act_min, act_max, mask, e + c1, fast);
                }
                if (two) {
                    const int32_t e2 = e + out_c;
                    y[e2 + c] = tt_out_any(a[2], &rq0, q->multiplier[c], q->shift[c], y_zp,
                                           act_min, act_max, mask, e2 + c, fast);
                    if (c1 != c) {
                        y[e2 + c1] = tt_out_any(a[3], &rq1, q->multiplier[c1], q->shift[c1], y_zp,
                                                act_min, act_max, mask, e2 + c1, fast);
                    }
                }
            }
        }
    }
}

/* Two copies of conv_patch_body, each a function of its own (one stack frame at a time): the
 * fast output stage without a mask (inference), and any output stage with a mask. */
static __attribute__((noinline)) void conv_patch_fast(const tt_conv_params *p,
                                                      const tt_per_channel_quant *q,
                                                      const int8_t *x, const int8_t *w_lo,
                                                      const int8_t *w_hi, const int32_t *bias,
                                                      int8_t *y)
{
    conv_patch_body(p, q, x, w_lo, w_hi, bias, y, (uint8_t *)0, 1);
}

static __attribute__((noinline)) void conv_patch_any(const tt_conv_params *p,
                                                     const tt_per_channel_quant *q,
                                                     const int8_t *x, const int8_t *w_lo,
                                                     const int8_t *w_hi, const int32_t *bias,
                                                     int8_t *y, uint8_t *mask, int32_t fast)
{
    conv_patch_body(p, q, x, w_lo, w_hi, bias, y, mask, fast);
}

/* DSP path for larger patches: the taps inside the input are found once per output position;
 * two output channels share each (x - x_zp) word (an odd last channel is paired with itself,
 * the copy discarded). Without a split (k == 0 or k == in_c) a kernel row's taps are one
 * contiguous run of x and of w; with one, each tap is two runs. Same integer sums as the
 * reference. */
static __attribute__((noinline)) void conv_dsp_runs(const tt_conv_params *p,
                                                    const tt_per_channel_quant *q,
                                                    const int8_t *x, const int8_t *w_lo,
                                                    const int8_t *w_hi, const int32_t *bias,
                                                    int8_t *y, uint8_t *mask)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c;
    const int32_t kk = p->kernel, stride = p->stride, pad = p->pad;
    const int32_t k = p->k, k_hi = in_c - k, x_zp = p->x_zp;
    const int32_t out_h = tt_conv_out_dim(in_h, kk, stride, pad);
    const int32_t out_w = tt_conv_out_dim(in_w, kk, stride, pad);
    const int32_t oh_begin = p->out_row0;
    const int32_t oh_end = p->out_rows > 0 ? p->out_row0 + p->out_rows : out_h;
    const int32_t x_row0 = p->x_row0;
    int32_t e = 0;


    const uint32_t nzp2 = tt_neg_zp2(x_zp);
    const int32_t kk2 = kk * kk, row_step = in_w * in_c;
    const int32_t y_zp = p->y_zp, act_min = p->act_min, act_max = p->act_max;
    const int32_t whole = k == 0 || k_hi == 0;
    for (int32_t oh = oh_begin; oh < oh_end; oh++) {
        const int32_t ih0 = oh * stride - pad;
        const int32_t kh0 = ih0 < 0 ? -ih0 : 0;
        const int32_t kh1 = in_h - ih0 < kk ? in_h - ih0 : kk;
        for (int32_t ow = 0; ow < out_w; ow++) {
            const int32_t iw0 = ow * stride - pad;
            const int32_t kw0 = iw0 < 0 ? -iw0 : 0;
            const int32_t kw1 = in_w - iw0 < kk ? in_w - iw0 : kk;
            /* runs per kernel row, and taps per run */
            const int32_t runs = whole ? 1 : kw1 - kw0;
            const int32_t run_taps = whole ? kw1 - kw0 : 1;
            const int8_t *x0 = x + ((ih0 + kh0 - x_row0) * in_w + iw0 + kw0) * in_c;
            for (int32_t c = 0; c < out_c; c += 2) {
                const int32_t c1 = c + 1 < out_c ? c + 1 : c;
                int32_t acc[2];
                acc[0] = bias ? bias[c] : 0;
                acc[1] = bias ? bias[c1] : 0;
                for (int32_t kh = kh0; kh < kh1; kh++) {
                    const int8_t *xr = x0 + (kh - kh0) * row_step;
                    for (int32_t r = 0; r < runs; r++) {
                        const int32_t tap = kh * kk + kw0 + r;
                        for (int32_t s = 0; s < 2; s++) {
                            const int32_t n = s ? k_hi : k; /* channels of this array */
                            if (n > 0) {
                                const int8_t *wp = (s ? w_hi : w_lo) + tap * n;
                                tt_dot2_s8(xr + r * in_c + (s ? k : 0), wp + c * kk2 * n,
                                           wp + c1 * kk2 * n, run_taps * n, nzp2, x_zp, &acc[0],
                                           &acc[1]);
                            }
                        }
                    }
                }
                for (int32_t j = 0; j <= c1 - c; j++) {
                    y[e] = tt_output_s8(acc[j], q->multiplier[c + j], q->shift[c + j], y_zp,
                                        act_min, act_max, mask, e);
                    e++;
                }
            }
        }
    }
}
#endif

void tt_conv2d_s8(const tt_conv_params *p, const tt_per_channel_quant *q, const int8_t *x,
                  const int8_t *w_lo, const int8_t *w_hi, const int32_t *bias, int8_t *y,
                  uint8_t *mask)
{
#if defined(TT_SIMD_DSP)
    if (p->kernel * p->kernel * p->in_c > CONV_PATCH_MAX) {
        conv_dsp_runs(p, q, x, w_lo, w_hi, bias, y, mask);
    } else {
        const int32_t fast = tt_rq_fast_ok(q->multiplier, q->shift, p->out_c, p->y_zp,
                                           p->act_min, p->act_max);
        if (fast && !mask) {
            conv_patch_fast(p, q, x, w_lo, w_hi, bias, y);
        } else {
            conv_patch_any(p, q, x, w_lo, w_hi, bias, y, mask, fast);
        }
    }
#else
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c;
    const int32_t kk = p->kernel, stride = p->stride, pad = p->pad;
    const int32_t k = p->k, k_hi = in_c - k, x_zp = p->x_zp;
    const int32_t out_h = tt_conv_out_dim(in_h, kk, stride, pad);
    const int32_t out_w = tt_conv_out_dim(in_w, kk, stride, pad);
    const int32_t oh_begin = p->out_row0;
    const int32_t oh_end = p->out_rows > 0 ? p->out_row0 + p->out_rows : out_h;
    const int32_t x_row0 = p->x_row0;
    int32_t e = 0;
    for (int32_t oh = oh_begin; oh < oh_end; oh++) {
        for (int32_t ow = 0; ow < out_w; ow++) {
            for (int32_t c = 0; c < out_c; c++) {
                int32_t acc = bias ? bias[c] : 0;
                for (int32_t kh = 0; kh < kk; kh++) {
                    const int32_t ih = oh * stride - pad + kh;
                    if (ih < 0 || ih >= in_h) {
                        continue; /* padding: x - x_zp == 0 */
                    }
                    for (int32_t kw = 0; kw < kk; kw++) {
                        const int32_t iw = ow * stride - pad + kw;
                        if (iw < 0 || iw >= in_w) {
                            continue;
                        }
                        const int8_t *xp = x + ((ih - x_row0) * in_w + iw) * in_c;
                        const int32_t tap = (c * kk + kh) * kk + kw;
                        const int8_t *lo = k > 0 ? w_lo + tap * k : (const int8_t *)0;
                        const int8_t *hi = k_hi > 0 ? w_hi + tap * k_hi : (const int8_t *)0;
                        acc = tt_dot_split_s8(acc, xp, lo, hi, k, k_hi, x_zp);
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
