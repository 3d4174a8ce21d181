/* Elementwise access to the shared requantize (tt_requantize.h) for tests and tools. */
#include "tt_kernels.h"

void tt_requantize_s32(const int32_t *acc, int32_t n, int32_t multiplier, int32_t shift,
                       int32_t *out)
{
    for (int32_t i = 0; i < n; i++) {
        out[i] = tt_requantize(acc[i], multiplier, shift);
    }
}
