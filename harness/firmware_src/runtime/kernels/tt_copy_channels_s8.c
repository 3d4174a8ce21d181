/* The saved input slice of a partial weight update: the first k channels of an HWC tensor.
 * Safe in place: every write goes at or below the read of the same step. */
#include "tt_kernels.h"

void tt_copy_channels_s8(const int8_t *x, int32_t n_pos, int32_t c, int32_t k, int8_t *slice)
{
    for (int32_t pos = 0; pos < n_pos; pos++) {
        for (int32_t i = 0; i < k; i++) {
            slice[pos * k + i] = x[pos * c + i];
        }
    }
}
