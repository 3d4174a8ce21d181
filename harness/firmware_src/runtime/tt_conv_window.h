/* Conv kernels for general windows: a KH x KW kernel, strides (SH, SW) and zero padding per
 * side (top, bottom, left, right), as imported TFLite models have them (10x4 and 4x1 kernels,
 * SAME padding at stride 2: top 0, bottom 1). Included by tt_kernels.h.
 *
 * Window fields of tt_conv_params: kernel = KH, kernel_w = KW, stride = SH, stride_w = SW,
 * pad = top, pad_bottom, pad_left, pad_right. Output size: tt_conv_out_h / tt_conv_out_w.
 * Weights as in tt_kernels.h with K x K read as KH x KW: conv and pointwise
 * [C_out][KH][KW][C_in] split at k into w_lo / w_hi, depthwise [C][KH][KW] split by channel.
 * A pointwise layer with a general window (strides per axis) runs the conv kernels (its
 * weights [C_out][1][1][C_in] have the conv layout).
 *
 * Every result is the one the regular kernels of tt_kernels.h state, with the window's taps:
 * the same integer sums for the forward pass; for the float kernels the same terms in the
 * same order (input gradient: kh, kw, then c; weight gradient: output positions row-major,
 * then times x_scale), so on a regular window a *_win kernel and its regular kernel give the
 * same bits. These are the plain loops (portable C; the forward conv uses SMLAD pairs on
 * ARMv7E-M) and serve as their own portable references. The regular kernels keep their fast
 * paths; the training compiler calls a *_win kernel only for a layer whose window is not
 * regular. Row ranges (x_row0, out_row0, out_rows) work as in tt_kernels.h for the two forward
 * kernels (padding judged against the full image: top rows by pad, bottom rows by in_h). */
#ifndef TT_CONV_WINDOW_H
#define TT_CONV_WINDOW_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline int32_t tt_conv_out_h(const tt_conv_params *p)
{
    return (p->in_h + p->pad + p->pad_bottom - p->kernel) / p->stride + 1;
}

static inline int32_t tt_conv_out_w(const tt_conv_params *p)
{
    return (p->in_w + p->pad_left + p->pad_right - p->kernel_w) / p->stride_w + 1;
}

/* 1 when the window is regular (what the kernels of tt_kernels.h take). */
static inline int32_t tt_conv_window_regular(const tt_conv_params *p)
{
    return p->kernel_w == p->kernel && p->stride_w == p->stride && p->pad_bottom == p->pad &&
           p->pad_left == p->pad && p->pad_right == p->pad;
}

/* Forward, int8 (docs section 4): acc = bias[c] + sum (x - x_zp) * w over the taps inside the
 * input; output stage and mask as tt_conv2d_s8. Conv and pointwise; depthwise (out_c == in_c). */
void tt_conv2d_win_s8(const tt_conv_params *p, const tt_per_channel_quant *q, const int8_t *x,
                      const int8_t *w_lo, const int8_t *w_hi, const int32_t *bias, int8_t *y,
                      uint8_t *mask);
void tt_dwconv2d_win_s8(const tt_conv_params *p, const tt_per_channel_quant *q, const int8_t *x,
                        const int8_t *w_lo, const int8_t *w_hi, const int32_t *bias, int8_t *y,
                        uint8_t *mask);

/* Input gradients, g_x [in_h][in_w][in_c] (elements no output reads get 0.0f):
 *   g_x[ih][iw][i] = sum_{kh, kw with an output (oh, ow) on the grid; c} g_a[oh][ow][c] *
 *                    (w_scale[c] * (float)w[c][kh][kw][i])     (depthwise: only c == i) */
void tt_conv2d_win_grad_input_f32(const tt_conv_params *p, const float *g_a, const int8_t *w_lo,
                                  const int8_t *w_hi, const float *w_scale, float *g_x);
void tt_dwconv2d_win_grad_input_f32(const tt_conv_params *p, const float *g_a,
                                    const int8_t *w_lo, const int8_t *w_hi,
                                    const float *w_scale, float *g_x);

/* Weight gradients of the trainable slice into g_w shaped like w_lo, and the fused gradient +
 * in-place update of w_lo (element order = layout order = draw order), as the regular ones. */
void tt_conv2d_win_grad_weight_f32(const tt_conv_params *p, const int8_t *x_slice,
                                   const float *g_a, float x_scale, float *g_w);
void tt_dwconv2d_win_grad_weight_f32(const tt_conv_params *p, const int8_t *x_slice,
                                     const float *g_a, float x_scale, float *g_w);
void tt_conv2d_win_update_weight_s8(const tt_conv_params *p, const int8_t *x_slice,
                                    const float *g_a, float x_scale, const float *w_scale,
                                    int8_t *w_lo, const tt_update_params *u);
void tt_dwconv2d_win_update_weight_s8(const tt_conv_params *p, const int8_t *x_slice,
                                      const float *g_a, float x_scale, const float *w_scale,
                                      int8_t *w_lo, const tt_update_params *u);

#ifdef __cplusplus
}
#endif

#endif /* TT_CONV_WINDOW_H */
