/* Float classifier forward (docs section 5) on the dequantized int8 input. */
#include "tt_kernels.h"

void tt_fc_f32(const tt_fc_f32_params *p, const int8_t *x, const float *w, const float *b,
               float *y)
{
    const int32_t in_n = p->in_n;
    for (int32_t j = 0; j < p->out_n; j++) {
        const float *wj = w + j * in_n;
        float acc = b[j];
        for (int32_t i = 0; i < in_n; i++) {
            const float x_r = p->x_scale * (float)((int32_t)x[i] - p->x_zp);
            acc = acc + x_r * wj[i];
        }
        y[j] = acc;
    }
}
