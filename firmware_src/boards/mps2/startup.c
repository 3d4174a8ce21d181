/* mps2 startup: vector table, stack paint, .data/.bss, FPU, MPU stack guard, main, exit.
 *
 * Reset_Handler paints the whole stack before any C code runs, so the high-water mark
 * counts every byte main and the startup code ever used. */
#include <stdint.h>

#include "board.h"
#include "tt_io.h"

extern int main(void);

void Reset_Handler(void);
void HardFault_Handler(void);
void MemManage_Handler(void);
void BusFault_Handler(void);
void UsageFault_Handler(void);
void Default_Handler(void);

/* Paint [_sstack, _estack) with TT_STACK_PAINT using registers only, then enter C. */
__attribute__((naked, noreturn)) void Reset_Handler(void)
{
    __asm volatile(
        "movw r0, #:lower16:_sstack\n\t"
        "movt r0, #:upper16:_sstack\n\t"
        "movw r1, #:lower16:_estack\n\t"
        "movt r1, #:upper16:_estack\n\t"
        "movw r2, #0xC5C5\n\t"
        "movt r2, #0xC5C5\n\t"
        "1:\n\t"
        "cmp r0, r1\n\t"
        "bhs 2f\n\t"
        "str r2, [r0], #4\n\t"
        "b 1b\n\t"
        "2:\n\t"
        "mov sp, r1\n\t"
        "b tt_board_start\n\t");
}

static void enable_fpu(void)
{
#if defined(TT_HAS_FPU) && TT_HAS_FPU
    SCB_CPACR |= (0xFu << 20); /* CP10 and CP11: full access */
    __asm volatile("dsb\n\tisb" ::: "memory");
#endif
}

/* A no-access region over the lowest TT_STACK_GUARD bytes of the stack: an overflow then
 * stops with a MemManage fault instead of silently overwriting .bss. */
static void enable_stack_guard(void)
{
    if (((MPU_TYPE >> 8) & 0xFFu) == 0u) {
        return; /* no MPU on this core */
    }
    uint32_t size_field = 0u; /* RASR.SIZE = log2(bytes) - 1 */
    for (uint32_t n = TT_STACK_GUARD; n > 1u; n >>= 1) {
        ++size_field;
    }
    MPU_RNR = 0u;
    MPU_RBAR = (uint32_t)(uintptr_t)&_sstack;
    MPU_RASR = MPU_RASR_XN | (0u << 24) /* AP: no access */ | ((size_field - 1u) << 1) | MPU_RASR_ENABLE;
    MPU_CTRL = MPU_CTRL_PRIVDEFENA | MPU_CTRL_ENABLE;
    __asm volatile("dsb\n\tisb" ::: "memory");
}

void tt_board_start(void)
{
    enable_fpu();
    /* volatile: keeps GCC from turning these loops into memcpy/memset calls. */
    const volatile uint32_t *src = &_sidata;
    for (volatile uint32_t *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (volatile uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0u;
    }
    SCB_SHCSR |= SCB_SHCSR_MEMFAULTENA | SCB_SHCSR_BUSFAULTENA | SCB_SHCSR_USGFAULTENA;
    SCB_CCR |= SCB_CCR_DIV_0_TRP;
    enable_stack_guard();
    tt_console_init();
    tt_board_exit(main());
}

void tt_board_stack_bounds(uintptr_t *lo, uintptr_t *hi)
{
    *lo = (uintptr_t)&_sstack + TT_STACK_GUARD; /* the guard itself is never readable */
    *hi = (uintptr_t)&_estack;
}

/* ARM semihosting (v7-M: bkpt 0xab). */
static int32_t semihost(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return (int32_t)r0;
}

void tt_board_exit(int code)
{
    /* SYS_EXIT_EXTENDED: QEMU's exit status becomes `code`. */
    const uint32_t block[2] = {0x20026u /* ADP_Stopped_ApplicationExit */, (uint32_t)code};
    (void)semihost(0x20u, block);
    /* Fallback for hosts without the extended call: plain SYS_EXIT can only say 0 or 1. */
    (void)semihost(0x18u, (const void *)(uintptr_t)(code == 0 ? 0x20026u : 0x20023u));
    for (;;) {
    }
}

/* Vector table: 16 system exceptions + 32 external interrupts (mps2 uses IRQ 0..31). */
__attribute__((section(".isr_vector"), used)) static void (*const vector_table[48])(void) = {
    [0] = (void (*)(void))(uintptr_t)&_estack,
    [1] = Reset_Handler,
    [2] = Default_Handler,     /* NMI */
    [3] = HardFault_Handler,
    [4] = MemManage_Handler,
    [5] = BusFault_Handler,
    [6] = UsageFault_Handler,
    [11] = Default_Handler,    /* SVCall */
    [12] = Default_Handler,    /* DebugMonitor */
    [14] = Default_Handler,    /* PendSV */
    [15] = Default_Handler,    /* SysTick */
    [16 ... 47] = Default_Handler,
};
