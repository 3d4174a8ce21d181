/* Gradient of global average pool (docs section 7): g_x[h][w][c] = g_y[c] / (H W). */
#include "tt_kernels.h"

void tt_avgpool_grad_input_f32(const tt_avgpool_params *p, const float *g_y, float *g_x)
{
    const int32_t n_pos = p->h * p->w, ch = p->c;
    const float hw = (float)n_pos;
    for (int32_t c = 0; c < ch; c++) {
        const float v = g_y[c] / hw;
        for (int32_t pos = 0; pos < n_pos; pos++) {
            g_x[pos * ch + c] = v;
        }
    }
}
