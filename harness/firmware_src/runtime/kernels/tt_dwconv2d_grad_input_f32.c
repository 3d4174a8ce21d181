/* Depthwise input gradient (docs section 7), gathered per input element: terms in order
 * kh, kw over the taps whose output lies on the grid.
 *
 * Fast path: channels in blocks of 8. A block's scaled weights w_r = w_scale[c] * (float)w
 * (the reference's product, the same bits) go to a tile [K][K][8] once; then each input
 * position sums its 8 channels together over the same taps in the same order (for each valid
 * kh, the valid kw ascending: a run whose output column steps back by one and whose tap steps
 * by the stride). */
#include "tt_kernels.h"
#include "tt_kernels_ref.h"
#include "tt_vfp.h"

#define TT_DWGI_KMAX 7 /* kernel sizes up to 7 (larger: the reference) */


void tt_dwconv2d_grad_input_f32_ref(const tt_conv_params *p, const float *g_a,
                                    const int8_t *w_lo, const int8_t *w_hi,
                                    const float *w_scale, float *g_x)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, ch = p->in_c;
    const int32_t kk = p->kernel, stride = p->stride, pad = p->pad, k = p->k;
    const int32_t out_h = tt_conv_out_dim(in_h, kk, stride, pad);
    const int32_t out_w = tt_conv_out_dim(in_w, kk, stride, pad);

    for (int32_t ih = 0; ih < in_h; ih++) {
        for (int32_t iw = 0; iw < in_w; iw++) {
            for (int32_t c = 0; c < ch; c++) {
                const int8_t *wc = c < k ? w_lo + c * kk * kk : w_hi + (c - k) * kk * kk;
                const float s = w_scale[c];
                float acc = 0.0f;
                for (int32_t kh = 0; kh < kk; kh++) {
                    const int32_t th = ih + pad - kh;
                    if (th < 0 || th % stride != 0 || th / stride >= out_h) {
                        continue;
                    }
                    for (int32_t kw = 0; kw < kk; kw++) {
                        const int32_t tw = iw + pad - kw;
                        if (tw < 0 || tw % stride != 0 || tw / stride >= out_w) {
                            continue;
                        }
                        const float ga = g_a[((th / stride) * out_w + tw / stride) * ch + c];
                        acc = acc + ga * (s * (float)wc[kh * kk + kw]);
                    }
                }
                g_x[(ih * in_w + iw) * ch + c] = acc;
            }
        }
    }
}

static const float tt_dwgi_zero[8] __attribute__((aligned(8))) = {0.0f};

/* acc[j] = from[j] + ga[j] * wt[j] + ... over n taps (one rounding per operation, in tap
 * order), j < nc; ga advances ga_step floats (negative) and wt wt_step floats per tap; n >= 1.
 * from is acc itself or zeros. */
static inline __attribute__((always_inline)) void
tt_dwgi_run(float *acc, const float *from, int32_t nc, const float *ga, int32_t ga_step,
            const float *wt, int32_t wt_step, int32_t n)
{
#if defined(TT_VFP_ASM)
    if (nc == 8) {
        const int32_t gab = ga_step * 4, wtb = wt_step * 4;
        __asm__ volatile(
            "vldmia %[from], {s0-s7}\n"
            "1:\n\t"
            "vldmia %[ga], {s16-s23}\n\t"
            "vldmia %[wt], {s24-s31}\n\t"
            "add %[ga], %[ga], %[gab]\n\t"
            "add %[wt], %[wt], %[wtb]\n\t"
            "vmla.f32 s0, s16, s24\n\tvmla.f32 s1, s17, s25\n\t"
            "vmla.f32 s2, s18, s26\n\tvmla.f32 s3, s19, s27\n\t"
            "vmla.f32 s4, s20, s28\n\tvmla.f32 s5, s21, s29\n\t"
            "vmla.f32 s6, s22, s30\n\tvmla.f32 s7, s23, s31\n\t"
            "subs %[n], %[n], #1\n\t"
            "bne 1b\n\t"
            "vstmia %[acc], {s0-s7}\n\t"
            : [ga] "+r"(ga), [wt] "+r"(wt), [n] "+r"(n)
            : [acc] "r"(acc), [from] "r"(from), [gab] "r"(gab), [wtb] "r"(wtb)
            : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s16", "s17", "s18", "s19",
              "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30",
              "s31", "cc", "memory");
        return;
    }
#endif
    for (int32_t j = 0; j < nc; j++) {
        acc[j] = from[j];
    }
    for (int32_t t = 0; t < n; t++, ga += ga_step, wt += wt_step) {
        for (int32_t j = 0; j < nc; j++) {
            acc[j] = tt_mla_f32(acc[j], ga[j], wt[j]);
        }
    }
}

/* The kernel proper, with a weight tile wt of kernel^2 x 8 floats from the caller. With tmp
 * (in place, stride 1: g_a == g_x), each block's 8 channels of g_a are first copied to tmp
 * [in_h * in_w][8] and read from there while g_x overwrites them. */
static void __attribute__((noinline))
tt_dwgi_blocks(const tt_conv_params *p, const float *g_a, const int8_t *w_lo,
               const int8_t *w_hi, const float *w_scale, float *g_x, float *wt, float *tmp)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, ch = p->in_c;
    const int32_t kk = p->kernel, stride = p->stride, pad = p->pad, k = p->k;
    const int32_t out_h = tt_conv_out_dim(in_h, kk, stride, pad);
    const int32_t out_w = tt_conv_out_dim(in_w, kk, stride, pad);
    const int32_t taps = kk * kk;
    for (int32_t c0 = 0; c0 < ch; c0 += 8) {
        const int32_t nc = ch - c0 < 8 ? ch - c0 : 8;
        for (int32_t j = 0; j < 8; j++) {
            const int32_t c = c0 + j;
            const int8_t *wc = j >= nc ? (const int8_t *)0
                               : c < k ? w_lo + c * taps
                                       : w_hi + (c - k) * taps;
            for (int32_t t = 0; t < taps; t++) {
                wt[t * 8 + j] = wc ? w_scale[c] * (float)wc[t] : 0.0f;
            }
        }
        const float *ga = g_a + c0;
        int32_t ga_ch = ch;
        if (tmp) {
            for (int32_t e = 0; e < out_h * out_w; e++) {
                for (int32_t j = 0; j < nc; j++) {
                    tmp[e * 8 + j] = g_x[e * ch + c0 + j];
                }
            }
            ga = tmp;
            ga_ch = 8;
        }
        for (int32_t ih = 0; ih < in_h; ih++) {
            /* the valid kernel rows of this input row: kh ascending */
            const float *ga_row[TT_DWGI_KMAX];
            const float *wt_row[TT_DWGI_KMAX];
            int32_t rows = 0;
            for (int32_t kh = 0; kh < kk; kh++) {
                const int32_t th = ih + pad - kh;
                if (th < 0 || th % stride != 0 || th / stride >= out_h) {
                    continue;
                }
                ga_row[rows] = ga + (th / stride) * out_w * ga_ch;
                wt_row[rows] = wt + kh * kk * 8;
                rows++;
            }
            float *gx = g_x + ih * in_w * ch + c0;
            for (int32_t iw = 0; iw < in_w; iw++, gx += ch) {
                /* valid kw: tw = iw + pad - kw in [0, (out_w - 1) stride], tw % stride == 0 */
                const int32_t base = iw + pad;
                int32_t lo = base - (out_w - 1) * stride;
                lo = lo < 0 ? 0 : lo;
                if (stride != 1) {
                    lo += (base - lo) % stride;
                }
                const int32_t hi = base < kk - 1 ? base : kk - 1;
                if (lo > hi || rows == 0) {
                    for (int32_t j = 0; j < nc; j++) {
                        gx[j] = 0.0f;
                    }
                    continue;
                }
                const int32_t n = stride == 1 ? hi - lo + 1 : (hi - lo) / stride + 1;
                const int32_t ow0 = stride == 1 ? base - lo : (base - lo) / stride;
                const float *from = tt_dwgi_zero;
                for (int32_t r = 0; r < rows; r++) {
                    tt_dwgi_run(gx, from, nc, ga_row[r] + ow0 * ga_ch, -ga_ch, wt_row[r] + lo * 8,
                                stride * 8, n);
                    from = gx;
                }
            }
        }
    }
}

/* Stack for the tile as the kernel size needs it: 288 B for K <= 3, 800 B for K = 5,
 * 1568 B for K = 7 (each size in its own frame). */
static void __attribute__((noinline))
tt_dwgi_k3(const tt_conv_params *p, const float *g_a, const int8_t *w_lo, const int8_t *w_hi,
           const float *w_scale, float *g_x, float *tmp)
{
    float wt[9 * 8] __attribute__((aligned(8)));
    tt_dwgi_blocks(p, g_a, w_lo, w_hi, w_scale, g_x, wt, tmp);
}

static void __attribute__((noinline))
tt_dwgi_k5(const tt_conv_params *p, const float *g_a, const int8_t *w_lo, const int8_t *w_hi,
           const float *w_scale, float *g_x, float *tmp)
{
    float wt[25 * 8] __attribute__((aligned(8)));
    tt_dwgi_blocks(p, g_a, w_lo, w_hi, w_scale, g_x, wt, tmp);
}

static void __attribute__((noinline))
tt_dwgi_k7(const tt_conv_params *p, const float *g_a, const int8_t *w_lo, const int8_t *w_hi,
           const float *w_scale, float *g_x, float *tmp)
{
    float wt[49 * 8] __attribute__((aligned(8)));
    tt_dwgi_blocks(p, g_a, w_lo, w_hi, w_scale, g_x, wt, tmp);
}

void tt_dwconv2d_grad_input_f32(const tt_conv_params *p, const float *g_a, const int8_t *w_lo,
                                const int8_t *w_hi, const float *w_scale, float *g_x)
{
#if defined(TT_PORTABLE_KERNELS) /* benchmarks/bench_speed.py: the reference, for a before/after */
    tt_dwconv2d_grad_input_f32_ref(p, g_a, w_lo, w_hi, w_scale, g_x);
    return;
#endif
    const int32_t kk = p->kernel;
    if (kk <= 3) {
        tt_dwgi_k3(p, g_a, w_lo, w_hi, w_scale, g_x, (float *)0);
    } else if (kk <= 5) {
        tt_dwgi_k5(p, g_a, w_lo, w_hi, w_scale, g_x, (float *)0);
    } else if (kk <= 7) {
        tt_dwgi_k7(p, g_a, w_lo, w_hi, w_scale, g_x, (float *)0);
    } else {
        tt_dwconv2d_grad_input_f32_ref(p, g_a, w_lo, w_hi, w_scale, g_x);
    }
}

void tt_dwconv2d_grad_input_inplace_f32(const tt_conv_params *p, float *g, const int8_t *w_lo,
                                        const int8_t *w_hi, const float *w_scale, float *tmp)
{
    const int32_t kk = p->kernel;
    if (kk <= 3) {
        tt_dwgi_k3(p, g, w_lo, w_hi, w_scale, g, tmp);
    } else if (kk <= 5) {
        tt_dwgi_k5(p, g, w_lo, w_hi, w_scale, g, tmp);
    } else {
        tt_dwgi_k7(p, g, w_lo, w_hi, w_scale, g, tmp);
    }
}
