/* Call-progress tones: a cadenced generator and a receiver that turns audio into segments of
 * "which of these frequencies are sounding" with their start and end, for the cadence matcher
 * in dsp/tones.py.  Shaped like spandsp's blocks: state, init, process(state, amp, n), read
 * back, free.
 */
#ifndef PRIBOX_TONES_H
#define PRIBOX_TONES_H

#include <stdint.h>

/* cffi:begin */
#define TONE_MAX_FREQS 8
#define TONE_MAX_SEGMENTS 8
/* Receiver analysis block: 25 ms gives 40 Hz resolution, enough to part 440 from 480 Hz. */
#define TONE_RX_BLOCK 200

typedef struct tone_tx_state tone_tx_state_t;
typedef struct tone_rx_state tone_rx_state_t;

typedef struct {
    uint32_t mask;        /* bit k set: frequency k of the receiver is present; 0 = no tone */
    int64_t start;        /* first sample of the segment */
    int64_t end;          /* one past its last sample */
} tone_segment_t;

/* Two frequencies (freq2_hz 0 for a single tone) at level_dbm0 each; segments alternate on,
 * off, on, ... in ms; n_segments 0 means continuous.  Returns NULL on a bad argument. */
tone_tx_state_t *tone_tx_new(float freq1_hz, float freq2_hz, float level_dbm0,
                             const int32_t *segments_ms, int n_segments, int repeat);
void tone_tx_free(tone_tx_state_t *s);
/* Writes up to max samples; fewer once a non-repeating cadence has ended. */
int tone_tx(tone_tx_state_t *s, int16_t *amp, int max);

/* freqs: the frequencies to watch (up to TONE_MAX_FREQS); min_level_dbm0: weakest tone
 * reported.  Returns NULL on a bad argument. */
tone_rx_state_t *tone_rx_new(const float *freqs_hz, int n_freqs, float min_level_dbm0);
void tone_rx_free(tone_rx_state_t *s);
void tone_rx(tone_rx_state_t *s, const int16_t *amp, int n);
void tone_rx_many(tone_rx_state_t **states, int n_channels, const int16_t *amp, int n);
/* Completed segments, oldest first; returns the count copied out (and removed). */
int tone_rx_get_segments(tone_rx_state_t *s, tone_segment_t *out, int max);
/* The segment still in progress (its end is the samples seen so far). */
void tone_rx_current(const tone_rx_state_t *s, tone_segment_t *out);
/* cffi:end */

#endif
