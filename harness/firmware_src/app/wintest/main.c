/* General-window kernel test firmware (tt_conv_window.h): per case, the forward pass (outputs
 * and mask), the input gradient, the weight gradient and the fused stochastic update of
 * tt_conv2d_win_* / tt_dwconv2d_win_* on pseudo-random data, and one record each:
 *   @tt {"t":"wt","case":i,"op":o,"reg":r,"h":<fnv>,"same":s}
 * o: 0 forward, 1 input gradient, 2 weight gradient, 3 update (weights and rng state).
 * h is the FNV-1a of the general kernel's output. On a regular window (r = 1) the regular
 * kernel of tt_kernels.h (its fast DSP / VFP path on the board) runs on the same data and
 * s = 1 when every bit agrees; on other windows s = 1. Cases: the windows of imported models
 * (10x4 stride 2 SAME, 4x3, 4x1, depthwise 3x3 stride 2 pads (0, 1, 0, 1), pointwise with
 * strides per axis), then random windows, a third of them regular. Ends with
 *   @tt {"t":"wt_done","n":N,"differ":D}
 * Built for the host and for the boards the records must be identical
 * (tests/runtime/test_kernels_window_qemu.py). */
#include <stdint.h>

#include "tt_io.h"
#include "tt_kernels.h"

#define WT_X_MAX 4096
#define WT_F_MAX 4096
#define WT_W_MAX 6144
#define WT_C_MAX 64
#define WT_GUARD 8

enum { WT_CONV = 0, WT_DW = 1 };

typedef struct {
    int16_t op, h, w, c_in, c_out, kh, kw, sh, sw, pt, pb, pl, pr, k;
} wt_case;

static const wt_case wt_fixed[] = {
    {WT_CONV, 49, 10, 1, 16, 10, 4, 2, 2, 4, 5, 1, 1, 1},
    {WT_CONV, 25, 10, 4, 12, 10, 4, 2, 2, 4, 5, 1, 1, 2},
    {WT_CONV, 32, 3, 1, 8, 4, 3, 1, 1, 1, 2, 1, 1, 1},
    {WT_CONV, 16, 1, 8, 16, 4, 1, 1, 1, 1, 2, 0, 0, 5},
    {WT_CONV, 12, 12, 3, 8, 3, 3, 2, 2, 0, 1, 0, 1, 3},
    {WT_DW, 12, 10, 16, 16, 3, 3, 2, 2, 0, 1, 0, 1, 9},
    {WT_DW, 10, 10, 24, 24, 5, 5, 2, 2, 1, 2, 1, 2, 24},
    {WT_DW, 9, 4, 7, 7, 3, 1, 1, 1, 1, 1, 0, 0, 3},
    {WT_CONV, 7, 6, 24, 20, 1, 1, 2, 1, 0, 0, 0, 0, 10},
    {WT_CONV, 5, 10, 16, 9, 1, 1, 1, 3, 0, 0, 0, 0, 16},
};

static int8_t wt_x[WT_X_MAX];
static int8_t wt_w_lo[WT_W_MAX];
static int8_t wt_w_hi[WT_W_MAX];
static int8_t wt_wa[WT_W_MAX + WT_GUARD];
static int8_t wt_wb[WT_W_MAX + WT_GUARD];
static int8_t wt_ya[WT_F_MAX + WT_GUARD];
static int8_t wt_yb[WT_F_MAX + WT_GUARD];
static uint8_t wt_ma[WT_F_MAX / 8 + WT_GUARD];
static uint8_t wt_mb[WT_F_MAX / 8 + WT_GUARD];
static float wt_ga[WT_F_MAX];
static float wt_fa[WT_W_MAX + WT_GUARD];
static float wt_fb[WT_W_MAX + WT_GUARD];
static int32_t wt_bias[WT_C_MAX];
static int32_t wt_mult[WT_C_MAX];
static int32_t wt_shift[WT_C_MAX];
static float wt_scale[WT_C_MAX];

static uint32_t wt_state = 0x7F4A7C15u;
static int32_t wt_differ;

static uint32_t wt_rand(void)
{
    uint32_t s = wt_state;
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    wt_state = s;
    return s;
}

static int32_t wt_range(int32_t lo, int32_t hi)
{
    return lo + (int32_t)(wt_rand() % (uint32_t)(hi - lo + 1));
}

static float wt_float(void) /* sign, exponent 2^-24 .. 2^7, random mantissa; some zeros */
{
    const uint32_t r = wt_rand();
    union {
        uint32_t u;
        float f;
    } v;
    if ((r & 15u) == 0u) {
        v.u = (r & 32u) ? 0x80000000u : 0u;
        return v.f;
    }
    v.u = (r & 0x80000000u) | ((127u - 24u + (wt_rand() % 32u)) << 23) | (wt_rand() & 0x7FFFFFu);
    return v.f;
}

static void wt_fill_s8(int8_t *v, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        v[i] = (int8_t)(wt_rand() >> 24);
    }
}

static int32_t wt_same(const uint8_t *a, const uint8_t *b, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            return 0;
        }
    }
    return 1;
}

static void wt_report(int32_t index, int32_t op, int32_t reg, const void *a, const void *b,
                      int32_t n_bytes)
{
    const int32_t same = reg ? wt_same((const uint8_t *)a, (const uint8_t *)b, n_bytes) : 1;
    wt_differ += !same;
    tt_rec_begin("wt");
    tt_rec_int("case", index);
    tt_rec_int("op", op);
    tt_rec_int("reg", reg);
    tt_rec_int("h", tt_checksum_fnv1a(TT_FNV1A_INIT, (const uint8_t *)a, n_bytes));
    tt_rec_int("same", same);
    tt_rec_end();
}

static void wt_run(int32_t index, const wt_case *t)
{
    const int32_t dw = t->op == WT_DW;
    const tt_conv_params p = {
        .in_h = t->h, .in_w = t->w, .in_c = t->c_in, .out_c = dw ? t->c_in : t->c_out,
        .kernel = t->kh, .stride = t->sh, .pad = t->pt, .k = t->k,
        .x_zp = wt_range(-128, 127), .y_zp = wt_range(-128, 127),
        .act_min = -128, .act_max = 127, .x_row0 = 0, .out_row0 = 0, .out_rows = 0,
        .kernel_w = t->kw, .stride_w = t->sw, .pad_bottom = t->pb, .pad_left = t->pl,
        .pad_right = t->pr,
    };
    const int32_t reg = tt_conv_window_regular(&p);
    const int32_t pw = reg && !dw && p.kernel == 1 && p.pad == 0;
    const int32_t out_h = tt_conv_out_h(&p), out_w = tt_conv_out_w(&p);
    const int32_t n_x = p.in_h * p.in_w * p.in_c, n_y = out_h * out_w * p.out_c;
    const int32_t taps = p.kernel * p.kernel_w;
    const int32_t n_lo = dw ? p.k * taps : p.out_c * taps * p.k;
    const int32_t n_hi = dw ? (p.in_c - p.k) * taps : p.out_c * taps * (p.in_c - p.k);
    if (n_x > WT_X_MAX || n_y > WT_F_MAX || n_x > WT_F_MAX || n_lo + n_hi > WT_W_MAX ||
        p.out_c > WT_C_MAX) { /* a case too large for the buffers fails the test */
        wt_differ++;
        tt_rec_begin("wt_too_large");
        tt_rec_int("case", index);
        tt_rec_end();
        return;
    }
    wt_fill_s8(wt_x, n_x);
    wt_fill_s8(wt_w_lo, n_lo);
    wt_fill_s8(wt_w_hi, n_hi);
    for (int32_t c = 0; c < p.out_c; c++) {
        wt_bias[c] = wt_range(-20000, 20000);
        wt_mult[c] = (int32_t)(0x40000000u + (wt_rand() >> 2));
        wt_shift[c] = -6 - wt_range(0, 5);
        union {
            uint32_t u;
            float f;
        } v;
        v.u = ((127u - 12u + wt_rand() % 8u) << 23) | (wt_rand() & 0x7FFFFFu);
        wt_scale[c] = v.f;
    }
    for (int32_t i = 0; i < n_y; i++) {
        wt_ga[i] = wt_float();
    }
    const tt_per_channel_quant q = {wt_mult, wt_shift};
    const int8_t *lo = p.k > 0 ? wt_w_lo : (const int8_t *)0;
    const int8_t *hi = p.k < p.in_c ? wt_w_hi : (const int8_t *)0;
    const int32_t mb = TT_MASK_BYTES(n_y);

    /* forward */
    for (int32_t i = 0; i < mb; i++) {
        wt_ma[i] = wt_mb[i] = 0xA5u;
    }
    if (dw) {
        tt_dwconv2d_win_s8(&p, &q, wt_x, lo, hi, wt_bias, wt_ya, wt_ma);
        tt_dwconv2d_s8(&p, &q, wt_x, lo, hi, wt_bias, wt_yb, wt_mb);
    } else {
        tt_conv2d_win_s8(&p, &q, wt_x, lo, hi, wt_bias, wt_ya, wt_ma);
        if (pw) {
            tt_pwconv_s8(&p, &q, wt_x, lo, hi, wt_bias, wt_yb, wt_mb);
        } else if (reg) {
            tt_conv2d_s8(&p, &q, wt_x, lo, hi, wt_bias, wt_yb, wt_mb);
        }
    }
    for (int32_t i = 0; i < mb; i++) { /* outputs then mask, compared as one buffer */
        wt_ya[n_y + i] = (int8_t)wt_ma[i];
        wt_yb[n_y + i] = (int8_t)wt_mb[i];
    }
    wt_report(index, 0, reg, wt_ya, wt_yb, n_y + mb);

    /* input gradient */
    if (dw) {
        tt_dwconv2d_win_grad_input_f32(&p, wt_ga, lo, hi, wt_scale, wt_fa);
        if (reg) {
            tt_dwconv2d_grad_input_f32(&p, wt_ga, lo, hi, wt_scale, wt_fb);
        }
    } else {
        tt_conv2d_win_grad_input_f32(&p, wt_ga, lo, hi, wt_scale, wt_fa);
        if (pw) {
            tt_pwconv_grad_input_f32(&p, wt_ga, lo, hi, wt_scale, wt_fb);
        } else if (reg) {
            tt_conv2d_grad_input_f32(&p, wt_ga, lo, hi, wt_scale, wt_fb);
        }
    }
    wt_report(index, 1, reg, wt_fa, wt_fb, (int32_t)sizeof(float) * n_x);
    if (p.k == 0) {
        return;
    }

    /* weight gradient of the trainable slice */
    const float x_scale = wt_scale[0];
    if (dw) {
        tt_dwconv2d_win_grad_weight_f32(&p, wt_x, wt_ga, x_scale, wt_fa);
        if (reg) {
            tt_dwconv2d_grad_weight_f32(&p, wt_x, wt_ga, x_scale, wt_fb);
        }
    } else {
        tt_conv2d_win_grad_weight_f32(&p, wt_x, wt_ga, x_scale, wt_fa);
        if (pw) {
            tt_pwconv_grad_weight_f32(&p, wt_x, wt_ga, x_scale, wt_fb);
        } else if (reg) {
            tt_conv2d_grad_weight_f32(&p, wt_x, wt_ga, x_scale, wt_fb);
        }
    }
    wt_report(index, 2, reg, wt_fa, wt_fb, (int32_t)sizeof(float) * n_lo);

    /* fused stochastic update; the weights then the rng state. x holds all channels, so the
     * slice is a copy of its first k channels (in wt_yb's room: no longer needed). */
    int8_t *slice = wt_yb;
    for (int32_t pos = 0; pos < p.in_h * p.in_w; pos++) {
        for (int32_t i = 0; i < p.k; i++) {
            slice[pos * p.k + i] = wt_x[pos * p.in_c + i];
        }
    }
    tt_rng ra, rb;
    tt_rng_seed(&ra, 0x1234567u + (uint32_t)index);
    tt_rng_seed(&rb, 0x1234567u + (uint32_t)index);
    const tt_update_params ua = {0.5f, 1, TT_ROUND_STOCHASTIC, &ra, (int8_t *)0};
    const tt_update_params ub = {0.5f, 1, TT_ROUND_STOCHASTIC, &rb, (int8_t *)0};
    for (int32_t i = 0; i < n_lo; i++) {
        wt_wa[i] = wt_wb[i] = wt_w_lo[i];
    }
    if (dw) {
        tt_dwconv2d_win_update_weight_s8(&p, slice, wt_ga, x_scale, wt_scale, wt_wa, &ua);
        if (reg) {
            tt_dwconv2d_update_weight_s8(&p, slice, wt_ga, x_scale, wt_scale, wt_wb, &ub);
        }
    } else {
        tt_conv2d_win_update_weight_s8(&p, slice, wt_ga, x_scale, wt_scale, wt_wa, &ua);
        if (pw) {
            tt_pwconv_update_weight_s8(&p, slice, wt_ga, x_scale, wt_scale, wt_wb, &ub);
        } else if (reg) {
            tt_conv2d_update_weight_s8(&p, slice, wt_ga, x_scale, wt_scale, wt_wb, &ub);
        }
    }
    const uint32_t sa = ra.state, sb = rb.state;
    for (int32_t i = 0; i < 4; i++) {
        wt_wa[n_lo + i] = (int8_t)(sa >> (8 * i));
        wt_wb[n_lo + i] = (int8_t)(sb >> (8 * i));
    }
    wt_report(index, 3, reg, wt_wa, wt_wb, n_lo + 4);
}

int main(void);
int main(void)
{
    const int32_t n_fixed = (int32_t)(sizeof wt_fixed / sizeof wt_fixed[0]);
    int32_t i;
    for (i = 0; i < n_fixed; i++) {
        wt_run(i, &wt_fixed[i]);
    }
    for (int32_t r = 0; r < 90; r++, i++) {
        wt_case t;
        t.op = (int16_t)(r % 2);
        if (r % 3 == 2) { /* regular: the fast kernels' geometries */
            const int32_t kk = t.op == WT_DW ? 3 + 2 * wt_range(0, 2) : wt_range(1, 5);
            const int32_t pad = t.op == WT_DW ? wt_range(0, kk / 2) : wt_range(0, kk - 1);
            t.kh = t.kw = (int16_t)kk;
            t.sh = t.sw = (int16_t)wt_range(1, 2);
            t.pt = t.pb = t.pl = t.pr = (int16_t)(kk == 1 ? 0 : pad);
        } else {
            t.kh = (int16_t)wt_range(1, 6);
            t.kw = (int16_t)wt_range(1, 6);
            t.sh = (int16_t)wt_range(1, 3);
            t.sw = (int16_t)wt_range(1, 3);
            t.pt = (int16_t)wt_range(0, t.kh - 1);
            t.pb = (int16_t)wt_range(0, t.kh - 1);
            t.pl = (int16_t)wt_range(0, t.kw - 1);
            t.pr = (int16_t)wt_range(0, t.kw - 1);
        }
        const int32_t lo_h = t.kh - t.pt - t.pb > 1 ? t.kh - t.pt - t.pb : 1;
        const int32_t lo_w = t.kw - t.pl - t.pr > 1 ? t.kw - t.pl - t.pr : 1;
        t.h = (int16_t)wt_range(lo_h, 11);
        t.w = (int16_t)wt_range(lo_w, 11);
        t.c_in = (int16_t)wt_range(1, 12);
        t.c_out = (int16_t)(t.op == WT_DW ? t.c_in : wt_range(1, 12));
        t.k = (int16_t)wt_range(0, t.c_in);
        wt_run(i, &t);
    }
    tt_rec_begin("wt_done");
    tt_rec_int("n", i);
    tt_rec_int("differ", wt_differ);
    tt_rec_end();
    return 0;
}
