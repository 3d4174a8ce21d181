/* conv2d weight gradient on the trainable input-channel slice (docs section 7), as a buffer
 * or fused with the in-place update element by element (no gradient buffer, step 3). */
#include "tt_grad_weight_tap.h"
#include "tt_kernels.h"

void tt_conv2d_grad_weight_f32(const tt_conv_params *p, const int8_t *x_slice, const float *g_a,
                               float x_scale, float *g_w)
{
    const int32_t kk = p->kernel, k = p->k;
    int32_t e = 0;
    for (int32_t c = 0; c < p->out_c; c++) {
        for (int32_t kh = 0; kh < kk; kh++) {
            for (int32_t kw = 0; kw < kk; kw++) {
                for (int32_t i = 0; i < k; i++) {
                    g_w[e++] = x_scale * tt_grad_weight_tap(p, x_slice, g_a, c, kh, kw, i);
                }
            }
        }
    }
}

void tt_conv2d_update_weight_s8(const tt_conv_params *p, const int8_t *x_slice,
                                const float *g_a, float x_scale, const float *w_scale,
                                int8_t *w_lo, const tt_update_params *u)
{
    const int32_t kk = p->kernel, k = p->k;
    int8_t *res = u->rounding == TT_ROUND_FEEDBACK ? u->residual : (int8_t *)0;
    int32_t e = 0;
    for (int32_t c = 0; c < p->out_c; c++) {
        for (int32_t kh = 0; kh < kk; kh++) {
            for (int32_t kw = 0; kw < kk; kw++) {
                for (int32_t i = 0; i < k; i++) {
                    const float g =
                        x_scale * tt_grad_weight_tap(p, x_slice, g_a, c, kh, kw, i);
                    w_lo[e] = res ? tt_update_weight_feedback_s8(w_lo[e], res + e, g, w_scale[c], u)
                                  : tt_update_weight_s8(w_lo[e], g, w_scale[c], u);
                    e++;
                }
            }
        }
    }
}
