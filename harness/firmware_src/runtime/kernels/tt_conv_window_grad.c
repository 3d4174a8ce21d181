/* Float backward and fused weight updates of conv / depthwise layers with general windows
 * (tt_conv_window.h): the plain loops in the order tt_kernels.h states. */
#include "tt_kernels.h"

/* The output index range [o0, o1) of one axis whose input index o * s - pad + t lies in
 * [0, n), for tap t and n_out outputs. */
static inline void win_outs(int32_t t, int32_t s, int32_t pad, int32_t n, int32_t n_out,
                            int32_t *o0, int32_t *o1)
{
    const int32_t lo = pad - t;      /* o * s >= lo */
    const int32_t hi = n + pad - t;  /* o * s < hi */
    const int32_t a = lo > 0 ? (lo + s - 1) / s : 0;
    const int32_t b0 = hi > 0 ? (hi + s - 1) / s : 0;
    const int32_t b = b0 < n_out ? b0 : n_out;
    *o0 = a;
    *o1 = b > a ? b : a;
}

/* sum over output positions (row-major) whose tap (kh, kw) is inside the input of
 * g_a[oh][ow][c] * (x_slice[ih][iw][i] - x_zp); x_slice has p->k channels. */
static float win_grad_tap(const tt_conv_params *p, const int8_t *x_slice, const float *g_a,
                          int32_t c, int32_t kh, int32_t kw, int32_t i)
{
    const int32_t in_w = p->in_w, out_c = p->out_c, k = p->k, x_zp = p->x_zp;
    const int32_t out_h = tt_conv_out_h(p), out_w = tt_conv_out_w(p);
    int32_t oh0, oh1, ow0, ow1;
    win_outs(kh, p->stride, p->pad, p->in_h, out_h, &oh0, &oh1);
    win_outs(kw, p->stride_w, p->pad_left, in_w, out_w, &ow0, &ow1);
    float acc = 0.0f;
    for (int32_t oh = oh0; oh < oh1; oh++) {
        const int32_t ih = oh * p->stride - p->pad + kh;
        const float *ga = g_a + oh * out_w * out_c + c;
        for (int32_t ow = ow0; ow < ow1; ow++) {
            const int32_t iw = ow * p->stride_w - p->pad_left + kw;
            const float xc = (float)((int32_t)x_slice[(ih * in_w + iw) * k + i] - x_zp);
            acc = acc + ga[ow * out_c] * xc;
        }
    }
    return acc;
}

void tt_conv2d_win_grad_weight_f32(const tt_conv_params *p, const int8_t *x_slice,
                                   const float *g_a, float x_scale, float *g_w)
{
    int32_t e = 0;
    for (int32_t c = 0; c < p->out_c; c++) {
        for (int32_t kh = 0; kh < p->kernel; kh++) {
            for (int32_t kw = 0; kw < p->kernel_w; kw++) {
                for (int32_t i = 0; i < p->k; i++) {
                    g_w[e++] = x_scale * win_grad_tap(p, x_slice, g_a, c, kh, kw, i);
                }
            }
        }
    }
}

void tt_dwconv2d_win_grad_weight_f32(const tt_conv_params *p, const int8_t *x_slice,
                                     const float *g_a, float x_scale, float *g_w)
{
    int32_t e = 0;
    for (int32_t c = 0; c < p->k; c++) {
        for (int32_t kh = 0; kh < p->kernel; kh++) {
            for (int32_t kw = 0; kw < p->kernel_w; kw++) {
                g_w[e++] = x_scale * win_grad_tap(p, x_slice, g_a, c, kh, kw, c);
            }
        }
    }
}

void tt_conv2d_win_update_weight_s8(const tt_conv_params *p, const int8_t *x_slice,
                                    const float *g_a, float x_scale, const float *w_scale,
                                    int8_t *w_lo, const tt_update_params *u)
{
    int8_t *res = u->rounding == TT_ROUND_FEEDBACK ? u->residual : (int8_t *)0;
    int32_t e = 0;
    for (int32_t c = 0; c < p->out_c; c++) {
        for (int32_t kh = 0; kh < p->kernel; kh++) {
            for (int32_t kw = 0; kw < p->kernel_w; kw++) {
                for (int32_t i = 0; i < p->k; i++) {
                    const float g = x_scale * win_grad_tap(p, x_slice, g_a, c, kh, kw, i);
                    w_lo[e] = res ? tt_update_weight_feedback_s8(w_lo[e], res + e, g, w_scale[c], u)
                                  : tt_update_weight_s8(w_lo[e], g, w_scale[c], u);
                    e++;
                }
            }
        }
    }
}

void tt_dwconv2d_win_update_weight_s8(const tt_conv_params *p, const int8_t *x_slice,
                                      const float *g_a, float x_scale, const float *w_scale,
                                      int8_t *w_lo, const tt_update_params *u)
{
    int8_t *res = u->rounding == TT_ROUND_FEEDBACK ? u->residual : (int8_t *)0;
    int32_t e = 0;
    for (int32_t c = 0; c < p->k; c++) {
        for (int32_t kh = 0; kh < p->kernel; kh++) {
            for (int32_t kw = 0; kw < p->kernel_w; kw++) {
                const float g = x_scale * win_grad_tap(p, x_slice, g_a, c, kh, kw, c);
                w_lo[e] = res ? tt_update_weight_feedback_s8(w_lo[e], res + e, g, w_scale[c], u)
                              : tt_update_weight_s8(w_lo[e], g, w_scale[c], u);
                e++;
            }
        }
    }
}

/* The output index o of one axis that input index n reads through tap t, or -1. */
static inline int32_t win_out_of(int32_t n, int32_t t, int32_t s, int32_t pad, int32_t n_out)
{
    const int32_t d = n + pad - t;
    if (d < 0 || d % s != 0 || d / s >= n_out) {
        return -1;
    }
    return d / s;
}

void tt_conv2d_win_grad_input_f32(const tt_conv_params *p, const float *g_a, const int8_t *w_lo,
                                  const int8_t *w_hi, const float *w_scale, float *g_x)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c;
    const int32_t kh_n = p->kernel, kw_n = p->kernel_w, k = p->k;
    const int32_t out_h = tt_conv_out_h(p), out_w = tt_conv_out_w(p);
    for (int32_t ih = 0; ih < in_h; ih++) {
        for (int32_t iw = 0; iw < in_w; iw++) {
            for (int32_t i = 0; i < in_c; i++) {
                /* w[c][kh][kw][i] = base[((c * KH + kh) * KW + kw) * width] */
                const int8_t *base = i < k ? w_lo + i : w_hi + (i - k);
                const int32_t width = i < k ? k : in_c - k;
                const int32_t c_step = kh_n * kw_n * width;
                float acc = 0.0f;
                for (int32_t kh = 0; kh < kh_n; kh++) {
                    const int32_t oh = win_out_of(ih, kh, p->stride, p->pad, out_h);
                    if (oh < 0) {
                        continue;
                    }
                    for (int32_t kw = 0; kw < kw_n; kw++) {
                        const int32_t ow = win_out_of(iw, kw, p->stride_w, p->pad_left, out_w);
                        if (ow < 0) {
                            continue;
                        }
                        const float *ga = g_a + (oh * out_w + ow) * out_c;
                        const int8_t *wp = base + (kh * kw_n + kw) * width;
                        for (int32_t c = 0; c < out_c; c++) {
                            acc = acc + ga[c] * (w_scale[c] * (float)wp[c * c_step]);
                        }
                    }
                }
                g_x[(ih * in_w + iw) * in_c + i] = acc;
            }
        }
    }
}

/* Each input position's channels side by side: g_x starts at 0.0f and takes the terms of
 * its taps in order kh, kw (the same sums as one accumulator per element). */
void tt_dwconv2d_win_grad_input_f32(const tt_conv_params *p, const float *g_a,
                                    const int8_t *w_lo, const int8_t *w_hi,
                                    const float *w_scale, float *g_x)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, ch = p->in_c;
    const int32_t kh_n = p->kernel, kw_n = p->kernel_w, taps = kh_n * kw_n, k = p->k;
    const int32_t out_h = tt_conv_out_h(p), out_w = tt_conv_out_w(p);
    for (int32_t ih = 0; ih < in_h; ih++) {
        for (int32_t iw = 0; iw < in_w; iw++) {
            float *gx = g_x + (ih * in_w + iw) * ch;
            for (int32_t c = 0; c < ch; c++) {
                gx[c] = 0.0f;
            }
            for (int32_t kh = 0; kh < kh_n; kh++) {
                const int32_t oh = win_out_of(ih, kh, p->stride, p->pad, out_h);
                if (oh < 0) {
                    continue;
                }
                for (int32_t kw = 0; kw < kw_n; kw++) {
                    const int32_t ow = win_out_of(iw, kw, p->stride_w, p->pad_left, out_w);
                    if (ow < 0) {
                        continue;
                    }
                    const float *ga = g_a + (oh * out_w + ow) * ch;
                    const int32_t tap = kh * kw_n + kw;
                    for (int32_t c = 0; c < k; c++) {
                        gx[c] = gx[c] + ga[c] * (w_scale[c] * (float)w_lo[c * taps + tap]);
                    }
                    for (int32_t c = k; c < ch; c++) {
                        gx[c] = gx[c] + ga[c] * (w_scale[c] * (float)w_hi[(c - k) * taps + tap]);
                    }
                }
            }
        }
    }
}
