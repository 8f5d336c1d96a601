/* Bridges between channels of the media plane: who hears whom, with what gain.
 *
 * Every channel that takes part has a bridge point.  Its tap keeps the last BRIDGE_RING samples
 * of what the channel's line sends (the caller's voice, decoded); its mix adds to the channel's
 * to-line audio what it listens to — each source point's audio, one block behind, times a Q12
 * gain.  Two points hearing each other are a call bridged; every point hearing every other is a
 * conference; a supervisor hearing an agent and a caller is monitoring, the agent also hearing
 * the supervisor is whisper, both hearing the supervisor is barge.  Points on different spans
 * work alike, as long as one thread runs them all (the line thread, or the event loop's tick
 * on a box with DAHDI spans): a source's ring and its `written` are read without a lock; each
 * source is read at its own pace, so spans on different clocks never stall each other (a
 * reader that falls too far behind or runs dry resynchronises and counts it).
 *
 * The control plane changes who hears whom under the lock of the listening channel's media
 * port (dsp/c/media_port.h). */
#ifndef PRIBOX_BRIDGE_H
#define PRIBOX_BRIDGE_H

#include <stdint.h>

/* cffi:begin */
#define BRIDGE_MAX_SOURCES 8
#define BRIDGE_RING 1024
#define BRIDGE_DELAY 80
#define BRIDGE_ERR_ARGUMENT -1
#define BRIDGE_ERR_FULL -2

typedef struct bridge_point bridge_point_t;

typedef struct {
    uint64_t samples_written;
    uint64_t underruns;      /* a source had less than a block ready */
    uint64_t resyncs;        /* a source ran ahead by more than the ring: skipped forward */
    int32_t sources;
} bridge_point_stats_t;

bridge_point_t *bridge_point_new(void);
void bridge_point_free(bridge_point_t *p);
void bridge_point_tap(bridge_point_t *p, const int16_t *amp, int n);
void bridge_point_mix(bridge_point_t *p, int16_t *amp, int n);
/* Hear `source` at gain_q12 (4096 = 0 dB); a second call for the same source changes the gain. */
int bridge_point_listen(bridge_point_t *p, bridge_point_t *source, int32_t gain_q12);
int bridge_point_unlisten(bridge_point_t *p, bridge_point_t *source);
void bridge_point_get_stats(const bridge_point_t *p, bridge_point_stats_t *out);
/* cffi:end */

#endif
