/* Marker functions. They must survive optimisation as six distinct functions at distinct
 * addresses: noinline keeps the calls, noipa keeps GCC from merging identical bodies
 * (-fipa-icf) or dropping calls to "pure" functions, and each writes its own volatile
 * so the bodies differ anyway. */
#include "tt_marks.h"

#include <stdint.h>

#define TT_MARK __attribute__((noinline, noipa, used))

static volatile uint32_t tt_mark_hits[6];

TT_MARK void tt_mark_step_begin(void) { tt_mark_hits[0] = 1u; }
TT_MARK void tt_mark_step_end(void) { tt_mark_hits[1] = 1u; }
TT_MARK void tt_mark_eval_begin(void) { tt_mark_hits[2] = 1u; }
TT_MARK void tt_mark_eval_end(void) { tt_mark_hits[3] = 1u; }
TT_MARK void tt_mark_region_begin(void) { tt_mark_hits[4] = 1u; }
TT_MARK void tt_mark_region_end(void) { tt_mark_hits[5] = 1u; }
