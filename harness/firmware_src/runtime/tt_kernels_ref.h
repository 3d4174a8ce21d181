/* The portable reference versions of the fast float backward and update kernels: the plain
 * loops whose order of operations tt_kernels.h states, kept for the bit-exact tests
 * (harness/firmware_src/app/bwdtest, tests/runtime/test_kernels_bwd.py). Same arguments and results,
 * bit for bit, as the kernels of the same name without _ref. */
#ifndef TT_KERNELS_REF_H
#define TT_KERNELS_REF_H

#include "tt_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

void tt_mask_apply_f32_ref(const float *g_y, const uint8_t *mask, int32_t n, float *g_a);
void tt_pwconv_grad_input_f32_ref(const tt_conv_params *p, const float *g_a, const int8_t *w_lo,
                                  const int8_t *w_hi, const float *w_scale, float *g_x);
void tt_dwconv2d_grad_input_f32_ref(const tt_conv_params *p, const float *g_a,
                                    const int8_t *w_lo, const int8_t *w_hi,
                                    const float *w_scale, float *g_x);
void tt_pwconv_update_weight_s8_ref(const tt_conv_params *p, const int8_t *x_slice,
                                    const float *g_a, float x_scale, const float *w_scale,
                                    int8_t *w_lo, const tt_update_params *u);
void tt_dwconv2d_update_weight_s8_ref(const tt_conv_params *p, const int8_t *x_slice,
                                      const float *g_a, float x_scale, const float *w_scale,
                                      int8_t *w_lo, const tt_update_params *u);
void tt_bias_update_s32_ref(int32_t *bias, const float *g_a, int32_t n_pos, int32_t c_out,
                            float x_scale, const float *w_scale, const tt_update_params *u);

#ifdef __cplusplus
}
#endif

#endif /* TT_KERNELS_REF_H */
