/* Depthwise weight gradient on the trainable channels c < k (docs section 7), as a buffer or
 * fused with the in-place update. x_slice holds the first k channels of the input.
 *
 * Fast fused update: 8 channels at a time. For each tap the 8 sums run side by side over the
 * same output positions in the same order (row-major; per output row a run of the columns
 * whose input lies inside), into a buffer [K][K][8]; then the 8 channels are updated in
 * layout order ([c][kh][kw]: the draw order of stochastic rounding). */
#include "tt_grad_weight_tap.h"
#include "tt_kernels.h"
#include "tt_kernels_ref.h"
#include "tt_update_inline.h"
#include "tt_vfp.h"


void tt_dwconv2d_grad_weight_f32(const tt_conv_params *p, const int8_t *x_slice,
                                 const float *g_a, float x_scale, float *g_w)
{
    const int32_t kk = p->kernel;
    int32_t e = 0;
    for (int32_t c = 0; c < p->k; c++) {
        for (int32_t kh = 0; kh < kk; kh++) {
            for (int32_t kw = 0; kw < kk; kw++) {
                g_w[e++] = x_scale * tt_grad_weight_tap(p, x_slice, g_a, c, kh, kw, c);
            }
        }
    }
}

void tt_dwconv2d_update_weight_s8_ref(const tt_conv_params *p, const int8_t *x_slice,
                                  const float *g_a, float x_scale, const float *w_scale,
                                  int8_t *w_lo, const tt_update_params *u)
{
    const int32_t kk = p->kernel;
    int8_t *res = u->rounding == TT_ROUND_FEEDBACK ? u->residual : (int8_t *)0;
    int32_t e = 0;
    for (int32_t c = 0; c < p->k; c++) {
        for (int32_t kh = 0; kh < kk; kh++) {
            for (int32_t kw = 0; kw < kk; kw++) {
                const float g = x_scale * tt_grad_weight_tap(p, x_slice, g_a, c, kh, kw, c);
                w_lo[e] = res ? tt_update_weight_feedback_s8(w_lo[e], res + e, g, w_scale[c], u)
                              : tt_update_weight_s8(w_lo[e], g, w_scale[c], u);
                e++;
            }
        }
    }
}

/* acc[j] += ga[j] * (float)(x[j] - zp), j < 8, over n positions (n >= 1): ga advances ga_step
 * floats and x x_step bytes per position. */
static void tt_dwgw_run8(float *acc, const float *ga, int32_t ga_step, const int8_t *x,
                         int32_t x_step, int32_t zp, int32_t n)
{
#if defined(TT_VFP_ASM)
    const int32_t gab = ga_step * 4, nzp = -zp;
    int32_t w0, w1, t0, t1, t2, t3;
    __asm__ volatile(
        "vldmia %[acc], {s0-s7}\n"
        "1:\n\t"
        "vldmia %[ga], {s16-s23}\n\t"
        "ldr %[w0], [%[x]]\n\t"
        "ldr %[w1], [%[x], #4]\n\t"
        "add %[ga], %[ga], %[gab]\n\t"
        "add %[x], %[x], %[xs]\n\t"
        "sxtab %[t0], %[nzp], %[w0]\n\t"
        "sxtab %[t1], %[nzp], %[w0], ror #8\n\t"
        "sxtab %[t2], %[nzp], %[w0], ror #16\n\t"
        "sxtab %[t3], %[nzp], %[w0], ror #24\n\t"
        "vmov s24, s25, %[t0], %[t1]\n\t"
        "vmov s26, s27, %[t2], %[t3]\n\t"
        "sxtab %[t0], %[nzp], %[w1]\n\t"
        "sxtab %[t1], %[nzp], %[w1], ror #8\n\t"
        "sxtab %[t2], %[nzp], %[w1], ror #16\n\t"
        "sxtab %[t3], %[nzp], %[w1], ror #24\n\t"
        "vmov s28, s29, %[t0], %[t1]\n\t"
        "vmov s30, s31, %[t2], %[t3]\n\t"
        "vcvt.f32.s32 s24, s24\n\tvcvt.f32.s32 s25, s25\n\t"
        "vcvt.f32.s32 s26, s26\n\tvcvt.f32.s32 s27, s27\n\t"
        "vcvt.f32.s32 s28, s28\n\tvcvt.f32.s32 s29, s29\n\t"
        "vcvt.f32.s32 s30, s30\n\tvcvt.f32.s32 s31, s31\n\t"
        "vmla.f32 s0, s16, s24\n\tvmla.f32 s1, s17, s25\n\t"
        "vmla.f32 s2, s18, s26\n\tvmla.f32 s3, s19, s27\n\t"
        "vmla.f32 s4, s20, s28\n\tvmla.f32 s5, s21, s29\n\t"
        "vmla.f32 s6, s22, s30\n\tvmla.f32 s7, s23, s31\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        "vstmia %[acc], {s0-s7}\n\t"
        : [ga] "+r"(ga), [x] "+r"(x), [n] "+r"(n), [w0] "=&r"(w0), [w1] "=&r"(w1),
          [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3)
        : [acc] "r"(acc), [gab] "r"(gab), [xs] "r"(x_step), [nzp] "r"(nzp)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s16", "s17", "s18", "s19", "s20",
          "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30", "s31", "cc",
          "memory");
#else
    for (int32_t q = 0; q < n; q++, ga += ga_step, x += x_step) {
        for (int32_t j = 0; j < 8; j++) {
            acc[j] = tt_mla_f32(acc[j], ga[j], (float)((int32_t)x[j] - zp));
        }
    }
#endif
}

/* The kernel proper, with a gradient buffer of kernel^2 x 8 floats from the caller. */
static void __attribute__((noinline))
tt_dwgw_blocks(const tt_conv_params *p, const int8_t *x_slice, const float *g_a, float x_scale,
               const float *w_scale, int8_t *w_lo, const tt_update_params *u, float *buf)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, out_c = p->out_c, k = p->k;
    const int32_t kk = p->kernel, stride = p->stride, pad = p->pad;
    const int32_t out_h = tt_conv_out_dim(in_h, kk, stride, pad);
    const int32_t out_w = tt_conv_out_dim(in_w, kk, stride, pad);
    const int32_t taps = kk * kk;
    const float lr = u->lr;
    const int32_t qas = u->qas, stochastic = u->rounding == TT_ROUND_STOCHASTIC;
    int8_t *res = u->rounding == TT_ROUND_FEEDBACK ? u->residual : (int8_t *)0;
    int32_t c0 = 0;
    if (buf) {
        for (; c0 + 8 <= k; c0 += 8) {
            for (int32_t kh = 0; kh < kk; kh++) {
                for (int32_t kw = 0; kw < kk; kw++) {
                    float *acc = buf + (kh * kk + kw) * 8;
                    for (int32_t j = 0; j < 8; j++) {
                        acc[j] = 0.0f;
                    }
                    /* valid ow: iw = ow * stride - pad + kw in [0, in_w) */
                    int32_t ow_lo = pad - kw > 0 ? (pad - kw + stride - 1) / stride : 0;
                    int32_t ow_hi = (in_w - 1 + pad - kw) / stride; /* >= 0 when in range */
                    if (in_w - 1 + pad - kw < 0) {
                        continue;
                    }
                    ow_hi = ow_hi < out_w - 1 ? ow_hi : out_w - 1;
                    if (ow_lo > ow_hi) {
                        continue;
                    }
                    for (int32_t oh = 0; oh < out_h; oh++) {
                        const int32_t ih = oh * stride - pad + kh;
                        if (ih < 0 || ih >= in_h) {
                            continue;
                        }
                        const int32_t iw = ow_lo * stride - pad + kw;
                        tt_dwgw_run8(acc, g_a + (oh * out_w + ow_lo) * out_c + c0, out_c,
                                     x_slice + (ih * in_w + iw) * k + c0, stride * k, p->x_zp,
                                     ow_hi - ow_lo + 1);
                    }
                }
            }
            for (int32_t j = 0; j < 8; j++) {
                const int32_t c = c0 + j;
                const float s = w_scale[c];
                int8_t *w = w_lo + c * taps;
                for (int32_t t = 0; t < taps; t++) {
                    if (res) {
                        w[t] = tt_update_weight_feedback_s8_inline(
                            w[t], res + c * taps + t, x_scale * buf[t * 8 + j], s, lr, qas);
                        continue;
                    }
                    w[t] = tt_update_weight_s8_inline(w[t], x_scale * buf[t * 8 + j], s, lr, qas,
                                                      stochastic, u->rng);
                }
            }
        }
    }
    for (int32_t c = c0; c < k; c++) {
        const float s = w_scale[c];
        int8_t *w = w_lo + c * taps;
        for (int32_t kh = 0; kh < kk; kh++) {
            for (int32_t kw = 0; kw < kk; kw++) {
                const float g = x_scale * tt_grad_weight_tap(p, x_slice, g_a, c, kh, kw, c);
                if (res) {
                    w[kh * kk + kw] = tt_update_weight_feedback_s8_inline(
                        w[kh * kk + kw], res + c * taps + kh * kk + kw, g, s, lr, qas);
                    continue;
                }
                w[kh * kk + kw] = tt_update_weight_s8_inline(w[kh * kk + kw], g, s, lr, qas,
                                                             stochastic, u->rng);
            }
        }
    }
}

/* Stack for the buffer as the kernel size needs it (288 / 800 / 1568 B for K = 3 / 5 / 7). */
static void __attribute__((noinline))
tt_dwgw_k3(const tt_conv_params *p, const int8_t *x_slice, const float *g_a, float x_scale,
           const float *w_scale, int8_t *w_lo, const tt_update_params *u)
{
    float buf[9 * 8] __attribute__((aligned(8)));
    tt_dwgw_blocks(p, x_slice, g_a, x_scale, w_scale, w_lo, u, buf);
}

static void __attribute__((noinline))
tt_dwgw_k5(const tt_conv_params *p, const int8_t *x_slice, const float *g_a, float x_scale,
           const float *w_scale, int8_t *w_lo, const tt_update_params *u)
{
    float buf[25 * 8] __attribute__((aligned(8)));
    tt_dwgw_blocks(p, x_slice, g_a, x_scale, w_scale, w_lo, u, buf);
}

static void __attribute__((noinline))
tt_dwgw_k7(const tt_conv_params *p, const int8_t *x_slice, const float *g_a, float x_scale,
           const float *w_scale, int8_t *w_lo, const tt_update_params *u)
{
    float buf[49 * 8] __attribute__((aligned(8)));
    tt_dwgw_blocks(p, x_slice, g_a, x_scale, w_scale, w_lo, u, buf);
}

void tt_dwconv2d_update_weight_s8(const tt_conv_params *p, const int8_t *x_slice,
                                  const float *g_a, float x_scale, const float *w_scale,
                                  int8_t *w_lo, const tt_update_params *u)
{
#if defined(TT_PORTABLE_KERNELS) /* benchmarks/bench_speed.py: the reference, for a before/after */
    tt_dwconv2d_update_weight_s8_ref(p, x_slice, g_a, x_scale, w_scale, w_lo, u);
    return;
#endif
    const int32_t kk = p->kernel;
    if (kk <= 3) {
        tt_dwgw_k3(p, x_slice, g_a, x_scale, w_scale, w_lo, u);
    } else if (kk <= 5) {
        tt_dwgw_k5(p, x_slice, g_a, x_scale, w_scale, w_lo, u);
    } else if (kk <= 7) {
        tt_dwgw_k7(p, x_slice, g_a, x_scale, w_scale, w_lo, u);
    } else { /* no buffer: every channel by the one-channel path */
        tt_dwgw_blocks(p, x_slice, g_a, x_scale, w_scale, w_lo, u, (float *)0);
    }
}
