/* Per-epoch shuffling of the training order (docs section 10.1): Fisher-Yates from the last
 * index down, each j drawn uniformly from [0, i] with Lemire's multiply-shift and rejection
 * (unbiased; a rejection needs a low product word below (2^32 - n) mod n, rare for small n).
 * The stream is the shuffle's own xorshift32, not the stochastic-rounding one. */
#include "tt_kernels.h"

uint32_t tt_uniform_below(tt_rng *rng, uint32_t n)
{
    uint64_t m = (uint64_t)tt_xorshift32(rng) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        const uint32_t threshold = (0u - n) % n;
        while (low < threshold) {
            m = (uint64_t)tt_xorshift32(rng) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void tt_shuffle_u16(uint16_t *order, int32_t n, tt_rng *rng)
{
    for (int32_t i = n - 1; i > 0; --i) {
        const uint32_t j = tt_uniform_below(rng, (uint32_t)i + 1u);
        const uint16_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}
