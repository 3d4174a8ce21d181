/* int8 depthwise conv forward (docs section 4), channel multiplier 1, weights split by
 * channel (c < k in w_lo). */
#include "tt_kernels.h"

void tt_dwconv2d_s8(const tt_conv_params *p, const tt_per_channel_quant *q, const int8_t *x,
                    const int8_t *w_lo, const int8_t *w_hi, const int32_t *bias, int8_t *y,
                    uint8_t *mask)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, ch = p->in_c;
    const int32_t kk = p->kernel, stride = p->stride, pad = p->pad;
    const int32_t k = p->k, x_zp = p->x_zp;
    const int32_t out_h = tt_conv_out_dim(in_h, kk, stride, pad);
    const int32_t out_w = tt_conv_out_dim(in_w, kk, stride, pad);
    int32_t e = 0;

    for (int32_t oh = 0; oh < out_h; oh++) {
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
                        acc += ((int32_t)x[(ih * in_w + iw) * ch + c] - x_zp) *
                               (int32_t)wc[kh * kk + kw];
                    }
                }
                y[e] = tt_output_s8(acc, q->multiplier[c], q->shift[c], p->y_zp, p->act_min,
                                    p->act_max, mask, e);
                e++;
            }
        }
    }
}
