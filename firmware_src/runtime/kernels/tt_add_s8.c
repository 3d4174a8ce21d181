/* int8 residual add (docs section 4): both inputs rescaled to 2 max(s_a, s_b) after a 20-bit
 * left shift, TFLite's rule. */
#include "tt_kernels.h"
#include "tt_simd.h"

#if defined(TT_SIMD_DSP)
/* 1 when all three requantizations can use the fast stage of tt_simd.h (right shifts 1..24,
 * multipliers > 0, y_zp in int8). */
static int32_t add_fast_ok(const tt_add_params *p)
{
    const int32_t m[3] = {p->a_multiplier, p->b_multiplier, p->out_multiplier};
    const int32_t s[3] = {p->a_shift, p->b_shift, p->out_shift};
    return tt_rq_fast_ok(m, s, 3, p->y_zp, -128, 127);
}
#endif

void tt_add_s8(const tt_add_params *p, const int8_t *a, const int8_t *b, int8_t *y, int32_t n)
{
#if defined(TT_SIMD_DSP)
    /* DSP path: each requantization is the two-SMLAL stage of tt_rq_apply (bit-exact with
     * tt_requantize), the clamp one SSAT. */
    if (add_fast_ok(p)) {
        const tt_rq qa = tt_rq_channel(p->a_multiplier, p->a_shift, 0);
        const tt_rq qb = tt_rq_channel(p->b_multiplier, p->b_shift, 0);
        const tt_rq qo = tt_rq_channel(p->out_multiplier, p->out_shift, p->y_zp);
        const int32_t a_zp = p->a_zp, b_zp = p->b_zp;
        for (int32_t i = 0; i < n; i++) {
            const int32_t ra = tt_rq_apply(((int32_t)a[i] - a_zp) * (1 << 20), &qa);
            const int32_t rb = tt_rq_apply(((int32_t)b[i] - b_zp) * (1 << 20), &qb);
            y[i] = (int8_t)tt_ssat8(tt_rq_apply(ra + rb, &qo));
        }
        return;
    }
#endif
    for (int32_t i = 0; i < n; i++) {
        const int32_t xa = ((int32_t)a[i] - p->a_zp) * (1 << 20);
        const int32_t xb = ((int32_t)b[i] - p->b_zp) * (1 << 20);
        const int32_t ra = tt_requantize(xa, p->a_multiplier, p->a_shift);
        const int32_t rb = tt_requantize(xb, p->b_multiplier, p->b_shift);
        const int32_t u = tt_requantize(ra + rb, p->out_multiplier, p->out_shift) + p->y_zp;
        y[i] = (int8_t)(u < -128 ? -128 : (u > 127 ? 127 : u));
    }
}
