/* Level meter: the smallest DSP block in spandsp's shape (state, init, process, free).
 * Used as a per-channel tap of the media batch (dsp/c/media.h) to read speech levels, and as
 * the model other detectors follow to plug into the tick. */
#ifndef PRIBOX_LEVEL_H
#define PRIBOX_LEVEL_H

#include <stdint.h>

/* cffi:begin */
typedef struct {
    uint64_t samples;
    double energy;      /* sum of squares since the last reset */
    int32_t peak;       /* largest |sample| since the last reset */
} level_meter_t;

level_meter_t *level_meter_new(void);
void level_meter_init(level_meter_t *meter);
void level_meter_process(level_meter_t *meter, const int16_t *samples, int n);
void level_meter_free(level_meter_t *meter);
/* cffi:end */

#endif
