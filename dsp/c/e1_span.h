/* One E1 span's layer 1 in C: G.704 framer and G.706 deframer with CRC-4, alarms (G.775),
 * the D-channel timeslot's HDLC, the 30 B-channels, a PRBS BERT and loopbacks.
 *
 * Frames are 32 octets, TS0 first, each timeslot octet sent bit 1 (MSB) first.  The receiver
 * is handed octet-aligned frames (the wire keeps octet and frame boundaries); its frame search
 * decides which frames carry the FAS.  See dsp/line.py for the Python side. */
#ifndef PRIBOX_E1_SPAN_H
#define PRIBOX_E1_SPAN_H

#include <stdint.h>

/* cffi:begin */
#define E1_FRAME_OCTETS 32
#define E1_B_CHANNELS 30
#define E1_BEARER_RING_FRAMES 1024
#define E1_LOS_ZERO_RUN 255
#define E1_CRC4_OFF 0
#define E1_CRC4_SEARCHING 1
#define E1_CRC4_ALIGNED 2
#define E1_CRC4_FALLBACK 3
#define E1_LOOP_NONE 0
#define E1_LOOP_LOCAL 1
#define E1_LOOP_LINE 2

typedef struct e1_span e1_span;

typedef struct {
    uint64_t bits_checked;
    uint64_t bit_errors;
    uint64_t resyncs;
    int in_sync;
    int active;
} e1_prbs_result;

typedef struct {
    int frame_aligned;
    int multiframe_aligned;
    int crc4_state;
    int los;
    int ais;
    int lof;
    int rai;
    int remote_alarm_sent;
} e1_status;

typedef struct {
    uint64_t frames_rx;
    uint64_t frames_tx;
    uint64_t fas_errors;
    uint64_t crc4_errors;
    uint64_t ebits_received;
    uint64_t frame_alignment_losses;
    uint64_t crc4_false_alignments;
    uint64_t los_events;
    uint64_t ais_events;
    uint64_t hdlc_rx_frames;
    uint64_t hdlc_tx_frames;
    uint64_t hdlc_bad_fcs;
    uint64_t hdlc_aborts;
    uint64_t hdlc_too_long;
    uint64_t hdlc_short;
    uint64_t hdlc_misaligned;
    uint64_t hdlc_rx_overflow;
    uint64_t hdlc_tx_overflow;
    uint64_t bearer_tx_underrun;
    uint64_t bearer_tx_overflow;
    uint64_t bearer_rx_underrun;
    uint64_t bearer_rx_overflow;
    uint64_t line_loop_underrun;
} e1_counters;

e1_span *e1_span_new(int crc4, int dchannel_timeslot, int max_hdlc_frame);
void e1_span_free(e1_span *s);
int e1_span_dchannel_timeslot(e1_span *s);
void e1_span_bearer_timeslots(e1_span *s, uint8_t *out30);

void e1_span_transmit(e1_span *s, uint8_t *out, int nframes);
void e1_span_receive(e1_span *s, const uint8_t *in, int nframes);

int e1_span_write_bearer(e1_span *s, const uint8_t *block, int n);   /* (30, n); octets dropped */
int e1_span_read_bearer(e1_span *s, uint8_t *block, int n);          /* (30, n); octets padded */
int e1_span_bearer_rx_available(e1_span *s);
void e1_span_set_bearer_idle(e1_span *s, uint8_t octet);

int e1_span_send_hdlc(e1_span *s, const uint8_t *data, int len);     /* 0, or -1 if full */
int e1_span_recv_hdlc(e1_span *s, uint8_t *out, int cap);            /* length, -1 if none */

void e1_span_set_remote_alarm(e1_span *s, int mode);                 /* -1 automatic, 0, 1 */
void e1_span_set_sa_bits(e1_span *s, int sa);
void e1_span_set_send_ais(e1_span *s, int on);
void e1_span_set_crc4(e1_span *s, int on);
void e1_span_set_loopback(e1_span *s, int mode);

void e1_span_prbs_start(e1_span *s, uint32_t timeslot_mask);
void e1_span_prbs_stop(e1_span *s);
void e1_span_prbs_result(e1_span *s, e1_prbs_result *out);

void e1_span_get_status(e1_span *s, e1_status *out);
void e1_span_get_counters(e1_span *s, e1_counters *out);

/* One tick for many spans: optional bearer input (nspans, 30, n), receive rx (nspans, n, 32),
 * transmit tx (nspans, n, 32), optional bearer output (nspans, 30, n). */
void e1_process_spans(e1_span **spans, int nspans, const uint8_t *rx, uint8_t *tx, int nframes,
                      const uint8_t *bearer_in, uint8_t *bearer_out);
/* cffi:end */

#endif
