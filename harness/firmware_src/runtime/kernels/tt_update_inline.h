/* The per-element int8 weight update of docs section 8 as an inline, for the fused update
 * kernels' inner loops (tt_update_weight_s8 in tt_update.c is the reference).
 *
 * Same result as tt_update_weight_s8 for every input: after v = (float)old - d, the
 * reference rounds (nearest: trunc(t), t = v +- 0.5; stochastic: floor(v + u)) and then
 * clamps to [-127, 127], keeping old on NaN. Rounding toward zero / down never crosses an
 * integer bound, so comparing t (or v + u) with -127 and 127 before rounding picks the same
 * clamp, and inside the bounds the int32 conversion is the reference's truncation (and floor
 * is truncation minus one below a negative non-integer). The stochastic draw happens once per
 * element as in the reference. */
#ifndef TT_UPDATE_INLINE_H
#define TT_UPDATE_INLINE_H

#include "tt_kernels.h"

static inline __attribute__((always_inline)) int8_t tt_update_weight_s8_inline(
    int8_t w, float g, float s, float lr, int32_t qas, int32_t stochastic, tt_rng *rng)
{
    const float step = lr * g;
    const float d = qas ? step / s : step * s;
    const float v = (float)w - d;
    float t;
    if (stochastic) {
        t = v + (float)(tt_xorshift32(rng) >> 8) * 0x1p-24f;
    } else {
        t = v + (v >= 0.0f ? 0.5f : -0.5f);
    }
    if (t != t) {
        return w;
    }
    if (t < -127.0f) {
        return -127;
    }
    if (t > 127.0f) {
        return 127;
    }
    int32_t r = (int32_t)t;
    if (stochastic && (float)r > t) {
        r = r - 1;
    }
    return (int8_t)r;
}

/* The error-feedback update of docs section 8.1 (tt_update_weight_feedback_s8 calls this one).
 * Both roundings are the reference's nearest, trunc(t) with t = x +- 0.5, and each clamp is
 * judged on t before the conversion, for the reason above. (float)w + (float)*e * 2^-8 is
 * exact (|w| <= 127, |*e| <= 128: 15 significant bits), so v has one rounding, that of the
 * subtraction. */
static inline __attribute__((always_inline)) int8_t tt_update_weight_feedback_s8_inline(
    int8_t w, int8_t *e, float g, float s, float lr, int32_t qas)
{
    const float step = lr * g;
    const float d = qas ? step / s : step * s;
    const float v = ((float)w + (float)*e * 0x1p-8f) - d;
    const float t = v + (v >= 0.0f ? 0.5f : -0.5f);
    if (t != t) {
        return w;
    }
    int8_t r;
    if (t < -127.0f) {
        r = -127;
    } else if (t > 127.0f) {
        r = 127;
    } else {
        r = (int8_t)(int32_t)t;
    }
    const float q = (v - (float)r) * 256.0f;
    const float tq = q + (q >= 0.0f ? 0.5f : -0.5f);
    if (tq < -128.0f) {
        *e = -128;
    } else if (tq > 127.0f) {
        *e = 127;
    } else {
        *e = (int8_t)(int32_t)tq;
    }
    return r;
}

#endif /* TT_UPDATE_INLINE_H */
