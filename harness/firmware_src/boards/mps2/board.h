/* mps2 (QEMU mps2-an500 / mps2-an386): the system registers the startup code touches.
 * The console base comes from the board profile (-DTT_CONSOLE_BASE=...). */
#ifndef TT_MPS2_BOARD_H
#define TT_MPS2_BOARD_H

#include <stdint.h>

#define TT_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* System control block (ARMv7-M). */
#define SCB_AIRCR  TT_REG(0xE000ED0Cu)
#define SCB_CCR    TT_REG(0xE000ED14u)
#define SCB_SHCSR  TT_REG(0xE000ED24u)
#define SCB_CFSR   TT_REG(0xE000ED28u)
#define SCB_HFSR   TT_REG(0xE000ED2Cu)
#define SCB_MMFAR  TT_REG(0xE000ED34u)
#define SCB_BFAR   TT_REG(0xE000ED38u)
#define SCB_CPACR  TT_REG(0xE000ED88u)

#define SCB_AIRCR_SYSRESETREQ   (0x05FA0000u | (1u << 2)) /* with the write key */
#define SCB_CCR_DIV_0_TRP       (1u << 4)
#define SCB_SHCSR_MEMFAULTENA   (1u << 16)
#define SCB_SHCSR_BUSFAULTENA   (1u << 17)
#define SCB_SHCSR_USGFAULTENA   (1u << 18)
#define SCB_CFSR_DACCVIOL       (1u << 1)
#define SCB_CFSR_MSTKERR        (1u << 4)
#define SCB_CFSR_MMARVALID      (1u << 7)
#define SCB_CFSR_BFARVALID      (1u << 15)

/* Memory protection unit (PMSAv7). */
#define MPU_TYPE   TT_REG(0xE000ED90u)
#define MPU_CTRL   TT_REG(0xE000ED94u)
#define MPU_RNR    TT_REG(0xE000ED98u)
#define MPU_RBAR   TT_REG(0xE000ED9Cu)
#define MPU_RASR   TT_REG(0xE000EDA0u)

#define MPU_CTRL_ENABLE      (1u << 0)
#define MPU_CTRL_PRIVDEFENA  (1u << 2)
#define MPU_RASR_ENABLE      (1u << 0)
#define MPU_RASR_XN          (1u << 28)
#define MPU_RASR_AP_NONE     (0u << 24)  /* no access, privileged or not */
#define MPU_RASR_AP_RO       (6u << 24)  /* read-only, privileged or not */

/* MPU regions (a higher number wins where regions overlap; these do not overlap). */
#define TT_MPU_REGION_STACK_GUARD 0u
#define TT_MPU_REGION_CODE        1u

/* Bytes at the bottom of the stack that the MPU makes inaccessible: a power of two >= 32,
 * _sstack aligned to it (the stack starts at the RAM origin). A frame whose untouched locals
 * span more than this could step over the guard; it then lands below RAM, not in .bss. */
#define TT_STACK_GUARD 256u

/* Writes below this address are reported as `null_write` (a NULL pointer plus a small offset).
 * The MPU makes the whole code region read-only ([0, the flash size rounded up to a power of
 * two)), which holds this window; a write elsewhere in it is a `flash_write`. Reads and
 * instruction fetches there are allowed: the vector table and the code live at address 0. */
#define TT_NULL_WINDOW 4096u

/* Linker-script symbols (see link.ld.in). */
extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack, _sram, _sflash, _eflash;

/* Fault kinds, as the fault handlers pass them to tt_fault_report. */
enum tt_fault_kind {
    TT_FAULT_HARD = 0,
    TT_FAULT_MEMMANAGE = 1,
    TT_FAULT_BUS = 2,
    TT_FAULT_USAGE = 3,
    TT_FAULT_UNEXPECTED = 4
};

/* The Thumb encoding of `bkpt 0xab`, the ARM semihosting call. QEMU runs without semihosting
 * (harness/emulators/qemu.py), so the call traps and the fault record names it. */
#define TT_BKPT_SEMIHOSTING 0xBEABu

#define TT_FAULT_EXIT_CODE 127

void tt_board_start(void) __attribute__((noreturn));
void tt_fault_report(uint32_t frame_sp, uint32_t exc_return, uint32_t kind) __attribute__((noreturn));
void tt_console_init(void);

#endif
