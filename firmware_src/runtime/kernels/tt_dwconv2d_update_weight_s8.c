/* Depthwise weight gradient on the trainable channels c < k (docs section 7), as a buffer or
 * fused with the in-place update. x_slice holds the first k channels of the input. */
#include "tt_kernels.h"

static float tt_dwconv2d_grad_weight_one(const tt_conv_params *p, const int8_t *x_slice,
                                         const float *g_a, int32_t c, int32_t kh, int32_t kw)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, ch = p->in_c, k = p->k;
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
            const float xc = (float)((int32_t)x_slice[(ih * in_w + iw) * k + c] - x_zp);
            acc = acc + g_a[(oh * out_w + ow) * ch + c] * xc;
        }
    }
    return acc;
}

void tt_dwconv2d_grad_weight_f32(const tt_conv_params *p, const int8_t *x_slice,
                                 const float *g_a, float x_scale, float *g_w)
{
    const int32_t kk = p->kernel;
    int32_t e = 0;
    for (int32_t c = 0; c < p->k; c++) {
        for (int32_t kh = 0; kh < kk; kh++) {
            for (int32_t kw = 0; kw < kk; kw++) {
                g_w[e++] = x_scale * tt_dwconv2d_grad_weight_one(p, x_slice, g_a, c, kh, kw);
            }
        }
    }
}

void tt_dwconv2d_update_weight_s8(const tt_conv_params *p, const int8_t *x_slice,
                                  const float *g_a, float x_scale, const float *w_scale,
                                  int8_t *w_lo, const tt_update_params *u)
{
    const int32_t kk = p->kernel;
    int32_t e = 0;
    for (int32_t c = 0; c < p->k; c++) {
        for (int32_t kh = 0; kh < kk; kh++) {
            for (int32_t kw = 0; kw < kk; kw++) {
                const float g = x_scale * tt_dwconv2d_grad_weight_one(p, x_slice, g_a, c, kh, kw);
                w_lo[e] = tt_update_weight_s8(w_lo[e], g, w_scale[c], u);
                e++;
            }
        }
    }
}
