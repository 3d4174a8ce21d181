/* Kernels of the ops imported models and layer lists bring (docs/arithmetic.md sections 4 and 7):
 * int8 max / average pool over a general window and their float32 input gradients, and the
 * residual add with a fused activation (clamp + 1-bit mask). Included by tt_kernels.h; the
 * conventions there apply. Flatten has no kernel (the memory plan aliases its buffer) and a
 * hidden int8 fully connected layer uses tt_fc_s8 / tt_fc_s8_backward_update. */
#ifndef TT_KERNELS_OPS_H
#define TT_KERNELS_OPS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Pool window: kernel kh x kw, strides sh / sw, top / left padding pt / pl (the bottom and
 * right padding only set out_h / out_w). Taps outside the input are never part of a window.
 * The output has the input's QParams; act_min / act_max are the fused activation's clamp
 * ([-128, 127]: none). */
typedef struct {
    int32_t in_h, in_w, c;
    int32_t kh, kw, sh, sw, pt, pl;
    int32_t out_h, out_w;
    int32_t act_min, act_max;
} tt_pool_params;

/* Max pool: u = the largest x over the window's taps inside the input; y = clamp(u).
 * x [in_h][in_w][c] -> y [out_h][out_w][c]. */
void tt_pool_max_s8(const tt_pool_params *p, const int8_t *x, int8_t *y);

/* Average pool, TFLite's int8 rule: s = sum of the raw x over the n taps inside the input,
 * u = (s > 0 ? s + n / 2 : s - n / 2) / n (C division, toward zero), y = clamp(u). */
void tt_pool_avg_s8(const tt_pool_params *p, const int8_t *x, int8_t *y);

/* Input gradients (docs section 7). g_x [in_h][in_w][c] is set to 0.0f, then output
 * positions are visited in order (oh, ow row-major, then channel c) and each adds into g_x:
 *   max: g_y[oh][ow][c] to the one tap holding the window's max, the first in window order
 *        (kh, then kw) among equal values; overlapping windows accumulate;
 *   avg: v = g_y[oh][ow][c] / (float)n to each of the n taps inside the input, in window
 *        order.
 * With a fused activation (act range not [-128, 127]) an output adds nothing unless its u
 * (recomputed from x) satisfies act_min < u < act_max, the mask rule of section 7; avg may
 * pass x = NULL without one. g_x must not alias g_y. */
void tt_pool_max_grad_input_f32(const tt_pool_params *p, const int8_t *x, const float *g_y,
                                float *g_x);
void tt_pool_avg_grad_input_f32(const tt_pool_params *p, const int8_t *x, const float *g_y,
                                float *g_x);

/* Residual add with a fused activation (act_min >= -128, act_max <= 127): u as in tt_add_s8,
 * y[i] = clamp(u, act_min, act_max),
 * mask bit i (optional, NULL: none) = act_min < u < act_max. y may alias a or b. */
void tt_add_act_s8(const tt_add_params *p, int32_t act_min, int32_t act_max, const int8_t *a,
                   const int8_t *b, int8_t *y, uint8_t *mask, int32_t n);

#ifdef __cplusplus
}
#endif

#endif /* TT_KERNELS_OPS_H */
