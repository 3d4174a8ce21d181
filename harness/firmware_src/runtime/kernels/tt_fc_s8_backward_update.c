/* int8 classifier backward and update: the steps of docs section 7 on a pointwise conv over a
 * 1x1 map, every weight trainable. */
#include "tt_kernels.h"

void tt_fc_s8_backward_update(const tt_fc_params *p, const int8_t *x, int8_t *w,
                              int32_t *bias, float x_scale, const float *w_scale,
                              const uint8_t *mask, float *g_y, const tt_update_params *u,
                              float *g_x)
{
    const tt_conv_params cp = {
        .in_h = 1, .in_w = 1, .in_c = p->in_n, .out_c = p->out_n,
        .kernel = 1, .stride = 1, .pad = 0, .k = p->in_n,
        .x_zp = p->x_zp, .y_zp = p->y_zp, .act_min = p->act_min, .act_max = p->act_max,
        .x_row0 = 0, .out_row0 = 0, .out_rows = 0,
        .kernel_w = 1, .stride_w = 1, .pad_bottom = 0, .pad_left = 0, .pad_right = 0,
    };
    tt_mask_apply_f32(g_y, mask, p->out_n, g_y);
    if (bias) {
        tt_bias_update_s32(bias, g_y, 1, p->out_n, x_scale, w_scale, u);
    }
    if (u->rounding == TT_ROUND_FEEDBACK) { /* the weights' residuals follow the biases' */
        tt_update_params uw = *u;
        uw.residual = u->residual + p->out_n;
        tt_pwconv_update_weight_s8(&cp, x, g_y, x_scale, w_scale, w, &uw);
    } else {
        tt_pwconv_update_weight_s8(&cp, x, g_y, x_scale, w_scale, w, u);
    }
    if (g_x) {
        tt_pwconv_grad_input_f32(&cp, g_y, w, (const int8_t *)0, w_scale, g_x);
    }
}
