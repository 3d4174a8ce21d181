/* One int8 weight / int32 bias update with QAS on or off and any rounding (docs section 8),
 * and the buffered forms that apply a whole gradient array. */
#include "tt_kernels.h"
#include "tt_update_inline.h"

static float tt_update_value(float old, float g, float s, const tt_update_params *u)
{
    const float step = u->lr * g;
    const float d = u->qas ? step / s : step * s;
    const float v = old - d;
    return u->rounding == TT_ROUND_STOCHASTIC ? tt_round_stochastic_f32(v, u->rng)
                                              : tt_round_nearest_f32(v);
}

int8_t tt_update_weight_s8(int8_t w, float g, float s, const tt_update_params *u)
{
    const float r = tt_update_value((float)w, g, s, u);
    if (r != r) {
        return w;
    }
    if (r < -127.0f) {
        return -127;
    }
    if (r > 127.0f) {
        return 127;
    }
    return (int8_t)(int32_t)r;
}

int8_t tt_update_weight_feedback_s8(int8_t w, int8_t *e, float g, float s,
                                    const tt_update_params *u)
{
    return tt_update_weight_feedback_s8_inline(w, e, g, s, u->lr, u->qas);
}

int32_t tt_update_bias_s32(int32_t b, float g, float s, const tt_update_params *u)
{
    const float r = tt_update_value((float)b, g, s, u);
    if (r != r) {
        return b;
    }
    if (r >= 2147483648.0f) {
        return INT32_MAX;
    }
    if (r < -2147483648.0f) {
        return INT32_MIN;
    }
    return (int32_t)r;
}

int32_t tt_update_bias_feedback_s32(int32_t b, int8_t *e, float g, float s,
                                    const tt_update_params *u)
{
    const float step = u->lr * g;
    const float d = u->qas ? step / s : step * s;
    const float v = ((float)b + (float)*e * 0x1p-8f) - d;
    const float r = tt_round_nearest_f32(v);
    if (r != r) {
        return b;
    }
    int32_t out;
    if (r >= 2147483648.0f) {
        out = INT32_MAX;
    } else if (r < -2147483648.0f) {
        out = INT32_MIN;
    } else {
        out = (int32_t)r;
    }
    const float q = (v - (float)out) * 256.0f;
    const float tq = q + (q >= 0.0f ? 0.5f : -0.5f);
    if (tq < -128.0f) {
        *e = -128;
    } else if (tq > 127.0f) {
        *e = 127;
    } else {
        *e = (int8_t)(int32_t)tq;
    }
    return out;
}

void tt_apply_update_weight_s8(int8_t *w, const float *g_w, int32_t c_out, int32_t per_channel,
                               const float *w_scale, const tt_update_params *u)
{
    for (int32_t c = 0; c < c_out; c++) {
        for (int32_t j = 0; j < per_channel; j++) {
            const int32_t e = c * per_channel + j;
            w[e] = u->rounding == TT_ROUND_FEEDBACK
                       ? tt_update_weight_feedback_s8(w[e], u->residual + e, g_w[e], w_scale[c], u)
                       : tt_update_weight_s8(w[e], g_w[e], w_scale[c], u);
        }
    }
}

void tt_apply_update_bias_s32(int32_t *bias, const float *g_b, int32_t c_out, float x_scale,
                              const float *w_scale, const tt_update_params *u)
{
    for (int32_t c = 0; c < c_out; c++) {
        bias[c] = u->rounding == TT_ROUND_FEEDBACK
                      ? tt_update_bias_feedback_s32(bias[c], u->residual + c, g_b[c],
                                                    x_scale * w_scale[c], u)
                      : tt_update_bias_s32(bias[c], g_b[c], x_scale * w_scale[c], u);
    }
}
