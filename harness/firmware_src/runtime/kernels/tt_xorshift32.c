/* The shared host/device generator of stochastic rounding (docs section 8). */
#include "tt_kernels.h"

uint32_t tt_xorshift32(tt_rng *rng)
{
    uint32_t s = rng->state;
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    rng->state = s;
    return s;
}

void tt_rng_seed(tt_rng *rng, uint32_t seed)
{
    rng->state = seed ? seed : TT_RNG_DEFAULT_SEED;
}
