/* conv2d input gradient (docs section 7), gathered per input element so each g_x is written
 * once: terms in order kh, kw (taps whose output lies on the grid), then c. */
#include "tt_kernels.h"

void tt_conv2d_grad_input_f32(const tt_conv_params *p, const float *g_a, const int8_t *w_lo,
                              const int8_t *w_hi, const float *w_scale, float *g_x)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c;
    const int32_t kk = p->kernel, stride = p->stride, pad = p->pad, k = p->k;
    const int32_t out_h = tt_conv_out_dim(in_h, kk, stride, pad);
    const int32_t out_w = tt_conv_out_dim(in_w, kk, stride, pad);

    for (int32_t ih = 0; ih < in_h; ih++) {
        for (int32_t iw = 0; iw < in_w; iw++) {
            for (int32_t i = 0; i < in_c; i++) {
                /* w[c][kh][kw][i] = base[((c * K + kh) * K + kw) * width] */
                const int8_t *base = i < k ? w_lo + i : w_hi + (i - k);
                const int32_t width = i < k ? k : in_c - k;
                float acc = 0.0f;
                for (int32_t kh = 0; kh < kk; kh++) {
                    const int32_t th = ih + pad - kh;
                    if (th < 0 || th % stride != 0 || th / stride >= out_h) {
                        continue;
                    }
                    const int32_t oh = th / stride;
                    for (int32_t kw = 0; kw < kk; kw++) {
                        const int32_t tw = iw + pad - kw;
                        if (tw < 0 || tw % stride != 0 || tw / stride >= out_w) {
                            continue;
                        }
                        const float *ga = g_a + (oh * out_w + tw / stride) * out_c;
                        const int8_t *wp = base + (kh * kk + kw) * width;
                        const int32_t c_step = kk * kk * width;
                        for (int32_t c = 0; c < out_c; c++) {
                            acc = acc + ga[c] * (w_scale[c] * (float)wp[c * c_step]);
                        }
                    }
                }
                g_x[(ih * in_w + iw) * in_c + i] = acc;
            }
        }
    }
}
