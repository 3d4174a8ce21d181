/* The Tiny Training Engine runtime: int8 forward kernels, float32 backward kernels and the
 * in-place QAS updates, loss, rng, rounding and checksum of docs/arithmetic.md.
 *
 * Conventions (every kernel):
 * - Activations are HWC (one sample), row-major. Conv weights are [C_out][K][K][C_in]
 *   (depthwise [C][K][K][1]), FC weights [N_out][N_in].
 * - Split weights (sub-operator slicing, docs section 8): the trainable first k input channels
 *   live in SRAM, the rest stay const in flash. Conv / pointwise: w_lo = [C_out][K][K][k] and
 *   w_hi = [C_out][K][K][C_in - k]; depthwise splits by channel: w_lo = [k][K][K] holds
 *   channels c < k and w_hi = [C - k][K][K] channels c >= k. w_lo may be NULL when k == 0
 *   and w_hi when k == C_in (C). Biases are one int32 array [C_out]; NULL means zero bias.
 * - 1-bit masks (docs section 7) hold one bit per output element, element index in HWC
 *   order, packed LSB first (bit e & 7 of byte e >> 3; TT_MASK_BYTES(n) bytes). Kernels
 *   write exactly the n bits of their elements; bits past n are left unchanged.
 * - Float is float32 only; every float expression below is one rounded float32 operation
 *   per operator, evaluated left to right (build with -ffp-contract=off: no FMA).
 *   "sum_{..} t" means: acc = 0.0f, then acc = acc + t for each term in the stated order.
 * - Buffers must not alias unless the kernel says so.
 * - Sizes are int32_t; all kernels are freestanding (no libc, no libm, no malloc).
 */
#ifndef TT_KERNELS_H
#define TT_KERNELS_H

#include <stdint.h>

#include "tt_requantize.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TT_MASK_BYTES(n) (((n) + 7) / 8)
#define TT_RNG_DEFAULT_SEED 0x2545F491u
#define TT_FNV1A_INIT 2166136261u
#define TT_ROUND_NEAREST 0
#define TT_ROUND_STOCHASTIC 1
#define TT_ROUND_FEEDBACK 2 /* nearest with a per-weight int8 residual (docs section 8.1) */

/* ---- parameter structs ------------------------------------------------------------------- */

/* Conv2d, depthwise and pointwise (pointwise: kernel 1, pad 0). */
typedef struct {
    int32_t in_h, in_w, in_c; /* input HWC */
    int32_t out_c;            /* output channels (depthwise: == in_c) */
    int32_t kernel, stride, pad;
    int32_t k;                /* trainable slice: input channels (depthwise: channels) in w_lo */
    int32_t x_zp, y_zp;
    int32_t act_min, act_max; /* [-128, 127], or the ReLU6 range */
    /* Row range (forward kernels only; backward kernels ignore these three; all 0 = the whole
     * layer from the whole input). in_h / in_w stay the full image's size and padding is judged
     * against the full image; output rows [out_row0, out_row0 + out_rows) are computed and
     * written densely from y[0] (mask element 0 = (out_row0, 0, 0)); image row ih is read at
     * x + ((ih - x_row0) * in_w + iw) * in_c. The caller provides every image row those output
     * rows read. */
    int32_t x_row0;   /* the image row held in x[0]: x points at an input tile whose first row is image row x_row0 */
    int32_t out_row0; /* compute output rows [out_row0, out_row0 + out_rows) of the full layer ... */
    int32_t out_rows; /* ... 0 means all rows (out_row0 must then be 0) */
    /* The general window (tt_conv_window.h): kernel / stride / pad above are then the kernel's
     * height, the vertical stride and the top padding. A regular window (square kernel, equal
     * strides, one padding on every side) repeats them: kernel_w == kernel, stride_w == stride,
     * pad_bottom == pad_left == pad_right == pad. The kernels of this header read only kernel,
     * stride and pad; the *_win kernels read all eight. Narrow types: 8 bytes more per
     * (const, flash) parameter struct of every layer and strip. */
    int16_t kernel_w, stride_w;
    int8_t pad_bottom, pad_left, pad_right;
} tt_conv_params;

/* Per output channel integer multipliers (docs section 3), arrays of [C_out]. */
typedef struct {
    const int32_t *multiplier;
    const int32_t *shift;
} tt_per_channel_quant;

typedef struct {
    int32_t a_zp, b_zp, y_zp;
    int32_t a_multiplier, a_shift; /* m_a = s_a / (2 max(s_a, s_b)) */
    int32_t b_multiplier, b_shift; /* m_b = s_b / (2 max(s_a, s_b)) */
    int32_t out_multiplier, out_shift; /* m_o = 2 max(s_a, s_b) / (2^20 s_y) */
} tt_add_params;

typedef struct {
    int32_t h, w, c;
    int32_t x_zp, y_zp;
    int32_t multiplier, shift; /* m = s_x / (s_y H W) */
} tt_avgpool_params;

/* int8 fully connected layer (the int8 classifier). */
typedef struct {
    int32_t in_n, out_n;
    int32_t x_zp, y_zp;
    int32_t act_min, act_max;
} tt_fc_params;

/* Float classifier on a dequantized int8 input: x_r = x_scale * (float)(x_q - x_zp). */
typedef struct {
    int32_t in_n, out_n;
    int32_t x_zp;
    float x_scale;
} tt_fc_f32_params;

/* xorshift32 state (docs section 8); seed nonzero. */
typedef struct {
    uint32_t state;
} tt_rng;

/* How an int8 weight / int32 bias moves (docs section 8). */
typedef struct {
    float lr;
    int32_t qas;      /* 1: QAS on (divide by the scale), 0: off (multiply by it) */
    int32_t rounding; /* TT_ROUND_NEAREST, TT_ROUND_STOCHASTIC or TT_ROUND_FEEDBACK */
    tt_rng *rng;      /* used (one draw per updated element) when stochastic */
    /* TT_ROUND_FEEDBACK: the residuals of the elements this update moves, one int8 each:
     * residual[e] goes with w_lo[e] in a weight update, residual[c] with bias[c] in a bias
     * update; tt_fc_s8_backward_update takes [out_n bias residuals][out_n * in_n weight
     * residuals]. The other modes ignore it (NULL). */
    int8_t *residual;
} tt_update_params;

static inline int32_t tt_conv_out_dim(int32_t in, int32_t kernel, int32_t stride, int32_t pad)
{
    return (in + 2 * pad - kernel) / stride + 1;
}

/* ---- int8 forward (docs section 4) ------------------------------------------------------- */

/* Elementwise requantize(acc[i], multiplier, shift) (the shared inline, for tests / tools).
 * out may alias acc. */
void tt_requantize_s32(const int32_t *acc, int32_t n, int32_t multiplier, int32_t shift,
                       int32_t *out);

/* Any K, stride, pad. x [in_h][in_w][in_c] -> y [H_out][W_out][out_c]; mask (optional,
 * NULL: none) gets H_out*W_out*out_c bits. acc = bias[c] + sum (x - x_zp) * w over the taps
 * inside the input (padding holds x_zp). These three conv kernels honour the row range of
 * tt_conv_params (x_row0, out_row0, out_rows): with a range, y gets out_rows * W_out * out_c
 * elements and the mask as many bits, and x may be a tile of the input rows it needs. */
void tt_conv2d_s8(const tt_conv_params *p, const tt_per_channel_quant *q, const int8_t *x,
                  const int8_t *w_lo, const int8_t *w_hi, const int32_t *bias, int8_t *y,
                  uint8_t *mask);

/* Depthwise, channel multiplier 1 (out_c == in_c), K 3/5/7 (any K works), stride 1/2. */
void tt_dwconv2d_s8(const tt_conv_params *p, const tt_per_channel_quant *q, const int8_t *x,
                    const int8_t *w_lo, const int8_t *w_hi, const int32_t *bias, int8_t *y,
                    uint8_t *mask);

/* Pointwise (kernel 1, pad 0, any stride). */
void tt_pwconv_s8(const tt_conv_params *p, const tt_per_channel_quant *q, const int8_t *x,
                  const int8_t *w_lo, const int8_t *w_hi, const int32_t *bias, int8_t *y,
                  uint8_t *mask);

/* Residual add of n elements. y may alias a or b. */
void tt_add_s8(const tt_add_params *p, const int8_t *a, const int8_t *b, int8_t *y, int32_t n);

/* Move n bytes to dst from src, dst < src (the ranges may overlap): copies front to back. */
void tt_move_s8(int8_t *dst, const int8_t *src, int32_t n);

/* Global average pool: x [h][w][c] -> y [c]. */
void tt_avgpool_s8(const tt_avgpool_params *p, const int8_t *x, int8_t *y);

/* int8 fully connected: x [in_n], w [out_n][in_n] -> y [out_n], optional mask of out_n bits. */
void tt_fc_s8(const tt_fc_params *p, const tt_per_channel_quant *q, const int8_t *x,
              const int8_t *w, const int32_t *bias, int8_t *y, uint8_t *mask);

/* Float classifier (docs section 5): y[j] = b[j] + sum_{i=0..in_n-1} x_r[i] * w[j][i]
 * (the sum starts from b[j]). */
void tt_fc_f32(const tt_fc_f32_params *p, const int8_t *x, const float *w, const float *b,
               float *y);

/* y[i] = scale * (float)(x[i] - zp), e.g. the logits of an int8 classifier (docs section 6). */
void tt_dequantize_s8_f32(const int8_t *x, int32_t n, float scale, int32_t zp, float *y);

/* The saved input slice: slice[pos][i] = x[pos][i] for i < k, n_pos = H*W, x [n_pos][c].
 * May work in place (slice == x). */
void tt_copy_channels_s8(const int8_t *x, int32_t n_pos, int32_t c, int32_t k, int8_t *slice);

/* ---- loss (docs section 6) --------------------------------------------------------------- */

float tt_expf(float x);
float tt_logf(float z); /* for z >= 1 (a softmax sum); abs error <= 1.5e-6 on [1, 2) */

/* Softmax cross-entropy: returns the loss, writes dlogits[j] = e_j / Z - (j == label).
 * m = max_j logits[j]; e_j = tt_expf(logits[j] - m); Z = sum_j e_j (index order);
 * loss = tt_logf(Z) - (logits[label] - m). dlogits may alias logits. */
float tt_softmax_xent_f32(const float *logits, int32_t n, int32_t label, float *dlogits);

/* ---- float backward (docs section 7) ----------------------------------------------------- */
/* The pointwise / depthwise input gradients, the pointwise fused weight update, the mask apply
 * and the fused bias update have fast paths (blocked sums, VMLA inner loops on ARMv7E-M with
 * an FPU: tt_vfp.h) that give the stated results bit for bit: each sum keeps its stated order,
 * several sums run side by side. Their portable references are in tt_kernels_ref.h. */

/* g_a[e] = mask bit e ? g_y[e] : 0.0f for e < n. In place allowed (g_a == g_y). */
void tt_mask_apply_f32(const float *g_y, const uint8_t *mask, int32_t n, float *g_a);

/* acc[i] = acc[i] + g[i]: a second gradient contribution (residual add, branch merge). */
void tt_accumulate_f32(float *acc, const float *g, int32_t n);

/* Global average pool: g_x[pos][c] = g_y[c] / (float)(h * w). */
void tt_avgpool_grad_input_f32(const tt_avgpool_params *p, const float *g_y, float *g_x);

/* Bias gradient g_b[c] = sum_{pos = 0..n_pos-1} g_a[pos][c], g_a [n_pos][c_out]. */
void tt_bias_grad_f32(const float *g_a, int32_t n_pos, int32_t c_out, float *g_b);

/* Weight gradients on the trainable slice, into a buffer shaped like w_lo (for schedules
 * that update after the whole backward pass; the fused *_update_weight_s8 kernels below
 * compute the same numbers without the buffer). x_slice is the saved int8 input of the first
 * k channels, [in_h][in_w][k] (pointwise: at the input resolution). Per element:
 *   g_w = x_scale * sum_{oh, ow (row-major), tap inside the input} g_a[oh][ow][c] * (float)(x - x_zp)
 * conv: g_w [out_c][K][K][k]; depthwise: g_w [k][K][K] (channel c < k); pointwise: [out_c][k]. */
void tt_conv2d_grad_weight_f32(const tt_conv_params *p, const int8_t *x_slice, const float *g_a,
                               float x_scale, float *g_w);
void tt_dwconv2d_grad_weight_f32(const tt_conv_params *p, const int8_t *x_slice,
                                 const float *g_a, float x_scale, float *g_w);
void tt_pwconv_grad_weight_f32(const tt_conv_params *p, const int8_t *x_slice, const float *g_a,
                               float x_scale, float *g_w);

/* Input gradients (docs section 7), all in_c channels, reading the split int8 weights:
 *   g_x[ih][iw][i] = sum_{kh, kw with a valid output (oh, ow); c = 0..C_out-1}
 *                    g_a[oh][ow][c] * (w_scale[c] * (float)w[c][kh][kw][i])
 * (depthwise: only c == i; pointwise: input positions no output reads get 0.0f).
 * g_x [in_h][in_w][in_c]; must not alias g_a. */
void tt_conv2d_grad_input_f32(const tt_conv_params *p, const float *g_a, const int8_t *w_lo,
                              const int8_t *w_hi, const float *w_scale, float *g_x);
void tt_dwconv2d_grad_input_f32(const tt_conv_params *p, const float *g_a, const int8_t *w_lo,
                                const int8_t *w_hi, const float *w_scale, float *g_x);
void tt_pwconv_grad_input_f32(const tt_conv_params *p, const float *g_a, const int8_t *w_lo,
                              const int8_t *w_hi, const float *w_scale, float *g_x);
/* tt_dwconv2d_grad_input_f32 in place, for stride 1 and K <= TT_DW_INPLACE_MAX_K (output
 * size == input size): g holds g_a on entry and g_x on return, bit for bit the same values;
 * tmp holds in_h * in_w * 8 floats (one block of 8 channels of g_a, set aside). */
#define TT_DW_INPLACE_MAX_K 7
void tt_dwconv2d_grad_input_inplace_f32(const tt_conv_params *p, float *g, const int8_t *w_lo,
                                        const int8_t *w_hi, const float *w_scale, float *tmp);

/* ---- updates (docs section 8) ------------------------------------------------------------ */

uint32_t tt_xorshift32(tt_rng *rng); /* s ^= s << 13; s ^= s >> 17; s ^= s << 5; return s */
void tt_rng_seed(tt_rng *rng, uint32_t seed); /* seed 0 -> TT_RNG_DEFAULT_SEED */

float tt_truncf(float v);  /* (float)(int)v where that is defined; v itself when |v| >= 2^23 */
float tt_floorf(float v);
float tt_round_nearest_f32(float v); /* tt_truncf(v + (v >= 0.0f ? 0.5f : -0.5f)) */
/* tt_floorf(v + u), u = (float)(tt_xorshift32(rng) >> 8) * 0x1p-24f: one draw. */
float tt_round_stochastic_f32(float v, tt_rng *rng);

/* One element, given its float gradient g (the reference's formula of docs section 8):
 *   step = u->lr * g;  d = qas ? step / s : step * s;  v = (float)old - d;
 *   r = R(v) (one draw if stochastic);  clamp r to [-127, 127] (weight) / int32 (bias).
 * s = w_scale[c] for a weight, s = x_scale * w_scale[c] for a bias. A NaN r keeps old.
 * (float)old is exact for |old| <= 2^24 only: a larger bias moves in steps of its float ulp. */
int8_t tt_update_weight_s8(int8_t w, float g, float s, const tt_update_params *u);
/* TT_ROUND_FEEDBACK (docs section 8.1), *e the element's residual in units of 2^-8 step:
 *   v = ((float)w + (float)*e * 0x1p-8f) - d;  w' = clamp(R_nearest(v), -127, 127);
 *   *e = clamp(R_nearest((v - (float)w') * 256.0f), -128, 127).  A NaN v keeps w and *e.
 * tt_update_bias_feedback_s32 the same for an int32 bias (clamped to int32; (float)b' of the
 * clamped value). tt_update_weight_s8 / tt_update_bias_s32 with TT_ROUND_FEEDBACK round to
 * nearest and keep no residual. */
int8_t tt_update_weight_feedback_s8(int8_t w, int8_t *e, float g, float s,
                                    const tt_update_params *u);
int32_t tt_update_bias_feedback_s32(int32_t b, int8_t *e, float g, float s,
                                    const tt_update_params *u);
int32_t tt_update_bias_s32(int32_t b, float g, float s, const tt_update_params *u);

/* Buffered updates (element order = draw order): w[c][j] for j < per_channel with scale
 * w_scale[c]; bias[c] with x_scale * w_scale[c]. These, the fused bias and weight updates and
 * tt_fc_s8_backward_update apply the *_feedback_* forms under TT_ROUND_FEEDBACK. */
void tt_apply_update_weight_s8(int8_t *w, const float *g_w, int32_t c_out, int32_t per_channel,
                               const float *w_scale, const tt_update_params *u);
void tt_apply_update_bias_s32(int32_t *bias, const float *g_b, int32_t c_out, float x_scale,
                              const float *w_scale, const tt_update_params *u);

/* Fused bias gradient + in-place update, channels c = 0..c_out-1 (step 2 of docs section 7):
 * bias[c] = tt_update_bias_s32(bias[c], g_b[c], x_scale * w_scale[c], u). */
void tt_bias_update_s32(int32_t *bias, const float *g_a, int32_t n_pos, int32_t c_out,
                        float x_scale, const float *w_scale, const tt_update_params *u);

/* Fused weight gradient + in-place update of w_lo (step 3): element by element in the layout
 * order of w_lo ([c][kh][kw][i], i < k; depthwise [c][kh][kw], c < k), each element's
 * gradient as in *_grad_weight_f32, then tt_update_weight_s8 with s = w_scale[c].
 * No gradient buffer. x_slice is dead afterwards. */
void tt_conv2d_update_weight_s8(const tt_conv_params *p, const int8_t *x_slice,
                                const float *g_a, float x_scale, const float *w_scale,
                                int8_t *w_lo, const tt_update_params *u);
void tt_dwconv2d_update_weight_s8(const tt_conv_params *p, const int8_t *x_slice,
                                  const float *g_a, float x_scale, const float *w_scale,
                                  int8_t *w_lo, const tt_update_params *u);
void tt_pwconv_update_weight_s8(const tt_conv_params *p, const int8_t *x_slice,
                                const float *g_a, float x_scale, const float *w_scale,
                                int8_t *w_lo, const tt_update_params *u);

/* Float classifier backward + update (docs sections 7-8), in this order:
 *   b[j] = b[j] - lr * g[j];                                  j = 0..out_n-1
 *   w[j][i] = w[j][i] - lr * (g[j] * x_r[i]);                 row-major
 *   g_x[i] = sum_{j = 0..out_n-1} w[j][i] * g[j]              (updated w; skipped if NULL)
 * g = dlogits [out_n], x [in_n] the int8 input; g_x [in_n] must not alias g. */
void tt_fc_f32_backward_update(const tt_fc_f32_params *p, const int8_t *x, float *w, float *b,
                               const float *dlogits, float lr, float *g_x);

/* tt_fc_f32_backward_update with momentum (docs section 10.3): per bias, then per weight
 * (row-major), v = mu * v + g; p = p - lr * v, with g = dlogits[j] (bias) or
 * dlogits[j] * x_r[i] (weight); v_w [out_n][in_n] and v_b [out_n] persist between steps. */
void tt_fc_f32_backward_update_momentum(const tt_fc_f32_params *p, const int8_t *x, float *w,
                                        float *b, const float *dlogits, float lr, float mu,
                                        float *v_w, float *v_b, float *g_x);

/* int8 classifier backward + update, all of w [out_n][in_n] trainable (a pointwise conv on a
 * 1x1 map): g_y [out_n] becomes g_a in place (mask apply), then tt_bias_update_s32,
 * tt_pwconv_update_weight_s8 (k = in_n), and tt_pwconv_grad_input_f32 into g_x [in_n]
 * (skipped if NULL). */
void tt_fc_s8_backward_update(const tt_fc_params *p, const int8_t *x, int8_t *w,
                              int32_t *bias, float x_scale, const float *w_scale,
                              const uint8_t *mask, float *g_y, const tt_update_params *u,
                              float *g_x);

/* ---- training order (docs section 10.1) --------------------------------------------------- */

/* A uniform integer in [0, n), n >= 1: Lemire's multiply-shift, rejecting the biased low words. */
uint32_t tt_uniform_below(tt_rng *rng, uint32_t n);
/* Fisher-Yates in place: for i = n-1 down to 1, j = tt_uniform_below(rng, i + 1), swap. */
void tt_shuffle_u16(uint16_t *order, int32_t n, tt_rng *rng);

/* ---- checksum (docs section 9) ----------------------------------------------------------- */

/* FNV-1a 32-bit, continuing from h (start with TT_FNV1A_INIT). The _s32 / _f32 variants hash
 * each element's little-endian bytes whatever the host's byte order. */
uint32_t tt_checksum_fnv1a(uint32_t h, const uint8_t *bytes, int32_t n);
uint32_t tt_checksum_fnv1a_s8(uint32_t h, const int8_t *v, int32_t n);
uint32_t tt_checksum_fnv1a_s32(uint32_t h, const int32_t *v, int32_t n);
uint32_t tt_checksum_fnv1a_f32(uint32_t h, const float *v, int32_t n);

#ifdef __cplusplus
}
#endif

#include "tt_conv_window.h"
#include "tt_kernels_ops.h" /* pool, add with activation */

#endif /* TT_KERNELS_H */
