/* tt_marks: the marker functions whose entry addresses the emulator's plugin watches.
 *
 * The plugin logs the guest's instruction count each time one of them is entered, so the
 * harness gets exact counts per training step, per evaluation and per region:
 *   count(step) = count at tt_mark_step_end entry - count at tt_mark_step_begin entry,
 * which includes a fixed overhead of the begin function's body and the call to the end
 * function (a few instructions, the same every time).
 */
#ifndef TT_MARKS_H
#define TT_MARKS_H

void tt_mark_step_begin(void);
void tt_mark_step_end(void);
void tt_mark_eval_begin(void);
void tt_mark_eval_end(void);
void tt_mark_region_begin(void);
void tt_mark_region_end(void);

#endif
