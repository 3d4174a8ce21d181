/* Straight-through clamp gradient (docs section 7, step 1): g_a = g_y where the clamp did not
 * bind, 0 elsewhere. A select, not a multiply, so an infinite g_y under a 0 bit gives 0. */
#include "tt_kernels.h"

void tt_mask_apply_f32(const float *g_y, const uint8_t *mask, int32_t n, float *g_a)
{
    for (int32_t e = 0; e < n; e++) {
        g_a[e] = tt_mask_get(mask, e) ? g_y[e] : 0.0f;
    }
}
