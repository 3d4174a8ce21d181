/* Fault handlers: print a `fault` record and exit with TT_FAULT_EXIT_CODE.
 *
 * The handlers are naked: they hand the stacked frame's address to C and move MSP back to
 * _estack first, so they still work when the fault was a stack overflow into the guard. */
#include <stdint.h>

#include "board.h"
#include "tt_io.h"

/* r0 = the frame (MSP or PSP per EXC_RETURN bit 2), r1 = EXC_RETURN, r2 = kind. */
#define TT_FAULT_HANDLER(name, kind)                    \
    __attribute__((naked, noreturn)) void name(void)    \
    {                                                   \
        __asm volatile(                                 \
            "tst lr, #4\n\t"                            \
            "ite eq\n\t"                                \
            "mrseq r0, msp\n\t"                         \
            "mrsne r0, psp\n\t"                         \
            "mov r1, lr\n\t"                            \
            "movw r2, #:lower16:_estack\n\t"            \
            "movt r2, #:upper16:_estack\n\t"            \
            "mov sp, r2\n\t"                            \
            "movs r2, #" #kind "\n\t"                   \
            "b tt_fault_report\n\t");                   \
    }

TT_FAULT_HANDLER(HardFault_Handler, 0)
TT_FAULT_HANDLER(MemManage_Handler, 1)
TT_FAULT_HANDLER(BusFault_Handler, 2)
TT_FAULT_HANDLER(UsageFault_Handler, 3)
TT_FAULT_HANDLER(Default_Handler, 4)

static const char *kind_name(uint32_t kind)
{
    switch (kind) {
    case TT_FAULT_HARD: return "hardfault";
    case TT_FAULT_MEMMANAGE: return "memmanage";
    case TT_FAULT_BUS: return "busfault";
    case TT_FAULT_USAGE: return "usagefault";
    default: return "unexpected_exception";
    }
}

/* The halfword at `pc` if it lies in the code or in RAM (read with the MPU off), else 0. */
static uint32_t insn_at(uint32_t pc)
{
    const uint32_t flash_lo = (uint32_t)(uintptr_t)&_sflash;
    const uint32_t flash_hi = (uint32_t)(uintptr_t)&_eflash;
    const uint32_t ram_lo = (uint32_t)(uintptr_t)&_sram;
    const uint32_t ram_hi = (uint32_t)(uintptr_t)&_ebss;
    if ((pc & 1u) != 0u || !((pc >= flash_lo && pc + 2u <= flash_hi) || (pc >= ram_lo && pc + 2u <= ram_hi))) {
        return 0u;
    }
    return *(const volatile uint16_t *)(uintptr_t)pc;
}

void tt_fault_report(uint32_t frame_sp, uint32_t exc_return, uint32_t kind)
{
    (void)exc_return;
    /* Off with the MPU: the frame may lie in the guard, and reading it must not fault again. */
    MPU_CTRL = 0u;
    __asm volatile("dsb\n\tisb" ::: "memory");

    const uint32_t cfsr = SCB_CFSR;
    const uint32_t guard_lo = (uint32_t)(uintptr_t)&_sstack;
    const uint32_t guard_hi = guard_lo + TT_STACK_GUARD;
    const uint32_t ram_lo = (uint32_t)(uintptr_t)&_sram;
    const uint32_t ram_hi = (uint32_t)(uintptr_t)&_estack;
    int32_t has_addr = 0;
    uint32_t addr = 0u;
    if ((cfsr & SCB_CFSR_MMARVALID) != 0u) {
        has_addr = 1;
        addr = SCB_MMFAR;
    } else if ((cfsr & SCB_CFSR_BFARVALID) != 0u) {
        has_addr = 1;
        addr = SCB_BFAR;
    }
    /* The guard is the only no-access region, so a MemManage stacking error or a data access in
     * it is the stack running out; so is a frame pushed below the guard's top (the stack sits
     * at the bottom of RAM, so even a frame that stepped over the guard is caught here). */
    const int32_t overflow =
        ((cfsr & SCB_CFSR_MSTKERR) != 0u) ||
        (((cfsr & SCB_CFSR_MMARVALID) != 0u) && SCB_MMFAR >= guard_lo && SCB_MMFAR < guard_hi) ||
        (frame_sp < guard_hi);
    /* A data access refused by the read-only code region: a write, since reads are allowed. */
    const int32_t code_write = !overflow && kind == TT_FAULT_MEMMANAGE &&
                               (cfsr & (SCB_CFSR_MMARVALID | SCB_CFSR_DACCVIOL)) ==
                                   (SCB_CFSR_MMARVALID | SCB_CFSR_DACCVIOL) &&
                               (addr < TT_NULL_WINDOW || (addr >= (uint32_t)(uintptr_t)&_sflash &&
                                                          addr < (uint32_t)(uintptr_t)&_eflash));

    /* After a stacking error (MSTKERR) no frame was written: PC and LR are unknown (0). */
    uint32_t pc = 0u;
    uint32_t lr = 0u;
    uint32_t r0 = 0u;
    if ((cfsr & SCB_CFSR_MSTKERR) == 0u && (frame_sp & 3u) == 0u && frame_sp >= ram_lo && frame_sp + 32u <= ram_hi) {
        const volatile uint32_t *frame = (const volatile uint32_t *)(uintptr_t)frame_sp;
        r0 = frame[0];
        lr = frame[5];
        pc = frame[6];
    }
    /* A breakpoint with no debugger escalates to a HardFault; `bkpt 0xab` is a semihosting call
     * (r0 = its operation), which the harness does not serve. */
    const uint32_t insn = (!overflow && kind == TT_FAULT_HARD) ? insn_at(pc) : 0u;
    const char *name = kind_name(kind);
    if (overflow) {
        name = "stack_overflow";
    } else if (code_write) {
        name = addr < TT_NULL_WINDOW ? "null_write" : "flash_write";
    } else if (insn == TT_BKPT_SEMIHOSTING) {
        name = "semihosting";
    } else if ((insn & 0xFF00u) == 0xBE00u) {
        name = "breakpoint";
    }
    tt_line_break();
    tt_rec_begin("fault");
    tt_rec_str("kind", name);
    tt_rec_int("pc", (int64_t)pc);
    tt_rec_int("lr", (int64_t)lr);
    tt_rec_int("cfsr", (int64_t)cfsr);
    if (has_addr) {
        tt_rec_int("addr", (int64_t)addr);
    }
    if (insn == TT_BKPT_SEMIHOSTING) {
        tt_rec_int("op", (int64_t)r0);
    }
    tt_rec_end();
    tt_board_exit(TT_FAULT_EXIT_CODE);
}
