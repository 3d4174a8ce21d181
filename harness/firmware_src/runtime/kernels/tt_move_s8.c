/* Move n bytes down a buffer (dst below src, the ranges may overlap): a sliding window's
 * halo rows (engine/patch.py). Four bytes at a time when both are word aligned. */
#include "tt_kernels.h"

void tt_move_s8(int8_t *dst, const int8_t *src, int32_t n)
{
    if ((((uintptr_t)dst | (uintptr_t)src) & 3u) == 0u) {
        uint32_t *d = (uint32_t *)(void *)dst;
        const uint32_t *s = (const uint32_t *)(const void *)src;
        for (int32_t i = n >> 2; i > 0; i--) {
            *d++ = *s++;
        }
        dst = (int8_t *)d;
        src = (const int8_t *)s;
        n &= 3;
    }
    for (int32_t i = 0; i < n; i++) {
        dst[i] = src[i];
    }
}
