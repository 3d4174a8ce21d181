/* int8 residual add (docs section 4): both inputs rescaled to 2 max(s_a, s_b) after a 20-bit
 * left shift, TFLite's rule. */
#include "tt_kernels.h"
#include "tt_simd.h"

#if defined(TT_SIMD_DSP)
/* One input's rescale requantize(x, m, shift) for shift 0 or a right shift 1..24, m > 0:
 * shift 0 is requantize's first rounding alone, floor((x m + 2^30) / 2^31) (tt_simd.h). */
typedef struct {
    tt_rq rq;
    int32_t shift0; /* 1: shift == 0 */
} add_in;

static inline __attribute__((always_inline)) int32_t add_rescale(int32_t x, const add_in *in)
{
    if (in->shift0) {
        return (int32_t)(((int64_t)x * in->rq.m + (INT64_C(1) << 30)) >> 31);
    }
    return tt_rq_apply(x, &in->rq);
}

static inline add_in add_input(int32_t m, int32_t shift)
{
    add_in in;
    in.shift0 = shift == 0;
    in.rq = tt_rq_channel(m, in.shift0 ? -1 : shift, 0);
    return in;
}

/* 1 when the DSP path applies: input shifts 0 or right shifts, the output's a right shift
 * (the fast stage of tt_simd.h), multipliers > 0, y_zp in int8. */
static int32_t add_fast_ok(const tt_add_params *p)
{
    const int32_t m[3] = {p->a_multiplier, p->b_multiplier, p->out_multiplier};
    const int32_t s[3] = {p->a_shift == 0 ? -1 : p->a_shift, p->b_shift == 0 ? -1 : p->b_shift,
                          p->out_shift};
    return tt_rq_fast_ok(m, s, 3, p->y_zp, -128, 127);
}
#endif

void tt_add_s8(const tt_add_params *p, const int8_t *a, const int8_t *b, int8_t *y, int32_t n)
{
#if defined(TT_SIMD_DSP)
    /* DSP path: each requantization is the two-SMLAL stage of tt_rq_apply (bit-exact with
     * tt_requantize; an input shift 0 one SMULL and a rounding shift), the clamp one SSAT. */
    if (add_fast_ok(p)) {
        const add_in qa = add_input(p->a_multiplier, p->a_shift);
        const add_in qb = add_input(p->b_multiplier, p->b_shift);
        const tt_rq qo = tt_rq_channel(p->out_multiplier, p->out_shift, p->y_zp);
        const int32_t a_zp = p->a_zp, b_zp = p->b_zp;
        for (int32_t i = 0; i < n; i++) {
            const int32_t ra = add_rescale(((int32_t)a[i] - a_zp) * (1 << 20), &qa);
            const int32_t rb = add_rescale(((int32_t)b[i] - b_zp) * (1 << 20), &qb);
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
