/* tt_io: console text, the "@tt {json}" record protocol and the stack high-water mark.
 *
 * Portable: no board registers here. Each board provides the hooks declared at the end
 * (harness/firmware_src/boards/<host>/ for the emulated part, boards/host/ for host-native builds).
 */
#ifndef TT_IO_H
#define TT_IO_H

#include <stdint.h>

/* Text. */
void tt_putc(char c);
void tt_puts(const char *s);          /* no newline added */
void tt_put_i64(int64_t v);           /* decimal */
void tt_put_u32_hex(uint32_t v);      /* 0x%08x */
void tt_line_break(void);             /* ends the current line if text is pending on it */

/* Records: one line "@tt {"t":"<type>","key":123,...}". Values are integers, or short
 * identifier-like strings (fault kind, phase); never floats (use fixed point, e.g. loss_u). */
void tt_rec_begin(const char *type);
void tt_rec_int(const char *key, int64_t v);
void tt_rec_str(const char *key, const char *v);
void tt_rec_end(void);

/* Bytes of stack ever used since boot (from the 0xC5C5C5C5 paint; 0 where not painted). */
uint32_t tt_stack_high_water(void);

#define TT_STACK_PAINT 0xC5C5C5C5u

/* Board hooks. */
void tt_board_putc(char c);
/* The painted stack: [*lo, *hi). Both 0 where the board paints no stack (host builds). */
void tt_board_stack_bounds(uintptr_t *lo, uintptr_t *hi);
/* Ends the program with this exit code (the emulator's exit status). */
void tt_board_exit(int code) __attribute__((noreturn));

#endif
