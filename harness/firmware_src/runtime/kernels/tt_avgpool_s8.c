/* int8 global average pool (docs section 4): requantize(sum (x - x_zp)) + y_zp per channel. */
#include "tt_kernels.h"

void tt_avgpool_s8(const tt_avgpool_params *p, const int8_t *x, int8_t *y)
{
    const int32_t n_pos = p->h * p->w, ch = p->c;
    for (int32_t c = 0; c < ch; c++) {
        int32_t sum = 0;
        for (int32_t pos = 0; pos < n_pos; pos++) {
            sum += (int32_t)x[pos * ch + c] - p->x_zp;
        }
        const int32_t u = tt_requantize(sum, p->multiplier, p->shift) + p->y_zp;
        y[c] = (int8_t)(u < -128 ? -128 : (u > 127 ? 127 : u));
    }
}
