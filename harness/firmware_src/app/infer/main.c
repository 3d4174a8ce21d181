/* Inference only: the logits of every test sample, bit for bit, for comparing the emitted
 * forward pass with an oracle (TensorFlow Lite Micro for an imported model). One record per
 * logit: sample i, class j and the float32's bits. The model (tt_model.h) and the samples
 * (tt_data.h) are generated; training samples and epochs are ignored. */
#include <stdint.h>

#include "tt_data.h"
#include "tt_io.h"
#include "tt_model.h"

#if TT_SAMPLE_SIZE != TT_INPUT_SIZE
#error "the samples do not match the model's input size"
#endif

int main(void)
{
    tt_model_init();
    for (int32_t i = 0; i < TT_N_TEST; ++i) {
        int32_t pred = tt_predict(&tt_test_x[i * TT_INPUT_SIZE]);
        const float *logits = tt_logits();
        for (int32_t j = 0; j < TT_NUM_CLASSES; ++j) {
            union { float f; uint32_t u; } bits = {.f = logits[j]};
            tt_rec_begin("logit");
            tt_rec_int("i", i);
            tt_rec_int("j", j);
            tt_rec_int("bits", (int64_t)bits.u);
            tt_rec_end();
        }
        tt_rec_begin("pred");
        tt_rec_int("i", i);
        tt_rec_int("class", pred);
        tt_rec_end();
    }
    tt_rec_begin("done");
    tt_rec_end();
    return 0;
}
