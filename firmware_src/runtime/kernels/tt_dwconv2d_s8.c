/* int8 depthwise conv forward (docs section 4), channel multiplier 1, weights split by
 * channel (c < k in w_lo). */
#include "tt_kernels.h"
#include "tt_simd.h"

void tt_dwconv2d_s8(const tt_conv_params *p, const tt_per_channel_quant *q, const int8_t *x,
                    const int8_t *w_lo, const int8_t *w_hi, const int32_t *bias, int8_t *y,
                    uint8_t *mask)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, ch = p->in_c;
    const int32_t kk = p->kernel, stride = p->stride, pad = p->pad;
    const int32_t k = p->k, x_zp = p->x_zp;
    const int32_t out_h = tt_conv_out_dim(in_h, kk, stride, pad);
    const int32_t out_w = tt_conv_out_dim(in_w, kk, stride, pad);
    const int32_t oh_begin = p->out_row0;
    const int32_t oh_end = p->out_rows > 0 ? p->out_row0 + p->out_rows : out_h;
    const int32_t x_row0 = p->x_row0;
    int32_t e = 0;

#if defined(TT_SIMD_DSP)
    /* DSP path: the taps inside the input are found once per output position; four adjacent
     * channels share one 32-bit load of x per tap (SXTAB16 subtracts x_zp), each channel keeps
     * its own accumulator (SMLABB / SMLATB); channels past the last group of four go one by
     * one. Same integer sums as the reference. */
    const uint32_t nzp2 = tt_neg_zp2(x_zp);
    const int32_t kk2 = kk * kk, row_step = in_w * ch;
    const int32_t y_zp = p->y_zp, act_min = p->act_min, act_max = p->act_max;
    for (int32_t oh = oh_begin; oh < oh_end; oh++) {
        const int32_t ih0 = oh * stride - pad;
        const int32_t kh0 = ih0 < 0 ? -ih0 : 0;
        const int32_t kh1 = in_h - ih0 < kk ? in_h - ih0 : kk;
        for (int32_t ow = 0; ow < out_w; ow++) {
            const int32_t iw0 = ow * stride - pad;
            const int32_t kw0 = iw0 < 0 ? -iw0 : 0;
            const int32_t kw1 = in_w - iw0 < kk ? in_w - iw0 : kk;
            const int32_t span = kw1 - kw0;
            /* x at the first tap inside the input, channel 0 */
            const int8_t *x0 = x + ((ih0 + kh0 - x_row0) * in_w + iw0 + kw0) * ch;
            for (int32_t c = 0; c < ch;) {
                const int32_t group = c + 3 < ch ? 4 : 1;
                intptr_t d[4];
                for (int32_t j = 0; j < group; j++) {
                    const int32_t cj = c + j;
                    d[j] = (intptr_t)(cj < k ? w_lo + cj * kk2 : w_hi + (cj - k) * kk2);
                }
                int32_t acc[4];
                for (int32_t j = 0; j < group; j++) {
                    acc[j] = bias ? bias[c + j] : 0;
                }
                const int8_t *xr = x0 + c;
                const int8_t *wr = (const int8_t *)d[0] + kh0 * kk + kw0;
                if (group == 4) {
                    const intptr_t d1 = d[1] - d[0], d2 = d[2] - d[0], d3 = d[3] - d[0];
                    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
                    for (int32_t kh = kh0; kh < kh1; kh++) {
                        const int8_t *xp = xr;
                        const int8_t *wp = wr;
                        for (int32_t n = span; n > 0; n--) {
                            const uint32_t xw = tt_ld32(xp);
                            const uint32_t xe = tt_sxtab16(nzp2, xw);      /* x0 - zp, x2 - zp */
                            const uint32_t xo = tt_sxtab16_ror8(nzp2, xw); /* x1 - zp, x3 - zp */
                            const intptr_t wa = (intptr_t)wp;
                            a0 = tt_smlabb(xe, (uint32_t)(int32_t)*wp, a0);
                            a1 = tt_smlabb(xo, (uint32_t)(int32_t)*(const int8_t *)(wa + d1), a1);
                            a2 = tt_smlatb(xe, (uint32_t)(int32_t)*(const int8_t *)(wa + d2), a2);
                            a3 = tt_smlatb(xo, (uint32_t)(int32_t)*(const int8_t *)(wa + d3), a3);
                            xp += ch;
                            wp++;
                        }
                        xr += row_step;
                        wr += kk;
                    }
                    acc[0] = a0;
                    acc[1] = a1;
                    acc[2] = a2;
                    acc[3] = a3;
                } else {
                    int32_t a0 = acc[0];
                    for (int32_t kh = kh0; kh < kh1; kh++) {
                        for (int32_t n = 0; n < span; n++) {
                            a0 += ((int32_t)xr[n * ch] - x_zp) * (int32_t)wr[n];
                        }
                        xr += row_step;
                        wr += kk;
                    }
                    acc[0] = a0;
                }
                for (int32_t j = 0; j < group; j++) {
                    const int32_t ej = ((oh - oh_begin) * out_w + ow) * ch + c + j;
                    y[ej] = tt_output_s8(acc[j], q->multiplier[c + j], q->shift[c + j], y_zp,
                                         act_min, act_max, mask, ej);
                }
                c += group;
            }
        }
    }
    (void)e;
#else
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
