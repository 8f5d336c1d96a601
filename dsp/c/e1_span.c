#include "e1_span.h"

#include <stdlib.h>
#include <string.h>

#include "e1_crc4.h"
#include "hdlc.h"
#include "prbs.h"

#define FRAME E1_FRAME_OCTETS
#define RING E1_BEARER_RING_FRAMES
#define FAS_PATTERN 0x1B          /* bits 2..8 of TS0 in FAS frames: 0011011 */
#define NFAS_BIT2 0x40
#define MFAS_PATTERN 0x0B         /* 001011 in bit 1 of NFAS frames 1,3,5,7,9,11 */
#define MF_SEARCH_FRAMES 64       /* two MFAS within 8 ms ... */
#define MF_FALLBACK_FRAMES 3200   /* ... or non-CRC-4 operation after 400 ms (G.706 Annex B) */
#define FALSE_ALIGN_BLOCKS 1000
#define FALSE_ALIGN_ERRORS 915
#define EBIT_BACKLOG_MAX 1000
#define RAI_FILTER 3              /* consecutive NFAS frames with the same A-bit */
#define LOS_CLEAR_ONES 32         /* >= 12.5 % ones in one frame clears LOS */

/* Run counters saturate so that weeks of a steady line never overflow them. */
static inline void count_run(int *run)
{
    if (*run < 1000000)
        (*run)++;
}

typedef struct {
    uint8_t frames[RING][FRAME];
    int rd, count;
} frame_ring;

struct e1_span {
    int crc4;
    int dts;
    uint8_t bearer_ts[E1_B_CHANNELS];
    uint8_t idle;
    int loopback;
    int remote_alarm_mode;
    uint8_t sa;
    int send_ais;

    /* transmit */
    uint32_t tx_frame;
    unsigned tx_prev_crc;
    e1_crc4_acc tx_crc;
    int ebits_pending[2];      /* errored SMF I / SMF II still to report in E1 / E2 */
    int bearer_tx_started;

    /* receive: frame and multiframe alignment */
    uint64_t rx_frames;
    int aligned, fas_next, search_step, bad_fas_run;
    int crc4_state, rx_mf;
    unsigned mfas_hist;
    uint64_t last_mfas, aligned_at;
    int have_last_mfas;
    e1_crc4_acc rx_crc;
    unsigned rx_prev_crc, rx_cbits;
    int rx_have_prev, rx_smf_complete;
    int window_blocks, window_errors;

    /* receive: alarms */
    uint32_t zero_run;
    int los, ais, rai;
    int ais_period_zeros, ais_period_frame, ais_low_run, ais_high_run;
    int rai_on_run, rai_off_run;

    hdlc_tx htx;
    hdlc_rx hrx;

    int prbs_active;
    uint32_t prbs_mask;
    prbs_gen pgen;
    prbs_chk pchk;

    frame_ring tx_ring, rx_ring, loop_ring;
    e1_counters c;
};

/* ---- set-up ---- */

e1_span *e1_span_new(int crc4, int dchannel_timeslot, int max_hdlc_frame)
{
    if (dchannel_timeslot < 1 || dchannel_timeslot > 31)
        return NULL;
    if (max_hdlc_frame < 1 || max_hdlc_frame > HDLC_MAX_FRAME_LIMIT)
        return NULL;
    e1_span *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (hdlc_tx_init(&s->htx, max_hdlc_frame, HDLC_TX_QUEUE_FRAMES) != 0 ||
        hdlc_rx_init(&s->hrx, max_hdlc_frame, HDLC_RX_QUEUE_FRAMES) != 0) {
        e1_span_free(s);
        return NULL;
    }
    s->crc4 = crc4 != 0;
    s->dts = dchannel_timeslot;
    for (int ts = 1, ch = 0; ts < 32; ts++)
        if (ts != s->dts)
            s->bearer_ts[ch++] = (uint8_t)ts;
    s->idle = 0xD5;                            /* A-law idle (silence) */
    s->remote_alarm_mode = -1;
    s->sa = 0x1F;
    s->crc4_state = s->crc4 ? E1_CRC4_SEARCHING : E1_CRC4_OFF;
    prbs_gen_init(&s->pgen);
    prbs_chk_init(&s->pchk);
    return s;
}

void e1_span_free(e1_span *s)
{
    if (!s)
        return;
    hdlc_tx_release(&s->htx);
    hdlc_rx_release(&s->hrx);
    free(s);
}

int e1_span_dchannel_timeslot(e1_span *s) { return s->dts; }

void e1_span_bearer_timeslots(e1_span *s, uint8_t *out30)
{
    memcpy(out30, s->bearer_ts, E1_B_CHANNELS);
}

void e1_span_set_remote_alarm(e1_span *s, int mode) { s->remote_alarm_mode = mode < 0 ? -1 : mode != 0; }
void e1_span_set_sa_bits(e1_span *s, int sa) { s->sa = (uint8_t)(sa & 0x1F); }
void e1_span_set_send_ais(e1_span *s, int on) { s->send_ais = on != 0; }
void e1_span_set_loopback(e1_span *s, int mode) { s->loopback = mode; s->loop_ring.count = 0; }
void e1_span_set_bearer_idle(e1_span *s, uint8_t octet) { s->idle = octet; }

static void restart_multiframe_search(e1_span *s)
{
    s->crc4_state = s->crc4 ? E1_CRC4_SEARCHING : E1_CRC4_OFF;
    s->mfas_hist = 0;
    s->have_last_mfas = 0;
    s->aligned_at = s->rx_frames;
    s->ebits_pending[0] = s->ebits_pending[1] = 0;
}

void e1_span_set_crc4(e1_span *s, int on)
{
    s->crc4 = on != 0;
    restart_multiframe_search(s);
}

/* ---- alarms from the raw bits (no framing needed) ---- */

static inline int popcount64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
    return (int)((x * 0x0101010101010101ull) >> 56);
}

static void monitor_los_ais(e1_span *s, const uint8_t *f)
{
    uint64_t w[4];
    int ones = 0;
    for (int k = 0; k < 4; k++)
        w[k] = e1_load_be64(f + 8 * k);
    if ((w[0] & w[1] & w[2] & w[3]) == ~0ull) {
        ones = 256;
    } else if ((w[0] | w[1] | w[2] | w[3]) != 0) {
        for (int k = 0; k < 4; k++)
            ones += popcount64(w[k]);
    }

    /* LOS (G.775): a run of E1_LOS_ZERO_RUN zeros; cleared by a frame with >= 12.5 % ones. */
    int run_seen;
    if (ones == 0) {
        s->zero_run = s->zero_run + 256 > (1u << 30) ? (1u << 30) : s->zero_run + 256;
        run_seen = s->zero_run >= E1_LOS_ZERO_RUN;
    } else {
        int k = 0;
        while (w[k] == 0)
            k++;
        uint32_t lead = (uint32_t)(64 * k + __builtin_clzll(w[k]));
        k = 3;
        while (w[k] == 0)
            k--;
        uint32_t trail = (uint32_t)(64 * (3 - k) + __builtin_ctzll(w[k]));
        run_seen = s->zero_run + lead >= E1_LOS_ZERO_RUN || trail >= E1_LOS_ZERO_RUN;
        s->zero_run = trail;
    }
    if (run_seen && !s->los) {
        s->los = 1;
        s->c.los_events++;
    } else if (s->los && !run_seen && ones >= LOS_CLEAR_ONES) {
        s->los = 0;
    }

    /* AIS (G.775): <= 2 zeros in each of two consecutive 512-bit periods; cleared at >= 3. */
    s->ais_period_zeros += 256 - ones;
    if (++s->ais_period_frame == 2) {
        if (s->ais_period_zeros <= 2) {
            count_run(&s->ais_low_run);
            s->ais_high_run = 0;
        } else {
            count_run(&s->ais_high_run);
            s->ais_low_run = 0;
        }
        if (!s->ais && s->ais_low_run >= 2) {
            s->ais = 1;
            s->c.ais_events++;
        } else if (s->ais && s->ais_high_run >= 2) {
            s->ais = 0;
        }
        s->ais_period_frame = 0;
        s->ais_period_zeros = 0;
    }
}

/* ---- receive ---- */

static void lose_frame_alignment(e1_span *s)
{
    s->aligned = 0;
    s->search_step = 0;
    s->bad_fas_run = 0;
    s->rai = 0;
    s->rai_on_run = s->rai_off_run = 0;
    s->c.frame_alignment_losses++;
    hdlc_rx_reset(&s->hrx);
    restart_multiframe_search(s);
}

static void frame_search(e1_span *s, uint8_t ts0)
{
    int is_fas = (ts0 & 0x7F) == FAS_PATTERN;
    switch (s->search_step) {
    case 0:                                   /* step a: a FAS in frame n */
        s->search_step = is_fas;
        break;
    case 1:                                   /* step b: NFAS bit 2 = 1 in frame n+1 */
        s->search_step = (ts0 & NFAS_BIT2) ? 2 : is_fas;
        break;
    default:                                  /* step c: a FAS again in frame n+2 */
        if (is_fas) {
            s->aligned = 1;
            s->fas_next = 0;
            s->bad_fas_run = 0;
            hdlc_rx_reset(&s->hrx);
            restart_multiframe_search(s);
        }
        s->search_step = 0;
        break;
    }
}

static void crc4_block_checked(e1_span *s, int smf, int errored)
{
    if (errored) {
        s->c.crc4_errors++;
        s->window_errors++;
        if (s->ebits_pending[smf] < EBIT_BACKLOG_MAX)
            s->ebits_pending[smf]++;
    }
    if (s->window_errors >= FALSE_ALIGN_ERRORS) {
        s->c.crc4_false_alignments++;
        lose_frame_alignment(s);
        return;
    }
    if (++s->window_blocks == FALSE_ALIGN_BLOCKS)
        s->window_blocks = s->window_errors = 0;
}

static void multiframe_aligned_frame(e1_span *s, const uint8_t *f)
{
    int pos = s->rx_mf;
    unsigned bit1 = f[0] >> 7;
    e1_crc4_add_frame(&s->rx_crc, f, pos & 7);
    if ((pos & 1) == 0)
        s->rx_cbits |= bit1 << (3 - ((pos & 7) >> 1));
    else if ((pos == 13 || pos == 15) && bit1 == 0)
        s->c.ebits_received++;
    s->rx_mf = (pos + 1) & 15;
    if ((pos & 7) == 7) {
        unsigned crc = e1_crc4_finish(&s->rx_crc);
        unsigned received = s->rx_cbits;
        int compare = s->rx_have_prev;
        unsigned expected = s->rx_prev_crc;
        s->rx_prev_crc = crc;
        s->rx_have_prev = s->rx_smf_complete;
        s->rx_smf_complete = 1;
        s->rx_cbits = 0;
        if (compare)
            crc4_block_checked(s, pos == 7, received != expected);   /* the block checked is the previous SMF */
    }
}

static void multiframe_search_frame(e1_span *s, const uint8_t *f)
{
    if (s->fas_next == 0) {                   /* this frame was a FAS frame */
        if (s->crc4_state == E1_CRC4_SEARCHING && s->rx_frames - s->aligned_at >= MF_FALLBACK_FRAMES)
            s->crc4_state = E1_CRC4_FALLBACK;
        return;
    }
    s->mfas_hist = ((s->mfas_hist << 1) | (f[0] >> 7)) & 0x3F;
    if (s->mfas_hist != MFAS_PATTERN)
        return;
    uint64_t delta = s->rx_frames - s->last_mfas;
    if (s->have_last_mfas && delta % 16 == 0 && delta <= MF_SEARCH_FRAMES) {
        s->crc4_state = E1_CRC4_ALIGNED;
        s->rx_mf = 12;                        /* this NFAS frame was frame 11 */
        memset(&s->rx_crc, 0, sizeof s->rx_crc);
        s->rx_cbits = 0;
        s->rx_have_prev = s->rx_smf_complete = 0;
        s->window_blocks = s->window_errors = 0;
        s->ebits_pending[0] = s->ebits_pending[1] = 0;
    }
    s->last_mfas = s->rx_frames;
    s->have_last_mfas = 1;
}

static void prbs_check_frame(e1_span *s, const uint8_t *f)
{
    for (int ts = 1; ts < 32; ts++)
        if (s->prbs_mask & (1u << ts))
            prbs_chk_octet(&s->pchk, f[ts]);
}

static uint8_t *ring_push(frame_ring *r, uint64_t *overflow)
{
    if (r->count == RING) {
        r->rd = (r->rd + 1) % RING;
        r->count--;
        if (overflow)
            (*overflow)++;
    }
    uint8_t *slot = r->frames[(r->rd + r->count) % RING];
    r->count++;
    return slot;
}

static void receive_frame(e1_span *s, const uint8_t *f)
{
    s->c.frames_rx++;
    s->rx_frames++;
    monitor_los_ais(s, f);
    uint8_t ts0 = f[0];

    if (!s->aligned) {
        frame_search(s, ts0);
        memset(ring_push(&s->rx_ring, &s->c.bearer_rx_overflow), 0xFF, FRAME);
        return;
    }

    if (s->fas_next) {
        if ((ts0 & 0x7F) != FAS_PATTERN) {
            s->c.fas_errors++;
            if (++s->bad_fas_run >= 3) {
                lose_frame_alignment(s);
                memset(ring_push(&s->rx_ring, &s->c.bearer_rx_overflow), 0xFF, FRAME);
                return;
            }
        } else {
            s->bad_fas_run = 0;
        }
    } else {
        if (ts0 & 0x20) {
            s->rai_off_run = 0;
            count_run(&s->rai_on_run);
            if (s->rai_on_run >= RAI_FILTER)
                s->rai = 1;
        } else {
            s->rai_on_run = 0;
            count_run(&s->rai_off_run);
            if (s->rai_off_run >= RAI_FILTER)
                s->rai = 0;
        }
    }
    s->fas_next ^= 1;

    if (s->crc4) {
        if (s->crc4_state == E1_CRC4_ALIGNED)
            multiframe_aligned_frame(s, f);
        else
            multiframe_search_frame(s, f);
        if (!s->aligned) {                    /* false alignment detected by CRC-4 */
            memset(ring_push(&s->rx_ring, &s->c.bearer_rx_overflow), 0xFF, FRAME);
            return;
        }
    }

    int prbs_owns_d = s->prbs_active && (s->prbs_mask & (1u << s->dts));
    if (!prbs_owns_d)
        hdlc_rx_octet(&s->hrx, f[s->dts]);
    if (s->prbs_active)
        prbs_check_frame(s, f);
    memcpy(ring_push(&s->rx_ring, &s->c.bearer_rx_overflow), f, FRAME);
}

void e1_span_receive(e1_span *s, const uint8_t *in, int nframes)
{
    for (int i = 0; i < nframes; i++) {
        const uint8_t *f = in + (size_t)i * FRAME;
        if (s->loopback == E1_LOOP_LINE)
            memcpy(ring_push(&s->loop_ring, NULL), f, FRAME);
        if (s->loopback != E1_LOOP_LOCAL)
            receive_frame(s, f);
    }
}

/* ---- transmit ---- */

static int remote_alarm_now(e1_span *s)
{
    if (s->remote_alarm_mode >= 0)
        return s->remote_alarm_mode;
    return s->los || s->ais || !s->aligned;
}

static uint8_t ts0_octet(e1_span *s, int pos)
{
    static const uint8_t mfas_bits[6] = {0, 0, 1, 0, 1, 1};
    unsigned si = 1;                           /* international bit: 1 when CRC-4 is off */
    if ((pos & 1) == 0) {
        if (s->crc4)
            si = (s->tx_prev_crc >> (3 - ((pos & 7) >> 1))) & 1u;
        return (uint8_t)((si << 7) | FAS_PATTERN);
    }
    if (s->crc4) {
        if (pos <= 11) {
            si = mfas_bits[pos >> 1];
        } else if (s->crc4_state != E1_CRC4_ALIGNED) {
            si = 0;                            /* E = 0 until CRC-4 multiframe alignment */
        } else if (s->ebits_pending[pos == 15] > 0) {
            s->ebits_pending[pos == 15]--;      /* E1 (frame 13) reports SMF I, E2 (frame 15) SMF II */
            si = 0;
        }
    }
    return (uint8_t)((si << 7) | NFAS_BIT2 | ((unsigned)remote_alarm_now(s) << 5) | s->sa);
}

static void transmit_frame(e1_span *s, uint8_t *out)
{
    s->c.frames_tx++;
    if (s->loopback == E1_LOOP_LINE) {
        frame_ring *r = &s->loop_ring;
        if (r->count > 0) {
            memcpy(out, r->frames[r->rd], FRAME);
            r->rd = (r->rd + 1) % RING;
            r->count--;
        } else {
            memset(out, 0xFF, FRAME);
            s->c.line_loop_underrun++;
        }
        return;
    }

    frame_ring *r = &s->tx_ring;
    if (r->count > 0) {
        memcpy(out, r->frames[r->rd], FRAME);
        r->rd = (r->rd + 1) % RING;
        r->count--;
    } else {
        memset(out, s->idle, FRAME);
        if (s->bearer_tx_started)
            s->c.bearer_tx_underrun++;
    }

    int pos = (int)(s->tx_frame & 15);
    out[0] = ts0_octet(s, pos);
    int prbs_owns_d = s->prbs_active && (s->prbs_mask & (1u << s->dts));
    if (!prbs_owns_d)
        out[s->dts] = hdlc_tx_octet(&s->htx);
    if (s->prbs_active)
        for (int ts = 1; ts < 32; ts++)
            if (s->prbs_mask & (1u << ts))
                out[ts] = prbs_gen_octet(&s->pgen);
    if (s->crc4) {
        e1_crc4_add_frame(&s->tx_crc, out, pos & 7);
        if ((pos & 7) == 7)
            s->tx_prev_crc = e1_crc4_finish(&s->tx_crc);
    }
    s->tx_frame++;
    if (s->send_ais)
        memset(out, 0xFF, FRAME);
    if (s->loopback == E1_LOOP_LOCAL)
        receive_frame(s, out);
}

void e1_span_transmit(e1_span *s, uint8_t *out, int nframes)
{
    for (int i = 0; i < nframes; i++)
        transmit_frame(s, out + (size_t)i * FRAME);
    s->c.hdlc_tx_frames = s->htx.frames_sent;
}

/* ---- bearer channels ---- */

int e1_span_write_bearer(e1_span *s, const uint8_t *block, int n)
{
    frame_ring *r = &s->tx_ring;
    int dropped = 0;
    s->bearer_tx_started = 1;
    if (n > RING - r->count) {
        dropped = n - (RING - r->count);
        s->c.bearer_tx_overflow += (uint64_t)dropped;
        n -= dropped;
    }
    int start = (r->rd + r->count) % RING;
    for (int ch = 0; ch < E1_B_CHANNELS; ch++) {
        const uint8_t *src = block + (size_t)ch * (size_t)(n + dropped);
        int ts = s->bearer_ts[ch];
        int slot = start;
        for (int i = 0; i < n; i++) {
            r->frames[slot][ts] = src[i];
            if (++slot == RING)
                slot = 0;
        }
    }
    r->count += n;
    return dropped;
}

int e1_span_read_bearer(e1_span *s, uint8_t *block, int n)
{
    frame_ring *r = &s->rx_ring;
    int have = n < r->count ? n : r->count;
    int missing = n - have;
    for (int ch = 0; ch < E1_B_CHANNELS; ch++) {
        uint8_t *dst = block + (size_t)ch * (size_t)n;
        int ts = s->bearer_ts[ch];
        int slot = r->rd;
        for (int i = 0; i < have; i++) {
            dst[i] = r->frames[slot][ts];
            if (++slot == RING)
                slot = 0;
        }
        if (missing)
            memset(dst + have, 0xFF, (size_t)missing);
    }
    r->rd = (r->rd + have) % RING;
    r->count -= have;
    s->c.bearer_rx_underrun += (uint64_t)missing;
    return missing;
}

int e1_span_bearer_rx_available(e1_span *s) { return s->rx_ring.count; }

/* ---- D-channel ---- */

int e1_span_send_hdlc(e1_span *s, const uint8_t *data, int len)
{
    if (hdlc_tx_enqueue(&s->htx, data, len) != 0) {
        s->c.hdlc_tx_overflow++;
        return -1;
    }
    return 0;
}

int e1_span_recv_hdlc(e1_span *s, uint8_t *out, int cap)
{
    return hdlc_rx_dequeue(&s->hrx, out, cap);
}

/* ---- BERT ---- */

void e1_span_prbs_start(e1_span *s, uint32_t timeslot_mask)
{
    if (timeslot_mask & (1u << s->dts))
        hdlc_rx_reset(&s->hrx);
    s->prbs_mask = timeslot_mask & 0xFFFFFFFEu;
    s->prbs_active = s->prbs_mask != 0;
    prbs_gen_init(&s->pgen);
    prbs_chk_init(&s->pchk);
}

void e1_span_prbs_stop(e1_span *s)
{
    if (s->prbs_active && (s->prbs_mask & (1u << s->dts)))
        hdlc_rx_reset(&s->hrx);              /* what came in while the BERT had the slot is not HDLC */
    s->prbs_active = 0;
}

void e1_span_prbs_result(e1_span *s, e1_prbs_result *out)
{
    out->bits_checked = s->pchk.bits_checked;
    out->bit_errors = s->pchk.bit_errors;
    out->resyncs = s->pchk.resyncs;
    out->in_sync = s->pchk.in_sync;
    out->active = s->prbs_active;
}

/* ---- state ---- */

void e1_span_get_status(e1_span *s, e1_status *out)
{
    out->frame_aligned = s->aligned;
    out->multiframe_aligned = s->aligned && s->crc4_state == E1_CRC4_ALIGNED;
    out->crc4_state = s->crc4_state;
    out->los = s->los;
    out->ais = s->ais;
    out->lof = !s->aligned;
    out->rai = s->rai;
    out->remote_alarm_sent = remote_alarm_now(s);
}

void e1_span_get_counters(e1_span *s, e1_counters *out)
{
    s->c.hdlc_rx_frames = s->hrx.frames;
    s->c.hdlc_tx_frames = s->htx.frames_sent;
    s->c.hdlc_bad_fcs = s->hrx.bad_fcs;
    s->c.hdlc_aborts = s->hrx.aborts;
    s->c.hdlc_too_long = s->hrx.too_long;
    s->c.hdlc_short = s->hrx.short_frames;
    s->c.hdlc_misaligned = s->hrx.misaligned;
    s->c.hdlc_rx_overflow = s->hrx.overflow;
    *out = s->c;
}

/* ---- many spans per tick ---- */

void e1_process_spans(e1_span **spans, int nspans, const uint8_t *rx, uint8_t *tx, int nframes,
                      const uint8_t *bearer_in, uint8_t *bearer_out)
{
    size_t frames_stride = (size_t)nframes * FRAME;
    size_t bearer_stride = (size_t)nframes * E1_B_CHANNELS;
    for (int i = 0; i < nspans; i++) {
        e1_span *s = spans[i];
        if (bearer_in)
            e1_span_write_bearer(s, bearer_in + i * bearer_stride, nframes);
        e1_span_receive(s, rx + i * frames_stride, nframes);
        e1_span_transmit(s, tx + i * frames_stride, nframes);
        if (bearer_out)
            e1_span_read_bearer(s, bearer_out + i * bearer_stride, nframes);
    }
}
