/* Single-precision VFP helpers for the fast float backward kernels (ARMv7E-M FPv4/FPv5).
 *
 * The float kernels must give the same bits as their portable references (tt_kernels_ref.h):
 * every term is one rounded product and one rounded addition, in the reference's order. GCC
 * emits VMUL + VADD for acc + a * b under -ffp-contract=off; VMLA.F32 does the same two
 * roundings in one instruction (ARMv7-M ARM: VMLA is the non-fused multiply-accumulate,
 * "the result of the multiply is rounded before the accumulation"; VFMA is the fused one), so
 * tt_mla_f32 may use it. Elsewhere (host, soft-float) it is the plain C expression.
 *
 * TT_VFP_ASM is defined where the kernels' inline-assembly inner loops are used: Thumb-2 with
 * a single-precision FPU of 32 S registers (fpv4-sp-d16, fpv5-sp-d16, fpv5-d16). */
#ifndef TT_VFP_H
#define TT_VFP_H

#include <stdint.h>

#if defined(__thumb2__) && defined(__ARM_FP) && (__ARM_FP & 4) && !defined(TT_NO_VFP_ASM)
#define TT_VFP_ASM 1
#endif

/* acc + a * b with two roundings (product, then sum). */
static inline __attribute__((always_inline)) float tt_mla_f32(float acc, float a, float b)
{
#if defined(TT_VFP_ASM)
    __asm__("vmla.f32 %0, %1, %2" : "+t"(acc) : "t"(a), "t"(b));
    return acc;
#else
    return acc + a * b;
#endif
}

/* Float bits as an integer (for selects that must keep every bit). */
typedef uint32_t __attribute__((may_alias)) tt_f32_bits;

#endif /* TT_VFP_H */
