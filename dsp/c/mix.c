#include "mix.h"

#include <stddef.h>

static inline int16_t clip16(int64_t value)
{
    if (value > INT16_MAX)
        return INT16_MAX;
    if (value < INT16_MIN)
        return INT16_MIN;
    return (int16_t)value;
}

int mix_conference(const int16_t *in, int parties, int n, int16_t *out)
{
    if (in == NULL || out == NULL || parties < 1 || parties > MIX_MAX_PARTIES || n < 0)
        return MIX_ERR_ARGUMENT;
    for (int i = 0; i < n; i++) {
        int32_t total = 0;
        for (int p = 0; p < parties; p++)
            total += in[(size_t)p * (size_t)n + (size_t)i];
        for (int p = 0; p < parties; p++)
            out[(size_t)p * (size_t)n + (size_t)i] = clip16((int64_t)total - in[(size_t)p * (size_t)n + (size_t)i]);
    }
    return parties;
}

int mix_weighted(const int16_t *in, int parties, int n, const int32_t *weights, int listeners,
                 int16_t *out)
{
    if (in == NULL || out == NULL || weights == NULL || parties < 1 || parties > MIX_MAX_PARTIES ||
        listeners < 1 || listeners > MIX_MAX_PARTIES || n < 0)
        return MIX_ERR_ARGUMENT;
    for (int l = 0; l < listeners; l++) {
        const int32_t *row = weights + (size_t)l * (size_t)parties;
        int16_t *target = out + (size_t)l * (size_t)n;
        for (int i = 0; i < n; i++) {
            int64_t total = 0;
            for (int p = 0; p < parties; p++)
                total += (int64_t)row[p] * in[(size_t)p * (size_t)n + (size_t)i];
            /* Round to nearest, halves away from zero, so a unity gain is exact. */
            total = total >= 0 ? (total + MIX_UNITY_GAIN / 2) / MIX_UNITY_GAIN
                               : -((-total + MIX_UNITY_GAIN / 2) / MIX_UNITY_GAIN);
            target[i] = clip16(total);
        }
    }
    return listeners;
}
