/* Pointwise input gradient (docs section 7): g_x[pos][i] = sum_c g_a[pos][c] w_r[c][i];
 * with stride > 1 the input positions no output reads get 0. */
#include "tt_kernels.h"

void tt_pwconv_grad_input_f32(const tt_conv_params *p, const float *g_a, const int8_t *w_lo,
                              const int8_t *w_hi, const float *w_scale, float *g_x)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c;
    const int32_t stride = p->stride, k = p->k;
    const int32_t out_h = tt_conv_out_dim(in_h, 1, stride, 0);
    const int32_t out_w = tt_conv_out_dim(in_w, 1, stride, 0);

    for (int32_t ih = 0; ih < in_h; ih++) {
        for (int32_t iw = 0; iw < in_w; iw++) {
            float *gx = g_x + (ih * in_w + iw) * in_c;
            const int32_t on_grid = ih % stride == 0 && iw % stride == 0 &&
                                    ih / stride < out_h && iw / stride < out_w;
            if (!on_grid) {
                for (int32_t i = 0; i < in_c; i++) {
                    gx[i] = 0.0f;
                }
                continue;
            }
            const float *ga = g_a + ((ih / stride) * out_w + iw / stride) * out_c;
            for (int32_t i = 0; i < in_c; i++) {
                const int8_t *base = i < k ? w_lo + i : w_hi + (i - k);
                const int32_t width = i < k ? k : in_c - k;
                float acc = 0.0f;
                for (int32_t c = 0; c < out_c; c++) {
                    acc = acc + ga[c] * (w_scale[c] * (float)base[c * width]);
                }
                gx[i] = acc;
            }
        }
    }
}
