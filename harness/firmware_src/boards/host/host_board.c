/* Board hooks for host-native builds (the parity oracle): console on stdout, no painted
 * stack, exit through the C library. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tt_io.h"

void tt_board_putc(char c) { (void)putchar((unsigned char)c); }

void tt_board_stack_bounds(uintptr_t *lo, uintptr_t *hi)
{
    *lo = 0u;
    *hi = 0u;
}

void tt_board_exit(int code)
{
    (void)fflush(stdout);
    exit(code);
}
