/* Depthwise input gradient in place (stride 1): the same sums as tt_dwconv2d_grad_input_f32,
 * term for term (per input element, order kh, kw over the taps whose output lies inside),
 * but g holds g_a on entry and g_x on return. Channels are independent, so each channel's
 * plane of g_a is first copied to tmp [in_h * in_w] and its g_x written over it. */
#include "tt_kernels.h"

void tt_dwconv2d_grad_input_inplace_f32(const tt_conv_params *p, float *g, const int8_t *w_lo,
                                        const int8_t *w_hi, const float *w_scale, float *tmp)
{
    const int32_t h = p->in_h, w = p->in_w, ch = p->in_c;
    const int32_t kk = p->kernel, pad = p->pad, k = p->k;
    float wf[TT_DW_INPLACE_MAX_K * TT_DW_INPLACE_MAX_K];

    for (int32_t c = 0; c < ch; c++) {
        const int8_t *wc = c < k ? w_lo + c * kk * kk : w_hi + (c - k) * kk * kk;
        const float s = w_scale[c];
        for (int32_t t = 0; t < kk * kk; t++) {
            wf[t] = s * (float)wc[t];
        }
        for (int32_t e = 0; e < h * w; e++) {
            tmp[e] = g[e * ch + c];
        }
        for (int32_t ih = 0; ih < h; ih++) {
            /* taps kh with 0 <= ih + pad - kh < h */
            const int32_t kh0 = ih + pad - (h - 1) > 0 ? ih + pad - (h - 1) : 0;
            const int32_t kh1 = ih + pad + 1 < kk ? ih + pad + 1 : kk;
            for (int32_t iw = 0; iw < w; iw++) {
                const int32_t kw0 = iw + pad - (w - 1) > 0 ? iw + pad - (w - 1) : 0;
                const int32_t kw1 = iw + pad + 1 < kk ? iw + pad + 1 : kk;
                float acc = 0.0f;
                for (int32_t kh = kh0; kh < kh1; kh++) {
                    const float *gr = tmp + (ih + pad - kh) * w + iw + pad;
                    const float *wr = wf + kh * kk;
                    for (int32_t kw = kw0; kw < kw1; kw++) {
                        acc = acc + gr[-kw] * wr[kw];
                    }
                }
                g[(ih * w + iw) * ch + c] = acc;
            }
        }
    }
}
