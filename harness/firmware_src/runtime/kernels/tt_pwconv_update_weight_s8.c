/* Pointwise weight gradient on the first k input channels (docs section 7), as a buffer or
 * fused with the in-place update. x_slice is at the input resolution, [in_h][in_w][k].
 *
 * Fast fused update: the gradients of a tile of 8 output channels x 2 input channels are
 * summed together, position by position in the reference's order (row-major), each term
 * g_a * (float)(x - x_zp) with x - x_zp converted once per position for the 8 channels. With
 * nearest rounding each element's update depends on its own gradient only, so a tile is
 * updated as soon as it is done; stochastic rounding draws one number per element in layout
 * order, so there the tiles of a band of rows go to a small buffer first and the band is then
 * updated in order (bands of one row past TT_PWGW_BUF floats). Error feedback (TT_ROUND_FEEDBACK)
 * updates tiles at once like nearest, each element with its residual. */
#include "tt_kernels.h"
#include "tt_kernels_ref.h"
#include "tt_update_inline.h"
#include "tt_vfp.h"

#define TT_PWGW_BUF 256 /* floats of gradient held for an in-order stochastic update: 1 KiB */

static float tt_pwconv_grad_weight_one(const tt_conv_params *p, const int8_t *x_slice,
                                       const float *g_a, int32_t c, int32_t i)
{
    const int32_t in_w = p->in_w, out_c = p->out_c, k = p->k, stride = p->stride;
    const int32_t out_h = tt_conv_out_dim(p->in_h, 1, stride, 0);
    const int32_t out_w = tt_conv_out_dim(in_w, 1, stride, 0);
    float acc = 0.0f;
    for (int32_t oh = 0; oh < out_h; oh++) {
        for (int32_t ow = 0; ow < out_w; ow++) {
            const int32_t pos_in = oh * stride * in_w + ow * stride;
            const float xc = (float)((int32_t)x_slice[pos_in * k + i] - p->x_zp);
            acc = acc + g_a[(oh * out_w + ow) * out_c + c] * xc;
        }
    }
    return acc;
}

void tt_pwconv_grad_weight_f32(const tt_conv_params *p, const int8_t *x_slice, const float *g_a,
                               float x_scale, float *g_w)
{
    int32_t e = 0;
    for (int32_t c = 0; c < p->out_c; c++) {
        for (int32_t i = 0; i < p->k; i++) {
            g_w[e++] = x_scale * tt_pwconv_grad_weight_one(p, x_slice, g_a, c, i);
        }
    }
}

void tt_pwconv_update_weight_s8_ref(const tt_conv_params *p, const int8_t *x_slice,
                                    const float *g_a, float x_scale, const float *w_scale,
                                    int8_t *w_lo, const tt_update_params *u)
{
    int8_t *res = u->rounding == TT_ROUND_FEEDBACK ? u->residual : (int8_t *)0;
    int32_t e = 0;
    for (int32_t c = 0; c < p->out_c; c++) {
        for (int32_t i = 0; i < p->k; i++) {
            const float g = x_scale * tt_pwconv_grad_weight_one(p, x_slice, g_a, c, i);
            w_lo[e] = res ? tt_update_weight_feedback_s8(w_lo[e], res + e, g, w_scale[c], u)
                          : tt_update_weight_s8(w_lo[e], g, w_scale[c], u);
            e++;
        }
    }
}

/* acc[2 j + t] += sum over n positions of ga[j] * (float)(x[t] - zp), j < 8, t < 2 (t < 1 for
 * the 8x1 form): ga advances ga_step floats and x x_step bytes per position; n >= 1. */
#if defined(TT_VFP_ASM)
static void tt_pwgw_8x2(float *acc, const float *ga, int32_t ga_step, const int8_t *x,
                        int32_t x_step, int32_t zp, int32_t n)
{
    const int32_t ga_bytes = ga_step * 4, nzp = -zp;
    int32_t h, t0, t1;
    __asm__ volatile(
        "vldmia %[acc], {s0-s15}\n"
        "1:\n\t"
        "vldmia %[ga], {s16-s23}\n\t"
        "ldrh %[h], [%[x]]\n\t"
        "add %[ga], %[ga], %[gab]\n\t"
        "add %[x], %[x], %[xs]\n\t"
        "sxtab %[t0], %[nzp], %[h]\n\t"
        "sxtab %[t1], %[nzp], %[h], ror #8\n\t"
        "vmov s24, s25, %[t0], %[t1]\n\t"
        "vcvt.f32.s32 s24, s24\n\t"
        "vcvt.f32.s32 s25, s25\n\t"
        "vmla.f32 s0, s16, s24\n\tvmla.f32 s1, s16, s25\n\t"
        "vmla.f32 s2, s17, s24\n\tvmla.f32 s3, s17, s25\n\t"
        "vmla.f32 s4, s18, s24\n\tvmla.f32 s5, s18, s25\n\t"
        "vmla.f32 s6, s19, s24\n\tvmla.f32 s7, s19, s25\n\t"
        "vmla.f32 s8, s20, s24\n\tvmla.f32 s9, s20, s25\n\t"
        "vmla.f32 s10, s21, s24\n\tvmla.f32 s11, s21, s25\n\t"
        "vmla.f32 s12, s22, s24\n\tvmla.f32 s13, s22, s25\n\t"
        "vmla.f32 s14, s23, s24\n\tvmla.f32 s15, s23, s25\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        "vstmia %[acc], {s0-s15}\n\t"
        : [ga] "+r"(ga), [x] "+r"(x), [n] "+r"(n), [h] "=&r"(h), [t0] "=&r"(t0),
          [t1] "=&r"(t1)
        : [acc] "r"(acc), [gab] "r"(ga_bytes), [xs] "r"(x_step), [nzp] "r"(nzp)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12",
          "s13", "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24",
          "s25", "cc", "memory");
}

static void tt_pwgw_8x1(float *acc, const float *ga, int32_t ga_step, const int8_t *x,
                        int32_t x_step, int32_t zp, int32_t n)
{
    const int32_t ga_bytes = ga_step * 4;
    int32_t t0;
    __asm__ volatile(
        "vldmia %[acc], {s0-s7}\n"
        "1:\n\t"
        "vldmia %[ga], {s16-s23}\n\t"
        "ldrsb %[t0], [%[x]]\n\t"
        "add %[ga], %[ga], %[gab]\n\t"
        "add %[x], %[x], %[xs]\n\t"
        "sub %[t0], %[t0], %[zp]\n\t"
        "vmov s24, %[t0]\n\t"
        "vcvt.f32.s32 s24, s24\n\t"
        "vmla.f32 s0, s16, s24\n\tvmla.f32 s1, s17, s24\n\t"
        "vmla.f32 s2, s18, s24\n\tvmla.f32 s3, s19, s24\n\t"
        "vmla.f32 s4, s20, s24\n\tvmla.f32 s5, s21, s24\n\t"
        "vmla.f32 s6, s22, s24\n\tvmla.f32 s7, s23, s24\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        "vstmia %[acc], {s0-s7}\n\t"
        : [ga] "+r"(ga), [x] "+r"(x), [n] "+r"(n), [t0] "=&r"(t0)
        : [acc] "r"(acc), [gab] "r"(ga_bytes), [xs] "r"(x_step), [zp] "r"(zp)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s16", "s17", "s18", "s19", "s20",
          "s21", "s22", "s23", "s24", "cc", "memory");
}
#endif

/* The same sums for any nc <= 8 rows and ni <= 2 columns (acc[2 j + t]). */
static void tt_pwgw_tile_c(float *acc, int32_t nc, int32_t ni, const float *ga, int32_t ga_step,
                           const int8_t *x, int32_t x_step, int32_t zp, int32_t n)
{
    for (int32_t q = 0; q < n; q++, ga += ga_step, x += x_step) {
        for (int32_t t = 0; t < ni; t++) {
            const float xc = (float)((int32_t)x[t] - zp);
            for (int32_t j = 0; j < nc; j++) {
                acc[2 * j + t] = tt_mla_f32(acc[2 * j + t], ga[j], xc);
            }
        }
    }
}

/* acc[2 j + t] = the gradient sum of w[c0 + j][i0 + t] (j < nc <= 8, t < ni <= 2). */
static void tt_pwgw_tile(const tt_conv_params *p, const int8_t *x_slice, const float *g_a,
                         int32_t c0, int32_t nc, int32_t i0, int32_t ni, float *acc)
{
    const int32_t in_w = p->in_w, out_c = p->out_c, k = p->k, stride = p->stride;
    const int32_t out_h = tt_conv_out_dim(p->in_h, 1, stride, 0);
    const int32_t out_w = tt_conv_out_dim(in_w, 1, stride, 0);
    /* stride 1: one run over every position; else one run per output row */
    const int32_t rows = stride == 1 ? 1 : out_h;
    const int32_t run = stride == 1 ? out_h * out_w : out_w;
    for (int32_t j = 0; j < 16; j++) {
        acc[j] = 0.0f;
    }
    for (int32_t r = 0; r < rows; r++) {
        const float *ga = g_a + r * out_w * out_c + c0;
        const int8_t *x = x_slice + (r * stride * in_w) * k + i0;
#if defined(TT_VFP_ASM)
        if (nc == 8 && ni == 2) {
            tt_pwgw_8x2(acc, ga, out_c, x, stride * k, p->x_zp, run);
            continue;
        }
        if (nc == 8 && ni == 1) {
            float a1[8];
            for (int32_t j = 0; j < 8; j++) {
                a1[j] = acc[2 * j];
            }
            tt_pwgw_8x1(a1, ga, out_c, x, stride * k, p->x_zp, run);
            for (int32_t j = 0; j < 8; j++) {
                acc[2 * j] = a1[j];
            }
            continue;
        }
#endif
        tt_pwgw_tile_c(acc, nc, ni, ga, out_c, x, stride * k, p->x_zp, run);
    }
}

/* Stochastic rounding: bands of rows whose gradients fit a buffer, updated in layout order
 * (its own frame, so the nearest-rounding path does not carry the 1 KiB buffer). */
static void __attribute__((noinline))
tt_pwgw_update_ordered(const tt_conv_params *p, const int8_t *x_slice, const float *g_a,
                       float x_scale, const float *w_scale, int8_t *w_lo,
                       const tt_update_params *u)
{
    const int32_t out_c = p->out_c, k = p->k;
    const float lr = u->lr;
    const int32_t qas = u->qas;
    tt_rng *rng = u->rng;
    float acc[16];
    float buf[TT_PWGW_BUF];
    const int32_t band = k * 8 <= TT_PWGW_BUF ? 8 : 1;
    const int32_t cols = k < TT_PWGW_BUF ? k : TT_PWGW_BUF;
    for (int32_t c0 = 0; c0 < out_c; c0 += band) {
        const int32_t nc = out_c - c0 < band ? out_c - c0 : band;
        for (int32_t i1 = 0; i1 < k; i1 += cols) { /* one pass unless band == 1 and k > cols */
            const int32_t ncol = k - i1 < cols ? k - i1 : cols;
            for (int32_t i0 = i1; i0 < i1 + ncol; i0 += 2) {
                const int32_t ni = i1 + ncol - i0 < 2 ? i1 + ncol - i0 : 2;
                tt_pwgw_tile(p, x_slice, g_a, c0, nc, i0, ni, acc);
                for (int32_t j = 0; j < nc; j++) {
                    for (int32_t t = 0; t < ni; t++) {
                        buf[j * ncol + (i0 - i1) + t] = acc[2 * j + t];
                    }
                }
            }
            for (int32_t j = 0; j < nc; j++) {
                const float s = w_scale[c0 + j];
                int8_t *w = w_lo + (c0 + j) * k + i1;
                for (int32_t t = 0; t < ncol; t++) {
                    w[t] = tt_update_weight_s8_inline(w[t], x_scale * buf[j * ncol + t], s, lr,
                                                      qas, 1, rng);
                }
            }
        }
    }
}

/* Error feedback (docs section 8.1): no draws, so tiles are updated as soon as they are done,
 * as with nearest rounding; each element's residual sits at its own layout index. */
static void __attribute__((noinline))
tt_pwgw_update_feedback(const tt_conv_params *p, const int8_t *x_slice, const float *g_a,
                        float x_scale, const float *w_scale, int8_t *w_lo,
                        const tt_update_params *u)
{
    const int32_t out_c = p->out_c, k = p->k;
    const float lr = u->lr;
    const int32_t qas = u->qas;
    float acc[16];
    for (int32_t c0 = 0; c0 < out_c; c0 += 8) {
        const int32_t nc = out_c - c0 < 8 ? out_c - c0 : 8;
        for (int32_t i0 = 0; i0 < k; i0 += 2) {
            const int32_t ni = k - i0 < 2 ? k - i0 : 2;
            tt_pwgw_tile(p, x_slice, g_a, c0, nc, i0, ni, acc);
            for (int32_t j = 0; j < nc; j++) {
                const float s = w_scale[c0 + j];
                const int32_t e0 = (c0 + j) * k + i0;
                for (int32_t t = 0; t < ni; t++) {
                    w_lo[e0 + t] = tt_update_weight_feedback_s8_inline(
                        w_lo[e0 + t], u->residual + e0 + t, x_scale * acc[2 * j + t], s, lr, qas);
                }
            }
        }
    }
}

void tt_pwconv_update_weight_s8(const tt_conv_params *p, const int8_t *x_slice,
                                const float *g_a, float x_scale, const float *w_scale,
                                int8_t *w_lo, const tt_update_params *u)
{
#if defined(TT_PORTABLE_KERNELS) /* benchmarks/bench_speed.py: the reference, for a before/after */
    tt_pwconv_update_weight_s8_ref(p, x_slice, g_a, x_scale, w_scale, w_lo, u);
    return;
#endif
    const int32_t out_c = p->out_c, k = p->k;
    const float lr = u->lr;
    const int32_t qas = u->qas, stochastic = u->rounding == TT_ROUND_STOCHASTIC;
    tt_rng *rng = u->rng;
    float acc[16];
    if (k <= 0 || out_c <= 0) {
        return;
    }
    if (u->rounding == TT_ROUND_FEEDBACK) {
        tt_pwgw_update_feedback(p, x_slice, g_a, x_scale, w_scale, w_lo, u);
        return;
    }
    if (!stochastic) {
        for (int32_t c0 = 0; c0 < out_c; c0 += 8) {
            const int32_t nc = out_c - c0 < 8 ? out_c - c0 : 8;
            for (int32_t i0 = 0; i0 < k; i0 += 2) {
                const int32_t ni = k - i0 < 2 ? k - i0 : 2;
                tt_pwgw_tile(p, x_slice, g_a, c0, nc, i0, ni, acc);
                for (int32_t j = 0; j < nc; j++) {
                    const float s = w_scale[c0 + j];
                    int8_t *w = w_lo + (c0 + j) * k + i0;
                    for (int32_t t = 0; t < ni; t++) {
                        w[t] = tt_update_weight_s8_inline(w[t], x_scale * acc[2 * j + t], s, lr,
                                                          qas, 0, rng);
                    }
                }
            }
        }
        return;
    }
    tt_pwgw_update_ordered(p, x_slice, g_a, x_scale, w_scale, w_lo, u);
}
