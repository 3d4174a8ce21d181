/* Float classifier backward and update (docs sections 7-8): bias, weights (row-major), then
 * the input gradient with the weights as just updated. */
#include "tt_kernels.h"

void tt_fc_f32_backward_update(const tt_fc_f32_params *p, const int8_t *x, float *w, float *b,
                               const float *dlogits, float lr, float *g_x)
{
    const int32_t in_n = p->in_n, out_n = p->out_n;
    for (int32_t j = 0; j < out_n; j++) {
        b[j] = b[j] - lr * dlogits[j];
    }
    for (int32_t j = 0; j < out_n; j++) {
        float *wj = w + j * in_n;
        for (int32_t i = 0; i < in_n; i++) {
            const float x_r = p->x_scale * (float)((int32_t)x[i] - p->x_zp);
            wj[i] = wj[i] - lr * (dlogits[j] * x_r);
        }
    }
    if (g_x) {
        for (int32_t i = 0; i < in_n; i++) {
            float acc = 0.0f;
            for (int32_t j = 0; j < out_n; j++) {
                acc = acc + w[j * in_n + i] * dlogits[j];
            }
            g_x[i] = acc;
        }
    }
}
