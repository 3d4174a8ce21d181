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
#if defined(TT_PORTABLE_KERNELS) /* benchmarks/bench_speed.py: the reference, for a before/after */
    tt_mask_apply_f32_ref(g_y, mask, n, g_a);
    return;
#endif
    const tt_f32_bits *src = (const tt_f32_bits *)(const void *)g_y;
    tt_f32_bits *dst = (tt_f32_bits *)(void *)g_a;
    const int32_t n8 = n >> 3;
    for (int32_t b = 0; b < n8; b++, src += 8, dst += 8) {
        const uint32_t m = mask[b];
        if (m == 0xFFu) {
            if (dst != src) {
                const uint32_t v0 = src[0], v1 = src[1], v2 = src[2], v3 = src[3];
                const uint32_t v4 = src[4], v5 = src[5], v6 = src[6], v7 = src[7];
                dst[0] = v0;
                dst[1] = v1;
                dst[2] = v2;
                dst[3] = v3;
                dst[4] = v4;
                dst[5] = v5;
                dst[6] = v6;
                dst[7] = v7;
            }
        } else if (m == 0u) {
            dst[0] = 0u;
            dst[1] = 0u;
            dst[2] = 0u;
            dst[3] = 0u;
            dst[4] = 0u;
            dst[5] = 0u;
            dst[6] = 0u;
            dst[7] = 0u;
        } else {
            /* (int32_t)(m << (31 - j)) >> 31: all ones where bit j is set, else 0 */
            const uint32_t v0 = src[0], v1 = src[1], v2 = src[2], v3 = src[3];
            const uint32_t v4 = src[4], v5 = src[5], v6 = src[6], v7 = src[7];
            dst[0] = v0 & (uint32_t)((int32_t)(m << 31) >> 31);
            dst[1] = v1 & (uint32_t)((int32_t)(m << 30) >> 31);
            dst[2] = v2 & (uint32_t)((int32_t)(m << 29) >> 31);
            dst[3] = v3 & (uint32_t)((int32_t)(m << 28) >> 31);
            dst[4] = v4 & (uint32_t)((int32_t)(m << 27) >> 31);
            dst[5] = v5 & (uint32_t)((int32_t)(m << 26) >> 31);
            dst[6] = v6 & (uint32_t)((int32_t)(m << 25) >> 31);
            dst[7] = v7 & (uint32_t)((int32_t)(m << 24) >> 31);
        }
    }
    for (int32_t e = n8 * 8; e < n; e++) {
        g_a[e] = tt_mask_get(mask, e) ? g_y[e] : 0.0f;
    }
}
