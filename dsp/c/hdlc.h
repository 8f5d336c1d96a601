/* HDLC framing of the D-channel bit stream (ISO 13239 / Q.921): flags, zero-bit insertion,
 * FCS-16, aborts.  Bits travel in line order: the first HDLC bit is the most significant bit of
 * the first timeslot octet (REFERENCE.md, "Bit order on the line").
 *
 * The transmitter and receiver each own a small queue of whole frames so that Python only ever
 * hands over or collects complete frames, never bits. */
#ifndef PRIBOX_HDLC_H
#define PRIBOX_HDLC_H

#include <stdint.h>

/* cffi:begin */
#define HDLC_MAX_FRAME_LIMIT 4096
#define HDLC_TX_QUEUE_FRAMES 16
#define HDLC_RX_QUEUE_FRAMES 64
uint16_t hdlc_fcs16(const uint8_t *data, int len);
/* cffi:end */

typedef struct {
    uint8_t *slots;          /* nslots x slot_size octets */
    uint16_t *lens;
    int nslots, slot_size, head, count;
} hdlc_queue;

typedef struct {
    hdlc_queue q;
    uint64_t acc;            /* encoded line bits not yet sent, newest in the low bits */
    int nbits;
    int ones;                /* consecutive data ones, for zero insertion */
    int in_frame, pos, stage;
    int flag_sent;           /* a flag went out since the last frame: it can open the next one */
    uint16_t fcs;
    uint64_t frames_sent;
} hdlc_tx;

typedef struct {
    hdlc_queue q;
    uint8_t *buf;
    int max_frame;
    int nbytes, bitpos, ones, in_frame;
    uint8_t cur;
    uint64_t frames, bad_fcs, aborts, too_long, short_frames, misaligned, overflow;
} hdlc_rx;

int hdlc_tx_init(hdlc_tx *tx, int max_frame, int nslots);
void hdlc_tx_release(hdlc_tx *tx);
int hdlc_tx_enqueue(hdlc_tx *tx, const uint8_t *data, int len);   /* 0, or -1 if full */
uint8_t hdlc_tx_octet(hdlc_tx *tx);

int hdlc_rx_init(hdlc_rx *rx, int max_frame, int nslots);
void hdlc_rx_release(hdlc_rx *rx);
void hdlc_rx_reset(hdlc_rx *rx);
void hdlc_rx_octet(hdlc_rx *rx, uint8_t octet);
int hdlc_rx_dequeue(hdlc_rx *rx, uint8_t *out, int cap);  /* length, or -1 if none */

#endif
