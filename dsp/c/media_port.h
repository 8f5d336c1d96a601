/* One span's media plane, whatever carries its B-channels: the 30 channels of one E1 through one
 * media batch (dsp/c/media.h) per 10 ms block — each open channel decoded in its call's law,
 * its from-line taps (a DTMF receiver, a level meter, a recorder, a bridge point's tap), its
 * sources (a prompt player, a bridge point's mix), encoded and sent — and, after each block,
 * what the taps found gathered into one event ring with a counter the control plane reads
 * without a call.
 *
 * spandsp-shaped: media_port_new / media_port_free, and media_port_block, the process call,
 * which takes one block of 30 x 80 received octets (channel-major, B-channel 1 first) and
 * fills 30 x 80 octets to send.  Who calls it owns the pacing: the emulated line's port calls it
 * inside its advance for every 80 frames received (dsp/c/line_port.c, in the line thread on a
 * running box); a DAHDI span calls it from the control plane's tick for every block its
 * B-channel descriptors delivered (drivers/dahdi.py).
 *
 * Locking.  A media port has its own priority-inheritance lock (dsp/c/rt_lock.h).
 * media_port_block takes it; so does every control-plane call below, held for C work only.  A
 * line port calls media_port_block while it holds its own lock, so the order is always
 * line port, then media port; the control plane takes only the media port's lock and never a
 * line port's while holding it, so no cycle is possible.
 *
 * Bridges (dsp/c/bridge.h) read a source point's ring without that point's port's lock: the
 * ports of bridged channels must be run by one thread (the line thread for emulated spans, the
 * event loop's tick for DAHDI spans and for every span of a box that has one; see
 * docs/data-plane.md). */
#ifndef PRIBOX_MEDIA_PORT_H
#define PRIBOX_MEDIA_PORT_H

#include <stdint.h>

#include "media.h"
#include "player.h"
#include "dtmf.h"
#include "level.h"
#include "pcm_ring.h"
#include "bridge.h"

/* cffi:begin */
#define MEDIA_PORT_CHANNELS 30
#define MEDIA_PORT_BLOCK 80
#define MEDIA_PORT_EVENT_QUEUE 2048
#define MEDIA_PORT_EVENT_DIGIT_START 1
#define MEDIA_PORT_EVENT_DIGIT_END 2
#define MEDIA_PORT_EVENT_PROMPT_END 3

typedef struct media_port media_port;

typedef struct {
    int32_t channel;
    int32_t kind;           /* MEDIA_PORT_EVENT_* */
    int64_t item_id;        /* the prompt's id (PROMPT_END) */
    int32_t reason;         /* PLAYER_END_* (PROMPT_END) */
    char digit;             /* the digit (DIGIT_*), or the digit that barged in */
} media_port_event;

media_port *media_port_new(void);
void media_port_free(media_port *mp);
/* One 10 ms block: line_in and line_out are [30][80] octets in each channel's line law. */
void media_port_block(media_port *mp, const uint8_t *line_in, uint8_t *line_out);
int media_port_blocks(media_port *mp);                                   /* blocks run so far */

int media_port_configure(media_port *mp, int channel, int line_law, int active);
int media_port_attach_player(media_port *mp, int channel, player_state_t *player);
int media_port_attach_dtmf(media_port *mp, int channel, dtmf_rx_state_t *rx);
int media_port_attach_level(media_port *mp, int channel, int direction, level_meter_t *meter);
int media_port_attach_recorder(media_port *mp, int channel, int direction, pcm_ring_t *ring);
int media_port_attach_bridge(media_port *mp, int channel, bridge_point_t *point);
/* Every tap and source of the channel detached, and its events still queued dropped. */
int media_port_clear(media_port *mp, int channel);

/* Who hears whom changes under the listening channel's media port lock. */
int media_port_bridge_listen(media_port *mp, bridge_point_t *listener, bridge_point_t *source, int32_t gain_q12);
int media_port_bridge_unlisten(media_port *mp, bridge_point_t *listener, bridge_point_t *source);
void media_port_bridge_stats(media_port *mp, bridge_point_t *point, bridge_point_stats_t *out);

int media_port_player_enqueue(media_port *mp, player_state_t *player, const int16_t *samples, int64_t n,
                              int32_t loops, int32_t interruptible, int64_t *item_id);
void media_port_player_stop(media_port *mp, player_state_t *player);
void media_port_player_barge_in(media_port *mp, player_state_t *player, dtmf_rx_state_t *rx);
int media_port_player_events(media_port *mp, player_state_t *player, player_event_t *out, int max);
int media_port_dtmf_events(media_port *mp, dtmf_rx_state_t *rx, dtmf_event_t *out, int max);
void media_port_dtmf_reset(media_port *mp, dtmf_rx_state_t *rx);
void media_port_level_take(media_port *mp, level_meter_t *meter, level_meter_t *out);
int media_port_recorder_take(media_port *mp, pcm_ring_t *ring, int16_t *out, int max);

/* What the taps found: digits started and ended (receivers attached with
 * media_port_attach_dtmf) and prompts ended (players attached with media_port_attach_player).
 * The counter is raised whenever events are added: reading it costs no call and no lock. */
int media_port_events(media_port *mp, media_port_event *out, int max);
volatile uint32_t *media_port_event_counter(media_port *mp);
/* A digit found by something other than the channel's DTMF receiver (an RFC 4733 event on an
 * RTP leg: dsp/c/rtp_port.h), queued as the receiver's digits are. */
int media_port_report_digit(media_port *mp, int channel, int kind, char digit);
uint64_t media_port_events_lost(media_port *mp);
/* cffi:end */

#endif
