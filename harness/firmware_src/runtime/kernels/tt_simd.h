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

#include "tt_requantize.h"

#if defined(__ARM_FEATURE_DSP) && !defined(TT_PORTABLE_KERNELS) /* bench_speed.py's "before" */
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

static inline __attribute__((always_inline)) int32_t tt_smlabt(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlabt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* [a.lo, b.lo] (PKHBT): two int16 lanes from the low halves of a and b. */
static inline __attribute__((always_inline)) uint32_t tt_pkhbt(int32_t a, int32_t b)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
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

/* Sum of n int8 weights (for folding x_zp into the bias: sum (x - zp) w = sum x w - zp sum w,
 * the same int32 value modulo 2^32, so the same result as the reference's int32 sum). */
static inline int32_t tt_sum_s8(const int8_t *w, int32_t n)
{
    int32_t s = 0;
    for (int32_t i = 0; i < n; i++) {
        s += w[i];
    }
    return s;
}

/* One 4-byte step of tt_dot22_s8 at byte offset o (a constant) of each row, as one asm
 * statement so that the compiler keeps the four accumulators in registers (4 pointers,
 * 4 accumulators and 6 temporaries: 14 registers). */
#define TT_DOT22_STEP(o)                                                                        \
    do {                                                                                        \
        uint32_t t0_, t1_, t2_, t3_, t4_, t5_;                                                  \
        __asm__("ldr %[t0], [%[x0], %[off]]\n\t"                                                \
                "ldr %[t2], [%[x1], %[off]]\n\t"                                                \
                "ldr %[t4], [%[w0], %[off]]\n\t"                                                \
                "sxtb16 %[t1], %[t0], ror #8\n\t"                                               \
                "sxtb16 %[t0], %[t0]\n\t"                                                       \
                "sxtb16 %[t3], %[t2], ror #8\n\t"                                               \
                "sxtb16 %[t2], %[t2]\n\t"                                                       \
                "sxtb16 %[t5], %[t4], ror #8\n\t"                                               \
                "sxtb16 %[t4], %[t4]\n\t"                                                       \
                "smlad %[a00], %[t0], %[t4], %[a00]\n\t"                                        \
                "smlad %[a00], %[t1], %[t5], %[a00]\n\t"                                        \
                "smlad %[a10], %[t2], %[t4], %[a10]\n\t"                                        \
                "smlad %[a10], %[t3], %[t5], %[a10]\n\t"                                        \
                "ldr %[t4], [%[w1], %[off]]\n\t"                                                \
                "sxtb16 %[t5], %[t4], ror #8\n\t"                                               \
                "sxtb16 %[t4], %[t4]\n\t"                                                       \
                "smlad %[a01], %[t0], %[t4], %[a01]\n\t"                                        \
                "smlad %[a01], %[t1], %[t5], %[a01]\n\t"                                        \
                "smlad %[a11], %[t2], %[t4], %[a11]\n\t"                                        \
                "smlad %[a11], %[t3], %[t5], %[a11]"                                            \
                : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),           \
                  [t0] "=&r"(t0_), [t1] "=&r"(t1_), [t2] "=&r"(t2_), [t3] "=&r"(t3_),           \
                  [t4] "=&r"(t4_), [t5] "=&r"(t5_)                                              \
                : [x0] "r"(x0), [x1] "r"(x1), [w0] "r"(w0), [w1] "r"(w1), [off] "I"(o)          \
                : "memory");                                                                    \
    } while (0)

/* Two pixels x two weight rows, raw int8 products (x_zp is folded into the accumulators'
 * start by the caller): pixels at x0, x1, weight rows at w0, w1, n bytes each:
 *   a[0] += x0 . w0, a[1] += x0 . w1, a[2] += x1 . w0, a[3] += x1 . w1.
 * Each x word is widened once for both rows and each w word once for both pixels: per 4 bytes
 * 4 loads, 8 SXTB16, 8 SMLAD (16 MACs). Blocks of 8 words in a loop, then the last 0..7 words
 * unrolled (entered by a switch, no loop control), then 0..3 bytes. */
static inline __attribute__((always_inline)) void tt_dot22_s8(const int8_t *x0, const int8_t *x1,
                                                              const int8_t *w0, const int8_t *w1,
                                                              int32_t n, int32_t *a)
{
    int32_t a00 = a[0], a01 = a[1], a10 = a[2], a11 = a[3];
    int32_t words = n >> 2;
    for (; words >= 8; words -= 8) {
        TT_DOT22_STEP(0);
        TT_DOT22_STEP(4);
        TT_DOT22_STEP(8);
        TT_DOT22_STEP(12);
        TT_DOT22_STEP(16);
        TT_DOT22_STEP(20);
        TT_DOT22_STEP(24);
        TT_DOT22_STEP(28);
        x0 += 32;
        x1 += 32;
        w0 += 32;
        w1 += 32;
    }
    switch (words) {
    case 7: TT_DOT22_STEP(24); __attribute__((fallthrough));
    case 6: TT_DOT22_STEP(20); __attribute__((fallthrough));
    case 5: TT_DOT22_STEP(16); __attribute__((fallthrough));
    case 4: TT_DOT22_STEP(12); __attribute__((fallthrough));
    case 3: TT_DOT22_STEP(8); __attribute__((fallthrough));
    case 2: TT_DOT22_STEP(4); __attribute__((fallthrough));
    case 1: TT_DOT22_STEP(0); __attribute__((fallthrough));
    default: break;
    }
    x0 += 4 * words;
    x1 += 4 * words;
    w0 += 4 * words;
    w1 += 4 * words;
    for (int32_t i = 0; i < (n & 3); i++) {
        const int32_t xa = x0[i], xb = x1[i], wa = w0[i], wb = w1[i];
        a00 += xa * wa;
        a01 += xa * wb;
        a10 += xb * wa;
        a11 += xb * wb;
    }
    a[0] = a00;
    a[1] = a01;
    a[2] = a10;
    a[3] = a11;
}

/* tt_dot22_s8 as a plain loop of one step per 4 bytes: the same sums in less code, for the
 * kernels' less frequent cases. */
static inline __attribute__((always_inline)) void tt_dot22_s8_compact(const int8_t *x0,
                                                                      const int8_t *x1,
                                                                      const int8_t *w0,
                                                                      const int8_t *w1, int32_t n,
                                                                      int32_t *a)
{
    int32_t a00 = a[0], a01 = a[1], a10 = a[2], a11 = a[3];
    for (int32_t words = n >> 2; words > 0; words--) {
        TT_DOT22_STEP(0);
        x0 += 4;
        x1 += 4;
        w0 += 4;
        w1 += 4;
    }
    for (int32_t i = 0; i < (n & 3); i++) {
        const int32_t xa = x0[i], xb = x1[i], wa = w0[i], wb = w1[i];
        a00 += xa * wa;
        a01 += xa * wb;
        a10 += xb * wa;
        a11 += xb * wb;
    }
    a[0] = a00;
    a[1] = a01;
    a[2] = a10;
    a[3] = a11;
}

/* One pixel x two weight rows, raw products: a[0] += x . w, a[1] += x . (w + dw). */
static inline __attribute__((always_inline)) void tt_dot12_s8(const int8_t *x, const int8_t *w,
                                                              int32_t dw, int32_t n, int32_t *a)
{
    int32_t a0 = a[0], a1 = a[1];
    for (int32_t i = n >> 2; i > 0; i--) {
        const uint32_t xa = tt_ld32(x);
        const uint32_t xe = tt_sxtb16(xa), xo = tt_sxtb16_ror8(xa);
        const uint32_t wa = tt_ld32(w), wb = tt_ld32(w + dw);
        a0 = tt_smlad(xe, tt_sxtb16(wa), a0);
        a0 = tt_smlad(xo, tt_sxtb16_ror8(wa), a0);
        a1 = tt_smlad(xe, tt_sxtb16(wb), a1);
        a1 = tt_smlad(xo, tt_sxtb16_ror8(wb), a1);
        x += 4;
        w += 4;
    }
    for (int32_t i = n & 3; i > 0; i--) {
        a0 += *x * *w;
        a1 += *x * w[dw];
        x++;
        w++;
    }
    a[0] = a0;
    a[1] = a1;
}

/* The last 1..3 bytes of a row of n >= 4 bytes as a word with the missing high bytes zero,
 * read without passing the row's end: bytes n - 4 .. n - 1 shifted down by (4 - rem) bytes. */
static inline __attribute__((always_inline)) uint32_t tt_ld32_tail(const int8_t *row, int32_t n,
                                                                   int32_t rem)
{
    if (n >= 4) {
        return tt_ld32(row + n - 4) >> (8 * (4 - rem));
    }
    uint32_t v = 0u; /* a row shorter than a word: byte by byte */
    for (int32_t i = 0; i < rem; i++) {
        v |= (uint32_t)(uint8_t)row[i] << (8 * i);
    }
    return v;
}

/* Two pixels x two weight rows over pre-widened x: xs0 / xs1 hold (x - x_zp) of n bytes as
 * int16 lane pairs, two words per 4 bytes ([x0, x2], [x1, x3], SXTAB16 order), zero-padded to
 * whole groups; w0 / w1 are int8 rows of n bytes. a[0] += x0 . w0, a[1] += x0 . w1,
 * a[2] += x1 . w0, a[3] += x1 . w1. Per 4 bytes 2 LDRD, 2 LDR, 4 SXTB16, 8 SMLAD. */
static inline __attribute__((always_inline)) void tt_dot22_s16x(const uint32_t *xs0,
                                                                const uint32_t *xs1,
                                                                const int8_t *w0, const int8_t *w1,
                                                                int32_t n, int32_t *a)
{
    int32_t a00 = a[0], a01 = a[1], a10 = a[2], a11 = a[3];
    const int32_t groups = n >> 2, rem = n & 3;
    for (int32_t g = 0; g <= groups; g++) {
        uint32_t wa, wb;
        if (g < groups) {
            wa = tt_ld32(w0 + 4 * g);
            wb = tt_ld32(w1 + 4 * g);
        } else if (rem) {
            wa = tt_ld32_tail(w0, n, rem);
            wb = tt_ld32_tail(w1, n, rem);
        } else {
            break;
        }
        const uint32_t x0e = xs0[2 * g], x0o = xs0[2 * g + 1];
        const uint32_t x1e = xs1[2 * g], x1o = xs1[2 * g + 1];
        const uint32_t wae = tt_sxtb16(wa), wao = tt_sxtb16_ror8(wa);
        a00 = tt_smlad(x0e, wae, a00);
        a00 = tt_smlad(x0o, wao, a00);
        a10 = tt_smlad(x1e, wae, a10);
        a10 = tt_smlad(x1o, wao, a10);
        const uint32_t wbe = tt_sxtb16(wb), wbo = tt_sxtb16_ror8(wb);
        a01 = tt_smlad(x0e, wbe, a01);
        a01 = tt_smlad(x0o, wbo, a01);
        a11 = tt_smlad(x1e, wbe, a11);
        a11 = tt_smlad(x1o, wbo, a11);
    }
    a[0] = a00;
    a[1] = a01;
    a[2] = a10;
    a[3] = a11;
}

/* Saturate to int8 (SSAT #8). */
static inline __attribute__((always_inline)) int32_t tt_ssat8(int32_t v)
{
    int32_t r;
    __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(v));
    return r;
}

/* ---- the fast output stage ------------------------------------------------------------------
 * For a channel whose shift is a right shift r = -shift in [1, 24], whose multiplier m is > 0
 * and whose y_zp is in [-128, 127], requantize(acc, m, -r) + y_zp equals
 *     hi32(acc * m + C - [acc < 0] * 2^31) >> (r - 1)      (64-bit sum, arithmetic shifts)
 * with C = 2^30 + 2^(r + 30) + y_zp * 2^(r + 31). Why: requantize's first rounding is
 * h = floor((acc * m + 2^30) / 2^31) for both signs (TFLite's nudge 1 - 2^30 with truncation
 * is that floor); its second is round-half-away of h / 2^r = floor((h + 2^(r-1) - [h < 0]) / 2^r),
 * and [h < 0] may be replaced by [acc < 0] (they differ only when h == 0, where both give 0);
 * floor(floor(a / 2^31) + b) / 2^r) = floor((a + b 2^31) / 2^(31 + r)) merges the two, and
 * y_zp moves inside as y_zp * 2^(31 + r). Every term fits int64 (|acc * m| < 2^62,
 * |y_zp 2^(r+31)| <= 2^62 for r <= 24) and the result fits int32. Two SMLAL, one shift. */
typedef struct {
    uint32_t c_lo; /* C, low and high words */
    int32_t c_hi;
    int32_t m;
    int32_t r1; /* r - 1 */
} tt_rq;

static inline tt_rq tt_rq_channel(int32_t m, int32_t shift, int32_t y_zp)
{
    const int32_t r = -shift;
    tt_rq q;
    q.c_lo = r == 1 ? 0xC0000000u : 0x40000000u;
    q.c_hi = (int32_t)((r >= 2 ? (1u << (r - 2)) : 0u) + (uint32_t)y_zp * (1u << (r - 1)));
    q.m = m;
    q.r1 = r - 1;
    return q;
}

/* 1 when every channel of a layer can use the fast output stage: shifts in [-24, -1],
 * multipliers > 0, y_zp in [-128, 127], and no activation range narrower than int8 (the clamp
 * is SSAT #8). Otherwise the kernels use the reference tt_output_s8. */
static inline int32_t tt_rq_fast_ok(const int32_t *mult, const int32_t *shift, int32_t n,
                                    int32_t y_zp, int32_t act_min, int32_t act_max)
{
    if (act_min != -128 || act_max != 127 || y_zp < -128 || y_zp > 127) {
        return 0;
    }
    for (int32_t c = 0; c < n; c++) {
        if (shift[c] < -24 || shift[c] > -1 || mult[c] <= 0) {
            return 0;
        }
    }
    return 1;
}

/* requantize(acc) + y_zp for a channel set up by tt_rq_channel (before the int8 clamp). */
static inline __attribute__((always_inline)) int32_t tt_rq_apply(int32_t acc, const tt_rq *q)
{
    uint32_t lo = q->c_lo;
    int32_t hi = q->c_hi;
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(acc), "r"(q->m));
    __asm__("smlal %0, %1, %2, %3"
            : "+r"(lo), "+r"(hi)
            : "r"((uint32_t)acc >> 31), "r"((int32_t)INT32_MIN));
    return hi >> q->r1;
}

/* The output stage of tt_output_s8 for the fast case: y = clamp(u) (SSAT), mask bit e =
 * (-128 < u < 127) when mask != NULL. */
static inline __attribute__((always_inline)) int8_t tt_out_fast(int32_t acc, const tt_rq *q,
                                                                uint8_t *mask, int32_t e)
{
    const int32_t u = tt_rq_apply(acc, q);
    if (mask) {
        tt_mask_put(mask, e, (uint32_t)(u + 127) < 254u);
    }
    return (int8_t)tt_ssat8(u);
}

/* One output of a conv-like kernel: the fast stage when fast (a compile-time constant in each
 * specialised copy of a kernel body), else the reference tt_output_s8. */
static inline __attribute__((always_inline)) int8_t tt_out_any(int32_t acc, const tt_rq *rq,
                                                               int32_t multiplier, int32_t shift,
                                                               int32_t y_zp, int32_t act_min,
                                                               int32_t act_max, uint8_t *mask,
                                                               int32_t e, int32_t fast)
{
    if (fast) {
        return tt_out_fast(acc, rq, mask, e);
    }
    return tt_output_s8(acc, multiplier, shift, y_zp, act_min, act_max, mask, e);
}

#endif /* __ARM_FEATURE_DSP */

#endif /* TT_SIMD_H */
