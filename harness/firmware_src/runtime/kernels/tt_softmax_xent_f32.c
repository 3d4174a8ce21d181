/* Softmax cross-entropy in float32 (docs section 6) with the runtime's own exp and log. */
#include "tt_kernels.h"

float tt_softmax_xent_f32(const float *logits, int32_t n, int32_t label, float *dlogits)
{
    float m = logits[0];
    for (int32_t j = 1; j < n; j++) {
        if (logits[j] > m) {
            m = logits[j];
        }
    }
    const float z_label = logits[label] - m; /* read before dlogits may overwrite logits */
    float total = 0.0f;
    for (int32_t j = 0; j < n; j++) {
        const float e = tt_expf(logits[j] - m);
        dlogits[j] = e;
        total = total + e;
    }
    const float loss = tt_logf(total) - z_label;
    for (int32_t j = 0; j < n; j++) {
        dlogits[j] = dlogits[j] / total;
    }
    dlogits[label] = dlogits[label] - 1.0f;
    return loss;
}
