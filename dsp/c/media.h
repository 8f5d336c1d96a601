/* The per-tick media batch: one call moves every channel of every span through its codecs.
 *
 * Per channel, per tick of F frames (F x 80 samples, F x 10 ms):
 *
 *   line_in  (E1 octets, line law) --decode--> pcm_from_line --taps--> --encode--> net_out
 *   line_out (E1 octets, line law) <--encode-- pcm_to_line   <--taps-- <--decode-- net_in
 *
 * The line side is A-law or mu-law (a span setting, or the call's bearer capability).  The
 * network side is A-law, mu-law or G.729.  All buffers are [channels][...] row-major, owned by
 * the caller and reused every tick:
 *
 *   line_in, line_out, pcm_from_line, pcm_to_line:  [channels][F*80]
 *   net_in, net_out:   [channels][F*80] octets: G.711 uses all of them; G.729 puts frame f in
 *                      octets f*10 .. f*10+9 (only the first 2 for a SID)
 *   net_in_lengths, net_out_lengths:  [channels][F] octets of each 10 ms frame:
 *                      G.711 80 or 0 (missing: concealed, dsp/c/plc.h); G.729 10, 2 (SID) or
 *                      0 (missing or untransmitted: concealment or comfort noise).  An impossible length
 *                      counts in the channel's frames_bad and is treated as missing.
 *
 * Taps are spandsp-shaped process functions, void process(state, const int16_t *amp, int n),
 * run on each channel's linear audio inside the tick (a DTMF or tone detector such as
 * dtmf_rx, a level meter, a recorder's buffer); they keep their results in their state.
 * Sources, void process(state, int16_t *amp, int n), may write the to-line audio (a prompt
 * player): they run after the network side is decoded and before the to-line taps and the
 * line encoder, and after the from-line taps, so a detector's verdict this tick reaches them.  An idle channel sends the line law's silence and nothing to the
 * network.  One batch is used by one thread at a time. */
#ifndef PRIBOX_MEDIA_H
#define PRIBOX_MEDIA_H

#include <stdint.h>

/* cffi:begin */
#define MEDIA_CODEC_IDLE 0
#define MEDIA_CODEC_ALAW 1
#define MEDIA_CODEC_ULAW 2
#define MEDIA_CODEC_G729 3
/* No network side: the channel's to-line audio is what its sources write (prompts, bridges). */
#define MEDIA_CODEC_LOCAL 4
#define MEDIA_FROM_LINE 0
#define MEDIA_TO_LINE 1
#define MEDIA_MAX_TAPS 4
#define MEDIA_MAX_SOURCES 2
#define MEDIA_MAX_CHANNELS 4096
#define MEDIA_MAX_FRAMES_PER_TICK 32
#define MEDIA_ERR_ARGUMENT -1
#define MEDIA_ERR_CHANNEL -2
#define MEDIA_ERR_CODEC -3
#define MEDIA_ERR_NO_MEMORY -4
#define MEDIA_ERR_TAPS_FULL -5
#define MEDIA_ERR_DIRECTION -6
#define MEDIA_ERR_SOURCES_FULL -7

typedef void (*media_tap_fn)(void *state, const int16_t *samples, int n);
typedef void (*media_source_fn)(void *state, int16_t *samples, int n);
typedef struct media_batch media_batch_t;

typedef struct {
    uint64_t ticks;
    uint64_t frames_in;         /* network frames received with data (speech or SID) */
    uint64_t frames_missing;    /* network frames that did not come (length 0) */
    uint64_t frames_bad;        /* network frames with an impossible length */
    uint64_t sid_in;
    uint64_t sid_out;
    uint64_t untransmitted_out; /* G.729 frames the VAD chose not to send */
} media_channel_stats_t;

media_batch_t *media_batch_new(int n_channels, int frames_per_tick);
void media_batch_free(media_batch_t *batch);
int media_batch_configure(media_batch_t *batch, int channel, int line_law, int net_codec, int vad);
int media_batch_attach_tap(media_batch_t *batch, int channel, int direction, media_tap_fn process,
                           void *state);
int media_batch_clear_taps(media_batch_t *batch, int channel, int direction);
int media_batch_attach_source(media_batch_t *batch, int channel, media_source_fn process, void *state);
int media_batch_clear_sources(media_batch_t *batch, int channel);
int media_batch_run(media_batch_t *batch, const uint8_t *line_in, uint8_t *line_out,
                    const uint8_t *net_in, const uint8_t *net_in_lengths, uint8_t *net_out,
                    uint8_t *net_out_lengths, int16_t *pcm_from_line, int16_t *pcm_to_line);
int media_batch_stats(const media_batch_t *batch, int channel, media_channel_stats_t *stats);
/* cffi:end */

#endif
