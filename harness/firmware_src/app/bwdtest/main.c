/* Backward kernel test firmware: runs each fast float backward / update kernel and its portable
 * reference (tt_kernels_ref.h) on the same pseudo-random data over many shapes (channel counts
 * that are and are not multiples of the blocks, k = 0, 0 < k < C_in, k = C_in, strides, pads,
 * depthwise 3/5/7, odd and even position counts, nearest and stochastic rounding; the pointwise
 * and depthwise fused weight updates, the mask apply and the bias update) and prints
 * one record per case: FNV-1a checksums of both outputs (plus guard words) and whether every
 * bit agrees:
 *   @tt {"t":"bt","case":i,"op":o,"n":n,"fast":<fnv>,"ref":<fnv>,"same":1}
 *   then @tt {"t":"bt_done","n":N,"differ":D}
 * Built for the host (plain C fast paths) and for an ARM board (the VFP assembly inner loops
 * of TT_VFP_ASM) the records must be identical and every case "same"
 * (tests/runtime/test_kernels_bwd.py). */
#include <stdint.h>

#include "tt_io.h"
#include "tt_kernels.h"
#include "tt_kernels_ref.h"

#define BT_F_MAX 6144 /* floats per activation buffer (the whole test fits 128 KiB of SRAM) */
#define BT_X_MAX 6144
#define BT_W_MAX 10000
#define BT_WU_MAX 6200 /* trainable weights */
#define BT_C_MAX 512
#define BT_GUARD 8

static float bt_ga[BT_F_MAX];
static float bt_out_fast[BT_F_MAX + BT_GUARD];
static float bt_out_ref[BT_F_MAX + BT_GUARD];
static float bt_tmp[512]; /* the in-place depthwise gradient's 8 channels set aside */
static int8_t bt_x[BT_X_MAX];
static int8_t bt_w_lo[BT_W_MAX];
static int8_t bt_w_hi[BT_W_MAX];
static int8_t bt_w_fast[BT_WU_MAX + BT_GUARD];
static int8_t bt_w_ref[BT_WU_MAX + BT_GUARD];
static int32_t bt_b_fast[BT_C_MAX + BT_GUARD];
static int32_t bt_b_ref[BT_C_MAX + BT_GUARD];
static float bt_scale[BT_C_MAX];
static uint8_t bt_mask[BT_F_MAX / 8 + 1];

static uint32_t bt_state = 0x9E3779B9u;
static int32_t bt_differ;

static uint32_t bt_rand(void)
{
    uint32_t s = bt_state;
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    bt_state = s;
    return s;
}

static int32_t bt_range(int32_t lo, int32_t hi)
{
    return lo + (int32_t)(bt_rand() % (uint32_t)(hi - lo + 1));
}

/* A float from its bits: sign, exponent 2^-24 .. 2^7, random mantissa; some +0 and -0. */
static float bt_float(void)
{
    const uint32_t r = bt_rand();
    union {
        uint32_t u;
        float f;
    } v;
    if ((r & 31u) == 0u) {
        v.u = (r & 32u) ? 0x80000000u : 0u;
        return v.f;
    }
    const uint32_t exp = 127u - 24u + (bt_rand() % 32u);
    v.u = (r & 0x80000000u) | (exp << 23) | (bt_rand() & 0x7FFFFFu);
    return v.f;
}

static void bt_fill_f32(float *v, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        v[i] = bt_float();
    }
}

static void bt_fill_s8(int8_t *v, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        v[i] = (int8_t)(bt_rand() >> 24);
    }
}

static void bt_fill_scales(int32_t n)
{
    for (int32_t c = 0; c < n; c++) { /* positive, 2^-12 .. 2^-4 */
        union {
            uint32_t u;
            float f;
        } v;
        v.u = ((127u - 12u + bt_rand() % 8u) << 23) | (bt_rand() & 0x7FFFFFu);
        bt_scale[c] = v.f;
    }
}

static void bt_poison(void)
{
    for (int32_t i = 0; i < BT_F_MAX + BT_GUARD; i++) {
        bt_out_fast[i] = 1234.5f;
        bt_out_ref[i] = 1234.5f;
    }
}

static void bt_report(int32_t index, int32_t op, int32_t n_bytes, const uint8_t *fast,
                      const uint8_t *ref)
{
    int32_t same = 1;
    for (int32_t i = 0; i < n_bytes; i++) {
        if (fast[i] != ref[i]) {
            same = 0;
            break;
        }
    }
    if (!same) {
        bt_differ++;
    }
    tt_rec_begin("bt");
    tt_rec_int("case", index);
    tt_rec_int("op", op);
    tt_rec_int("n", n_bytes);
    tt_rec_int("fast", tt_checksum_fnv1a(TT_FNV1A_INIT, fast, n_bytes));
    tt_rec_int("ref", tt_checksum_fnv1a(TT_FNV1A_INIT, ref, n_bytes));
    tt_rec_int("same", same);
    tt_rec_end();
}

enum { BT_PWGI = 0, BT_DWGI = 1, BT_PWUPD = 2, BT_MASK = 3, BT_BIAS = 4, BT_DWUPD = 5, BT_N_OPS = 6 };

typedef struct {
    int16_t op, h, w, c_in, c_out, kernel, stride, pad, k, rounding;
} bt_case;

static const bt_case bt_fixed[] = {
    /* the MbV2-w0.35 128x128 backward shapes */
    {BT_PWGI, 4, 4, 168, 56, 1, 1, 0, 0, 0},   {BT_PWGI, 4, 4, 56, 168, 1, 1, 0, 7, 0},
    {BT_PWGI, 8, 4, 192, 32, 1, 1, 0, 0, 0},    {BT_PWGI, 8, 4, 32, 192, 1, 1, 0, 32, 0},
    {BT_PWGI, 4, 4, 192, 56, 1, 1, 0, 48, 0},   {BT_PWGI, 5, 3, 7, 5, 1, 1, 0, 2, 0},
    {BT_PWGI, 7, 5, 13, 9, 1, 2, 0, 5, 0},      {BT_PWGI, 6, 6, 16, 40, 1, 2, 0, 16, 0},
    {BT_PWGI, 1, 1, 48, 10, 1, 1, 0, 48, 0},    {BT_PWGI, 3, 3, 1, 1, 1, 1, 0, 1, 0},
    {BT_PWGI, 2, 3, 9, 33, 1, 1, 0, 0, 0},      {BT_PWGI, 5, 5, 24, 70, 1, 3, 0, 11, 0},
    {BT_DWGI, 4, 4, 168, 168, 3, 1, 1, 0, 0},   {BT_DWGI, 8, 8, 64, 64, 3, 2, 1, 8, 0},
    {BT_DWGI, 8, 4, 96, 96, 3, 1, 1, 96, 0},    {BT_DWGI, 7, 7, 13, 13, 5, 1, 2, 5, 0},
    {BT_DWGI, 9, 9, 10, 10, 5, 2, 2, 0, 0},     {BT_DWGI, 8, 8, 17, 17, 7, 1, 3, 6, 0},
    {BT_DWGI, 9, 7, 16, 16, 7, 2, 3, 16, 0},    {BT_DWGI, 3, 3, 8, 8, 3, 1, 0, 2, 0},
    {BT_DWGI, 2, 2, 9, 9, 5, 1, 2, 4, 0},       {BT_DWGI, 1, 1, 24, 24, 3, 1, 1, 0, 0},
    {BT_PWUPD, 8, 4, 32, 192, 1, 1, 0, 32, 0},  {BT_PWUPD, 4, 4, 192, 56, 1, 1, 0, 48, 0},
    {BT_PWUPD, 4, 4, 56, 168, 1, 1, 0, 7, 0},   {BT_PWUPD, 8, 4, 32, 192, 1, 1, 0, 32, 1},
    {BT_PWUPD, 4, 4, 56, 168, 1, 1, 0, 7, 1},   {BT_PWUPD, 4, 4, 100, 20, 1, 1, 0, 60, 1},
    {BT_PWUPD, 7, 5, 13, 9, 1, 2, 0, 5, 0},     {BT_PWUPD, 7, 5, 13, 9, 1, 2, 0, 13, 1},
    {BT_PWUPD, 6, 6, 16, 40, 1, 2, 0, 16, 0},   {BT_PWUPD, 1, 1, 48, 10, 1, 1, 0, 48, 0},
    {BT_MASK, 8, 4, 192, 0, 1, 1, 0, 0, 0},     {BT_MASK, 4, 4, 56, 0, 1, 1, 0, 0, 1},
    {BT_MASK, 3, 3, 7, 0, 1, 1, 0, 0, 0},       {BT_MASK, 1, 1, 5, 0, 1, 1, 0, 0, 1},
    {BT_BIAS, 4, 4, 336, 336, 1, 1, 0, 0, 0},   {BT_BIAS, 8, 8, 32, 32, 1, 1, 0, 0, 1},
    {BT_BIAS, 5, 3, 13, 13, 1, 1, 0, 0, 0},     {BT_BIAS, 1, 1, 7, 7, 1, 1, 0, 0, 1},
    {BT_DWUPD, 4, 4, 336, 336, 3, 1, 1, 336, 0}, {BT_DWUPD, 8, 8, 64, 64, 3, 2, 1, 24, 1},
    {BT_DWUPD, 7, 7, 20, 20, 5, 1, 2, 17, 0},   {BT_DWUPD, 9, 9, 16, 16, 7, 2, 3, 16, 1},
    {BT_DWUPD, 6, 5, 9, 9, 7, 1, 3, 9, 0},      {BT_DWUPD, 3, 3, 8, 8, 3, 1, 0, 8, 1},
};

static void bt_run(int32_t index, const bt_case *t)
{
    tt_conv_params p;
    p.in_h = t->h;
    p.in_w = t->w;
    p.in_c = t->c_in;
    p.out_c = t->op == BT_DWGI || t->op == BT_DWUPD ? t->c_in : t->c_out;
    p.kernel = t->kernel;
    p.stride = t->stride;
    p.pad = t->pad;
    p.kernel_w = t->kernel;
    p.stride_w = t->stride;
    p.pad_bottom = p.pad_left = p.pad_right = t->pad;
    p.k = t->k < 0 ? t->c_in : t->k;
    p.x_zp = bt_range(-128, 127);
    p.y_zp = 0;
    p.act_min = -128;
    p.act_max = 127;
    const int32_t out_h = tt_conv_out_dim(p.in_h, p.kernel, p.stride, p.pad);
    const int32_t out_w = tt_conv_out_dim(p.in_w, p.kernel, p.stride, p.pad);
    const int32_t n_in = p.in_h * p.in_w * p.in_c;
    const int32_t n_out = out_h * out_w * p.out_c;
    const int32_t taps = p.kernel * p.kernel;
    int32_t n_lo, n_hi;
    if (t->op == BT_MASK || t->op == BT_BIAS) {
        n_lo = 0;
        n_hi = 0;
    } else if (t->op == BT_DWGI || t->op == BT_DWUPD) {
        n_lo = p.k * taps;
        n_hi = (p.in_c - p.k) * taps;
    } else {
        n_lo = p.out_c * taps * p.k;
        n_hi = p.out_c * taps * (p.in_c - p.k);
    }
    bt_fill_f32(bt_ga, n_out);
    bt_fill_s8(bt_x, p.in_h * p.in_w * p.in_c);
    bt_fill_s8(bt_w_lo, n_lo);
    bt_fill_s8(bt_w_hi, n_hi);
    bt_fill_scales(p.out_c);
    const int8_t *w_lo = p.k > 0 ? bt_w_lo : (const int8_t *)0;
    const int8_t *w_hi = p.k < p.in_c ? bt_w_hi : (const int8_t *)0;
    bt_poison();
    if (t->op == BT_PWGI) {
        tt_pwconv_grad_input_f32(&p, bt_ga, w_lo, w_hi, bt_scale, bt_out_fast);
        tt_pwconv_grad_input_f32_ref(&p, bt_ga, w_lo, w_hi, bt_scale, bt_out_ref);
        bt_report(index, t->op, (int32_t)sizeof(float) * (n_in + BT_GUARD),
                  (const uint8_t *)bt_out_fast, (const uint8_t *)bt_out_ref);
    } else if (t->op == BT_DWGI) {
        tt_dwconv2d_grad_input_f32(&p, bt_ga, w_lo, w_hi, bt_scale, bt_out_fast);
        tt_dwconv2d_grad_input_f32_ref(&p, bt_ga, w_lo, w_hi, bt_scale, bt_out_ref);
        bt_report(index, t->op, (int32_t)sizeof(float) * (n_in + BT_GUARD),
                  (const uint8_t *)bt_out_fast, (const uint8_t *)bt_out_ref);
        if (p.stride == 1 && n_out == n_in && p.kernel <= TT_DW_INPLACE_MAX_K &&
            p.in_h * p.in_w * 8 <= (int32_t)(sizeof bt_tmp / sizeof bt_tmp[0])) {
            /* in place over a copy of g_a: the same values as the reference's g_x */
            for (int32_t i = 0; i < n_in; i++) {
                bt_out_fast[i] = bt_ga[i];
            }
            tt_dwconv2d_grad_input_inplace_f32(&p, bt_out_fast, w_lo, w_hi, bt_scale, bt_tmp);
            bt_report(index, t->op + 200, (int32_t)sizeof(float) * (n_in + BT_GUARD),
                      (const uint8_t *)bt_out_fast, (const uint8_t *)bt_out_ref);
        }
    } else if (t->op == BT_MASK) {
        /* g_y with infinities and NaNs too (a select keeps every bit); bytes 0x00 / 0xFF too */
        for (int32_t i = 0; i < n_in; i++) {
            const uint32_t r = bt_rand();
            union {
                uint32_t u;
                float f;
            } v;
            v.f = bt_float();
            if ((r & 63u) == 0u) {
                v.u = (r & 64u) ? 0x7F800000u : 0xFF800001u;
            }
            bt_out_fast[i] = v.f;
            bt_out_ref[i] = v.f;
        }
        for (int32_t i = 0; i < TT_MASK_BYTES(n_in); i++) {
            const uint32_t r = bt_rand();
            bt_mask[i] = (uint8_t)((r & 3u) == 0u ? 0u : (r & 3u) == 1u ? 0xFFu : r >> 24);
        }
        if (t->rounding) { /* in place */
            tt_mask_apply_f32(bt_out_fast, bt_mask, n_in, bt_out_fast);
            tt_mask_apply_f32_ref(bt_out_ref, bt_mask, n_in, bt_out_ref);
        } else {
            for (int32_t i = 0; i < n_in; i++) {
                bt_ga[i] = bt_out_fast[i];
                bt_out_fast[i] = 1234.5f;
                bt_out_ref[i] = 1234.5f;
            }
            tt_mask_apply_f32(bt_ga, bt_mask, n_in, bt_out_fast);
            tt_mask_apply_f32_ref(bt_ga, bt_mask, n_in, bt_out_ref);
        }
        bt_report(index, t->op, (int32_t)sizeof(float) * (n_in + BT_GUARD),
                  (const uint8_t *)bt_out_fast, (const uint8_t *)bt_out_ref);
    } else {
        /* updates: lr 2^-24 .. 2^-10 leaves some weights, moves some and clamps some */
        tt_rng rng_fast, rng_ref;
        tt_rng_seed(&rng_fast, bt_rand() | 1u);
        rng_ref = rng_fast;
        tt_update_params uf, ur;
        uf.lr = (float)(1u + bt_rand() % 255u) * (1.0f / 256.0f);
        for (int32_t e = bt_range(10, 24); e > 0; e--) {
            uf.lr = uf.lr * 0.5f;
        }
        uf.qas = (int32_t)(bt_rand() & 1u);
        uf.rounding = t->rounding ? TT_ROUND_STOCHASTIC : TT_ROUND_NEAREST;
        uf.rng = &rng_fast;
        uf.residual = (int8_t *)0;
        ur = uf;
        ur.rng = &rng_ref;
        const float x_scale = 0.0234375f;
        const int32_t n_pos = out_h * out_w;
        int32_t n_bytes;
        if (t->op == BT_PWUPD || t->op == BT_DWUPD) {
            for (int32_t i = 0; i < n_lo + BT_GUARD; i++) {
                bt_w_fast[i] = i < n_lo ? bt_w_lo[i] : (int8_t)0x5A;
                bt_w_ref[i] = bt_w_fast[i];
            }
            if (t->op == BT_PWUPD) {
                tt_pwconv_update_weight_s8(&p, bt_x, bt_ga, x_scale, bt_scale, bt_w_fast, &uf);
                tt_pwconv_update_weight_s8_ref(&p, bt_x, bt_ga, x_scale, bt_scale, bt_w_ref,
                                               &ur);
            } else {
                tt_dwconv2d_update_weight_s8(&p, bt_x, bt_ga, x_scale, bt_scale, bt_w_fast, &uf);
                tt_dwconv2d_update_weight_s8_ref(&p, bt_x, bt_ga, x_scale, bt_scale, bt_w_ref,
                                                 &ur);
            }
            n_bytes = n_lo + BT_GUARD;
            bt_report(index, t->op, n_bytes, (const uint8_t *)bt_w_fast,
                      (const uint8_t *)bt_w_ref);
        } else {
            for (int32_t c = 0; c < p.out_c + BT_GUARD; c++) {
                bt_b_fast[c] = c < p.out_c ? bt_range(-300000, 300000) : 0x5A5A5A5A;
                bt_b_ref[c] = bt_b_fast[c];
            }
            tt_bias_update_s32(bt_b_fast, bt_ga, n_pos, p.out_c, x_scale, bt_scale, &uf);
            tt_bias_update_s32_ref(bt_b_ref, bt_ga, n_pos, p.out_c, x_scale, bt_scale, &ur);
            n_bytes = (int32_t)sizeof(int32_t) * (p.out_c + BT_GUARD);
            bt_report(index, t->op, n_bytes, (const uint8_t *)bt_b_fast,
                      (const uint8_t *)bt_b_ref);
        }
        bt_report(index, t->op + 100, (int32_t)sizeof(uint32_t),
                  (const uint8_t *)&rng_fast.state, (const uint8_t *)&rng_ref.state);
    }
}

int main(void);
int main(void)
{
    const int32_t n_fixed = (int32_t)(sizeof bt_fixed / sizeof bt_fixed[0]);
    int32_t i;
    for (i = 0; i < n_fixed; i++) {
        bt_run(i, &bt_fixed[i]);
    }
    for (int32_t r = 0; r < 180; r++, i++) {
        bt_case t;
        t.op = (int16_t)(r % BT_N_OPS);
        const int32_t dw = t.op == BT_DWGI || t.op == BT_DWUPD;
        t.kernel = (int16_t)(dw ? 3 + 2 * bt_range(0, 2) : 1);
        t.stride = (int16_t)bt_range(1, 2);
        t.pad = (int16_t)(dw ? bt_range(0, t.kernel / 2) : 0);
        const int32_t lo = t.kernel > 2 * t.pad ? t.kernel - 2 * t.pad : 1;
        t.h = (int16_t)bt_range(lo, 9);
        t.w = (int16_t)bt_range(lo, 9);
        t.c_in = (int16_t)bt_range(1, 60);
        t.c_out = (int16_t)(dw || t.op == BT_BIAS ? t.c_in : bt_range(1, 60));
        t.k = (int16_t)bt_range(0, t.c_in);
        t.rounding = (int16_t)(bt_rand() & 1u);
        bt_run(i, &t);
    }
    tt_rec_begin("bt_done");
    tt_rec_int("n", i);
    tt_rec_int("differ", bt_differ);
    tt_rec_end();
    return 0;
}
