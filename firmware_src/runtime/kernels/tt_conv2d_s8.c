/* int8 conv2d forward (docs section 4): any kernel, stride and symmetric pad, split weights. */
#include "tt_kernels.h"
#include "tt_simd.h"

void tt_conv2d_s8(const tt_conv_params *p, const tt_per_channel_quant *q, const int8_t *x,
                  const int8_t *w_lo, const int8_t *w_hi, const int32_t *bias, int8_t *y,
                  uint8_t *mask)
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

#if defined(TT_SIMD_DSP)
    /* DSP path: the taps inside the input are found once per output position; two output
     * channels share each (x - x_zp) word (an odd last channel is paired with itself, the copy
     * discarded). Without a split (k == 0 or k == in_c) a kernel row's taps are one contiguous
     * run of x and of w; with one, each tap is two runs. Same integer sums as the reference. */
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
#else
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
