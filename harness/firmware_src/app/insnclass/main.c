/* Instruction-class test firmware: hand-written loops whose instructions the tests know one by
 * one, so that the counting plugin's classes (harness/emulators/plugin/insncount.c) can be
 * checked exactly on the emulator (tests/emulators/test_insn_classes.py).
 *
 * Each kernel runs between step marks twice, for INSNCLASS_N and 2 * INSNCLASS_N iterations:
 * the difference of the two steps' class counts is INSNCLASS_N times one iteration's classes,
 * free of the call and mark overheads. Kernels, in order: dsp, fpu, memory, multiply, branch.
 * The memory kernel works on a zeroed buffer and stores back what it loaded, so every address
 * it forms stays inside the buffer. */
#include <stdint.h>

#include "tt_io.h"
#include "tt_marks.h"

#define INSNCLASS_N 1000u

static uint32_t buf[16];

/* smlad, sxtb16, qadd8 (DSP extension) + subs, bne */
__attribute__((noinline, noipa)) static void k_dsp(uint32_t n)
{
    __asm__ volatile("1: smlad r0, r1, r2, r0\n"
                     "   sxtb16 r1, r2\n"
                     "   qadd8 r2, r2, r1\n"
                     "   subs %0, %0, #1\n"
                     "   bne 1b\n"
                     : "+r"(n) : : "r0", "r1", "r2", "cc");
}

/* vdiv, vsqrt (fpu_div); vmla, vfma (fpu_mac); vadd, vmul, vcvt (fpu) + subs, bne */
__attribute__((noinline, noipa)) static void k_fpu(uint32_t n)
{
    __asm__ volatile("1: vdiv.f32 s0, s1, s2\n"
                     "   vsqrt.f32 s3, s1\n"
                     "   vmla.f32 s4, s1, s2\n"
                     "   vfma.f32 s5, s1, s2\n"
                     "   vadd.f32 s6, s1, s2\n"
                     "   vmul.f32 s7, s1, s2\n"
                     "   vcvt.s32.f32 s8, s1\n"
                     "   subs %0, %0, #1\n"
                     "   bne 1b\n"
                     : "+r"(n) : : "s0", "s3", "s4", "s5", "s6", "s7", "s8", "cc");
}

/* ldm, stm, ldrd, push, pop, vpush, vpop (multiple: 7 instructions, 22 words);
 * ldr x7, str x2, vldr x2, vstr (single: 12, of which 6 pipelined on the M4) + subs, bne */
__attribute__((noinline, noipa)) static void k_memory(uint32_t n, uint32_t *p)
{
    __asm__ volatile("1: ldm %1, {r0-r3}\n"
                     "   stm %1, {r0-r3}\n"
                     "   ldrd r0, r1, [%1]\n"
                     "   push {r4-r7}\n"
                     "   pop {r4-r7}\n"
                     "   ldr r0, [%1]\n"          /* after a pop: 2 cycles */
                     "   ldr r1, [%1, #4]\n"      /* after a load, independent: pipelined */
                     "   ldr r2, [%1, #8]\n"      /* pipelined */
                     "   ldr r3, [%1, r2]\n"      /* its address uses r2, just loaded: 2 cycles */
                     "   str r0, [%1, #12]\n"     /* store, immediate offset: 1 cycle */
                     "   str r1, [%1, r2]\n"      /* store, register offset, after a store: 2 */
                     "   vldr s0, [%1]\n"         /* after a store: 2 */
                     "   vldr s1, [%1, #4]\n"     /* pipelined */
                     "   vstr s0, [%1, #8]\n"     /* store, immediate offset: 1 */
                     "   vpush {s0-s1}\n"
                     "   vpop {s0-s1}\n"
                     "   ldr r0, [%1, #0]!\n"    /* updates its base (to itself): 2 cycles */
                     "   ldr r1, [%1, #4]\n"     /* its address uses that updated base: 2 */
                     "   ldr r2, [%1, #8]\n"     /* after a load, independent: pipelined */
                     "   subs %0, %0, #1\n"
                     "   bne 1b\n"
                     : "+r"(n), "+r"(p) : : "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "s0", "s1",
                       "cc", "memory");
}

/* movs x2; mul, mla, smull, umlal (multiply); sdiv, udiv (divide) + subs, bne */
__attribute__((noinline, noipa)) static void k_multiply(uint32_t n)
{
    __asm__ volatile("1: movs r2, #7\n"
                     "   movs r3, #3\n"
                     "   mul r0, r2, r3\n"
                     "   mla r0, r2, r3, r0\n"
                     "   smull r0, r1, r2, r3\n"
                     "   umlal r0, r1, r2, r3\n"
                     "   sdiv r0, r2, r3\n"
                     "   udiv r1, r2, r3\n"
                     "   subs %0, %0, #1\n"
                     "   bne 1b\n"
                     : "+r"(n) : : "r0", "r1", "r2", "r3", "cc");
}

/* Per iteration: tst, beq (taken when n is even), nop (when odd), cbnz (always taken), nop
 * (never), bl and bx lr (taken), subs, bne (taken but the last time). */
__attribute__((noinline, noipa)) static void k_branch(uint32_t n)
{
    __asm__ volatile("   b 4f\n"
                     "3: bx lr\n"
                     "4:\n"
                     "1: tst %0, #1\n"
                     "   beq 2f\n"
                     "   nop\n"
                     "2: cbnz %0, 5f\n"
                     "   nop\n"
                     "5: bl 3b\n"
                     "   subs %0, %0, #1\n"
                     "   bne 1b\n"
                     : "+l"(n) : : "lr", "cc");
}

int main(void)
{
    tt_rec_begin("boot");
    tt_rec_end();
    for (uint32_t k = 0; k < 5u; ++k) {
        for (uint32_t n = INSNCLASS_N; n <= 2u * INSNCLASS_N; n += INSNCLASS_N) {
            tt_mark_step_begin();
            switch (k) {
            case 0u: k_dsp(n); break;
            case 1u: k_fpu(n); break;
            case 2u: k_memory(n, buf); break;
            case 3u: k_multiply(n); break;
            default: k_branch(n); break;
            }
            tt_mark_step_end();
        }
    }
    tt_rec_begin("done");
    tt_rec_end();
    return 0;
}
