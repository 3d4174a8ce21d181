/* int8 fully connected forward: a pointwise conv on a 1x1 map, all weights in one array. */
#include "tt_kernels.h"

void tt_fc_s8(const tt_fc_params *p, const tt_per_channel_quant *q, const int8_t *x,
              const int8_t *w, const int32_t *bias, int8_t *y, uint8_t *mask)
{
    const tt_conv_params cp = {
        .in_h = 1, .in_w = 1, .in_c = p->in_n, .out_c = p->out_n,
        .kernel = 1, .stride = 1, .pad = 0, .k = p->in_n,
        .x_zp = p->x_zp, .y_zp = p->y_zp, .act_min = p->act_min, .act_max = p->act_max,
        .x_row0 = 0, .out_row0 = 0, .out_rows = 0,
        .kernel_w = 1, .stride_w = 1, .pad_bottom = 0, .pad_left = 0, .pad_right = 0,
    };
    tt_pwconv_s8(&cp, q, x, w, (const int8_t *)0, bias, y, mask);
}
