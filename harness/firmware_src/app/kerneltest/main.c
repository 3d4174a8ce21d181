/* Kernel test firmware: runs the int8 forward conv kernels (tt_pwconv_s8, tt_dwconv2d_s8,
 * tt_conv2d_s8) and residual adds (tt_add_s8, op 3) on pseudo-random inputs, weights, biases
 * and multipliers over many shapes (odd / even channels, k = 0, 0 < k < C_in, k = C_in,
 * strides, pads, kernels 1..7) and prints one record per case with FNV-1a checksums of the
 * outputs and of the mask bytes:
 *   @tt {"t":"kt","case":i,"op":o,"y":<fnv>,"m":<fnv>}
 * then one record per row-strip case (the row-range fields of tt_conv_params), "eq":1 when the
 * strips computed from input tiles equal the whole layer bit for bit:
 *   @tt {"t":"kt_strip","case":i,"op":o,"strips":s,"n":n,"eq":1,"y":<fnv>,"m":<fnv>}
 * and last @tt {"t":"kt_done","n":N}.
 * The same C built for the host (portable kernels) and for an ARM board (the DSP paths where
 * __ARM_FEATURE_DSP) must print identical records (tests/runtime/test_kernels_dsp.py). */
#include <stdint.h>

#include "tt_io.h"
#include "tt_kernels.h"

#define KT_X_MAX 4096
#define KT_W_MAX 4096
#define KT_Y_MAX 8192
#define KT_C_MAX 64
#define KT_GUARD 16

static int8_t kt_x[KT_X_MAX];
static int8_t kt_w_lo[KT_W_MAX];
static int8_t kt_w_hi[KT_W_MAX];
static int8_t kt_y[KT_Y_MAX + KT_GUARD];
static uint8_t kt_mask[KT_Y_MAX / 8 + KT_GUARD];
static int32_t kt_bias[KT_C_MAX];
static int32_t kt_mult[KT_C_MAX];
static int32_t kt_shift[KT_C_MAX];

static uint32_t kt_state = 0x1234567u;

static uint32_t kt_rand(void)
{
    uint32_t s = kt_state;
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    kt_state = s;
    return s;
}

/* Uniform in [lo, hi]. */
static int32_t kt_range(int32_t lo, int32_t hi)
{
    return lo + (int32_t)(kt_rand() % (uint32_t)(hi - lo + 1));
}

static void kt_fill_s8(int8_t *v, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        v[i] = (int8_t)(kt_rand() >> 24);
    }
}

enum { KT_PW = 0, KT_DW = 1, KT_CONV = 2 };

typedef struct {
    int8_t op, h, w, c_in, c_out, kernel, stride, pad, k;
} kt_case;

/* Fixed shapes (k = -1: C_in, i.e. everything trainable); then random ones. */
static const kt_case kt_fixed[] = {
    {KT_PW, 4, 4, 8, 8, 1, 1, 0, 0},    {KT_PW, 4, 4, 8, 8, 1, 1, 0, -1},
    {KT_PW, 4, 4, 8, 8, 1, 1, 0, 3},    {KT_PW, 5, 3, 7, 5, 1, 1, 0, 0},
    {KT_PW, 5, 3, 7, 5, 1, 1, 0, 2},    {KT_PW, 5, 3, 7, 5, 1, 1, 0, -1},
    {KT_PW, 6, 6, 16, 24, 1, 2, 0, 8},  {KT_PW, 7, 5, 13, 9, 1, 2, 0, 5},
    {KT_PW, 3, 3, 1, 3, 1, 1, 0, 0},    {KT_PW, 3, 3, 1, 3, 1, 1, 0, 1},
    {KT_PW, 2, 2, 3, 1, 1, 1, 0, 1},    {KT_PW, 2, 2, 37, 19, 1, 1, 0, 11},
    {KT_PW, 1, 1, 48, 40, 1, 1, 0, 16}, {KT_PW, 2, 3, 6, 6, 1, 1, 0, 4},
    {KT_DW, 6, 6, 8, 8, 3, 1, 1, 0},    {KT_DW, 6, 6, 8, 8, 3, 1, 1, -1},
    {KT_DW, 6, 6, 8, 8, 3, 2, 1, 3},    {KT_DW, 7, 7, 5, 5, 3, 2, 1, 2},
    {KT_DW, 7, 5, 12, 12, 5, 1, 2, 5},  {KT_DW, 9, 9, 7, 7, 5, 2, 2, 0},
    {KT_DW, 8, 8, 13, 13, 7, 1, 3, 6},  {KT_DW, 9, 7, 6, 6, 7, 2, 3, -1},
    {KT_DW, 4, 4, 3, 3, 3, 1, 1, 1},    {KT_DW, 3, 3, 4, 4, 3, 1, 0, 2},
    {KT_DW, 2, 2, 9, 9, 5, 1, 2, 4},    {KT_DW, 5, 5, 16, 16, 3, 1, 1, 8},
    {KT_CONV, 8, 8, 1, 8, 3, 2, 1, 0},  {KT_CONV, 8, 8, 1, 8, 3, 2, 1, 1},
    {KT_CONV, 8, 8, 3, 7, 3, 2, 1, -1}, {KT_CONV, 8, 8, 3, 7, 3, 1, 1, 1},
    {KT_CONV, 7, 6, 5, 4, 5, 1, 2, 2},  {KT_CONV, 7, 7, 8, 6, 3, 1, 0, 0},
    {KT_CONV, 6, 6, 9, 5, 3, 2, 1, 4},  {KT_CONV, 5, 5, 4, 3, 5, 1, 2, -1},
    {KT_CONV, 4, 4, 6, 5, 1, 1, 0, 3},  {KT_CONV, 9, 9, 2, 3, 7, 2, 3, 1},
    /* Depthwise like the models' trainable blocks (odd channels, 0 < k < C, the depthwise
     * plane path: 4x4 with 7x7 pad 3, 8x8 with 5x5 / 7x7), images split into several plane
     * bands (30x30, 40x40, 9x60), and one too wide for a plane band (3x120, 5x5: dw_body). */
    {KT_DW, 4, 4, 37, 37, 7, 1, 3, 11}, {KT_DW, 4, 4, 19, 19, 7, 1, 3, 0},
    {KT_DW, 8, 8, 21, 21, 5, 1, 2, 9},  {KT_DW, 8, 8, 19, 19, 7, 2, 3, 5},
    {KT_DW, 4, 4, 23, 23, 3, 1, 1, 7},  {KT_DW, 8, 8, 9, 9, 3, 2, 1, 4},
    {KT_DW, 30, 30, 3, 3, 5, 1, 2, 1},  {KT_DW, 40, 40, 2, 2, 3, 2, 1, 1},
    {KT_DW, 9, 60, 3, 3, 7, 2, 3, 1},   {KT_DW, 3, 120, 5, 5, 5, 1, 2, 2},
    /* Pointwise with a trainable slice of the models' sizes (split rows past 8 words). */
    {KT_PW, 4, 4, 64, 48, 1, 1, 0, 16}, {KT_PW, 8, 8, 32, 33, 1, 1, 0, 8},
    {KT_PW, 5, 5, 96, 23, 1, 2, 0, 40}, {KT_PW, 3, 5, 64, 24, 1, 1, 0, 37},
};

/* One case's data: parameters, x, split weights, bias, multipliers; returns n_y. */
typedef struct {
    tt_conv_params p;
    const int8_t *w_lo, *w_hi;
    const int32_t *bias;
    int32_t out_h, out_w, n_y;
    int32_t use_mask;
} kt_setup;

static kt_setup kt_prepare(const kt_case *t)
{
    kt_setup s;
    tt_conv_params p = {0};
    p.in_h = t->h;
    p.in_w = t->w;
    p.in_c = t->c_in;
    p.out_c = t->op == KT_DW ? t->c_in : t->c_out;
    p.kernel = t->kernel;
    p.stride = t->stride;
    p.pad = t->pad;
    p.kernel_w = t->kernel;
    p.stride_w = t->stride;
    p.pad_bottom = p.pad_left = p.pad_right = t->pad;
    p.k = t->k < 0 ? t->c_in : t->k;
    p.x_zp = kt_range(-128, 127);
    p.y_zp = kt_range(-128, 127);
    /* Two thirds of the cases look like a calibrated model (the fast output stage of the DSP
     * kernels: int8 range, right shifts 1..24), the rest exercise the general one. */
    const int32_t model_like = (kt_rand() % 3u) != 0u;
    if (model_like || (kt_rand() & 1u)) {
        p.act_min = -128;
        p.act_max = 127;
    } else { /* a ReLU6-like range */
        p.act_min = kt_range(-128, 0);
        p.act_max = kt_range(p.act_min, 127);
    }
    s.out_h = tt_conv_out_dim(p.in_h, p.kernel, p.stride, p.pad);
    s.out_w = tt_conv_out_dim(p.in_w, p.kernel, p.stride, p.pad);
    s.n_y = s.out_h * s.out_w * p.out_c;
    const int32_t taps = p.kernel * p.kernel;
    int32_t n_lo, n_hi;
    if (t->op == KT_DW) {
        n_lo = p.k * taps;
        n_hi = (p.in_c - p.k) * taps;
    } else {
        n_lo = p.out_c * taps * p.k;
        n_hi = p.out_c * taps * (p.in_c - p.k);
    }
    kt_fill_s8(kt_x, p.in_h * p.in_w * p.in_c);
    if ((kt_rand() & 3u) == 0u) { /* sometimes the extremes: x - x_zp = -255 and 255 */
        for (int32_t i = 0; i < p.in_h * p.in_w * p.in_c; i += 3) {
            kt_x[i] = (int8_t)(p.x_zp > 0 ? -128 : 127);
        }
    }
    kt_fill_s8(kt_w_lo, n_lo);
    kt_fill_s8(kt_w_hi, n_hi);
    const int32_t use_bias = (int32_t)(kt_rand() % 4u) != 0;
    for (int32_t c = 0; c < p.out_c; c++) {
        kt_bias[c] = kt_range(-20000, 20000);
        kt_mult[c] = (kt_rand() & 15u) == 0u ? 0x40000000
                                             : (int32_t)(0x40000000u + (kt_rand() >> 2));
        if (model_like) { /* right shifts, now and then the large ones */
            kt_shift[c] = (kt_rand() & 15u) == 0u ? kt_range(-24, -14) : kt_range(-13, -1);
        } else {
            kt_shift[c] = kt_range(-13, 1);
        }
    }
    s.w_lo = p.k > 0 ? kt_w_lo : (const int8_t *)0;
    s.w_hi = p.k < p.in_c ? kt_w_hi : (const int8_t *)0;
    s.bias = use_bias ? kt_bias : (const int32_t *)0;
    s.use_mask = (kt_rand() % 5u) != 0 || (t->op == KT_DW && t->c_in > 16); /* the models' */
    s.p = p;
    return s;
}

static void kt_call(int32_t op, const tt_conv_params *p, const int8_t *x, const kt_setup *s,
                    int8_t *y, uint8_t *mask)
{
    const tt_per_channel_quant q = {kt_mult, kt_shift};
    if (op == KT_PW) {
        tt_pwconv_s8(p, &q, x, s->w_lo, s->w_hi, s->bias, y, mask);
    } else if (op == KT_DW) {
        tt_dwconv2d_s8(p, &q, x, s->w_lo, s->w_hi, s->bias, y, mask);
    } else {
        tt_conv2d_s8(p, &q, x, s->w_lo, s->w_hi, s->bias, y, mask);
    }
}

static void kt_poison(int8_t *y, int32_t n_y, uint8_t *mask, int32_t n_mask)
{
    for (int32_t i = 0; i < n_y; i++) {
        y[i] = 0x5A;
    }
    for (int32_t i = 0; i < n_mask; i++) {
        mask[i] = 0xA5u;
    }
}

static void kt_run(int32_t index, const kt_case *t)
{
    const kt_setup s = kt_prepare(t);
    kt_poison(kt_y, KT_Y_MAX + KT_GUARD, kt_mask, KT_Y_MAX / 8 + KT_GUARD);
    kt_call(t->op, &s.p, kt_x, &s, kt_y, s.use_mask ? kt_mask : (uint8_t *)0);
    tt_rec_begin("kt");
    tt_rec_int("case", index);
    tt_rec_int("op", t->op);
    tt_rec_int("n", s.n_y);
    tt_rec_int("y", tt_checksum_fnv1a_s8(TT_FNV1A_INIT, kt_y, s.n_y + KT_GUARD));
    tt_rec_int("m", tt_checksum_fnv1a(TT_FNV1A_INIT, kt_mask, TT_MASK_BYTES(s.n_y) + KT_GUARD));
    tt_rec_end();
}

/* Row strips (the row-range fields of tt_conv_params): the layer computed as n_strips strips of
 * output rows, each from a tile holding only the input rows it reads (in a buffer of random
 * bytes, so a read outside the tile shows), must equal the whole layer bit for bit, outputs
 * and mask bits, and write nothing past its strip. */
typedef struct {
    kt_case c;
    int8_t strips;
} kt_strip_case;

static const kt_strip_case kt_strip_cases[] = {
    {{KT_CONV, 16, 12, 3, 16, 3, 2, 1, 0}, 3},   {{KT_CONV, 15, 9, 3, 16, 3, 2, 1, -1}, 4},
    {{KT_CONV, 13, 8, 3, 7, 3, 2, 1, 2}, 2},     {{KT_DW, 12, 10, 12, 12, 3, 1, 1, 0}, 3},
    {{KT_DW, 11, 9, 8, 8, 3, 2, 1, 5}, 4},       {{KT_DW, 12, 7, 16, 16, 5, 1, 2, -1}, 4},
    {{KT_DW, 13, 9, 7, 7, 5, 2, 2, 3}, 2},       {{KT_DW, 14, 8, 9, 9, 7, 1, 3, 0}, 3},
    {{KT_DW, 15, 11, 8, 8, 7, 2, 3, 8}, 4},      {{KT_PW, 9, 7, 24, 16, 1, 1, 0, 8}, 3},
    {{KT_PW, 8, 8, 16, 24, 1, 2, 0, 0}, 2},      {{KT_PW, 10, 6, 13, 9, 1, 1, 0, -1}, 4},
};

#define KT_TILE_GUARD 256
static int8_t kt_tile[KT_X_MAX + 2 * KT_TILE_GUARD];
static int8_t kt_y_strips[KT_Y_MAX];
static uint8_t kt_mask_strips[KT_Y_MAX / 8];
static int8_t strip_y[KT_Y_MAX + KT_GUARD];
static uint8_t strip_mask[KT_Y_MAX / 8 + KT_GUARD];

static void kt_run_strips(int32_t index, const kt_strip_case *t)
{
    const kt_setup s = kt_prepare(&t->c);
    const tt_conv_params *p = &s.p;
    const int32_t row_out = s.out_w * p->out_c, row_in = p->in_w * p->in_c;
    kt_poison(kt_y, KT_Y_MAX + KT_GUARD, kt_mask, KT_Y_MAX / 8 + KT_GUARD);
    kt_call(t->c.op, p, kt_x, &s, kt_y, kt_mask);
    int32_t eq = 1;
    for (int32_t i = 0; i < t->strips; i++) {
        const int32_t r0 = s.out_h * i / t->strips, r1 = s.out_h * (i + 1) / t->strips;
        int32_t lo = r0 * p->stride - p->pad, hi = (r1 - 1) * p->stride - p->pad + p->kernel;
        lo = lo < 0 ? 0 : lo;
        hi = hi > p->in_h ? p->in_h : hi;
        kt_fill_s8(kt_tile, KT_X_MAX + 2 * KT_TILE_GUARD);
        for (int32_t j = 0; j < (hi - lo) * row_in; j++) {
            kt_tile[KT_TILE_GUARD + j] = kt_x[lo * row_in + j];
        }
        tt_conv_params ps = *p;
        ps.x_row0 = lo;
        ps.out_row0 = r0;
        ps.out_rows = r1 - r0;
        kt_poison(strip_y, KT_Y_MAX + KT_GUARD, strip_mask, KT_Y_MAX / 8 + KT_GUARD);
        kt_call(t->c.op, &ps, kt_tile + KT_TILE_GUARD, &s, strip_y, strip_mask);
        const int32_t n = (r1 - r0) * row_out;
        for (int32_t j = 0; j < KT_GUARD; j++) {
            eq &= strip_y[n + j] == 0x5A;
        }
        for (int32_t j = n; j < 8 * TT_MASK_BYTES(n); j++) { /* bits past n left alone */
            eq &= tt_mask_get(strip_mask, j) == (int32_t)((0xA5u >> (j & 7)) & 1u);
        }
        for (int32_t j = 0; j < n; j++) {
            kt_y_strips[r0 * row_out + j] = strip_y[j];
            tt_mask_put(kt_mask_strips, r0 * row_out + j, tt_mask_get(strip_mask, j));
        }
    }
    for (int32_t j = 0; j < s.n_y; j++) {
        eq &= kt_y_strips[j] == kt_y[j];
        eq &= tt_mask_get(kt_mask_strips, j) == tt_mask_get(kt_mask, j);
    }
    tt_rec_begin("kt_strip");
    tt_rec_int("case", index);
    tt_rec_int("op", t->c.op);
    tt_rec_int("strips", t->strips);
    tt_rec_int("n", s.n_y);
    tt_rec_int("eq", eq);
    tt_rec_int("y", tt_checksum_fnv1a_s8(TT_FNV1A_INIT, kt_y, s.n_y));
    tt_rec_int("m", tt_checksum_fnv1a(TT_FNV1A_INIT, kt_mask, TT_MASK_BYTES(s.n_y)));
    tt_rec_end();
}

/* Residual adds: n elements, model-like parameters (the DSP fast stage: right shifts, the
 * out shift near -20) or random ones with left shifts; b sometimes aliases y (in place). */
static void kt_run_add(int32_t index, int32_t n, int32_t model_like)
{
    tt_add_params p;
    p.a_zp = kt_range(-128, 127);
    p.b_zp = kt_range(-128, 127);
    p.y_zp = kt_range(-128, 127);
    p.a_multiplier = (int32_t)(0x40000000u + (kt_rand() >> 2));
    p.b_multiplier = (int32_t)(0x40000000u + (kt_rand() >> 2));
    p.out_multiplier = (int32_t)(0x40000000u + (kt_rand() >> 2));
    if (model_like) { /* the larger input scale has m = 0.5: multiplier 2^30, shift 0 */
        p.a_shift = kt_range(-3, 0);
        p.b_shift = kt_range(-3, 0);
        p.out_shift = kt_range(-22, -17);
        if (p.a_shift == 0 && (kt_rand() & 1u)) {
            p.a_multiplier = 0x40000000;
        }
    } else { /* a left shift: the general path */
        p.a_shift = kt_range(-3, 1);
        p.b_shift = 1;
        p.out_shift = kt_range(-22, -18);
    }
    kt_fill_s8(kt_x, 2 * n);
    for (int32_t i = 0; i < KT_Y_MAX + KT_GUARD; i++) {
        kt_y[i] = 0x5A;
    }
    const int32_t in_place = (kt_rand() & 1u) != 0u;
    int8_t *b = in_place ? kt_y : kt_x + n;
    if (in_place) {
        for (int32_t i = 0; i < n; i++) {
            kt_y[i] = kt_x[n + i];
        }
    }
    tt_add_s8(&p, kt_x, b, kt_y, n);
    tt_rec_begin("kt");
    tt_rec_int("case", index);
    tt_rec_int("op", 3);
    tt_rec_int("n", n);
    tt_rec_int("y", tt_checksum_fnv1a_s8(TT_FNV1A_INIT, kt_y, n + KT_GUARD));
    tt_rec_int("m", 0);
    tt_rec_end();
}

int main(void);
int main(void)
{
    const int32_t n_fixed = (int32_t)(sizeof kt_fixed / sizeof kt_fixed[0]);
    int32_t i;
    for (i = 0; i < n_fixed; i++) {
        kt_run(i, &kt_fixed[i]);
    }
    /* Random shapes: every op, kernel 1..7 (depthwise 3/5/7), stride 1..2, pad 0..K/2. */
    for (int32_t r = 0; r < 60; r++, i++) {
        kt_case t;
        t.op = (int8_t)(r % 3);
        t.kernel = (int8_t)(t.op == KT_PW ? 1 : (t.op == KT_DW ? 3 + 2 * kt_range(0, 2)
                                                               : kt_range(1, 5)));
        t.stride = (int8_t)kt_range(1, 2);
        t.pad = (int8_t)(t.op == KT_PW ? 0 : kt_range(0, t.kernel / 2));
        t.h = (int8_t)kt_range(t.kernel > 2 * t.pad ? t.kernel - 2 * t.pad : 1, 9);
        t.w = (int8_t)kt_range(t.kernel > 2 * t.pad ? t.kernel - 2 * t.pad : 1, 9);
        t.c_in = (int8_t)kt_range(1, t.op == KT_CONV ? 12 : 40);
        t.c_out = (int8_t)(t.op == KT_DW ? t.c_in : kt_range(1, t.op == KT_CONV ? 9 : 40));
        t.k = (int8_t)kt_range(0, t.c_in);
        kt_run(i, &t);
    }
    for (int32_t r = 0; r < 18; r++, i++) {
        kt_run_add(i, kt_range(1, 700), r % 3 != 0);
    }
    const int32_t n_strip = (int32_t)(sizeof kt_strip_cases / sizeof kt_strip_cases[0]);
    for (int32_t r = 0; r < n_strip; r++, i++) {
        kt_run_strips(i, &kt_strip_cases[r]);
    }
    tt_rec_begin("kt_done");
    tt_rec_int("n", i);
    tt_rec_end();
    return 0;
}
