/* The runtime's own exp (docs section 6): range reduction by ln 2 in two parts, a degree-6
 * Horner polynomial, and 2^n built from the exponent bits. Each line one float32 operation. */
#include "tt_kernels.h"

float tt_expf(float x)
{
    if (x != x) {
        return x; /* NaN: keep it visible instead of a UB cast */
    }
    if (x < -87.0f) {
        return 0.0f;
    }
    if (x > 88.0f) {
        x = 88.0f;
    }
    const int32_t n = (int32_t)(x * 1.44269504f + (x >= 0.0f ? 0.5f : -0.5f));
    const float nf = (float)n;
    float r = x - nf * 0.693145752f;
    r = r - nf * 1.42860677e-06f;
    float p = 1.38888889e-03f;
    p = p * r + 8.33333333e-03f;
    p = p * r + 4.16666667e-02f;
    p = p * r + 1.66666667e-01f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union {
        uint32_t u;
        float f;
    } scale;
    scale.u = (uint32_t)(n + 127) << 23; /* n in [-126, 127]: a normal 2^n */
    return p * scale.f;
}
