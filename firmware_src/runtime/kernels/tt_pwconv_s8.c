/* int8 pointwise (1x1) conv forward (docs section 4), any stride, split weights. */
#include "tt_kernels.h"

void tt_pwconv_s8(const tt_conv_params *p, const tt_per_channel_quant *q, const int8_t *x,
                  const int8_t *w_lo, const int8_t *w_hi, const int32_t *bias, int8_t *y,
                  uint8_t *mask)
{
    const int32_t in_w = p->in_w, in_c = p->in_c, out_c = p->out_c, stride = p->stride;
    const int32_t k = p->k, k_hi = in_c - k, x_zp = p->x_zp;
    const int32_t out_h = tt_conv_out_dim(p->in_h, 1, stride, 0);
    const int32_t out_w = tt_conv_out_dim(in_w, 1, stride, 0);
    int32_t e = 0;

    for (int32_t oh = 0; oh < out_h; oh++) {
        for (int32_t ow = 0; ow < out_w; ow++) {
            const int8_t *xp = x + (oh * stride * in_w + ow * stride) * in_c;
            for (int32_t c = 0; c < out_c; c++) {
                int32_t acc = bias ? bias[c] : 0;
                if (k > 0) {
                    const int8_t *wp = w_lo + c * k;
                    for (int32_t i = 0; i < k; i++) {
                        acc += ((int32_t)xp[i] - x_zp) * (int32_t)wp[i];
                    }
                }
                if (k_hi > 0) {
                    const int8_t *wp = w_hi + c * k_hi;
                    const int8_t *xh = xp + k;
                    for (int32_t i = 0; i < k_hi; i++) {
                        acc += ((int32_t)xh[i] - x_zp) * (int32_t)wp[i];
                    }
                }
                y[e] = tt_output_s8(acc, q->multiplier[c], q->shift[c], p->y_zp, p->act_min,
                                    p->act_max, mask, e);
                e++;
            }
        }
    }
}
