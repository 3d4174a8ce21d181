/* Float classifier backward and update with momentum (docs sections 7, 8 and 10.3): per
 * element v = mu * v + g; p = p - lr * v, biases then weights (row-major), then the input
 * gradient with the weights as just updated (as tt_fc_f32_backward_update). */
#include "tt_kernels.h"

void tt_fc_f32_backward_update_momentum(const tt_fc_f32_params *p, const int8_t *x, float *w,
                                        float *b, const float *dlogits, float lr, float mu,
                                        float *v_w, float *v_b, float *g_x)
{
    const int32_t in_n = p->in_n, out_n = p->out_n;
    for (int32_t j = 0; j < out_n; j++) {
        v_b[j] = mu * v_b[j] + dlogits[j];
        b[j] = b[j] - lr * v_b[j];
    }
    for (int32_t j = 0; j < out_n; j++) {
        float *wj = w + j * in_n;
        float *vj = v_w + j * in_n;
        for (int32_t i = 0; i < in_n; i++) {
            const float x_r = p->x_scale * (float)((int32_t)x[i] - p->x_zp);
            vj[i] = mu * vj[i] + dlogits[j] * x_r;
            wj[i] = wj[i] - lr * vj[i];
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
