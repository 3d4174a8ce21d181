/* The on-device training loop: evaluate, train for the scenario's epochs over the training
 * split (read from the data region), evaluate again, report parameters and stack.
 * The model (tt_model.h) and the samples (tt_data.h) are generated per scenario. */
#include <stdint.h>

#include "tt_data.h"
#include "tt_io.h"
#include "tt_kernels.h"
#include "tt_marks.h"
#include "tt_model.h"

#if TT_SAMPLE_SIZE != TT_INPUT_SIZE
#error "the samples do not match the model's input size"
#endif

#if defined(TT_LR_STEPS) && TT_LR_STEPS != TT_EPOCHS * TT_N_TRAIN
#error "the learning-rate schedule was made for another number of steps"
#endif

enum { EXIT_DIVERGED = 3 };

#ifdef TT_SHUFFLE_SEED
#if TT_N_TRAIN > 65535
#error "shuffling keeps uint16_t indices: at most 65535 training samples"
#endif
/* The visiting order, shuffled in place before every epoch (docs/arithmetic.md section 10.1). */
static uint16_t tt_order[TT_N_TRAIN];
static tt_rng tt_shuffle_rng;

static void shuffle_begin(void)
{
    for (int32_t i = 0; i < TT_N_TRAIN; ++i) {
        tt_order[i] = (uint16_t)i;
    }
    tt_rng_seed(&tt_shuffle_rng, TT_SHUFFLE_SEED);
}

static void shuffle_epoch(void)
{
    tt_mark_region_begin(); /* the region count: one epoch's shuffle */
    tt_shuffle_u16(tt_order, TT_N_TRAIN, &tt_shuffle_rng);
    tt_mark_region_end();
}
#define SAMPLE(i) ((int32_t)tt_order[(i)])
#else
#define SAMPLE(i) (i)
#endif

static int32_t evaluate(int32_t after_epochs)
{
    int32_t correct = 0;
    tt_mark_eval_begin();
    for (int32_t i = 0; i < TT_N_TEST; ++i) {
        correct += tt_predict(&tt_test_x[i * TT_INPUT_SIZE]) == (int32_t)tt_test_y[i];
    }
    tt_mark_eval_end();
    tt_rec_begin("eval");
    tt_rec_int("after_epochs", after_epochs);
    tt_rec_int("correct", correct);
    tt_rec_int("total", TT_N_TEST);
    tt_rec_end();
    return correct;
}

static void params_record(const char *phase)
{
    tt_rec_begin("params");
    tt_rec_str("phase", phase);
    tt_rec_int("checksum", (int64_t)tt_param_checksum());
    tt_rec_end();
}

int main(void)
{
    tt_rec_begin("boot");
    tt_rec_int("train", TT_N_TRAIN);
    tt_rec_int("test", TT_N_TEST);
    tt_rec_int("epochs", TT_EPOCHS);
    tt_rec_int("arena", TT_ARENA_SIZE);
    tt_rec_end();
    tt_model_init();
    params_record("before");
    evaluate(0);
#ifdef TT_SHUFFLE_SEED
    shuffle_begin();
#endif
    for (int32_t epoch = 1; epoch <= TT_EPOCHS; ++epoch) {
        float loss_sum = 0.0f;
        int32_t correct = 0;
#ifdef TT_SHUFFLE_SEED
        shuffle_epoch();
#endif
        for (int32_t i = 0; i < TT_N_TRAIN; ++i) {
            int32_t pred = -1;
            const int32_t s = SAMPLE(i);
            tt_mark_step_begin();
#ifdef TT_LR_STEPS
            tt_lr_step((epoch - 1) * TT_N_TRAIN + i); /* the rates of this step (section 10.2) */
#endif
            float loss = tt_train_step(&tt_train_x[s * TT_INPUT_SIZE], (int32_t)tt_train_y[s], &pred);
            tt_mark_step_end();
            /* A NaN, an infinity or an absurd loss means training diverged: stop with a clear
             * record (this also keeps the fixed-point loss record inside int64). */
            if (!(loss >= 0.0f && loss < 1.0e6f)) {
                tt_rec_begin("diverged");
                tt_rec_int("epoch", epoch);
                tt_rec_int("step", i);
                tt_rec_end();
                return EXIT_DIVERGED;
            }
            loss_sum += loss;
            correct += pred == (int32_t)tt_train_y[s];
        }
        tt_rec_begin("epoch");
        tt_rec_int("epoch", epoch);
        tt_rec_int("loss_u", (int64_t)(loss_sum / (float)TT_N_TRAIN * 1000000.0f));
        tt_rec_int("train_correct", correct);
        tt_rec_end();
    }
    evaluate(TT_EPOCHS);
    params_record("after");
    tt_rec_begin("mem");
    tt_rec_int("stack", (int64_t)tt_stack_high_water());
    tt_rec_end();
    tt_rec_begin("done");
    tt_rec_end();
    return 0;
}
