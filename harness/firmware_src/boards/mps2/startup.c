/* mps2 startup: vector table, stack paint, .data/.bss, FPU, MPU (stack guard, read-only
 * code region), main, exit.
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

/* RASR.SIZE for a region of `bytes` rounded up to a power of two (>= 32): log2(size) - 1. */
static uint32_t rasr_size(uint32_t bytes)
{
    uint32_t log2 = 5u;
    while (log2 < 31u && (1u << log2) < bytes) {
        ++log2;
    }
    return (log2 - 1u) << 1;
}

/* Two MPU regions, the rest of the map as the default (PRIVDEFENA):
 * - the stack guard, no access over the lowest TT_STACK_GUARD bytes of the stack: an overflow
 *   stops with a MemManage fault instead of silently overwriting .bss;
 * - the code region, read-only from address 0 over the flash: a write through a NULL pointer
 *   (or into code and constants, which the emulator maps as RAM) stops with a MemManage fault.
 *   Reads stay allowed, so the core still fetches its vectors from address 0. */
static void enable_mpu(void)
{
    if (((MPU_TYPE >> 8) & 0xFFu) == 0u) {
        return; /* no MPU on this core */
    }
    MPU_RNR = TT_MPU_REGION_STACK_GUARD;
    MPU_RBAR = (uint32_t)(uintptr_t)&_sstack;
    MPU_RASR = MPU_RASR_XN | MPU_RASR_AP_NONE | rasr_size(TT_STACK_GUARD) | MPU_RASR_ENABLE;
    uint32_t flash_lo = (uint32_t)(uintptr_t)&_sflash;
    const uint32_t flash_hi = (uint32_t)(uintptr_t)&_eflash;
    __asm volatile("" : "+r"(flash_lo)); /* 0 here: GCC would assume an object's address never is */
    MPU_RNR = TT_MPU_REGION_CODE;
    MPU_RBAR = 0u;
    MPU_RASR = MPU_RASR_AP_RO | rasr_size(flash_lo == 0u ? flash_hi : TT_NULL_WINDOW) | MPU_RASR_ENABLE;
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
    enable_mpu();
    tt_console_init();
    tt_board_exit(main());
}

void tt_board_stack_bounds(uintptr_t *lo, uintptr_t *hi)
{
    *lo = (uintptr_t)&_sstack + TT_STACK_GUARD; /* the guard itself is never readable */
    *hi = (uintptr_t)&_estack;
}

/* The exit code travels as a record, then the board resets: QEMU runs with -no-reboot, so the
 * reset ends it, and without semihosting (which could also reach host files and commands). */
void tt_board_exit(int code)
{
    tt_line_break();
    tt_rec_begin("exit");
    tt_rec_int("code", code);
    tt_rec_end();
    __asm volatile("dsb" ::: "memory");
    SCB_AIRCR = SCB_AIRCR_SYSRESETREQ;
    __asm volatile("dsb" ::: "memory");
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
