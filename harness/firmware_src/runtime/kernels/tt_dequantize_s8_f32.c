/* int8 to real float32: scale * (float)(x - zp), as the numpy reference evaluates it. */
#include "tt_kernels.h"

void tt_dequantize_s8_f32(const int8_t *x, int32_t n, float scale, int32_t zp, float *y)
{
    for (int32_t i = 0; i < n; i++) {
        y[i] = scale * (float)((int32_t)x[i] - zp);
    }
}
