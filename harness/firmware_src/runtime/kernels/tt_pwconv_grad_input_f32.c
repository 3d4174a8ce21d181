/* Pointwise input gradient (docs section 7): g_x[pos][i] = sum_c g_a[pos][c] w_r[c][i];
 * with stride > 1 the input positions no output reads get 0.
 *
 * Fast path: input channels in blocks of 8 and output channels in chunks of TT_PWGI_CB. For a
 * (block, chunk) the scaled weights w_r[c][i] = w_scale[c] * (float)w[c][i] (the reference's
 * very product, so the same bits) go to a small tile once; then every output position runs
 * its 8 sums over the chunk's c in order, two positions at a time. Between chunks a sum
 * waits in g_x (a float store and load are exact), so each g_x is the reference's sequence of
 * roundings: 0.0f, then + g_a * w_r for c = 0, 1, ..., out_c - 1. */
#include "tt_kernels.h"
#include "tt_kernels_ref.h"
#include "tt_vfp.h"

#define TT_PWGI_CB 16 /* output channels per weight tile: tile of 16 x 8 floats, 512 B */

void tt_pwconv_grad_input_f32_ref(const tt_conv_params *p, const float *g_a, const int8_t *w_lo,
                                  const int8_t *w_hi, const float *w_scale, float *g_x)
{
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c;
    const int32_t stride = p->stride, k = p->k;
    const int32_t out_h = tt_conv_out_dim(in_h, 1, stride, 0);
    const int32_t out_w = tt_conv_out_dim(in_w, 1, stride, 0);

    for (int32_t ih = 0; ih < in_h; ih++) {
        for (int32_t iw = 0; iw < in_w; iw++) {
            float *gx = g_x + (ih * in_w + iw) * in_c;
            const int32_t on_grid = ih % stride == 0 && iw % stride == 0 &&
                                    ih / stride < out_h && iw / stride < out_w;
            if (!on_grid) {
                for (int32_t i = 0; i < in_c; i++) {
                    gx[i] = 0.0f;
                }
                continue;
            }
            const float *ga = g_a + ((ih / stride) * out_w + iw / stride) * out_c;
            for (int32_t i = 0; i < in_c; i++) {
                const int8_t *base = i < k ? w_lo + i : w_hi + (i - k);
                const int32_t width = i < k ? k : in_c - k;
                float acc = 0.0f;
                for (int32_t c = 0; c < out_c; c++) {
                    acc = acc + ga[c] * (w_scale[c] * (float)base[c * width]);
                }
                gx[i] = acc;
            }
        }
    }
}

/* a0[j] = z0[j] + sum_c g0[c] * wt[c][j] and a1[j] = z1[j] + sum_c g1[c] * wt[c][j], j < 8,
 * the terms added one by one for c = 0..n-1 in order (n >= 1); z0 / z1 are where the sums
 * start (a0 / a1 themselves, or zeros). wt is [n][8]. */
#if defined(TT_VFP_ASM)
#define TT_PWGI_ROW(ga, gb, first)                                                            \
    "vldmia %[wt]!, {s16-s23}\n\t"                                                             \
    "vmla.f32 s0, " ga ", s16\n\tvmla.f32 s1, " ga ", s17\n\t"                                \
    "vmla.f32 s2, " ga ", s18\n\tvmla.f32 s3, " ga ", s19\n\t"                                \
    "vmla.f32 s4, " ga ", s20\n\tvmla.f32 s5, " ga ", s21\n\t"                                \
    "vmla.f32 s6, " ga ", s22\n\tvmla.f32 s7, " ga ", s23\n\t"                                \
    "vmla.f32 s8, " gb ", s16\n\tvmla.f32 s9, " gb ", s17\n\t"                                \
    "vmla.f32 s10, " gb ", s18\n\tvmla.f32 s11, " gb ", s19\n\t"                              \
    "vmla.f32 s12, " gb ", s20\n\tvmla.f32 s13, " gb ", s21\n\t"                              \
    "vmla.f32 s14, " gb ", s22\n\tvmla.f32 s15, " gb ", s23\n\t"
#endif

static const float tt_pwgi_zero[8] __attribute__((aligned(8))) = {0.0f};

static void tt_pwgi_2x8(float *a0, float *a1, const float *z0, const float *z1, const float *g0,
                        const float *g1, const float *wt, int32_t n)
{
#if defined(TT_VFP_ASM)
    /* c in order: first the n % 4 leading ones one by one, then four at a time (two 4-float
     * loads of g0 / g1 feed four weight rows) */
    int32_t quads = n >> 2, rem = n & 3;
    __asm__ volatile(
        "vldmia %[z0], {s0-s7}\n\t"
        "vldmia %[z1], {s8-s15}\n\t"
        "cmp %[rem], #0\n\t"
        "beq 2f\n"
        "1:\n\t"
        "vldmia %[g0]!, {s24}\n\t"
        "vldmia %[g1]!, {s28}\n\t"
        TT_PWGI_ROW("s24", "s28", 1)
        "subs %[rem], %[rem], #1\n\t"
        "bne 1b\n"
        "2:\n\t"
        "cmp %[quads], #0\n\t"
        "beq 4f\n"
        "3:\n\t"
        "vldmia %[g0]!, {s24-s27}\n\t"
        "vldmia %[g1]!, {s28-s31}\n\t"
        TT_PWGI_ROW("s24", "s28", 0)
        TT_PWGI_ROW("s25", "s29", 0)
        TT_PWGI_ROW("s26", "s30", 0)
        TT_PWGI_ROW("s27", "s31", 0)
        "subs %[quads], %[quads], #1\n\t"
        "bne 3b\n"
        "4:\n\t"
        "vstmia %[a0], {s0-s7}\n\t"
        "vstmia %[a1], {s8-s15}\n\t"
        : [wt] "+r"(wt), [g0] "+r"(g0), [g1] "+r"(g1), [quads] "+r"(quads), [rem] "+r"(rem)
        : [a0] "r"(a0), [a1] "r"(a1), [z0] "r"(z0), [z1] "r"(z1)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12",
          "s13", "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24",
          "s25", "s26", "s27", "s28", "s29", "s30", "s31", "cc", "memory");
#else
    float b0[8], b1[8];
    for (int32_t j = 0; j < 8; j++) {
        b0[j] = z0[j];
        b1[j] = z1[j];
    }
    for (int32_t c = 0; c < n; c++) {
        const float x0 = g0[c], x1 = g1[c];
        const float *w = wt + c * 8;
        for (int32_t j = 0; j < 8; j++) {
            b0[j] = tt_mla_f32(b0[j], x0, w[j]);
            b1[j] = tt_mla_f32(b1[j], x1, w[j]);
        }
    }
    for (int32_t j = 0; j < 8; j++) {
        a0[j] = b0[j];
        a1[j] = b1[j];
    }
#endif
}

/* row[j] = s * (float)w[j], j < 8 (the reference's w_scale[c] * (float)w, same bits). */
static inline __attribute__((always_inline)) void tt_pwgi_wrow8(float *row, const int8_t *w,
                                                               float s)
{
#if defined(TT_VFP_ASM)
    int32_t r0, r1, t0, t1;
    __asm__ volatile(
        "ldr %[r0], [%[w]]\n\t"
        "ldr %[r1], [%[w], #4]\n\t"
        "sxtb %[t0], %[r0]\n\t"
        "sxtb %[t1], %[r0], ror #8\n\t"
        "vmov s0, s1, %[t0], %[t1]\n\t"
        "sxtb %[t0], %[r0], ror #16\n\t"
        "sxtb %[t1], %[r0], ror #24\n\t"
        "vmov s2, s3, %[t0], %[t1]\n\t"
        "sxtb %[t0], %[r1]\n\t"
        "sxtb %[t1], %[r1], ror #8\n\t"
        "vmov s4, s5, %[t0], %[t1]\n\t"
        "sxtb %[t0], %[r1], ror #16\n\t"
        "sxtb %[t1], %[r1], ror #24\n\t"
        "vmov s6, s7, %[t0], %[t1]\n\t"
        "vcvt.f32.s32 s0, s0\n\tvcvt.f32.s32 s1, s1\n\t"
        "vcvt.f32.s32 s2, s2\n\tvcvt.f32.s32 s3, s3\n\t"
        "vcvt.f32.s32 s4, s4\n\tvcvt.f32.s32 s5, s5\n\t"
        "vcvt.f32.s32 s6, s6\n\tvcvt.f32.s32 s7, s7\n\t"
        "vmul.f32 s0, s0, %[s]\n\tvmul.f32 s1, s1, %[s]\n\t"
        "vmul.f32 s2, s2, %[s]\n\tvmul.f32 s3, s3, %[s]\n\t"
        "vmul.f32 s4, s4, %[s]\n\tvmul.f32 s5, s5, %[s]\n\t"
        "vmul.f32 s6, s6, %[s]\n\tvmul.f32 s7, s7, %[s]\n\t"
        "vstmia %[row], {s0-s7}\n\t"
        : [r0] "=&r"(r0), [r1] "=&r"(r1), [t0] "=&r"(t0), [t1] "=&r"(t1)
        : [w] "r"(w), [row] "r"(row), [s] "t"(s)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "memory");
#else
    for (int32_t j = 0; j < 8; j++) {
        row[j] = s * (float)w[j];
    }
#endif
}

void tt_pwconv_grad_input_f32(const tt_conv_params *p, const float *g_a, const int8_t *w_lo,
                              const int8_t *w_hi, const float *w_scale, float *g_x)
{
#if defined(TT_PORTABLE_KERNELS) /* benchmarks/bench_speed.py: the reference, for a before/after */
    return tt_pwconv_grad_input_f32_ref(p, g_a, w_lo, w_hi, w_scale, g_x);
#endif
    const int32_t in_h = p->in_h, in_w = p->in_w, in_c = p->in_c, out_c = p->out_c;
    const int32_t stride = p->stride, k = p->k;
    const int32_t out_h = tt_conv_out_dim(in_h, 1, stride, 0);
    const int32_t out_w = tt_conv_out_dim(in_w, 1, stride, 0);
    const int32_t n_pos = out_h * out_w;
    float wt[TT_PWGI_CB * 8] __attribute__((aligned(8)));
    float spare[2][8];

    if (stride != 1 || out_h != in_h || out_w != in_w) {
        for (int32_t ih = 0; ih < in_h; ih++) {
            for (int32_t iw = 0; iw < in_w; iw++) {
                if (ih % stride == 0 && iw % stride == 0 && ih / stride < out_h &&
                    iw / stride < out_w) {
                    continue;
                }
                float *gx = g_x + (ih * in_w + iw) * in_c;
                for (int32_t i = 0; i < in_c; i++) {
                    gx[i] = 0.0f;
                }
            }
        }
    }
    for (int32_t i0 = 0; i0 < in_c; i0 += 8) {
        const int32_t ni = in_c - i0 < 8 ? in_c - i0 : 8;
        /* where the block's weights live: all in w_lo, all in w_hi, or split */
        const int8_t *wb = (const int8_t *)0;
        int32_t width = 0;
        if (ni == 8 && i0 + 8 <= k) {
            wb = w_lo + i0;
            width = k;
        } else if (ni == 8 && i0 >= k) {
            wb = w_hi + (i0 - k);
            width = in_c - k;
        }
        for (int32_t c0 = 0; c0 < out_c; c0 += TT_PWGI_CB) {
            const int32_t nc = out_c - c0 < TT_PWGI_CB ? out_c - c0 : TT_PWGI_CB;
            if (wb) {
                const int8_t *w = wb + c0 * width;
                for (int32_t c = 0; c < nc; c++, w += width) {
                    tt_pwgi_wrow8(wt + c * 8, w, w_scale[c0 + c]);
                }
            } else {
                for (int32_t c = 0; c < nc; c++) {
                    const float s = w_scale[c0 + c];
                    float *row = wt + c * 8;
                    int32_t j = 0;
                    for (; j < ni; j++) {
                        const int32_t i = i0 + j;
                        const int8_t w = i < k ? w_lo[(c0 + c) * k + i]
                                               : w_hi[(c0 + c) * (in_c - k) + (i - k)];
                        row[j] = s * (float)w;
                    }
                    for (; j < 8; j++) {
                        row[j] = 0.0f;
                    }
                }
            }
            if (ni == 8 && stride == 1) {
                /* every position, in place in g_x: two at a time, then an odd last one */
                float *gx = g_x + i0;
                const float *ga = g_a + c0;
                int32_t q = 0;
                for (; q + 2 <= n_pos; q += 2, gx += 2 * in_c, ga += 2 * out_c) {
                    tt_pwgi_2x8(gx, gx + in_c, c0 == 0 ? tt_pwgi_zero : gx,
                                c0 == 0 ? tt_pwgi_zero : gx + in_c, ga, ga + out_c, wt, nc);
                }
                if (q < n_pos) {
                    tt_pwgi_2x8(gx, spare[1], c0 == 0 ? tt_pwgi_zero : gx, tt_pwgi_zero, ga, ga,
                                wt, nc);
                }
                continue;
            }
            for (int32_t q = 0; q < n_pos; q += 2) {
                float *acc[2];
                const float *ga[2];
                for (int32_t t = 0; t < 2; t++) {
                    const int32_t pos = q + t < n_pos ? q + t : q;
                    const int32_t oh = pos / out_w, ow = pos - oh * out_w;
                    float *gx = g_x + ((oh * stride) * in_w + ow * stride) * in_c + i0;
                    ga[t] = g_a + pos * out_c + c0;
                    if (ni == 8 && q + t < n_pos) {
                        acc[t] = gx;
                    } else {
                        acc[t] = spare[t];
                        for (int32_t j = 0; j < 8; j++) {
                            spare[t][j] = j < ni && c0 > 0 ? gx[j] : 0.0f;
                        }
                    }
                }
                tt_pwgi_2x8(acc[0], acc[1], c0 == 0 ? tt_pwgi_zero : acc[0],
                            c0 == 0 ? tt_pwgi_zero : acc[1], ga[0], ga[1], wt, nc);
                for (int32_t t = 0; t < 2 && q + t < n_pos; t++) {
                    if (acc[t] == spare[t]) {
                        const int32_t pos = q + t;
                        const int32_t oh = pos / out_w, ow = pos - oh * out_w;
                        float *gx = g_x + ((oh * stride) * in_w + ow * stride) * in_c + i0;
                        for (int32_t j = 0; j < ni; j++) {
                            gx[j] = spare[t][j];
                        }
                    }
                }
            }
        }
    }
}
