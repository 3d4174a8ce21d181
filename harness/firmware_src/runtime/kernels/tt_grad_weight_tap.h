/* The weight gradient of one tap, shared by the conv and depthwise weight kernels (docs
 * section 7): sum over output positions (row-major) of g_a[oh][ow][c] * (x_slice[ih][iw][i] -
 * x_zp), where x_slice holds the first p->k input channels and i < p->k. A depthwise conv is
 * the case i == c (its g_a has out_c == in_c channels). x_scale is applied by the caller. */
#ifndef TT_GRAD_WEIGHT_TAP_H
#define TT_GRAD_WEIGHT_TAP_H

#include "tt_kernels.h"

static inline float tt_grad_weight_tap(const tt_conv_params *p, const int8_t *x_slice,
                                       const float *g_a, int32_t c, int32_t kh, int32_t kw,
                                       int32_t i)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, out_c = p->out_c, k = p->k;
    const int32_t stride = p->stride, pad = p->pad, x_zp = p->x_zp;
    const int32_t out_h = tt_conv_out_dim(in_h, p->kernel, stride, pad);
    const int32_t out_w = tt_conv_out_dim(in_w, p->kernel, stride, pad);
    float acc = 0.0f;
    for (int32_t oh = 0; oh < out_h; oh++) {
        const int32_t ih = oh * stride - pad + kh;
        if (ih < 0 || ih >= in_h) {
            continue;
        }
        for (int32_t ow = 0; ow < out_w; ow++) {
            const int32_t iw = ow * stride - pad + kw;
            if (iw < 0 || iw >= in_w) {
                continue;
            }
            const float xc = (float)((int32_t)x_slice[(ih * in_w + iw) * k + i] - x_zp);
            acc = acc + g_a[(oh * out_w + ow) * out_c + c] * xc;
        }
    }
    return acc;
}

#endif
