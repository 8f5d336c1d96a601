/* An adaptive jitter buffer of 10 ms frames (80 timestamp units at 8 kHz), sans-I/O: frames go
 * in with their RTP timestamp and arrival time, one frame comes out per 10 ms block with the
 * block's time.  The caller splits packets into frames (G.711: 80 octets; G.729: 10, or 2 for a
 * SID) and marks the quiet ones.
 *
 * Delay.  Each frame's transit (arrival - timestamp) is compared with the fastest transit seen
 * (`base`, which forgets slowly so a route change does not pin it); the spread above it is the
 * jitter this frame showed.  The target delay follows the peak spread with a fast attack (a
 * late frame raises it at once) and a slow release (halved over about 10 s of calm), plus a
 * 2.5 ms margin, within [min, max]; it is not rounded to frames.  Playout starts at the target;
 * when the playout delay falls below the peak spread (the target less its margin) the buffer
 * plays concealment instead of advancing (grow); when it could lose a whole frame and still
 * cover the peak, a quiet frame (or a gap) is skipped (shrink in silence), so speech is never
 * cut and the delay settles within a frame above the peak.  Reordered frames land in their slot, duplicates
 * and frames whose time has passed (late) are dropped and counted.  The delay each played
 * frame spent in the buffer goes into a 1 ms histogram, so the added delay is measured. */
#ifndef PRIBOX_JITTER_H
#define PRIBOX_JITTER_H

#include <stdint.h>

/* cffi:begin */
#define JITTER_SLOTS 64                 /* 640 ms ahead of playout at most */
#define JITTER_FRAME_UNITS 80
#define JITTER_FRAME_MAX 80
#define JITTER_HISTOGRAM_MS 512

typedef struct {
    uint64_t frames_in;
    uint64_t duplicates;
    uint64_t late;              /* arrived after their playout time */
    uint64_t too_early;         /* more than JITTER_SLOTS ahead: the buffer restarted */
    uint64_t played;            /* frames played from the buffer */
    uint64_t missing;           /* playout found no frame: the caller conceals */
    uint64_t grown;             /* frames of concealment inserted to deepen the buffer */
    uint64_t shrunk;            /* quiet frames skipped to make it shallower */
    int32_t target_ms;
    int32_t delay_ms;           /* current playout delay over the fastest path */
} jitter_stats_t;

typedef struct {
    uint8_t data[JITTER_FRAME_MAX];
    uint8_t length;
    uint8_t filled;
    uint8_t quiet;
    uint32_t timestamp;
    double arrival;
} jitter_slot_t;

typedef struct {
    jitter_slot_t slots[JITTER_SLOTS];
    int32_t min_frames, max_frames;
    double target;              /* timestamp units of delay over the fastest path */
    int32_t started, playing;
    uint32_t play_ts;           /* timestamp of the next frame to play */
    int64_t play_position;      /* the same, unwrapped (counted from 2^32 + the first timestamp) */
    double base;                /* fastest transit seen, in timestamp units */
    double forgotten;           /* how far base has crept up since a frame last set it */
    double peak;                /* peak spread above base, decaying */
    double last_put;
    jitter_stats_t stats;
    uint32_t histogram[JITTER_HISTOGRAM_MS];   /* played frames by ms spent in the buffer */
} jitter_buffer_t;

void jitter_init(jitter_buffer_t *jb, int min_ms, int max_ms);
/* Forget every frame and the delay estimate (a new SSRC); the counters stay. */
void jitter_reset(jitter_buffer_t *jb);
/* 0 stored, 1 duplicate, 2 late, 3 restarted (too far ahead), -1 bad length. */
int jitter_put(jitter_buffer_t *jb, uint32_t timestamp, const uint8_t *data, int length, int quiet, double now);
/* The frame due at `now` into out (JITTER_FRAME_MAX octets); returns its length, 0 when the
 * caller must conceal (missing, growing, or not started). */
int jitter_get(jitter_buffer_t *jb, uint8_t *out, double now);
/* The p-th percentile (0..100) of the ms played frames spent in the buffer, -1 if none. */
double jitter_delay_percentile(const jitter_buffer_t *jb, double p);
/* cffi:end */

#endif
