/* Console text, records and the stack high-water mark, over the board's tt_board_putc. */
#include "tt_io.h"

/* Whether the last character written ended a line (so a fault record can start its own). */
static volatile uint32_t tt_at_line_start = 1u;

static void put(char c)
{
    tt_board_putc(c);
    tt_at_line_start = (c == '\n') ? 1u : 0u;
}

void tt_putc(char c) { put(c); }

void tt_puts(const char *s)
{
    while (*s != '\0') {
        put(*s++);
    }
}

void tt_line_break(void)
{
    if (tt_at_line_start == 0u) {
        put('\n');
    }
}

void tt_put_i64(int64_t v)
{
    char buf[21];
    uint32_t n = 0;
    /* Negate in unsigned arithmetic so INT64_MIN is printed correctly. */
    uint64_t u = (v < 0) ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        buf[n++] = (char)('0' + (u % 10u));
        u /= 10u;
    } while (u != 0u);
    if (v < 0) {
        put('-');
    }
    while (n > 0u) {
        put(buf[--n]);
    }
}

void tt_put_u32_hex(uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    tt_puts("0x");
    for (int32_t shift = 28; shift >= 0; shift -= 4) {
        put(digits[(v >> (uint32_t)shift) & 0xFu]);
    }
}

/* JSON string body: quotes and backslashes escaped, control characters dropped. */
static void put_json_text(const char *s)
{
    for (; *s != '\0'; ++s) {
        char c = *s;
        if (c == '"' || c == '\\') {
            put('\\');
        } else if ((unsigned char)c < 0x20u) {
            continue;
        }
        put(c);
    }
}

static void put_key(const char *key)
{
    tt_puts(",\"");
    put_json_text(key);
    tt_puts("\":");
}

void tt_rec_begin(const char *type)
{
    tt_puts("@tt {\"t\":\"");
    put_json_text(type);
    put('"');
}

void tt_rec_int(const char *key, int64_t v)
{
    put_key(key);
    tt_put_i64(v);
}

void tt_rec_str(const char *key, const char *v)
{
    put_key(key);
    put('"');
    put_json_text(v);
    put('"');
}

void tt_rec_end(void) { tt_puts("}\n"); }

uint32_t tt_stack_high_water(void)
{
    uintptr_t lo = 0u;
    uintptr_t hi = 0u;
    tt_board_stack_bounds(&lo, &hi);
    if (hi <= lo) {
        return 0u;
    }
    /* The stack grows down: the lowest word that lost its paint is the deepest point used. */
    const volatile uint32_t *p = (const volatile uint32_t *)lo;
    const volatile uint32_t *end = (const volatile uint32_t *)hi;
    while (p < end && *p == TT_STACK_PAINT) {
        ++p;
    }
    return (uint32_t)(hi - (uintptr_t)p);
}
