/* int8 residual add with a fused activation (docs sections 4 and 7). tt_add_s8 (its DSP path
 * where it applies) gives v = clamp(u, -128, 127); since the activation's range lies inside
 * [-128, 127], clamp(v, act_min, act_max) == clamp(u, act_min, act_max) and
 * act_min < v < act_max <=> act_min < u < act_max (a u beyond int8 saturates v onto a bound
 * the mask test excludes), so a second pass over y applies the clamp and writes the mask. */
#include "tt_kernels.h"

void tt_add_act_s8(const tt_add_params *p, int32_t act_min, int32_t act_max, const int8_t *a,
                   const int8_t *b, int8_t *y, uint8_t *mask, int32_t n)
{
    tt_add_s8(p, a, b, y, n);
    if (mask) {
        for (int32_t i = 0; i < n; i++) {
            const int32_t v = y[i];
            y[i] = (int8_t)(v < act_min ? act_min : (v > act_max ? act_max : v));
            tt_mask_put(mask, i, v > act_min && v < act_max);
        }
    } else {
        for (int32_t i = 0; i < n; i++) {
            const int32_t v = y[i];
            y[i] = (int8_t)(v < act_min ? act_min : (v > act_max ? act_max : v));
        }
    }
}
