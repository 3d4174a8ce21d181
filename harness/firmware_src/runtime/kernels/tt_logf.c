/* The runtime's own log for z >= 1 (docs section 6; operation order as harness/model/rtmath.py):
 * z = f 2^k, t = (f - 1) / (f + 1), log f = 2t (1 + t^2/3 + t^4/5 + t^6/7 + t^8/9). */
#include "tt_kernels.h"

float tt_logf(float z)
{
    union {
        float f;
        uint32_t u;
    } bits, mant;
    bits.f = z;
    const int32_t k = (int32_t)(bits.u >> 23) - 127;
    mant.u = (bits.u & 0x7FFFFFu) | (127u << 23);
    const float f = mant.f; /* in [1, 2) */
    const float t = (f - 1.0f) / (f + 1.0f);
    const float t2 = t * t;
    float p = t2 / 9.0f;
    p = (1.0f / 7.0f) + p;
    p = t2 * p;
    p = (1.0f / 5.0f) + p;
    p = t2 * p;
    p = (1.0f / 3.0f) + p;
    p = t2 * p;
    p = 1.0f + p;
    const float l = (2.0f * t) * p;
    return l + (float)k * 0.693147181f;
}
