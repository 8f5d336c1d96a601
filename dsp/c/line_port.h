/* One emulated span's real-time part: the wire, the receive impairment, the elastic store, the
 * framer/deframer with HDLC, and the pacing that ties them to a clock.  `line_port_advance(now)`
 * runs the span up to `now`; the line's own thread calls it every period on CLOCK_MONOTONIC
 * (dsp/c/line_engine.h), and lockstep tests call it on the virtual clock, so both run this code.
 *
 * Pacing.  A frame clock counts frame periods since open.  Each advance takes what arrived on
 * the wire through the impairment into the elastic store, reads the frames now due out of the
 * store into the deframer, and has the framer fill the frames now due, in whole datagrams.
 * Clock "internal" runs at 8000 frames/s x (1 + ppm/1e6), so a far end at another rate makes the
 * store slip.  Clock "line" steers the frame clock to hold the store half full (loop timing),
 * so it never slips; without a signal it free-runs.  No signal (nothing attached, or nothing
 * received for `holdover`): the deframer gets all-zero frames, which is loss of signal; the store
 * starts afresh when frames return, and until it first fills halfway the deframer still sees no
 * pulses — a receiver never invents frames (all ones would read as AIS).
 *
 * What the control plane needs crosses through bounded queues under the port's lock: D-channel
 * frames (the HDLC queues of e1_span), line-state changes stamped with their time, and one
 * performance sample per second.  Every public call takes the lock, held only for C work.
 * The media plane has its own port and lock (dsp/c/media_port.h). */
#ifndef PRIBOX_LINE_PORT_H
#define PRIBOX_LINE_PORT_H

#include <stdint.h>

#include "e1_span.h"
#include "e1_wire.h"
#include "elastic.h"
#include "impair.h"
#include "level.h"
#include "media_port.h"

/* cffi:begin */
#define LINE_PORT_CHANGE_QUEUE 256
#define LINE_PORT_SECOND_QUEUE 128
#define LINE_PORT_CLOCK_INTERNAL 0
#define LINE_PORT_CLOCK_LINE 1

typedef struct line_port line_port;

typedef struct {
    int crc4;
    int dchannel_timeslot;
    int max_hdlc_frame;
    int clock_line;           /* LINE_PORT_CLOCK_* */
    double ppm;
    int elastic_depth;        /* frames */
    uint8_t idle_octet;       /* B-channel silence in the span's law */
    uint64_t seed;            /* of the receive impairment */
    double holdover;          /* seconds without frames before loss of signal */
    double max_catch_up;      /* seconds of line one advance may run at most */
} line_port_config;

typedef struct {
    double time;
    e1_status status;
} line_port_change;

typedef struct {
    double end;
    uint64_t crc4_errors, fas_errors, ebit_errors, slips;
    int oof, los, ais;
} line_port_second;

typedef struct {
    uint64_t advances;
    uint64_t slips;              /* of every elastic store since open */
    uint64_t overflow_slips, underflow_slips;
    int elastic_fill;
    int signal;
    int line_locked;
    int store_primed;
    uint64_t lost_changes, lost_seconds;
    uint64_t frames_read, frames_sent;
} line_port_state;

line_port *line_port_new(const line_port_config *cfg, e1_wire *wire);
void line_port_free(line_port *p);
/* Open at `now`: a fresh core and store; the wire stays as it is. */
void line_port_start(line_port *p, double now);
void line_port_advance(line_port *p, double now);
void line_port_set_ppm(line_port *p, double ppm);

void line_port_get_status(line_port *p, e1_status *out);
void line_port_get_counters(line_port *p, e1_counters *out);
void line_port_get_state(line_port *p, line_port_state *out);
int line_port_next_change(line_port *p, line_port_change *out);      /* 1 if one was taken */
int line_port_next_second(line_port *p, line_port_second *out);      /* 1 if one was taken */

int line_port_send_hdlc(line_port *p, const uint8_t *data, int len);
int line_port_recv_hdlc(line_port *p, uint8_t *out, int cap);
int line_port_write_bearer(line_port *p, const uint8_t *block, int n);
int line_port_read_bearer(line_port *p, uint8_t *block, int n);
int line_port_bearer_rx_available(line_port *p);

void line_port_set_loopback(line_port *p, int mode);
void line_port_prbs_start(line_port *p, uint32_t mask);
void line_port_prbs_stop(line_port *p);
void line_port_prbs_result(line_port *p, e1_prbs_result *out);
void line_port_impair_ber(line_port *p, double ber);
void line_port_impair_burst(line_port *p, uint32_t nbits);
void line_port_impair_ais(line_port *p, int on);
void line_port_impair_cut(line_port *p, int on);
uint64_t line_port_impair_errors(line_port *p);

/* The span's media plane (dsp/c/media_port.h), owned by the port and created by the first
 * enable call, which returns it (NULL when out of memory).  Once enabled, every 80 frames the
 * advance receives go through media_port_block as one 10 ms block of the 30 B-channels and
 * its result is queued for transmission; the bearer read/write calls above are then the media
 * plane's, not the control plane's.  The advance holds the line port's lock and takes the media
 * port's inside it (line port, then media port); the control plane's media calls take only the
 * media port's lock.  A channel with a bridge point hears the points it listens to, on this span
 * or on another advanced by the same thread. */
#define LINE_PORT_BLOCK 80             /* MEDIA_PORT_BLOCK */
media_port *line_port_media_enable(line_port *p);
/* cffi:end */

#endif
