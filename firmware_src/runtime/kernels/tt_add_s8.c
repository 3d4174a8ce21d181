/* int8 residual add (docs section 4): both inputs rescaled to 2 max(s_a, s_b) after a 20-bit
 * left shift, TFLite's rule. */
#include "tt_kernels.h"

void tt_add_s8(const tt_add_params *p, const int8_t *a, const int8_t *b, int8_t *y, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        const int32_t xa = ((int32_t)a[i] - p->a_zp) * (1 << 20);
        const int32_t xb = ((int32_t)b[i] - p->b_zp) * (1 << 20);
        const int32_t ra = tt_requantize(xa, p->a_multiplier, p->a_shift);
        const int32_t rb = tt_requantize(xb, p->b_multiplier, p->b_shift);
        const int32_t u = tt_requantize(ra + rb, p->out_multiplier, p->out_shift) + p->y_zp;
        y[i] = (int8_t)(u < -128 ? -128 : (u > 127 ? 127 : u));
    }
}
