/* Console on the CMSDK APB UART (mps2 UART0); QEMU routes it to -serial stdio. */
#include <stdint.h>

#include "board.h"
#include "tt_io.h"

#ifndef TT_CONSOLE_BASE
#error "TT_CONSOLE_BASE must come from the board profile (hosts.<emulator>.console.base)"
#endif

#define UART_DATA     TT_REG(TT_CONSOLE_BASE + 0x00u)
#define UART_STATE    TT_REG(TT_CONSOLE_BASE + 0x04u)
#define UART_CTRL     TT_REG(TT_CONSOLE_BASE + 0x08u)
#define UART_BAUDDIV  TT_REG(TT_CONSOLE_BASE + 0x10u)

#define UART_STATE_TX_FULL  (1u << 0)
#define UART_CTRL_TX_EN     (1u << 0)

void tt_console_init(void)
{
    UART_BAUDDIV = 16u;
    UART_CTRL = UART_CTRL_TX_EN;
}

void tt_board_putc(char c)
{
    while ((UART_STATE & UART_STATE_TX_FULL) != 0u) {
    }
    UART_DATA = (uint32_t)(uint8_t)c;
}
