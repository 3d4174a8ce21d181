/* Straight-through clamp gradient (docs section 7, step 1): g_a = g_y where the clamp did not
 * bind, 0 elsewhere. A select, not a multiply, so an infinite g_y under a 0 bit gives 0.
 *
 * Fast path: one mask byte (8 elements) at a time; all-ones bytes copy (nothing to do in
 * place), all-zero bytes write 0.0f, mixed bytes select by AND-ing the float's bits with 0 or
 * all ones (+0.0f is all zero bits: the same bits as the reference's select). */
#include "tt_kernels.h"
#include "tt_kernels_ref.h"
#include "tt_vfp.h"

void tt_mask_apply_f32_ref(const float *g_y, const uint8_t *mask, int32_t n, float *g_a)
{
    for (int32_t e = 0; e < n; e++) {
        g_a[e] = tt_mask_get(mask, e) ? g_y[e] : 0.0f;
    }
}

void tt_mask_apply_f32(const float *g_y, const uint8_t *mask, int32_t n, float *g_a)
{
    const tt_f32_bits *src = (const tt_f32_bits *)(const void *)g_y;
    tt_f32_bits *dst = (tt_f32_bits *)(void *)g_a;
    const int32_t n8 = n >> 3;
    for (int32_t b = 0; b < n8; b++, src += 8, dst += 8) {
        const uint32_t m = mask[b];
        if (m == 0xFFu) {
            if (dst != src) {
                for (int32_t j = 0; j < 8; j++) {
                    dst[j] = src[j];
                }
            }
        } else if (m == 0u) {
            for (int32_t j = 0; j < 8; j++) {
                dst[j] = 0u;
            }
        } else {
            for (int32_t j = 0; j < 8; j++) {
                dst[j] = src[j] & (0u - ((m >> j) & 1u));
            }
        }
    }
    for (int32_t e = n8 * 8; e < n; e++) {
        g_a[e] = tt_mask_get(mask, e) ? g_y[e] : 0.0f;
    }
}
