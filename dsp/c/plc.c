#include "plc.h"

#include <stddef.h>
#include <string.h>

enum {
    FULL_LEVEL_SAMPLES = 80,    /* 10 ms at full level */
    FADE_SAMPLES = 400,         /* then 20 % per 10 ms: silent 50 ms later */
    CROSSFADE_SAMPLES = 32,     /* 4 ms blend back into good audio */
    CORRELATION_WINDOW = 160,
};

void plc_init(plc_state_t *plc)
{
    if (plc == NULL)
        return;
    memset(plc, 0, sizeof *plc);
}

static void remember(plc_state_t *plc, const int16_t *pcm, int n)
{
    if (n >= PLC_HISTORY_SAMPLES) {
        memcpy(plc->history, pcm + (n - PLC_HISTORY_SAMPLES), sizeof plc->history);
    } else {
        memmove(plc->history, plc->history + n, (size_t)(PLC_HISTORY_SAMPLES - n) * sizeof *plc->history);
        memcpy(plc->history + (PLC_HISTORY_SAMPLES - n), pcm, (size_t)n * sizeof *pcm);
    }
    plc->filled += n;
    if (plc->filled > PLC_HISTORY_SAMPLES)
        plc->filled = PLC_HISTORY_SAMPLES;
}

/* The lag in PLC_MIN_PITCH..PLC_MAX_PITCH at which the latest audio best matches itself:
 * the period to repeat.  Normalised cross-correlation over the last CORRELATION_WINDOW samples. */
static int estimate_pitch(const plc_state_t *plc)
{
    const int16_t *end = plc->history + PLC_HISTORY_SAMPLES;
    const int16_t *recent = end - CORRELATION_WINDOW;
    double best_score = -1.0;
    int best_lag = PLC_MAX_PITCH;
    for (int lag = PLC_MIN_PITCH; lag <= PLC_MAX_PITCH; lag++) {
        const int16_t *earlier = recent - lag;
        double cross = 0.0, energy = 0.0;
        for (int i = 0; i < CORRELATION_WINDOW; i++) {
            cross += (double)recent[i] * earlier[i];
            energy += (double)earlier[i] * earlier[i];
        }
        double score = energy > 0.0 ? cross / __builtin_sqrt(energy) : 0.0;
        if (score > best_score) {
            best_score = score;
            best_lag = lag;
        }
    }
    return best_lag;
}

/* Gain in Q15 for the k-th concealed sample of a loss. */
static int32_t fade_gain(int k)
{
    if (k < FULL_LEVEL_SAMPLES)
        return 32768;
    if (k >= FULL_LEVEL_SAMPLES + FADE_SAMPLES)
        return 0;
    return 32768 - (int32_t)((int64_t)(k - FULL_LEVEL_SAMPLES) * 32768 / FADE_SAMPLES);
}

static int16_t next_concealed(plc_state_t *plc)
{
    const int16_t *period = plc->history + PLC_HISTORY_SAMPLES - plc->pitch;
    int32_t sample = period[plc->position];
    plc->position = (plc->position + 1) % plc->pitch;
    int32_t value = (int32_t)(((int64_t)sample * fade_gain(plc->lost_samples)) >> 15);
    plc->lost_samples++;
    return (int16_t)value;
}

void plc_conceal(plc_state_t *plc, int16_t *out, int n)
{
    if (plc == NULL || out == NULL || n <= 0)
        return;
    if (plc->filled < PLC_HISTORY_SAMPLES) {
        /* Too little audio yet to find a period: a loss at the very start is silence. */
        memset(out, 0, (size_t)n * sizeof *out);
        plc->lost_samples += n;
        return;
    }
    if (plc->lost_samples == 0) {
        plc->pitch = estimate_pitch(plc);
        plc->position = 0;
    }
    for (int i = 0; i < n; i++)
        out[i] = next_concealed(plc);
}

int plc_good(plc_state_t *plc, int16_t *pcm, int n)
{
    if (plc == NULL || pcm == NULL || n <= 0)
        return 0;
    int blended = 0;
    if (plc->lost_samples > 0) {
        if (plc->filled >= PLC_HISTORY_SAMPLES && plc->pitch > 0) {
            int span = n < CROSSFADE_SAMPLES ? n : CROSSFADE_SAMPLES;
            for (int i = 0; i < span; i++) {
                int32_t concealed = next_concealed(plc);
                pcm[i] = (int16_t)((concealed * (span - i) + (int32_t)pcm[i] * i) / span);
            }
            blended = 1;
        }
        plc->lost_samples = 0;
    }
    remember(plc, pcm, n);
    return blended;
}
