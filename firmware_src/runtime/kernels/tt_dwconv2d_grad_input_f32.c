/* Depthwise input gradient (docs section 7), gathered per input element: terms in order
 * kh, kw over the taps whose output lies on the grid. */
#include "tt_kernels.h"

void tt_dwconv2d_grad_input_f32(const tt_conv_params *p, const float *g_a, const int8_t *w_lo,
                                const int8_t *w_hi, const float *w_scale, float *g_x)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, ch = p->in_c;
    const int32_t kk = p->kernel, stride = p->stride, pad = p->pad, k = p->k;
    const int32_t out_h = tt_conv_out_dim(in_h, kk, stride, pad);
    const int32_t out_w = tt_conv_out_dim(in_w, kk, stride, pad);

    for (int32_t ih = 0; ih < in_h; ih++) {
        for (int32_t iw = 0; iw < in_w; iw++) {
            for (int32_t c = 0; c < ch; c++) {
                const int8_t *wc = c < k ? w_lo + c * kk * kk : w_hi + (c - k) * kk * kk;
                const float s = w_scale[c];
                float acc = 0.0f;
                for (int32_t kh = 0; kh < kk; kh++) {
                    const int32_t th = ih + pad - kh;
                    if (th < 0 || th % stride != 0 || th / stride >= out_h) {
                        continue;
                    }
                    for (int32_t kw = 0; kw < kk; kw++) {
                        const int32_t tw = iw + pad - kw;
                        if (tw < 0 || tw % stride != 0 || tw / stride >= out_w) {
                            continue;
                        }
                        const float ga = g_a[((th / stride) * out_w + tw / stride) * ch + c];
                        acc = acc + ga * (s * (float)wc[kh * kk + kw]);
                    }
                }
                g_x[(ih * in_w + iw) * ch + c] = acc;
            }
        }
    }
}
