/* Rounding of updates (docs section 8) without libm. Floats of magnitude >= 2^23 are already
 * integers (and int casts of them could overflow), so they pass through unchanged. */
#include "tt_kernels.h"

float tt_truncf(float v)
{
    if (!(v > -8388608.0f && v < 8388608.0f)) {
        return v; /* integral, infinite or NaN */
    }
    return (float)(int32_t)v;
}

float tt_floorf(float v)
{
    if (!(v > -8388608.0f && v < 8388608.0f)) {
        return v;
    }
    const float t = (float)(int32_t)v;
    return t > v ? t - 1.0f : t;
}

float tt_round_nearest_f32(float v)
{
    return tt_truncf(v + (v >= 0.0f ? 0.5f : -0.5f));
}

float tt_round_stochastic_f32(float v, tt_rng *rng)
{
    const float u = (float)(tt_xorshift32(rng) >> 8) * 0x1p-24f;
    return tt_floorf(v + u);
}
