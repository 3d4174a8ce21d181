/* Bias gradient (sum of g_a over positions) and its in-place QAS update (docs sections 7-8).
 * Fast path of the fused update: 8 channels' sums at a time, each in position order. */
#include "tt_kernels.h"
#include "tt_kernels_ref.h"

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

/* One bias: error feedback (docs section 8.1) with its residual, else the mode's rounding. */
static int32_t tt_bias_one(int32_t b, int32_t c, float g, float s, const tt_update_params *u)
{
    if (u->rounding == TT_ROUND_FEEDBACK) {
        return tt_update_bias_feedback_s32(b, u->residual + c, g, s, u);
    }
    return tt_update_bias_s32(b, g, s, u);
}

void tt_bias_update_s32_ref(int32_t *bias, const float *g_a, int32_t n_pos, int32_t c_out,
                            float x_scale, const float *w_scale, const tt_update_params *u)
{
    for (int32_t c = 0; c < c_out; c++) {
        const float g = tt_bias_grad_one(g_a, n_pos, c_out, c);
        bias[c] = tt_bias_one(bias[c], c, g, x_scale * w_scale[c], u);
    }
}

void tt_bias_update_s32(int32_t *bias, const float *g_a, int32_t n_pos, int32_t c_out,
                        float x_scale, const float *w_scale, const tt_update_params *u)
{
#if defined(TT_PORTABLE_KERNELS) /* benchmarks/bench_speed.py: the reference, for a before/after */
    tt_bias_update_s32_ref(bias, g_a, n_pos, c_out, x_scale, w_scale, u);
    return;
#endif
    int32_t c0 = 0;
    for (; c0 + 8 <= c_out; c0 += 8) {
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
        float a4 = 0.0f, a5 = 0.0f, a6 = 0.0f, a7 = 0.0f;
        const float *g = g_a + c0;
        for (int32_t pos = 0; pos < n_pos; pos++, g += c_out) {
            a0 = a0 + g[0];
            a1 = a1 + g[1];
            a2 = a2 + g[2];
            a3 = a3 + g[3];
            a4 = a4 + g[4];
            a5 = a5 + g[5];
            a6 = a6 + g[6];
            a7 = a7 + g[7];
        }
        const float acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
        for (int32_t j = 0; j < 8; j++) {
            const int32_t c = c0 + j;
            bias[c] = tt_bias_one(bias[c], c, acc[j], x_scale * w_scale[c], u);
        }
    }
    for (int32_t c = c0; c < c_out; c++) {
        const float g = tt_bias_grad_one(g_a, n_pos, c_out, c);
        bias[c] = tt_bias_one(bias[c], c, g, x_scale * w_scale[c], u);
    }
}
