/* int8 conv / depthwise forward for general windows (tt_conv_window.h): KH x KW kernels,
 * strides per axis, padding per side, split weights and row ranges. */
#include "tt_kernels.h"
#include "tt_simd.h"

/* *a0 += sum_i (x[i] - zp) * w0[i], *a1 += sum_i (x[i] - zp) * w1[i], i < n (n >= 0). */
static inline __attribute__((always_inline)) void win_dot2(const int8_t *x, const int8_t *w0,
                                                           const int8_t *w1, int32_t n,
                                                           int32_t zp, int32_t *a0, int32_t *a1)
{
#if defined(TT_SIMD_DSP)
    tt_dot2_s8(x, w0, w1, n, tt_neg_zp2(zp), zp, a0, a1);
#else
    int32_t acc0 = *a0, acc1 = *a1;
    for (int32_t i = 0; i < n; i++) {
        const int32_t xv = (int32_t)x[i] - zp;
        acc0 += xv * (int32_t)w0[i];
        acc1 += xv * (int32_t)w1[i];
    }
    *a0 = acc0;
    *a1 = acc1;
#endif
}

/* The taps [t0, t1) of one axis whose input index o * s - pad + t lies in [0, n). */
static inline void win_taps(int32_t o, int32_t s, int32_t pad, int32_t kernel, int32_t n,
                            int32_t *t0, int32_t *t1)
{
    const int32_t i0 = o * s - pad;
    const int32_t a = i0 < 0 ? -i0 : 0;
    const int32_t b = n - i0 < kernel ? n - i0 : kernel;
    *t0 = a;
    *t1 = b > a ? b : a;
}

/* Output positions one at a time, the taps inside the input found once per position; two
 * output channels share each (x - x_zp) value (an odd last channel is paired with itself, the
 * copy discarded). Without a split (k == 0 or k == in_c) the taps of one kernel row are one
 * contiguous run of x and of w; with one, each tap is two runs. */
void tt_conv2d_win_s8(const tt_conv_params *p, const tt_per_channel_quant *q, const int8_t *x,
                      const int8_t *w_lo, const int8_t *w_hi, const int32_t *bias, int8_t *y,
                      uint8_t *mask)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c;
    const int32_t kh_n = p->kernel, kw_n = p->kernel_w;
    const int32_t k = p->k, k_hi = in_c - k, x_zp = p->x_zp;
    const int32_t out_h = tt_conv_out_h(p), out_w = tt_conv_out_w(p);
    const int32_t oh_end = p->out_rows > 0 ? p->out_row0 + p->out_rows : out_h;
    const int32_t taps = kh_n * kw_n, row_step = in_w * in_c;
    const int32_t whole = k == 0 || k_hi == 0;
    int32_t e = 0;
    for (int32_t oh = p->out_row0; oh < oh_end; oh++) {
        int32_t kh0, kh1;
        win_taps(oh, p->stride, p->pad, kh_n, in_h, &kh0, &kh1);
        const int32_t ih0 = oh * p->stride - p->pad;
        for (int32_t ow = 0; ow < out_w; ow++) {
            int32_t kw0, kw1;
            win_taps(ow, p->stride_w, p->pad_left, kw_n, in_w, &kw0, &kw1);
            const int32_t iw0 = ow * p->stride_w - p->pad_left;
            const int32_t runs = whole ? 1 : kw1 - kw0;
            const int32_t run_taps = whole ? kw1 - kw0 : 1;
            for (int32_t c = 0; c < out_c; c += 2) {
                const int32_t c1 = c + 1 < out_c ? c + 1 : c;
                int32_t acc[2];
                acc[0] = bias ? bias[c] : 0;
                acc[1] = bias ? bias[c1] : 0;
                for (int32_t kh = kh0; kh < kh1; kh++) {
                    const int8_t *xr = x + (ih0 + kh - p->x_row0) * row_step + (iw0 + kw0) * in_c;
                    for (int32_t r = 0; r < runs; r++) {
                        const int32_t tap = kh * kw_n + kw0 + r;
                        if (k > 0) {
                            const int8_t *wp = w_lo + tap * k;
                            win_dot2(xr + r * in_c, wp + c * taps * k, wp + c1 * taps * k,
                                     run_taps * k, x_zp, &acc[0], &acc[1]);
                        }
                        if (k_hi > 0) {
                            const int8_t *wp = w_hi + tap * k_hi;
                            win_dot2(xr + r * in_c + k, wp + c * taps * k_hi,
                                     wp + c1 * taps * k_hi, run_taps * k_hi, x_zp, &acc[0],
                                     &acc[1]);
                        }
                    }
                }
                for (int32_t j = 0; j <= c1 - c; j++) {
                    y[e] = tt_output_s8(acc[j], q->multiplier[c + j], q->shift[c + j], p->y_zp,
                                        p->act_min, p->act_max, mask, e);
                    e++;
                }
            }
        }
    }
}

#define WIN_DW_CB 32 /* channels per block (int32 accumulators on the stack) */

/* acc[j] += sum over the taps of (x[c0 + j] - x_zp) * w[c0 + j][tap], j < n, reading the
 * weights of channels c0 .. c0 + n - 1 from wb = their rows' first tap (taps per row). */
static inline __attribute__((always_inline)) void win_dw_taps(
    int32_t *acc, const int8_t *xp, const int8_t *wb, int32_t n, int32_t taps, int32_t x_zp)
{
    for (int32_t j = 0; j < n; j++) {
        acc[j] += ((int32_t)xp[j] - x_zp) * (int32_t)wb[j * taps];
    }
}

/* Output positions one at a time, blocks of WIN_DW_CB channels side by side over the taps
 * inside the input (each channel's integer sum is the reference's). */
void tt_dwconv2d_win_s8(const tt_conv_params *p, const tt_per_channel_quant *q, const int8_t *x,
                        const int8_t *w_lo, const int8_t *w_hi, const int32_t *bias, int8_t *y,
                        uint8_t *mask)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, ch = p->in_c;
    const int32_t kh_n = p->kernel, kw_n = p->kernel_w, taps = kh_n * kw_n;
    const int32_t k = p->k, x_zp = p->x_zp;
    const int32_t out_h = tt_conv_out_h(p), out_w = tt_conv_out_w(p);
    const int32_t oh_end = p->out_rows > 0 ? p->out_row0 + p->out_rows : out_h;
    int32_t acc[WIN_DW_CB];
    int32_t e = 0;
    for (int32_t oh = p->out_row0; oh < oh_end; oh++) {
        int32_t kh0, kh1;
        win_taps(oh, p->stride, p->pad, kh_n, in_h, &kh0, &kh1);
        const int32_t ih0 = oh * p->stride - p->pad;
        for (int32_t ow = 0; ow < out_w; ow++) {
            int32_t kw0, kw1;
            win_taps(ow, p->stride_w, p->pad_left, kw_n, in_w, &kw0, &kw1);
            const int32_t iw0 = ow * p->stride_w - p->pad_left;
            for (int32_t c0 = 0; c0 < ch; c0 += WIN_DW_CB) {
                const int32_t n = ch - c0 < WIN_DW_CB ? ch - c0 : WIN_DW_CB;
                /* channels [c0, c0 + n_lo) are in w_lo, the rest of the block in w_hi */
                const int32_t n_lo = k <= c0 ? 0 : (k - c0 < n ? k - c0 : n);
                for (int32_t j = 0; j < n; j++) {
                    acc[j] = bias ? bias[c0 + j] : 0;
                }
                for (int32_t kh = kh0; kh < kh1; kh++) {
                    const int8_t *xr = x + ((ih0 + kh - p->x_row0) * in_w + iw0) * ch + c0;
                    for (int32_t kw = kw0; kw < kw1; kw++) {
                        const int32_t tap = kh * kw_n + kw;
                        if (n_lo > 0) {
                            win_dw_taps(acc, xr + kw * ch, w_lo + c0 * taps + tap, n_lo, taps,
                                        x_zp);
                        }
                        if (n_lo < n) {
                            win_dw_taps(acc + n_lo, xr + kw * ch + n_lo,
                                        w_hi + (c0 + n_lo - k) * taps + tap, n - n_lo, taps,
                                        x_zp);
                        }
                    }
                }
                for (int32_t j = 0; j < n; j++) {
                    const int32_t c = c0 + j;
                    y[e] = tt_output_s8(acc[j], q->multiplier[c], q->shift[c], p->y_zp,
                                        p->act_min, p->act_max, mask, e);
                    e++;
                }
            }
        }
    }
}
