/* Pointwise weight gradient on the first k input channels (docs section 7), as a buffer or
 * fused with the in-place update. x_slice is at the input resolution, [in_h][in_w][k]. */
#include "tt_kernels.h"

static float tt_pwconv_grad_weight_one(const tt_conv_params *p, const int8_t *x_slice,
                                       const float *g_a, int32_t c, int32_t i)
{
    const int32_t in_w = p->in_w, out_c = p->out_c, k = p->k, stride = p->stride;
    const int32_t out_h = tt_conv_out_dim(p->in_h, 1, stride, 0);
    const int32_t out_w = tt_conv_out_dim(in_w, 1, stride, 0);
    float acc = 0.0f;
    for (int32_t oh = 0; oh < out_h; oh++) {
        for (int32_t ow = 0; ow < out_w; ow++) {
            const int32_t pos_in = oh * stride * in_w + ow * stride;
            const float xc = (float)((int32_t)x_slice[pos_in * k + i] - p->x_zp);
            acc = acc + g_a[(oh * out_w + ow) * out_c + c] * xc;
        }
    }
    return acc;
}

void tt_pwconv_grad_weight_f32(const tt_conv_params *p, const int8_t *x_slice, const float *g_a,
                               float x_scale, float *g_w)
{
    int32_t e = 0;
    for (int32_t c = 0; c < p->out_c; c++) {
        for (int32_t i = 0; i < p->k; i++) {
            g_w[e++] = x_scale * tt_pwconv_grad_weight_one(p, x_slice, g_a, c, i);
        }
    }
}

void tt_pwconv_update_weight_s8(const tt_conv_params *p, const int8_t *x_slice,
                                const float *g_a, float x_scale, const float *w_scale,
                                int8_t *w_lo, const tt_update_params *u)
{
    int32_t e = 0;
    for (int32_t c = 0; c < p->out_c; c++) {
        for (int32_t i = 0; i < p->k; i++) {
            const float g = x_scale * tt_pwconv_grad_weight_one(p, x_slice, g_a, c, i);
            w_lo[e] = tt_update_weight_s8(w_lo[e], g, w_scale[c], u);
            e++;
        }
    }
}
