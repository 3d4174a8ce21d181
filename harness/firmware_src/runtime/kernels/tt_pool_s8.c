/* int8 max and average pool over a general window (docs section 4, TFLite's rules). */
#include "tt_kernels.h"

static inline int8_t pool_clamp(int32_t u, const tt_pool_params *p)
{
    return (int8_t)(u < p->act_min ? p->act_min : (u > p->act_max ? p->act_max : u));
}

void tt_pool_max_s8(const tt_pool_params *p, const int8_t *x, int8_t *y)
{
    const int32_t ch = p->c;
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        const int32_t h0 = oh * p->sh - p->pt;
        const int32_t ih0 = h0 < 0 ? 0 : h0;
        const int32_t ih1 = h0 + p->kh > p->in_h ? p->in_h : h0 + p->kh;
        for (int32_t ow = 0; ow < p->out_w; ow++) {
            const int32_t w0 = ow * p->sw - p->pl;
            const int32_t iw0 = w0 < 0 ? 0 : w0;
            const int32_t iw1 = w0 + p->kw > p->in_w ? p->in_w : w0 + p->kw;
            int8_t *out = y + (oh * p->out_w + ow) * ch;
            /* the running max lives in the output row: channels are contiguous in each tap */
            for (int32_t c = 0; c < ch; c++) {
                out[c] = -128;
            }
            for (int32_t ih = ih0; ih < ih1; ih++) {
                for (int32_t iw = iw0; iw < iw1; iw++) {
                    const int8_t *tap = x + (ih * p->in_w + iw) * ch;
                    for (int32_t c = 0; c < ch; c++) {
                        out[c] = tap[c] > out[c] ? tap[c] : out[c];
                    }
                }
            }
            for (int32_t c = 0; c < ch; c++) {
                out[c] = pool_clamp(out[c], p);
            }
        }
    }
}

void tt_pool_avg_s8(const tt_pool_params *p, const int8_t *x, int8_t *y)
{
    const int32_t ch = p->c;
    for (int32_t oh = 0; oh < p->out_h; oh++) {
        const int32_t h0 = oh * p->sh - p->pt;
        const int32_t ih0 = h0 < 0 ? 0 : h0;
        const int32_t ih1 = h0 + p->kh > p->in_h ? p->in_h : h0 + p->kh;
        for (int32_t ow = 0; ow < p->out_w; ow++) {
            const int32_t w0 = ow * p->sw - p->pl;
            const int32_t iw0 = w0 < 0 ? 0 : w0;
            const int32_t iw1 = w0 + p->kw > p->in_w ? p->in_w : w0 + p->kw;
            const int32_t n = (ih1 - ih0) * (iw1 - iw0);
            int8_t *out = y + (oh * p->out_w + ow) * ch;
            for (int32_t c = 0; c < ch; c++) {
                int32_t s = 0;
                for (int32_t ih = ih0; ih < ih1; ih++) {
                    const int8_t *row = x + (ih * p->in_w) * ch + c;
                    for (int32_t iw = iw0; iw < iw1; iw++) {
                        s += row[iw * ch];
                    }
                }
                out[c] = pool_clamp((s > 0 ? s + n / 2 : s - n / 2) / n, p);
            }
        }
    }
}
