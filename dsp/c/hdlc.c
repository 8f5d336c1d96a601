#include "hdlc.h"

#include <stdlib.h>
#include <string.h>

#define FLAG 0x7E
#define FCS_GOOD_RESIDUE 0xF0B8

static uint16_t fcs_table[256];

/* Built when the library loads, before any thread can call in with the GIL released. */
__attribute__((constructor)) static void fcs_table_init(void)
{
    for (int i = 0; i < 256; i++) {
        uint16_t v = (uint16_t)i;
        for (int b = 0; b < 8; b++)
            v = (v & 1) ? (uint16_t)((v >> 1) ^ 0x8408) : (uint16_t)(v >> 1);
        fcs_table[i] = v;
    }
}

static inline uint16_t fcs_update(uint16_t fcs, uint8_t octet)
{
    return (uint16_t)((fcs >> 8) ^ fcs_table[(fcs ^ octet) & 0xFF]);
}

static uint16_t fcs_run(uint16_t fcs, const uint8_t *data, int len)
{
    for (int i = 0; i < len; i++)
        fcs = fcs_update(fcs, data[i]);
    return fcs;
}

uint16_t hdlc_fcs16(const uint8_t *data, int len)
{
    if (len < 0)
        return 0;
    return (uint16_t)(fcs_run(0xFFFF, data, len) ^ 0xFFFF);
}

static int queue_init(hdlc_queue *q, int slot_size, int nslots)
{
    q->slots = malloc((size_t)slot_size * (size_t)nslots);
    q->lens = calloc((size_t)nslots, sizeof *q->lens);
    q->nslots = nslots;
    q->slot_size = slot_size;
    q->head = q->count = 0;
    return (q->slots && q->lens) ? 0 : -1;
}

static void queue_release(hdlc_queue *q)
{
    free(q->slots);
    free(q->lens);
    q->slots = NULL;
    q->lens = NULL;
}

static uint8_t *queue_slot(hdlc_queue *q, int index)
{
    return q->slots + (size_t)((q->head + index) % q->nslots) * (size_t)q->slot_size;
}

static int queue_push(hdlc_queue *q, const uint8_t *data, int len)
{
    if (q->count == q->nslots || len > q->slot_size || len < 0)
        return -1;
    int index = (q->head + q->count) % q->nslots;
    memcpy(q->slots + (size_t)index * (size_t)q->slot_size, data, (size_t)len);
    q->lens[index] = (uint16_t)len;
    q->count++;
    return 0;
}

static void queue_pop(hdlc_queue *q)
{
    q->head = (q->head + 1) % q->nslots;
    q->count--;
}

/* ---- transmit ---- */

int hdlc_tx_init(hdlc_tx *tx, int max_frame, int nslots)
{
    memset(tx, 0, sizeof *tx);
    return queue_init(&tx->q, max_frame, nslots);
}

void hdlc_tx_release(hdlc_tx *tx)
{
    queue_release(&tx->q);
}

int hdlc_tx_enqueue(hdlc_tx *tx, const uint8_t *data, int len)
{
    if (len <= 0)
        return -1;
    return queue_push(&tx->q, data, len);
}

static inline void put_flag(hdlc_tx *tx)
{
    tx->acc = (tx->acc << 8) | FLAG;   /* 0x7E reads the same in either bit order */
    tx->nbits += 8;
    tx->ones = 0;
    tx->flag_sent = 1;
}

static inline void put_stuffed(hdlc_tx *tx, uint8_t octet)
{
    uint64_t acc = tx->acc;
    int nbits = tx->nbits, ones = tx->ones;
    for (int i = 0; i < 8; i++) {          /* HDLC sends each octet LSB first */
        unsigned bit = (octet >> i) & 1u;
        acc = (acc << 1) | bit;
        nbits++;
        if (bit) {
            if (++ones == 5) {
                acc <<= 1;                    /* inserted zero */
                nbits++;
                ones = 0;
            }
        } else {
            ones = 0;
        }
    }
    tx->acc = acc;
    tx->nbits = nbits;
    tx->ones = ones;
}

/* Append the next unit (a flag, or one octet of the current frame) to the bit accumulator. */
static void tx_refill(hdlc_tx *tx)
{
    if (!tx->in_frame) {
        if (tx->q.count == 0 || !tx->flag_sent) {
            put_flag(tx);
            return;
        }
        tx->in_frame = 1;
        tx->pos = 0;
        tx->stage = 0;
        tx->fcs = 0xFFFF;
        tx->flag_sent = 0;
    }
    const uint8_t *frame = queue_slot(&tx->q, 0);
    int len = tx->q.lens[tx->q.head];
    switch (tx->stage) {
    case 0: {
        uint8_t octet = frame[tx->pos++];
        tx->fcs = fcs_update(tx->fcs, octet);
        if (tx->pos == len) {
            tx->fcs ^= 0xFFFF;
            tx->stage = 1;
        }
        put_stuffed(tx, octet);
        break;
    }
    case 1:
        put_stuffed(tx, (uint8_t)(tx->fcs & 0xFF));
        tx->stage = 2;
        break;
    case 2:
        put_stuffed(tx, (uint8_t)(tx->fcs >> 8));
        tx->stage = 3;
        break;
    default:
        put_flag(tx);                          /* closing flag; also opens a queued next frame */
        tx->in_frame = 0;
        queue_pop(&tx->q);
        tx->frames_sent++;
        break;
    }
}

uint8_t hdlc_tx_octet(hdlc_tx *tx)
{
    while (tx->nbits < 8)
        tx_refill(tx);
    tx->nbits -= 8;
    return (uint8_t)(tx->acc >> tx->nbits);
}

/* ---- receive ---- */

int hdlc_rx_init(hdlc_rx *rx, int max_frame, int nslots)
{
    memset(rx, 0, sizeof *rx);
    rx->max_frame = max_frame;
    rx->buf = malloc((size_t)max_frame + 2);
    if (!rx->buf)
        return -1;
    return queue_init(&rx->q, max_frame, nslots);
}

void hdlc_rx_release(hdlc_rx *rx)
{
    queue_release(&rx->q);
    free(rx->buf);
    rx->buf = NULL;
}

void hdlc_rx_reset(hdlc_rx *rx)
{
    rx->in_frame = 0;
    rx->nbytes = rx->bitpos = rx->ones = 0;
    rx->cur = 0;
}

static void rx_frame_end(hdlc_rx *rx)
{
    /* The closing flag's leading 0 was taken as a data bit: a well-formed frame therefore ends
     * with exactly one bit in the partial octet. */
    int nbytes = rx->nbytes;
    if (nbytes == 0)
        return;                                  /* flags back to back: idle */
    if (rx->bitpos != 1) {
        rx->misaligned++;
        return;
    }
    if (nbytes < 3) {                          /* at least one octet besides the FCS */
        rx->short_frames++;
        return;
    }
    if (fcs_run(0xFFFF, rx->buf, nbytes) != FCS_GOOD_RESIDUE) {
        rx->bad_fcs++;
        return;
    }
    if (queue_push(&rx->q, rx->buf, nbytes - 2) != 0) {
        rx->overflow++;
        return;
    }
    rx->frames++;
}

static inline void rx_data_bit(hdlc_rx *rx, unsigned bit)
{
    rx->cur |= (uint8_t)(bit << rx->bitpos);
    if (++rx->bitpos == 8) {
        if (rx->nbytes >= rx->max_frame + 2) {
            rx->too_long++;
            rx->in_frame = 0;                    /* hunt for the next flag */
        } else {
            rx->buf[rx->nbytes++] = rx->cur;
        }
        rx->cur = 0;
        rx->bitpos = 0;
    }
}

static inline void rx_bit(hdlc_rx *rx, unsigned bit)
{
    if (bit) {
        if (rx->ones < 7 && ++rx->ones == 7 && rx->in_frame) {   /* saturates: idle ones last for ever */
            if (rx->nbytes > 0)
                rx->aborts++;
            rx->in_frame = 0;
        }
        return;
    }
    int ones = rx->ones;
    rx->ones = 0;
    if (ones == 6) {
        if (rx->in_frame)
            rx_frame_end(rx);
        rx->in_frame = 1;
        rx->nbytes = rx->bitpos = 0;
        rx->cur = 0;
        return;
    }
    if (!rx->in_frame || ones > 6)
        return;
    for (int i = 0; i < ones && rx->in_frame; i++)
        rx_data_bit(rx, 1);
    if (ones < 5 && rx->in_frame)                /* after five ones the zero was inserted */
        rx_data_bit(rx, 0);
}

void hdlc_rx_octet(hdlc_rx *rx, uint8_t octet)
{
    for (int i = 7; i >= 0; i--)
        rx_bit(rx, (octet >> i) & 1u);
}

int hdlc_rx_dequeue(hdlc_rx *rx, uint8_t *out, int cap)
{
    if (rx->q.count == 0)
        return -1;
    int len = rx->q.lens[rx->q.head];
    if (len > cap)
        return -2;
    memcpy(out, queue_slot(&rx->q, 0), (size_t)len);
    queue_pop(&rx->q);
    return len;
}
