/* ARMv7E-M DSP (SIMD32) helpers for the optimized int8 forward kernels.
 *
 * Only used under __ARM_FEATURE_DSP (GCC defines it for cortex-m4 / cortex-m7); host builds
 * keep the portable reference loops. The helpers compute exactly the integer sums of the
 * reference: every (x - x_zp) lies in [-255, 255] and every weight in [-128, 127], so the
 * 16-bit lanes and the 16x16 products are exact, and the int32 accumulation is the same
 * sum in another order (two's complement addition is associative, as on the reference path).
 *
 * Unaligned 32-bit loads: ARMv7-M LDR supports them on normal memory (SCB->CCR.UNALIGN_TRP is
 * left clear by the startup); the packed struct tells GCC the pointer may be unaligned. */
#ifndef TT_SIMD_H
#define TT_SIMD_H

#include <stdint.h>

#if defined(__ARM_FEATURE_DSP)
#define TT_SIMD_DSP 1

typedef struct {
    uint32_t v;
} __attribute__((packed, may_alias)) tt_u32_unaligned;

static inline __attribute__((always_inline)) uint32_t tt_ld32(const int8_t *p)
{
    return ((const tt_u32_unaligned *)(const void *)p)->v;
}

/* Lanes [b0, b2] / [b1, b3] of a word of four int8, sign-extended to int16. */
static inline __attribute__((always_inline)) uint32_t tt_sxtb16(uint32_t v)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(v));
    return r;
}
static inline __attribute__((always_inline)) uint32_t tt_sxtb16_ror8(uint32_t v)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}
/* a + sign-extended [b0, b2] / [b1, b3], lane by lane (16 bit). */
static inline __attribute__((always_inline)) uint32_t tt_sxtab16(uint32_t a, uint32_t v)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(v));
    return r;
}
static inline __attribute__((always_inline)) uint32_t tt_sxtab16_ror8(uint32_t a, uint32_t v)
{
    uint32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
    return r;
}
/* acc + a.lo * b.lo + a.hi * b.hi (wraps like the reference's int32 sums). */
static inline __attribute__((always_inline)) int32_t tt_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
/* acc + a.lo * b.lo, acc + a.hi * b.hi, acc + a.hi * b.lo (16x16 signed). */
static inline __attribute__((always_inline)) int32_t tt_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlabb %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
static inline __attribute__((always_inline)) int32_t tt_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlatt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

static inline __attribute__((always_inline)) int32_t tt_smlatb(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlatb %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* Both 16-bit lanes = -zp. */
static inline uint32_t tt_neg_zp2(int32_t zp)
{
    return ((uint32_t)(-zp) & 0xFFFFu) * 0x00010001u;
}

/* *a0 += sum_i (x[i] - zp) * w0[i], *a1 += sum_i (x[i] - zp) * w1[i], i < n. */
static inline __attribute__((always_inline)) void tt_dot2_s8(const int8_t *x, const int8_t *w0,
                                                             const int8_t *w1, int32_t n,
                                                             uint32_t nzp2, int32_t zp,
                                                             int32_t *a0, int32_t *a1)
{
    int32_t acc0 = *a0, acc1 = *a1;
    int32_t i = n >> 2;
    while (i-- > 0) {
        const uint32_t xw = tt_ld32(x);
        const uint32_t xe = tt_sxtab16(nzp2, xw);
        const uint32_t xo = tt_sxtab16_ror8(nzp2, xw);
        const uint32_t wa = tt_ld32(w0);
        const uint32_t wb = tt_ld32(w1);
        acc0 = tt_smlad(xe, tt_sxtb16(wa), acc0);
        acc0 = tt_smlad(xo, tt_sxtb16_ror8(wa), acc0);
        acc1 = tt_smlad(xe, tt_sxtb16(wb), acc1);
        acc1 = tt_smlad(xo, tt_sxtb16_ror8(wb), acc1);
        x += 4;
        w0 += 4;
        w1 += 4;
    }
    for (i = n & 3; i > 0; i--) {
        const int32_t xv = (int32_t)*x++ - zp;
        acc0 += xv * (int32_t)*w0++;
        acc1 += xv * (int32_t)*w1++;
    }
    *a0 = acc0;
    *a1 = acc1;
}

/* *a0 += sum_i (x[i] - zp) * w[i], i < n. */
static inline __attribute__((always_inline)) int32_t tt_dot1_s8(const int8_t *x, const int8_t *w,
                                                               int32_t n, uint32_t nzp2,
                                                               int32_t zp, int32_t acc)
{
    int32_t i = n >> 2;
    while (i-- > 0) {
        const uint32_t xw = tt_ld32(x);
        const uint32_t wa = tt_ld32(w);
        acc = tt_smlad(tt_sxtab16(nzp2, xw), tt_sxtb16(wa), acc);
        acc = tt_smlad(tt_sxtab16_ror8(nzp2, xw), tt_sxtb16_ror8(wa), acc);
        x += 4;
        w += 4;
    }
    for (i = n & 3; i > 0; i--) {
        acc += ((int32_t)*x++ - zp) * (int32_t)*w++;
    }
    return acc;
}

#endif /* __ARM_FEATURE_DSP */

#endif /* TT_SIMD_H */
