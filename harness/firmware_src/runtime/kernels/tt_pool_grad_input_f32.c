/* Input gradients of max and average pool (docs section 7): the gradient goes to the max tap
 * (the first in window order among equals) or, divided by the tap count, to every tap inside
 * the input; overlapping windows accumulate, output positions in order. */
#include "tt_kernels.h"

static inline int32_t pool_full_range(const tt_pool_params *p)
{
    return p->act_min <= -128 && p->act_max >= 127;
}

static void pool_zero(const tt_pool_params *p, float *g_x)
{
    const int32_t n = p->in_h * p->in_w * p->c;
    for (int32_t i = 0; i < n; i++) {
        g_x[i] = 0.0f;
    }
}

void tt_pool_max_grad_input_f32(const tt_pool_params *p, const int8_t *x, const float *g_y,
                                float *g_x)
{
    const int32_t ch = p->c, full = pool_full_range(p);
    pool_zero(p, g_x);
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        const int32_t h0 = oh * p->sh - p->pt;
        const int32_t ih0 = h0 < 0 ? 0 : h0;
        const int32_t ih1 = h0 + p->kh > p->in_h ? p->in_h : h0 + p->kh;
        for (int32_t ow = 0; ow < p->out_w; ow++) {
            const int32_t w0 = ow * p->sw - p->pl;
            const int32_t iw0 = w0 < 0 ? 0 : w0;
            const int32_t iw1 = w0 + p->kw > p->in_w ? p->in_w : w0 + p->kw;
            const float *g = g_y + (oh * p->out_w + ow) * ch;
            for (int32_t c = 0; c < ch; c++) {
                int32_t best = -129, at = 0;
                for (int32_t ih = ih0; ih < ih1; ih++) {
                    for (int32_t iw = iw0; iw < iw1; iw++) {
                        const int32_t e = (ih * p->in_w + iw) * ch + c;
                        if (x[e] > best) { /* strictly greater: the first max wins */
                            best = x[e];
                            at = e;
                        }
                    }
                }
                if (full || (best > p->act_min && best < p->act_max)) {
                    g_x[at] = g_x[at] + g[c];
                }
            }
        }
    }
}

void tt_pool_avg_grad_input_f32(const tt_pool_params *p, const int8_t *x, const float *g_y,
                                float *g_x)
{
    const int32_t ch = p->c, full = pool_full_range(p);
    pool_zero(p, g_x);
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        const int32_t h0 = oh * p->sh - p->pt;
        const int32_t ih0 = h0 < 0 ? 0 : h0;
        const int32_t ih1 = h0 + p->kh > p->in_h ? p->in_h : h0 + p->kh;
        for (int32_t ow = 0; ow < p->out_w; ow++) {
            const int32_t w0 = ow * p->sw - p->pl;
            const int32_t iw0 = w0 < 0 ? 0 : w0;
            const int32_t iw1 = w0 + p->kw > p->in_w ? p->in_w : w0 + p->kw;
            const int32_t n = (ih1 - ih0) * (iw1 - iw0);
            const float *g = g_y + (oh * p->out_w + ow) * ch;
            for (int32_t c = 0; c < ch; c++) {
                if (!full) {
                    int32_t s = 0;
                    for (int32_t ih = ih0; ih < ih1; ih++) {
                        for (int32_t iw = iw0; iw < iw1; iw++) {
                            s += x[(ih * p->in_w + iw) * ch + c];
                        }
                    }
                    const int32_t u = (s > 0 ? s + n / 2 : s - n / 2) / n;
                    if (!(u > p->act_min && u < p->act_max)) {
                        continue;
                    }
                }
                const float v = g[c] / (float)n;
                for (int32_t ih = ih0; ih < ih1; ih++) {
                    for (int32_t iw = iw0; iw < iw1; iw++) {
                        const int32_t e = (ih * p->in_w + iw) * ch + c;
                        g_x[e] = g_x[e] + v;
                    }
                }
            }
        }
    }
}
