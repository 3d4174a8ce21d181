/* The one integer requantization of docs/arithmetic.md section 3 (TFLite's
 * MultiplyByQuantizedMultiplier) and the int8 output stage every conv-like kernel shares.
 * Static inline so the forward kernels pay no call per output element; written once here. */
#ifndef TT_REQUANTIZE_H
#define TT_REQUANTIZE_H

#include <stdint.h>

/* requantize(acc, multiplier, shift): shift > 0 is a left shift of acc before the Q31
 * multiply, shift < 0 a rounding right shift after it (shift >= -31). */
static inline int32_t tt_requantize(int32_t acc, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    /* The spec guarantees acc << left fits int32; shift as unsigned to avoid UB. */
    const int32_t x = (int32_t)((uint32_t)acc << left);
    int32_t h;
    if (x == INT32_MIN && multiplier == INT32_MIN) {
        h = INT32_MAX;
    } else {
        const int64_t ab = (int64_t)x * (int64_t)multiplier;
        const int64_t nudge = ab >= 0 ? INT64_C(1) << 30 : INT64_C(1) - (INT64_C(1) << 30);
        h = (int32_t)((ab + nudge) / (INT64_C(1) << 31)); /* C division truncates */
    }
    const int32_t mask = (int32_t)((UINT32_C(1) << right) - 1u);
    const int32_t rem = h & mask;
    const int32_t thr = (mask >> 1) + (h < 0 ? 1 : 0);
    return (h >> right) + (rem > thr ? 1 : 0); /* >> is arithmetic on gcc targets */
}

/* Element e of a 1-bit mask, packed LSB first: bit (e & 7) of byte e >> 3. */
static inline void tt_mask_put(uint8_t *mask, int32_t e, int32_t on)
{
    const uint8_t bit = (uint8_t)(1u << (e & 7));
    if (on) {
        mask[e >> 3] = (uint8_t)(mask[e >> 3] | bit);
    } else {
        mask[e >> 3] = (uint8_t)(mask[e >> 3] & (uint8_t)~bit);
    }
}

static inline int32_t tt_mask_get(const uint8_t *mask, int32_t e)
{
    return (mask[e >> 3] >> (e & 7)) & 1;
}

/* Output stage of docs section 4 and the mask bit of section 7: u = requantize(acc) + z_y,
 * y = clamp(u, act_min, act_max), mask bit e = (act_min < u < act_max) if mask != NULL. */
/* Portable int8 dot product of one input position against one weight row split for
 * sub-operator slicing: channels i < k read w_lo_row[i], channels k <= i < k + k_hi read
 * w_hi_row[i - k]; acc + sum (x[i] - x_zp) * w[i] in channel order (int32). */
static inline int32_t tt_dot_split_s8(int32_t acc, const int8_t *x, const int8_t *w_lo_row,
                                      const int8_t *w_hi_row, int32_t k, int32_t k_hi, int32_t x_zp)
{
    for (int32_t i = 0; i < k; i++) {
        acc += ((int32_t)x[i] - x_zp) * (int32_t)w_lo_row[i];
    }
    for (int32_t i = 0; i < k_hi; i++) {
        acc += ((int32_t)x[k + i] - x_zp) * (int32_t)w_hi_row[i];
    }
    return acc;
}

static inline int8_t tt_output_s8(int32_t acc, int32_t multiplier, int32_t shift, int32_t y_zp,
                                  int32_t act_min, int32_t act_max, uint8_t *mask, int32_t e)
{
    const int32_t u = tt_requantize(acc, multiplier, shift) + y_zp;
    if (mask) {
        tt_mask_put(mask, e, u > act_min && u < act_max);
    }
    return (int8_t)(u < act_min ? act_min : (u > act_max ? act_max : u));
}

#endif /* TT_REQUANTIZE_H */
