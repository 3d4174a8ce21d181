/* Bias gradient (sum of g_a over positions) and its in-place QAS update (docs sections 7-8). */
#include "tt_kernels.h"

static float tt_bias_grad_one(const float *g_a, int32_t n_pos, int32_t c_out, int32_t c)
{
    float acc = 0.0f;
    for (int32_t pos = 0; pos < n_pos; pos++) {
        acc = acc + g_a[pos * c_out + c];
    }
    return acc;
}

void tt_bias_grad_f32(const float *g_a, int32_t n_pos, int32_t c_out, float *g_b)
{
    for (int32_t c = 0; c < c_out; c++) {
        g_b[c] = tt_bias_grad_one(g_a, n_pos, c_out, c);
    }
}

void tt_bias_update_s32(int32_t *bias, const float *g_a, int32_t n_pos, int32_t c_out,
                        float x_scale, const float *w_scale, const tt_update_params *u)
{
    for (int32_t c = 0; c < c_out; c++) {
        const float g = tt_bias_grad_one(g_a, n_pos, c_out, c);
        bias[c] = tt_update_bias_s32(bias[c], g, x_scale * w_scale[c], u);
    }
}
