/* See jitter.h. */
#include "jitter.h"

#include <math.h>
#include <string.h>

#define UNITS_PER_S 8000.0
#define BASE_FORGET_UNITS_PER_S 8.0     /* 1 ms per second: follows a slower route within a minute */
#define PEAK_HALF_LIFE_S 10.0
#define TARGET_MARGIN_UNITS 20.0        /* 2.5 ms over the peak spread before rounding up to frames */

void jitter_init(jitter_buffer_t *jb, int min_ms, int max_ms)
{
    memset(jb, 0, sizeof *jb);
    int max_frames = JITTER_SLOTS - 4;
    jb->min_frames = min_ms < 10 ? 1 : (min_ms + 9) / 10;
    jb->max_frames = max_ms / 10;
    if (jb->max_frames > max_frames)
        jb->max_frames = max_frames;
    if (jb->min_frames > jb->max_frames)
        jb->min_frames = jb->max_frames;
    jb->target = jb->min_frames * (double)JITTER_FRAME_UNITS + TARGET_MARGIN_UNITS;
    jb->stats.target_ms = (int32_t)(jb->target / 8.0 + 0.5);
}

void jitter_reset(jitter_buffer_t *jb)
{
    for (int i = 0; i < JITTER_SLOTS; i++)
        jb->slots[i].filled = 0;
    jb->started = jb->playing = 0;
    jb->peak = 0;
    jb->target = jb->min_frames * (double)JITTER_FRAME_UNITS + TARGET_MARGIN_UNITS;
}

static jitter_slot_t *slot_of(jitter_buffer_t *jb, int64_t position)
{
    return &jb->slots[(position / JITTER_FRAME_UNITS) % JITTER_SLOTS];
}

static void advance_play(jitter_buffer_t *jb)
{
    jb->play_ts += JITTER_FRAME_UNITS;
    jb->play_position += JITTER_FRAME_UNITS;
}

static void retarget(jitter_buffer_t *jb)
{
    double target = jb->peak + TARGET_MARGIN_UNITS;
    double lowest = jb->min_frames * (double)JITTER_FRAME_UNITS + TARGET_MARGIN_UNITS;
    double highest = jb->max_frames * (double)JITTER_FRAME_UNITS + TARGET_MARGIN_UNITS;
    jb->target = target < lowest ? lowest : target > highest ? highest : target;
    jb->stats.target_ms = (int32_t)(jb->target / 8.0 + 0.5);
}

int jitter_put(jitter_buffer_t *jb, uint32_t timestamp, const uint8_t *data, int length, int quiet, double now)
{
    if (length < 1 || length > JITTER_FRAME_MAX || data == NULL)
        return -1;
    if (!jb->started) {
        jb->started = 1;
        jb->playing = 0;
        jb->play_ts = timestamp;
        jb->play_position = (int64_t)timestamp + ((int64_t)1 << 32);
        jb->base = now * UNITS_PER_S - (double)jb->play_position;
        jb->forgotten = 0;
        jb->peak = 0;
        jb->last_put = now;
    }
    /* Timestamps are taken as offsets from the playout point, so positions (and transits) stay
     * continuous across the 32-bit wrap. */
    int32_t ahead = (int32_t)(timestamp - jb->play_ts);
    int64_t position = jb->play_position + ahead;
    double transit = now * UNITS_PER_S - (double)position;
    double elapsed = now - jb->last_put;
    if (elapsed > 0) {
        jb->base += elapsed * BASE_FORGET_UNITS_PER_S;
        jb->forgotten += elapsed * BASE_FORGET_UNITS_PER_S;
        jb->peak *= exp2(-elapsed / PEAK_HALF_LIFE_S);
        jb->last_put = now;
    }
    if (transit < jb->base) {
        /* Spreads are measured from the new base: the peak grows by how far the base really
         * fell, not by what forgetting had added to it. */
        double fall = jb->base - transit - jb->forgotten;
        if (fall > 0)
            jb->peak += fall;
        jb->base = transit;
        jb->forgotten = 0;
    }
    double spread = transit - jb->base;
    if (spread > jb->peak)
        jb->peak = spread;
    retarget(jb);

    if (ahead < 0) {
        if (jb->playing || ahead <= -(JITTER_SLOTS - 1) * JITTER_FRAME_UNITS) {
            jb->stats.late++;
            return 2;
        }
        jb->play_ts = timestamp;       /* reordered before playout began: start from it */
        jb->play_position = position;
        ahead = 0;
    }
    if (ahead >= (JITTER_SLOTS - 1) * JITTER_FRAME_UNITS) {
        jb->stats.too_early++;
        jitter_reset(jb);
        return jitter_put(jb, timestamp, data, length, quiet, now) == 0 ? 3 : -1;
    }
    jitter_slot_t *s = slot_of(jb, position);
    if (s->filled && s->timestamp == timestamp) {
        jb->stats.duplicates++;
        return 1;
    }
    memcpy(s->data, data, (size_t)length);
    s->length = (uint8_t)length;
    s->filled = 1;
    s->quiet = quiet != 0;
    s->timestamp = timestamp;
    s->arrival = now;
    jb->stats.frames_in++;
    return 0;
}

static int present(jitter_buffer_t *jb, jitter_slot_t *s)
{
    return s->filled && s->timestamp == jb->play_ts;
}

int jitter_get(jitter_buffer_t *jb, uint8_t *out, double now)
{
    if (!jb->started)
        return 0;
    /* The delay only changes by whole frames (a frame held or skipped), so it is kept in
     * [floor, floor + 1 frame): floor is the target less its margin, the least delay that
     * covers the peak spread (or the configured minimum). */
    double floor_units = jb->target - TARGET_MARGIN_UNITS;
    double delay = now * UNITS_PER_S - (double)jb->play_position - jb->base;
    jb->stats.delay_ms = (int32_t)(delay / 8.0);
    if (!jb->playing) {
        if (delay < jb->target)
            return 0;
        jb->playing = 1;
    } else if (delay < floor_units) {
        jb->stats.grown++;
        return 0;
    }
    jitter_slot_t *s = slot_of(jb, jb->play_position);
    if (delay - JITTER_FRAME_UNITS >= floor_units && (!present(jb, s) || s->quiet)) {
        if (present(jb, s))
            s->filled = 0;
        advance_play(jb);
        jb->stats.shrunk++;
        s = slot_of(jb, jb->play_position);
    }
    int length = 0;
    if (present(jb, s)) {
        memcpy(out, s->data, s->length);
        length = s->length;
        s->filled = 0;
        jb->stats.played++;
        int ms = (int)((now - s->arrival) * 1000.0 + 0.5);
        if (ms < 0)
            ms = 0;
        if (ms >= JITTER_HISTOGRAM_MS)
            ms = JITTER_HISTOGRAM_MS - 1;
        jb->histogram[ms]++;
    } else {
        jb->stats.missing++;
    }
    advance_play(jb);
    return length;
}

double jitter_delay_percentile(const jitter_buffer_t *jb, double p)
{
    uint64_t total = 0;
    for (int i = 0; i < JITTER_HISTOGRAM_MS; i++)
        total += jb->histogram[i];
    if (total == 0)
        return -1;
    double want = p / 100.0 * (double)total;
    uint64_t seen = 0;
    for (int i = 0; i < JITTER_HISTOGRAM_MS; i++) {
        seen += jb->histogram[i];
        if ((double)seen >= want && jb->histogram[i])
            return i;
    }
    return JITTER_HISTOGRAM_MS - 1;
}
