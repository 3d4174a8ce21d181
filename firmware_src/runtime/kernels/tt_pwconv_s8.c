/* int8 pointwise (1x1) conv forward (docs section 4), any stride, split weights. */
#include "tt_kernels.h"
#include "tt_simd.h"

void tt_pwconv_s8(const tt_conv_params *p, const tt_per_channel_quant *q, const int8_t *x,
                  const int8_t *w_lo, const int8_t *w_hi, const int32_t *bias, int8_t *y,
                  uint8_t *mask)
{
    const int32_t in_w = p->in_w, in_c = p->in_c, out_c = p->out_c, stride = p->stride;
    const int32_t k = p->k, k_hi = in_c - k, x_zp = p->x_zp;
    const int32_t out_h = tt_conv_out_dim(p->in_h, 1, stride, 0);
    const int32_t out_w = tt_conv_out_dim(in_w, 1, stride, 0);
    const int32_t oh_begin = p->out_row0;
    const int32_t oh_end = p->out_rows > 0 ? p->out_row0 + p->out_rows : out_h;
    const int32_t x_row0 = p->x_row0;
    int32_t e = 0;

#if defined(TT_SIMD_DSP)
    /* DSP path: two output channels share each (x - x_zp) word (an odd last channel is paired
     * with itself, the copy discarded); same integer sums as the reference. */
    const uint32_t nzp2 = tt_neg_zp2(x_zp);
    const int32_t y_zp = p->y_zp, act_min = p->act_min, act_max = p->act_max;
    for (int32_t oh = oh_begin; oh < oh_end; oh++) {
        for (int32_t ow = 0; ow < out_w; ow++) {
            const int8_t *xp = x + ((oh * stride - x_row0) * in_w + ow * stride) * in_c;
            for (int32_t c = 0; c < out_c; c += 2) {
                const int32_t c1 = c + 1 < out_c ? c + 1 : c;
                int32_t acc[2];
                acc[0] = bias ? bias[c] : 0;
                acc[1] = bias ? bias[c1] : 0;
                for (int32_t s = 0; s < 2; s++) {
                    const int32_t n = s ? k_hi : k;
                    if (n > 0) {
                        const int8_t *wp = s ? w_hi : w_lo;
                        tt_dot2_s8(xp + (s ? k : 0), wp + c * n, wp + c1 * n, n, nzp2, x_zp,
                                   &acc[0], &acc[1]);
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
