/* RTP legs as a span of the media plane.
 *
 * Why a port of legs.  The media plane already knows how to carry a span's 30 channels: a
 * media port (dsp/c/media_port.h) takes one 10 ms block of 30 x 80 line-law octets in, runs each
 * open channel's taps and sources (DTMF receiver, level meter, recorder, prompt player, bridge
 * point) and gives 30 x 80 octets out.  An RTP port is the same media port whose "line" is up
 * to 30 RTP sessions instead of an E1 line port: each block, every leg's jitter buffer gives 80
 * samples (G.711 octets as received, with concealment on loss; G.729 decoded, with frame
 * erasure, and carried in A-law), the media port runs the block, and each leg packetizes what
 * the block sends.  So PortMedia (dsp/line_port.py) opens, plays on, records, listens to and
 * bridges an RTP leg exactly as a B-channel, and an E1 caller bridged to an RTP agent is two
 * bridge points like any other; nothing in the media port changed but one call to report a
 * digit that arrived as an RFC 4733 event rather than as tones.  Events received are also
 * regenerated as tones on the leg's line side (see rtp_leg_config.report_events).
 *
 * Pass-through.  Two legs with the same codec may be relayed (rtp_port_relay): a packet
 * received on one is sent on the other at once with the other leg's SSRC, and sequence numbers
 * and timestamps shifted by a fixed offset, its payload untouched (RFC 4733 events too, with
 * the payload type mapped).  Relayed legs skip the jitter buffer and the media port (their
 * channel hears silence) unless the relay is monitored (a recorded call: each leg's audio is
 * also decoded for its channel's taps); each leg still keeps its own RTCP.  Legs whose codecs disagree are
 * bridged through the media plane, which transcodes.
 *
 * Sockets.  The control plane binds and connects one UDP socket per leg (IPv4 or IPv6; the
 * kernel then drops datagrams from anyone but the negotiated peer) and an RTCP socket, or none
 * with rtcp-mux (RFC 5761), and hands the descriptors over; the port owns them until the leg
 * closes.  rtp_port_advance(now) takes what epoll says is readable with recvmmsg, runs every
 * 10 ms block due by `now`, sends, and sends RTCP reports when due.  The line thread calls it
 * every period (dsp/c/line_thread.h, rtp ports attached beside line ports); lockstep tests call
 * it on the virtual clock.
 *
 * Locking.  An RTP port has its own lock, taken by advance and by every control-plane call;
 * advance takes the media port's lock inside it (RTP port, then media port), as a line port
 * does.  Relayed legs on two ports, like bridged channels, must be advanced by one thread. */
#ifndef PRIBOX_RTP_PORT_H
#define PRIBOX_RTP_PORT_H

#include <stdint.h>

#include "capture_tap.h"
#include "media_port.h"
#include "jitter.h"
#include "rtp_packet.h"

/* cffi:begin */
#define RTP_PORT_LEGS 30                 /* MEDIA_PORT_CHANNELS */
#define RTP_PORT_MAX_PTIME_MS 100
#define RTP_PORT_DIGIT_QUEUE 32
#define RTP_PORT_ERR_ARGUMENT -1
#define RTP_PORT_ERR_LEG -2
#define RTP_PORT_ERR_CODEC -3
#define RTP_PORT_ERR_PTIME -4
#define RTP_PORT_ERR_SOCKET -5
#define RTP_PORT_ERR_NO_MEMORY -6
#define RTP_PORT_ERR_NOT_OPEN -7
#define RTP_PORT_ERR_QUEUE_FULL -8
#define RTP_PORT_ERR_DIGIT -9
#define RTP_PORT_ERR_MISMATCH -10        /* relay: the legs' codecs differ */
#define RTP_PORT_ERR_SRTP -11            /* libsrtp refused the keys */
#define RTP_PORT_SRTP_KEY_OCTETS 30      /* AES_CM_128_HMAC_SHA1_80: 16 octets of key, 14 of salt */

typedef struct rtp_port rtp_port;

typedef struct {
    int32_t codec;               /* MEDIA_CODEC_ALAW, _ULAW or _G729 */
    int32_t payload_type;        /* 8, 0, 18 or a dynamic one */
    int32_t dtmf_payload_type;   /* telephone-event (RFC 4733), -1 none */
    int32_t ptime_ms;            /* 10..100, a multiple of 10 */
    uint32_t ssrc;
    uint16_t first_sequence;
    uint32_t first_timestamp;
    int32_t jitter_min_ms;
    int32_t jitter_max_ms;
    double rtcp_interval;        /* seconds between reports, randomised +-50 %; 0: 5 s */
    /* RFC 4733 events received are regenerated as tones on what the leg's line sends (so a
     * bridged E1 caller, a recorder and the channel's DTMF receiver hear them as from a
     * B-channel).  With an in-band receiver on the channel, it reports them; without one
     * (report_events 1), the port reports each event's digit itself. */
    int32_t report_events;
} rtp_leg_config;

typedef struct {
    uint64_t packets_sent, octets_sent;
    uint64_t packets_received, octets_received;
    int64_t expected;            /* RFC 3550 A.3 */
    int64_t lost;                /* expected - received, cumulative */
    double fraction_lost;        /* of the last report interval, 0..1 */
    double jitter_ms;            /* interarrival jitter, RFC 3550 A.8 */
    double rtt_ms;               /* from LSR/DLSR of the peer's reports, -1 unknown */
    double remote_fraction_lost; /* what the peer reports about our stream, -1 unknown */
    int64_t remote_lost;
    double remote_jitter_ms;
    uint64_t reordered;
    uint64_t malformed[RTP_ERR_KINDS];   /* by -RTP_ERR_* - 1 */
    uint64_t malformed_total;
    uint64_t wrong_payload_type;
    uint64_t ssrc_changes;
    uint64_t dtmf_received, dtmf_sent;
    uint64_t rtcp_sent, rtcp_received, rtcp_malformed;
    uint64_t relayed;            /* packets this leg received and relayed to its partner */
    uint64_t concealed;          /* 10 ms frames played by concealment or frame erasure */
    uint64_t send_errors;
    uint64_t receive_errors;     /* ICMP errors the socket reported (the peer's port closed) */
    uint64_t srtp_failures;      /* SRTP/SRTCP packets that failed authentication or replay checks: dropped */
    jitter_stats_t jitter_buffer;
    double jitter_delay_p50_ms;  /* time played frames spent in the jitter buffer, -1 none */
    double mos;                  /* E-model estimate (G.107, simplified) */
    double r_factor;
} rtp_leg_stats;

rtp_port *rtp_port_new(double now, double ntp_offset);
void rtp_port_free(rtp_port *p);                      /* closes every leg's sockets */
media_port *rtp_port_media(rtp_port *p);
/* Open `leg` on connected, bound UDP sockets (rtcp_fd -1: RTCP multiplexed on rtp_fd). */
int rtp_port_open(rtp_port *p, int leg, int rtp_fd, int rtcp_fd, const rtp_leg_config *cfg);
int rtp_port_close(rtp_port *p, int leg);              /* closes the leg's sockets, ends a relay */
void rtp_port_advance(rtp_port *p, double now);
/* Queue an RFC 4733 event ('0'-'9', '*', '#', 'A'-'D') of duration_ms at -volume dBm0. */
int rtp_port_send_digit(rtp_port *p, int leg, char digit, int duration_ms, int volume);
/* Relay a's leg and b's leg to each other without decoding; RTP_PORT_ERR_MISMATCH if their
 * codecs differ.  a may be b.  With `monitor`, what each leg receives is also decoded into its
 * channel's line side, so its taps (recorder, DTMF receiver, level meter, a supervisor's
 * bridge point) hear the call; what the channel would send is dropped. */
int rtp_port_relay(rtp_port *a, int leg_a, rtp_port *b, int leg_b, int monitor);
int rtp_port_unrelay(rtp_port *p, int leg);
/* The far end moved (a re-INVITE with a new address or port): the control plane has connected
 * the leg's sockets to it; the port names the new ends in captures and takes the next packet
 * as the start of a new source (sequence, jitter, jitter buffer), so nothing is counted lost. */
int rtp_port_moved(rtp_port *p, int leg);
/* SRTP (RFC 3711) with AES_CM_128_HMAC_SHA1_80 keys from SDES (RFC 4568): what the leg sends
 * is protected with `send_key`, what it receives must authenticate under `receive_key` (RTP and
 * RTCP alike; packets that do not are counted in srtp_failures and dropped).  NULL keys turn
 * SRTP off.  Captures see the packets as on the wire.  Relayed legs each use their own keys. */
int rtp_port_set_srtp(rtp_port *p, int leg, const uint8_t *send_key, const uint8_t *receive_key);
/* Hold (RFC 3264): with `sending` 0 the leg sends no RTP (we are recvonly or inactive) and
 * RFC 4733 digits wait; what it receives and its RTCP go on.  1 sends again. */
int rtp_port_set_sending(rtp_port *p, int leg, int sending);
int rtp_port_stats(rtp_port *p, int leg, rtp_leg_stats *out);
/* 10 ms blocks run since the port began, and blocks skipped because an advance came more than
 * half a second late (the thread was held up: the legs' audio jumped). */
void rtp_port_blocks(rtp_port *p, int64_t *run, uint64_t *skipped);
/* The played frames' time in the jitter buffer, by ms: histogram into out[JITTER_HISTOGRAM_MS]. */
int rtp_port_delay_histogram(rtp_port *p, int leg, uint32_t *out);
/* R and MOS by the E-model (ITU-T G.107, simplified as RFC 3611 monitors do): codec impairment
 * and packet-loss robustness (G.113) for the codec, random loss in percent, one-way delay. */
double rtp_emodel_r(int codec, double loss_percent, double delay_ms);
double rtp_emodel_mos(double r);
/* Copy every datagram the port's legs send and receive (RTP and RTCP, relayed ones included)
 * into `tap` (dsp/c/capture_tap.h); NULL stops.  The tap must outlive the port's use of it. */
void rtp_port_set_capture_tap(rtp_port *p, capture_tap *tap);
/* cffi:end */

#endif
