#include "line_port.h"
#include "rt_lock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define FRAME E1_FRAME_OCTETS
#define FRAMES_PER_SECOND 8000.0
#define LOOP_GAIN 2.0        /* per second: how hard line timing steers toward a half-full store */
#define PULL_RANGE 0.01      /* line timing follows a far end within 1 % of nominal */
#define BUFFER_FRAMES 8192   /* one advance never moves more (0.25 s of catch-up is 2,000) */

struct line_port {
    pthread_mutex_t lock;
    line_port_config cfg;
    e1_wire *wire;
    e1_span *core;
    elastic_store *store;
    line_impairment *im;
    int per;                    /* frames per datagram */
    int started;
    int signal, line_locked;
    uint64_t slips_before;      /* of stores replaced after a loss of signal */
    double frame_clock, last_now, last_arrival;
    int64_t frames_read, frames_sent;
    uint64_t advances;
    uint8_t *arrived, *rx, *tx;

    line_port_change changes[LINE_PORT_CHANGE_QUEUE];
    int changes_head, changes_count;
    uint64_t lost_changes;
    e1_status last_status;
    int have_last_status;

    line_port_second seconds[LINE_PORT_SECOND_QUEUE];
    int seconds_head, seconds_count;
    uint64_t lost_seconds;
    double next_second;
    uint64_t last_perf[5];
    int def_oof, def_los, def_ais;

    media_port *media;          /* the media plane, once enabled */
    uint8_t line_in[E1_B_CHANNELS * LINE_PORT_BLOCK], line_out[E1_B_CHANNELS * LINE_PORT_BLOCK];
};

static void prime_media(line_port *p);

static uint64_t store_slips(elastic_store *e)
{
    elastic_stats st;
    elastic_get_stats(e, &st);
    return st.overflow_slips + st.underflow_slips;
}

line_port *line_port_new(const line_port_config *cfg, e1_wire *wire)
{
    if (!cfg || !wire || cfg->elastic_depth < 2 || cfg->elastic_depth > ELASTIC_MAX_DEPTH)
        return NULL;
    line_port *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    rt_lock_init(&p->lock);
    p->cfg = *cfg;
    p->wire = wire;
    p->per = e1_wire_frames_per_datagram(wire);
    p->arrived = malloc((size_t)BUFFER_FRAMES * FRAME);
    p->rx = malloc((size_t)BUFFER_FRAMES * FRAME);
    p->tx = malloc((size_t)BUFFER_FRAMES * FRAME);
    p->im = impair_new(cfg->seed);
    p->core = e1_span_new(cfg->crc4, cfg->dchannel_timeslot, cfg->max_hdlc_frame);
    p->store = elastic_new(cfg->elastic_depth);
    if (!p->arrived || !p->rx || !p->tx || !p->im || !p->core || !p->store) {
        line_port_free(p);
        return NULL;
    }
    e1_span_set_bearer_idle(p->core, cfg->idle_octet);
    return p;
}

void line_port_free(line_port *p)
{
    if (!p)
        return;
    pthread_mutex_destroy(&p->lock);
    free(p->arrived);
    free(p->rx);
    free(p->tx);
    impair_free(p->im);
    media_port_free(p->media);
    e1_span_free(p->core);
    elastic_free(p->store);
    free(p);
}

static void perf_counters(line_port *p, uint64_t out[5])
{
    e1_counters c;
    e1_span_get_counters(p->core, &c);
    out[0] = c.crc4_errors;
    out[1] = c.fas_errors;
    out[2] = c.ebits_received;
    out[3] = p->slips_before + store_slips(p->store);
    out[4] = c.frame_alignment_losses;
}

void line_port_start(line_port *p, double now)
{
    pthread_mutex_lock(&p->lock);
    e1_span *core = e1_span_new(p->cfg.crc4, p->cfg.dchannel_timeslot, p->cfg.max_hdlc_frame);
    elastic_store *store = elastic_new(p->cfg.elastic_depth);
    if (core && store) {
        e1_span_free(p->core);
        elastic_free(p->store);
        p->core = core;
        p->store = store;
        e1_span_set_bearer_idle(p->core, p->cfg.idle_octet);
        if (p->media)
            prime_media(p);
    } else {
        e1_span_free(core);
        elastic_free(store);
    }
    p->frame_clock = 0.0;
    p->frames_read = p->frames_sent = 0;
    p->last_now = now;
    p->signal = p->line_locked = 0;
    p->slips_before = 0;
    p->last_arrival = -1e300;
    p->changes_count = p->seconds_count = 0;
    p->have_last_status = 0;
    p->next_second = now + 1.0;
    perf_counters(p, p->last_perf);
    p->def_oof = p->def_los = p->def_ais = 0;
    p->started = 1;
    pthread_mutex_unlock(&p->lock);
}

static int step_frames(line_port *p)
{
    return p->per > 8 ? p->per : 8;
}

static int store_fill(line_port *p)
{
    elastic_stats st;
    elastic_get_stats(p->store, &st);
    return st.fill;
}

static int store_primed(line_port *p)
{
    elastic_stats st;
    elastic_get_stats(p->store, &st);
    return st.primed;
}

static void restart_store(line_port *p)
{
    elastic_store *fresh = elastic_new(p->cfg.elastic_depth);
    if (!fresh)
        return;                      /* keep the old one: slips, but the line goes on */
    p->slips_before += store_slips(p->store);
    elastic_free(p->store);
    p->store = fresh;
}

static void advance_frame_clock(line_port *p, double elapsed, int arrived)
{
    double rate = FRAMES_PER_SECOND * (1.0 + p->cfg.ppm * 1e-6);
    p->line_locked = p->cfg.clock_line && p->signal && store_primed(p);
    if (p->line_locked) {
        int step = step_frames(p);
        /* Steer on the fill in the middle of a step, between a write and a read. */
        double error = store_fill(p) + (arrived < step ? arrived : step) / 2.0 - p->cfg.elastic_depth / 2.0;
        double steer = LOOP_GAIN * error / FRAMES_PER_SECOND;
        if (steer > PULL_RANGE)
            steer = PULL_RANGE;
        if (steer < -PULL_RANGE)
            steer = -PULL_RANGE;
        rate = FRAMES_PER_SECOND * (1.0 + steer);
    }
    p->frame_clock += elapsed * rate;
}

static void receive_due(line_port *p, int arrived, int64_t due)
{
    int n = due > BUFFER_FRAMES ? BUFFER_FRAMES : (int)(due < 0 ? 0 : due);
    if (!p->signal) {
        if (n) {
            memset(p->rx, 0, (size_t)n * FRAME);   /* no pulses on the line: loss of signal */
            e1_span_receive(p->core, p->rx, n);
            p->frames_read += n;
        }
        return;
    }
    if (!arrived && store_primed(p) && n > store_fill(p))
        /* Starved with nothing arriving: the far end may be late or gone.  Read what is stored
         * and owe the rest: a late far end's backlog pays it back without a slip. */
        n = store_fill(p);
    int step = step_frames(p), written = 0, read = 0;
    /* A late tick's backlog goes through the store in steps, alternating, as the frames would
     * have on time, instead of overflowing it. */
    while (written < arrived || read < n) {
        if (written < arrived) {
            int k = arrived - written < step ? arrived - written : step;
            elastic_write(p->store, p->arrived + (size_t)written * FRAME, k);
            written += k;
        }
        if (read < n) {
            int k = n - read < step ? n - read : step;
            uint8_t *dst = p->rx + (size_t)read * FRAME;
            if (store_primed(p))
                elastic_read(p->store, dst, k);
            else
                memset(dst, 0, (size_t)k * FRAME);  /* nothing to play yet: still no signal */
            read += k;
        }
    }
    if (n) {
        e1_span_receive(p->core, p->rx, n);
        p->frames_read += n;
    }
}

static void prime_media(line_port *p)
{
    /* One block of silence ahead, so the block the next receive completes is written before
     * the transmitter needs it. */
    memset(p->line_out, p->cfg.idle_octet, sizeof p->line_out);
    e1_span_write_bearer(p->core, p->line_out, LINE_PORT_BLOCK);
}

static void run_media(line_port *p)
{
    while (e1_span_bearer_rx_available(p->core) >= LINE_PORT_BLOCK) {
        e1_span_read_bearer(p->core, p->line_in, LINE_PORT_BLOCK);
        /* Lock order: this port's lock is held; the media port's is taken inside. */
        media_port_block(p->media, p->line_in, p->line_out);
        e1_span_write_bearer(p->core, p->line_out, LINE_PORT_BLOCK);
    }
}

static void transmit_due(line_port *p, int64_t due)
{
    int64_t n = due - due % p->per;
    if (n <= 0)
        return;
    if (n > BUFFER_FRAMES)
        n = BUFFER_FRAMES - BUFFER_FRAMES % p->per;
    e1_span_transmit(p->core, p->tx, (int)n);
    e1_wire_send(p->wire, p->tx, (int)n);
    p->frames_sent += n;
}

static void push_change(line_port *p, double now, const e1_status *st)
{
    if (p->changes_count == LINE_PORT_CHANGE_QUEUE) {
        p->changes_head = (p->changes_head + 1) % LINE_PORT_CHANGE_QUEUE;
        p->changes_count--;
        p->lost_changes++;
    }
    line_port_change *c = &p->changes[(p->changes_head + p->changes_count) % LINE_PORT_CHANGE_QUEUE];
    c->time = now;
    c->status = *st;
    p->changes_count++;
}

static void record_second(line_port *p, double end, const e1_status *st)
{
    uint64_t now[5];
    perf_counters(p, now);
    line_port_second s;
    s.end = end;
    s.crc4_errors = now[0] - p->last_perf[0];
    s.fas_errors = now[1] - p->last_perf[1];
    s.ebit_errors = now[2] - p->last_perf[2];
    s.slips = now[3] - p->last_perf[3];
    if (now[4] > p->last_perf[4])             /* an OOF shorter than a tick still counts */
        p->def_oof = 1;
    s.oof = p->def_oof;
    s.los = p->def_los;
    s.ais = p->def_ais;
    memcpy(p->last_perf, now, sizeof now);
    if (p->seconds_count == LINE_PORT_SECOND_QUEUE) {
        p->seconds_head = (p->seconds_head + 1) % LINE_PORT_SECOND_QUEUE;
        p->seconds_count--;
        p->lost_seconds++;
    }
    p->seconds[(p->seconds_head + p->seconds_count) % LINE_PORT_SECOND_QUEUE] = s;
    p->seconds_count++;
    /* A defect still present carries into the next second; one that ended does not. */
    p->def_oof = !st->frame_aligned;
    p->def_los = st->los;
    p->def_ais = st->ais;
}

static void observe(line_port *p, double now)
{
    e1_status st;
    e1_span_get_status(p->core, &st);
    if (!p->have_last_status || memcmp(&st, &p->last_status, sizeof st) != 0) {
        push_change(p, now, &st);
        p->last_status = st;
        p->have_last_status = 1;
    }
    p->def_oof |= !st.frame_aligned;
    p->def_los |= st.los;
    p->def_ais |= st.ais;
    while (now >= p->next_second) {
        record_second(p, p->next_second, &st);
        p->next_second += 1.0;
    }
}

void line_port_advance(line_port *p, double now)
{
    pthread_mutex_lock(&p->lock);
    if (!p->started) {
        pthread_mutex_unlock(&p->lock);
        return;
    }
    double elapsed = now - p->last_now;
    if (elapsed < 0)
        elapsed = 0;
    if (elapsed > p->cfg.max_catch_up)
        elapsed = p->cfg.max_catch_up;
    p->last_now = now;
    int arrived = e1_wire_receive(p->wire, p->arrived, BUFFER_FRAMES);
    if (arrived) {
        if (!p->signal)
            restart_store(p);
        p->signal = 1;
        p->last_arrival = now;
        impair_apply(p->im, p->arrived, (uint64_t)arrived * FRAME);
    } else if (p->signal && (!e1_wire_connected(p->wire) || now - p->last_arrival > p->cfg.holdover)) {
        p->signal = 0;
    }
    advance_frame_clock(p, elapsed, arrived);
    /* The epsilon keeps float rounding from turning 8.0 frames due into 7 plus 9 next tick. */
    int64_t due = (int64_t)(p->frame_clock + 1e-6);
    receive_due(p, arrived, due - p->frames_read);
    if (p->media)
        run_media(p);
    transmit_due(p, due - p->frames_sent);
    observe(p, now);
    p->advances++;
    pthread_mutex_unlock(&p->lock);
}

/* ---- the control plane's side: everything under the lock ---- */

void line_port_get_status(line_port *p, e1_status *out)
{
    pthread_mutex_lock(&p->lock);
    e1_span_get_status(p->core, out);
    pthread_mutex_unlock(&p->lock);
}

void line_port_get_counters(line_port *p, e1_counters *out)
{
    pthread_mutex_lock(&p->lock);
    e1_span_get_counters(p->core, out);
    pthread_mutex_unlock(&p->lock);
}

void line_port_get_state(line_port *p, line_port_state *out)
{
    pthread_mutex_lock(&p->lock);
    elastic_stats st;
    elastic_get_stats(p->store, &st);
    out->advances = p->advances;
    out->overflow_slips = st.overflow_slips;
    out->underflow_slips = st.underflow_slips;
    out->slips = p->slips_before + st.overflow_slips + st.underflow_slips;
    out->elastic_fill = st.fill;
    out->store_primed = st.primed;
    out->signal = p->signal;
    out->line_locked = p->line_locked;
    out->lost_changes = p->lost_changes;
    out->lost_seconds = p->lost_seconds;
    out->frames_read = (uint64_t)p->frames_read;
    out->frames_sent = (uint64_t)p->frames_sent;
    pthread_mutex_unlock(&p->lock);
}

int line_port_next_change(line_port *p, line_port_change *out)
{
    pthread_mutex_lock(&p->lock);
    int got = p->changes_count > 0;
    if (got) {
        *out = p->changes[p->changes_head];
        p->changes_head = (p->changes_head + 1) % LINE_PORT_CHANGE_QUEUE;
        p->changes_count--;
    }
    pthread_mutex_unlock(&p->lock);
    return got;
}

int line_port_next_second(line_port *p, line_port_second *out)
{
    pthread_mutex_lock(&p->lock);
    int got = p->seconds_count > 0;
    if (got) {
        *out = p->seconds[p->seconds_head];
        p->seconds_head = (p->seconds_head + 1) % LINE_PORT_SECOND_QUEUE;
        p->seconds_count--;
    }
    pthread_mutex_unlock(&p->lock);
    return got;
}

#define LOCKED(p, stmt)                 \
    do {                                \
        pthread_mutex_lock(&(p)->lock); \
        stmt;                           \
        pthread_mutex_unlock(&(p)->lock); \
    } while (0)

int line_port_send_hdlc(line_port *p, const uint8_t *data, int len)
{
    int rc;
    LOCKED(p, rc = e1_span_send_hdlc(p->core, data, len));
    return rc;
}

int line_port_recv_hdlc(line_port *p, uint8_t *out, int cap)
{
    int rc;
    LOCKED(p, rc = e1_span_recv_hdlc(p->core, out, cap));
    return rc;
}

int line_port_write_bearer(line_port *p, const uint8_t *block, int n)
{
    int rc;
    LOCKED(p, rc = e1_span_write_bearer(p->core, block, n));
    return rc;
}

int line_port_read_bearer(line_port *p, uint8_t *block, int n)
{
    int rc;
    LOCKED(p, rc = e1_span_read_bearer(p->core, block, n));
    return rc;
}

int line_port_bearer_rx_available(line_port *p)
{
    int rc;
    LOCKED(p, rc = e1_span_bearer_rx_available(p->core));
    return rc;
}

void line_port_set_loopback(line_port *p, int mode)
{
    LOCKED(p, {
        e1_span_set_loopback(p->core, mode);
        /* The loop starts empty, but transmit lags receive by up to a datagram; skip those
         * frame slots once so the loop never runs dry (the far end's store absorbs it). */
        if (mode == E1_LOOP_LINE && p->frames_sent < p->frames_read)
            p->frames_sent = p->frames_read;
    });
}

void line_port_set_ppm(line_port *p, double ppm) { LOCKED(p, p->cfg.ppm = ppm); }

void line_port_prbs_start(line_port *p, uint32_t mask) { LOCKED(p, e1_span_prbs_start(p->core, mask)); }
void line_port_prbs_stop(line_port *p) { LOCKED(p, e1_span_prbs_stop(p->core)); }
void line_port_prbs_result(line_port *p, e1_prbs_result *out) { LOCKED(p, e1_span_prbs_result(p->core, out)); }
void line_port_impair_ber(line_port *p, double ber) { LOCKED(p, impair_set_ber(p->im, ber)); }
void line_port_impair_burst(line_port *p, uint32_t nbits) { LOCKED(p, impair_burst(p->im, nbits)); }
void line_port_impair_ais(line_port *p, int on) { LOCKED(p, impair_set_ais(p->im, on)); }
void line_port_impair_cut(line_port *p, int on) { LOCKED(p, impair_set_cut(p->im, on)); }

uint64_t line_port_impair_errors(line_port *p)
{
    uint64_t n;
    LOCKED(p, n = impair_errors_injected(p->im));
    return n;
}

/* ---- the media plane ---- */

media_port *line_port_media_enable(line_port *p)
{
    pthread_mutex_lock(&p->lock);
    if (!p->media) {
        p->media = media_port_new();
        if (p->media) {
            /* Whatever the control plane left in the rings belongs to no one now. */
            uint8_t drain[E1_B_CHANNELS * 64];
            while (e1_span_bearer_rx_available(p->core) > 0)
                e1_span_read_bearer(p->core, drain, 64);
            prime_media(p);
        }
    }
    media_port *mp = p->media;
    pthread_mutex_unlock(&p->lock);
    return mp;
}
