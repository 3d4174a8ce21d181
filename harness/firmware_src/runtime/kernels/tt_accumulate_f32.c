/* Gradient accumulation where a tensor feeds two consumers (the residual add's skip path). */
#include "tt_kernels.h"

void tt_accumulate_f32(float *acc, const float *g, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        acc[i] = acc[i] + g[i];
    }
}
