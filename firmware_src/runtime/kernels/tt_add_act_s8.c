/* int8 residual add with a fused activation (docs sections 4 and 7): tt_add_s8's u, clamped
 * to the activation's range, and the 1-bit mask act_min < u < act_max. */
#include "tt_kernels.h"

void tt_add_act_s8(const tt_add_params *p, int32_t act_min, int32_t act_max, const int8_t *a,
                   const int8_t *b, int8_t *y, uint8_t *mask, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        const int32_t xa = ((int32_t)a[i] - p->a_zp) * (1 << 20);
        const int32_t xb = ((int32_t)b[i] - p->b_zp) * (1 << 20);
        const int32_t ra = tt_requantize(xa, p->a_multiplier, p->a_shift);
        const int32_t rb = tt_requantize(xb, p->b_multiplier, p->b_shift);
        const int32_t u = tt_requantize(ra + rb, p->out_multiplier, p->out_shift) + p->y_zp;
        y[i] = (int8_t)(u < act_min ? act_min : (u > act_max ? act_max : u));
        if (mask) {
            tt_mask_put(mask, i, u > act_min && u < act_max);
        }
    }
}
