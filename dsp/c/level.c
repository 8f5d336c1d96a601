#include "level.h"

#include <stdlib.h>

level_meter_t *level_meter_new(void)
{
    level_meter_t *meter = malloc(sizeof *meter);
    if (meter != NULL)
        level_meter_init(meter);
    return meter;
}

void level_meter_init(level_meter_t *meter)
{
    if (meter == NULL)
        return;
    meter->samples = 0;
    meter->energy = 0.0;
    meter->peak = 0;
}

void level_meter_process(level_meter_t *meter, const int16_t *samples, int n)
{
    if (meter == NULL || samples == NULL || n <= 0)
        return;
    int64_t energy = 0;
    int32_t peak = meter->peak;
    for (int i = 0; i < n; i++) {
        int32_t s = samples[i];
        int32_t magnitude = s < 0 ? -s : s;
        energy += (int64_t)s * s;
        if (magnitude > peak)
            peak = magnitude;
    }
    meter->samples += (uint64_t)n;
    meter->energy += (double)energy;
    meter->peak = peak;
}

void level_meter_free(level_meter_t *meter)
{
    free(meter);
}
