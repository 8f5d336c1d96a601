/* See rtp_port.h. */
#define _GNU_SOURCE
#include "rtp_port.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <srtp2/srtp.h>

#include "capture_tap.h"
#include "g711.h"
#include "g729.h"
#include "media.h"
#include "plc.h"
#include "rt_lock.h"

#define LEGS RTP_PORT_LEGS
#define BLOCK MEDIA_PORT_BLOCK
#define BLOCK_SECONDS 0.010
#define MAX_CATCH_UP_BLOCKS 50
#define RECV_BATCH 16
#define DATAGRAM_MAX 1500
#define PAYLOAD_MAX (RTP_PORT_MAX_PTIME_MS * 8)
#define QUIET_MEAN_ABS 64            /* about -50 dBm0: a frame this quiet may be skipped */
#define DIGIT_END_REPEATS 3          /* RFC 4733 2.5.1.4 */
#define RTCP_DEFAULT_INTERVAL 5.0
#define TONE_MIN_SECONDS 0.040       /* a regenerated digit is at least this long */
#define TONE_HOLD_SECONDS 0.070      /* an event not refreshed for this long has ended (lost end packets) */
#define DBM0_FULL_SCALE_SINE 3.14

typedef struct {
    char digit;
    int units, volume;
} queued_digit;

typedef struct {
    int open;
    int rtp_fd, rtcp_fd;
    int send_off;                /* on hold from our side: no RTP sent */
    srtp_t srtp_send, srtp_receive;   /* NULL: plain RTP */
    rtp_leg_config cfg;
    int frames_per_packet;
    /* sending */
    uint32_t ssrc, ts, packet_ts;
    uint16_t seq;
    int sent_any;
    uint8_t payload[PAYLOAD_MAX];
    int frames_pending, payload_length;
    g729_encoder_t *encoder;
    g729_decoder_t *decoder;
    plc_state_t plc;
    queued_digit digits[RTP_PORT_DIGIT_QUEUE];
    int digits_head, digits_count;
    int digit_active, digit_event, digit_elapsed, digit_total, digit_volume, digit_end_left, digit_first;
    uint32_t digit_ts;
    /* receiving */
    int have_source;
    uint32_t remote_ssrc;
    uint16_t max_seq;
    uint32_t cycles, base_seq;
    int64_t received, expected_prior, received_prior;
    int have_transit;
    double transit, jitter;
    jitter_buffer_t jb;
    int event_known, event_ended;
    uint32_t event_ts, previous_event_ts;
    /* the tone regenerated from the current event */
    int tone_on;
    double tone_start, tone_until, tone_phase[2], tone_step[2], tone_amplitude;
    /* RTCP */
    double next_report;
    uint32_t lsr;
    double lsr_arrival;
    uint64_t sent_at_last_report;
    /* relay */
    rtp_port *partner;
    int partner_leg;
    int monitored;               /* relayed, and also decoded for the channel's taps */
    int relay_offsets_set;
    uint16_t relay_seq_delta;
    uint32_t relay_ts_delta;
    /* capture: the port whose tap sees this leg's datagrams, and each socket's two ends */
    rtp_port *owner;
    capture_tap_endpoint rtp_local, rtp_remote, rtcp_local, rtcp_remote;
    rtp_leg_stats st;
} rtp_leg;

struct rtp_port {
    pthread_mutex_t lock;
    capture_tap *_Atomic tap;    /* NULL: nothing captured; read by partners relaying through us */
    media_port *media;
    int epoll_fd;
    double start, ntp_offset;
    int64_t blocks_run;
    uint64_t blocks_skipped;
    uint64_t random;
    rtp_leg legs[LEGS];
    uint8_t line_in[LEGS * BLOCK], line_out[LEGS * BLOCK];
    struct mmsghdr msgs[RECV_BATCH];
    struct iovec iov[RECV_BATCH];
    uint8_t buffers[RECV_BATCH][DATAGRAM_MAX];
    uint8_t packet[DATAGRAM_MAX];
};

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static double uniform(rtp_port *p)
{
    p->random ^= p->random << 13;
    p->random ^= p->random >> 7;
    p->random ^= p->random << 17;
    return (double)(p->random >> 11) / 9007199254740992.0;
}

static uint64_t ntp_of(const rtp_port *p, double now)
{
    double t = now + p->ntp_offset;
    if (t < 0)
        t = 0;
    uint64_t seconds = (uint64_t)t;
    return seconds << 32 | (uint64_t)((t - (double)seconds) * 4294967296.0);
}

static uint32_t ntp_middle(uint64_t ntp) { return (uint32_t)(ntp >> 16); }

rtp_port *rtp_port_new(double now, double ntp_offset)
{
    rtp_port *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->media = media_port_new();
    p->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (!p->media || p->epoll_fd < 0) {
        media_port_free(p->media);
        if (p->epoll_fd >= 0)
            close(p->epoll_fd);
        free(p);
        return NULL;
    }
    rt_lock_init(&p->lock);
    p->start = now;
    p->ntp_offset = ntp_offset;
    p->random = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)p;
    for (int i = 0; i < RECV_BATCH; i++) {
        p->iov[i].iov_base = p->buffers[i];
        p->iov[i].iov_len = DATAGRAM_MAX;
        p->msgs[i].msg_hdr.msg_iov = &p->iov[i];
        p->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    for (int i = 0; i < LEGS; i++)
        p->legs[i].rtp_fd = p->legs[i].rtcp_fd = -1;
    return p;
}

media_port *rtp_port_media(rtp_port *p) { return p->media; }

static void unrelay_locked(rtp_leg *leg);
int rtp_port_unrelay(rtp_port *p, int leg_index);

static void drop_srtp(rtp_leg *leg)
{
    if (leg->srtp_send)
        srtp_dealloc(leg->srtp_send);
    if (leg->srtp_receive)
        srtp_dealloc(leg->srtp_receive);
    leg->srtp_send = leg->srtp_receive = NULL;
}

static void release_leg(rtp_port *p, rtp_leg *leg)
{
    if (!leg->open)
        return;
    unrelay_locked(leg);
    epoll_ctl(p->epoll_fd, EPOLL_CTL_DEL, leg->rtp_fd, NULL);
    close(leg->rtp_fd);
    if (leg->rtcp_fd >= 0) {
        epoll_ctl(p->epoll_fd, EPOLL_CTL_DEL, leg->rtcp_fd, NULL);
        close(leg->rtcp_fd);
    }
    g729_encoder_free(leg->encoder);
    g729_decoder_free(leg->decoder);
    leg->encoder = NULL;
    leg->decoder = NULL;
    drop_srtp(leg);
    leg->rtp_fd = leg->rtcp_fd = -1;
    leg->open = 0;
}

void rtp_port_free(rtp_port *p)
{
    if (!p)
        return;
    for (int i = 0; i < LEGS; i++)
        release_leg(p, &p->legs[i]);
    close(p->epoll_fd);
    media_port_free(p->media);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static int is_g711(int codec) { return codec == MEDIA_CODEC_ALAW || codec == MEDIA_CODEC_ULAW; }

static int line_law(int codec) { return codec == MEDIA_CODEC_G729 ? MEDIA_CODEC_ALAW : codec; }

/* A socket's own address and the peer it is connected to, as a capture names them. */
static void ends_of(int fd, capture_tap_endpoint *local, capture_tap_endpoint *remote)
{
    struct sockaddr_storage ss;
    socklen_t n = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &n) != 0)
        ss.ss_family = AF_UNSPEC;
    capture_tap_endpoint_of(local, &ss);
    n = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &n) != 0)
        ss.ss_family = AF_UNSPEC;
    capture_tap_endpoint_of(remote, &ss);
}

void rtp_port_set_capture_tap(rtp_port *p, capture_tap *tap)
{
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->tap, tap);
    pthread_mutex_unlock(&p->lock);
}

int rtp_port_open(rtp_port *p, int leg_index, int rtp_fd, int rtcp_fd, const rtp_leg_config *cfg)
{
    if (!p || !cfg)
        return RTP_PORT_ERR_ARGUMENT;
    if (leg_index < 0 || leg_index >= LEGS)
        return RTP_PORT_ERR_LEG;
    if (!is_g711(cfg->codec) && cfg->codec != MEDIA_CODEC_G729)
        return RTP_PORT_ERR_CODEC;
    if (cfg->payload_type < 0 || cfg->payload_type > 127 || cfg->dtmf_payload_type > 127 ||
        cfg->dtmf_payload_type == cfg->payload_type)
        return RTP_PORT_ERR_ARGUMENT;
    if (cfg->ptime_ms < 10 || cfg->ptime_ms > RTP_PORT_MAX_PTIME_MS || cfg->ptime_ms % 10)
        return RTP_PORT_ERR_PTIME;
    if (rtp_fd < 0)
        return RTP_PORT_ERR_SOCKET;
    g729_encoder_t *encoder = NULL;
    g729_decoder_t *decoder = NULL;
    if (cfg->codec == MEDIA_CODEC_G729) {
        encoder = g729_encoder_new(0);
        decoder = g729_decoder_new();
        if (!encoder || !decoder) {
            g729_encoder_free(encoder);
            g729_decoder_free(decoder);
            return RTP_PORT_ERR_NO_MEMORY;
        }
    }
    pthread_mutex_lock(&p->lock);
    rtp_leg *leg = &p->legs[leg_index];
    release_leg(p, leg);
    memset(leg, 0, sizeof *leg);
    leg->rtp_fd = rtp_fd;
    leg->rtcp_fd = rtcp_fd;
    leg->owner = p;
    ends_of(rtp_fd, &leg->rtp_local, &leg->rtp_remote);
    if (rtcp_fd >= 0)
        ends_of(rtcp_fd, &leg->rtcp_local, &leg->rtcp_remote);
    else
        leg->rtcp_local = leg->rtp_local, leg->rtcp_remote = leg->rtp_remote;
    int rc = 0;
    /* Edge-triggered: each wake-up is drained to EAGAIN (recvmmsg returning fewer than asked). */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = (uint64_t)leg_index * 2};
    if (epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, rtp_fd, &ev) != 0)
        rc = RTP_PORT_ERR_SOCKET;
    if (rc == 0 && rtcp_fd >= 0) {
        ev.data.u64 = (uint64_t)leg_index * 2 + 1;
        if (epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, rtcp_fd, &ev) != 0) {
            epoll_ctl(p->epoll_fd, EPOLL_CTL_DEL, rtp_fd, NULL);
            rc = RTP_PORT_ERR_SOCKET;
        }
    }
    if (rc != 0) {
        leg->rtp_fd = leg->rtcp_fd = -1;
        pthread_mutex_unlock(&p->lock);
        g729_encoder_free(encoder);
        g729_decoder_free(decoder);
        return rc;
    }
    leg->cfg = *cfg;
    if (leg->cfg.rtcp_interval <= 0)
        leg->cfg.rtcp_interval = RTCP_DEFAULT_INTERVAL;
    leg->frames_per_packet = cfg->ptime_ms / 10;
    leg->ssrc = cfg->ssrc;
    leg->seq = cfg->first_sequence;
    leg->ts = cfg->first_timestamp;
    leg->encoder = encoder;
    leg->decoder = decoder;
    plc_init(&leg->plc);
    jitter_init(&leg->jb, cfg->jitter_min_ms, cfg->jitter_max_ms);
    double now = p->start + (double)p->blocks_run * BLOCK_SECONDS;
    leg->next_report = now + leg->cfg.rtcp_interval * (0.5 + uniform(p));
    leg->st.rtt_ms = -1;
    leg->st.remote_fraction_lost = -1;
    leg->open = 1;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int rtp_port_close(rtp_port *p, int leg_index)
{
    if (!p)
        return RTP_PORT_ERR_ARGUMENT;
    if (leg_index < 0 || leg_index >= LEGS)
        return RTP_PORT_ERR_LEG;
    rtp_port_unrelay(p, leg_index);
    pthread_mutex_lock(&p->lock);
    release_leg(p, &p->legs[leg_index]);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int rtp_port_moved(rtp_port *p, int leg_index)
{
    if (!p)
        return RTP_PORT_ERR_ARGUMENT;
    if (leg_index < 0 || leg_index >= LEGS)
        return RTP_PORT_ERR_LEG;
    pthread_mutex_lock(&p->lock);
    rtp_leg *leg = &p->legs[leg_index];
    if (!leg->open) {
        pthread_mutex_unlock(&p->lock);
        return RTP_PORT_ERR_NOT_OPEN;
    }
    ends_of(leg->rtp_fd, &leg->rtp_local, &leg->rtp_remote);
    if (leg->rtcp_fd >= 0)
        ends_of(leg->rtcp_fd, &leg->rtcp_local, &leg->rtcp_remote);
    else
        leg->rtcp_local = leg->rtp_local, leg->rtcp_remote = leg->rtp_remote;
    leg->have_source = 0;        /* the new far end's first packet starts a source afresh */
    leg->have_transit = 0;
    leg->event_known = 0;
    leg->relay_offsets_set = 0;
    jitter_reset(&leg->jb);
    leg->sent_any = 0;           /* marker bit on our next packet: a new talkspurt for it */
    pthread_mutex_unlock(&p->lock);
    return 0;
}

static pthread_once_t srtp_ready = PTHREAD_ONCE_INIT;
static srtp_err_status_t srtp_init_status = srtp_err_status_fail;

static void init_srtp(void) { srtp_init_status = srtp_init(); }

static srtp_t srtp_session(const uint8_t *key, int outbound)
{
    srtp_policy_t policy;
    memset(&policy, 0, sizeof policy);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtp);
    srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&policy.rtcp);
    policy.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
    policy.key = (unsigned char *)key;
    policy.window_size = 1024;
    policy.allow_repeat_tx = 1;   /* RFC 4733 end packets repeat their sequence number's content */
    srtp_t session = NULL;
    if (srtp_create(&session, &policy) != srtp_err_status_ok)
        return NULL;
    return session;
}

int rtp_port_set_srtp(rtp_port *p, int leg_index, const uint8_t *send_key, const uint8_t *receive_key)
{
    if (!p || (!send_key) != (!receive_key))
        return RTP_PORT_ERR_ARGUMENT;
    if (leg_index < 0 || leg_index >= LEGS)
        return RTP_PORT_ERR_LEG;
    pthread_once(&srtp_ready, init_srtp);
    if (srtp_init_status != srtp_err_status_ok)
        return RTP_PORT_ERR_SRTP;
    srtp_t out = NULL, in = NULL;
    if (send_key) {
        out = srtp_session(send_key, 1);
        in = srtp_session(receive_key, 0);
        if (!out || !in) {
            if (out)
                srtp_dealloc(out);
            if (in)
                srtp_dealloc(in);
            return RTP_PORT_ERR_SRTP;
        }
    }
    pthread_mutex_lock(&p->lock);
    rtp_leg *leg = &p->legs[leg_index];
    if (!leg->open) {
        pthread_mutex_unlock(&p->lock);
        if (out)
            srtp_dealloc(out);
        if (in)
            srtp_dealloc(in);
        return RTP_PORT_ERR_NOT_OPEN;
    }
    drop_srtp(leg);
    leg->srtp_send = out;
    leg->srtp_receive = in;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

int rtp_port_set_sending(rtp_port *p, int leg_index, int sending)
{
    if (!p)
        return RTP_PORT_ERR_ARGUMENT;
    if (leg_index < 0 || leg_index >= LEGS)
        return RTP_PORT_ERR_LEG;
    pthread_mutex_lock(&p->lock);
    rtp_leg *leg = &p->legs[leg_index];
    int rc = leg->open ? 0 : RTP_PORT_ERR_NOT_OPEN;
    if (rc == 0) {
        if (!sending && !leg->send_off)
            leg->sent_any = 0;   /* when it resumes, the first packet carries the marker */
        leg->send_off = !sending;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* ---- receiving ---- */

static void start_source(rtp_leg *leg, const rtp_header_t *h)
{
    if (leg->have_source)
        leg->st.ssrc_changes++;
    leg->have_source = 1;
    leg->remote_ssrc = h->ssrc;
    leg->base_seq = h->sequence;
    leg->max_seq = h->sequence;
    leg->cycles = 0;
    leg->received = 0;
    leg->expected_prior = leg->received_prior = 0;
    leg->have_transit = 0;
    leg->event_known = 0;
    leg->relay_offsets_set = 0;
    jitter_reset(&leg->jb);
}

static void update_sequence(rtp_leg *leg, uint16_t seq)
{
    uint16_t delta = (uint16_t)(seq - leg->max_seq);
    if (delta < 0x8000) {
        if (seq < leg->max_seq)
            leg->cycles += 65536;
        leg->max_seq = seq;
    } else {
        leg->st.reordered++;
    }
}

static int64_t expected_of(const rtp_leg *leg)
{
    return (int64_t)leg->cycles + leg->max_seq - leg->base_seq + 1;
}

static void report_digit(rtp_port *p, int leg_index, int kind, int event)
{
    static const char names[] = "0123456789*#ABCD";
    media_port_report_digit(p->media, leg_index, kind, names[event]);
}

static void start_tone(rtp_leg *leg, int event, int volume, double now)
{
    static const double low[4] = {697, 770, 852, 941}, high[4] = {1209, 1336, 1477, 1633};
    /* keypad position of events 0-15: 0-9, *, #, A-D */
    static const int row[16] = {3, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 0, 1, 2, 3};
    static const int column[16] = {1, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 2, 3, 3, 3, 3};
    leg->tone_on = 1;
    leg->tone_start = now;
    leg->tone_until = now + TONE_HOLD_SECONDS;
    leg->tone_phase[0] = leg->tone_phase[1] = 0;
    leg->tone_step[0] = 2 * M_PI * low[row[event]] / 8000.0;
    leg->tone_step[1] = 2 * M_PI * high[column[event]] / 8000.0;
    /* RFC 4733 volume: the power of each tone in -dBm0 (36 and quieter read as -36). */
    int level = volume > 36 ? 36 : volume;
    leg->tone_amplitude = 32767.0 * pow(10.0, (-level - DBM0_FULL_SCALE_SINE) / 20.0);
}

/* The regenerated tone replaces the block's received audio while the event lasts. */
static int play_tone(rtp_leg *leg, int law, uint8_t *line_in, double t)
{
    if (!leg->tone_on)
        return 0;
    if (t - BLOCK_SECONDS >= leg->tone_until) {
        leg->tone_on = 0;
        return 0;
    }
    int16_t pcm[BLOCK];
    for (int i = 0; i < BLOCK; i++) {
        double v = leg->tone_amplitude * (sin(leg->tone_phase[0]) + sin(leg->tone_phase[1]));
        pcm[i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
        for (int k = 0; k < 2; k++) {
            leg->tone_phase[k] += leg->tone_step[k];
            if (leg->tone_phase[k] > 2 * M_PI)
                leg->tone_phase[k] -= 2 * M_PI;
        }
    }
    if (law == MEDIA_CODEC_ALAW)
        g711_linear_to_alaw(pcm, line_in, BLOCK);
    else
        g711_linear_to_ulaw(pcm, line_in, BLOCK);
    return 1;
}

static void receive_event(rtp_port *p, int leg_index, rtp_leg *leg, const rtp_header_t *h, const uint8_t *data,
                          double now)
{
    rtp_dtmf_payload_t e;
    if (rtp_dtmf_parse(data + h->payload_offset, h->payload_length, &e) != 0)
        return;   /* payload_fits() refused it before it was counted */
    if (e.event > 15)
        return;   /* not a DTMF digit (RFC 4733 registry: tones and line events) */
    if (!leg->event_known || h->timestamp != leg->event_ts) {
        if (leg->event_known && h->timestamp == leg->previous_event_ts)
            return;   /* a late retransmission of the digit before */
        leg->previous_event_ts = leg->event_ts;
        leg->event_known = 1;
        leg->event_ts = h->timestamp;
        leg->event_ended = 0;
        leg->st.dtmf_received++;
        if (leg->cfg.report_events)
            report_digit(p, leg_index, MEDIA_PORT_EVENT_DIGIT_START, e.event);
        start_tone(leg, e.event, e.volume, now);
    }
    if (leg->event_ended)
        return;
    if (e.end) {
        leg->event_ended = 1;
        if (leg->cfg.report_events)
            report_digit(p, leg_index, MEDIA_PORT_EVENT_DIGIT_END, e.event);
        double length = e.duration / 8000.0;
        leg->tone_until = leg->tone_start + (length > TONE_MIN_SECONDS ? length : TONE_MIN_SECONDS);
    } else if (leg->tone_on && now + TONE_HOLD_SECONDS > leg->tone_until) {
        leg->tone_until = now + TONE_HOLD_SECONDS;
    }
}

static int quiet_g711(int codec, const uint8_t *octets)
{
    int16_t pcm[BLOCK];
    if (codec == MEDIA_CODEC_ALAW)
        g711_alaw_to_linear(octets, pcm, BLOCK);
    else
        g711_ulaw_to_linear(octets, pcm, BLOCK);
    int sum = 0;
    for (int i = 0; i < BLOCK; i++)
        sum += pcm[i] < 0 ? -pcm[i] : pcm[i];
    return sum / BLOCK < QUIET_MEAN_ABS;
}

static void receive_audio(rtp_leg *leg, const rtp_header_t *h, const uint8_t *data, double now)
{
    const uint8_t *payload = data + h->payload_offset;
    if (is_g711(leg->cfg.codec)) {
        int frames = h->payload_length / BLOCK;
        for (int f = 0; f < frames; f++)
            jitter_put(&leg->jb, h->timestamp + (uint32_t)(f * BLOCK), payload + f * BLOCK, BLOCK,
                       quiet_g711(leg->cfg.codec, payload + f * BLOCK), now);
        return;
    }
    uint8_t frames[PAYLOAD_MAX], lengths[PAYLOAD_MAX / G729_FRAME_OCTETS];
    int n = g729_payload_to_frames(payload, h->payload_length, frames, lengths, (int)sizeof lengths);
    if (n < 0)
        return;   /* payload_fits() refused it before it was counted */
    for (int f = 0; f < n; f++)
        jitter_put(&leg->jb, h->timestamp + (uint32_t)(f * BLOCK), frames + f * G729_FRAME_OCTETS, lengths[f],
                   lengths[f] == G729_SID_OCTETS, now);
}

/* Whether the payload is whole frames of the leg's codec (G.711: any length, the last partial
 * frame is dropped; G.729: 10 n octets, plus 2 for a closing SID; an event: 4 octets or more). */
static int payload_fits(const rtp_leg *leg, const rtp_header_t *h, int is_event)
{
    if (is_event)
        return h->payload_length >= 4;
    if (leg->cfg.codec != MEDIA_CODEC_G729)
        return 1;
    int rest = h->payload_length % G729_FRAME_OCTETS;
    return (rest == 0 || rest == G729_SID_OCTETS) && h->payload_length <= PAYLOAD_MAX;
}

static int is_rtcp_packet(const uint8_t *data, int length)
{
    return length >= 2 && data[1] >= 192 && data[1] <= 223;   /* RFC 5761 4: PT 64-95 with the marker */
}

static void send_datagram(rtp_leg *leg, int fd, const uint8_t *data, int length)
{
    uint8_t protected_packet[DATAGRAM_MAX + SRTP_MAX_TRAILER_LEN];
    if (leg->srtp_send) {
        if (length > DATAGRAM_MAX) {
            leg->st.send_errors++;
            return;
        }
        memcpy(protected_packet, data, (size_t)length);
        int rtcp = fd == leg->rtcp_fd || is_rtcp_packet(data, length);
        srtp_err_status_t rc = rtcp ? srtp_protect_rtcp(leg->srtp_send, protected_packet, &length)
                                    : srtp_protect(leg->srtp_send, protected_packet, &length);
        if (rc != srtp_err_status_ok) {
            leg->st.send_errors++;
            return;
        }
        data = protected_packet;
    }
    if (send(fd, data, (size_t)length, MSG_DONTWAIT) != length) {
        leg->st.send_errors++;
        return;
    }
    capture_tap *tap = atomic_load_explicit(&leg->owner->tap, memory_order_relaxed);
    if (tap) {
        int on_rtcp = fd == leg->rtcp_fd;
        capture_tap_put(tap, on_rtcp ? &leg->rtcp_local : &leg->rtp_local, on_rtcp ? &leg->rtcp_remote : &leg->rtp_remote,
                        CAPTURE_TAP_SENT | (on_rtcp ? CAPTURE_TAP_RTCP : 0), data, length);
    }
}

static void relay(rtp_leg *from, uint8_t *data, const rtp_header_t *h, int is_event)
{
    rtp_leg *to = &from->partner->legs[from->partner_leg];
    int pt = is_event ? to->cfg.dtmf_payload_type : to->cfg.payload_type;
    if (pt < 0)
        return;   /* the partner negotiated no telephone-event */
    if (to->send_off)
        return;   /* the partner's far end is on hold */
    if (!from->relay_offsets_set) {
        from->relay_seq_delta = (uint16_t)(to->seq - h->sequence);
        from->relay_ts_delta = to->ts - h->timestamp;
        from->relay_offsets_set = 1;
    }
    uint16_t seq = (uint16_t)(h->sequence + from->relay_seq_delta);
    uint32_t ts = h->timestamp + from->relay_ts_delta;
    data[1] = (uint8_t)((data[1] & 0x80) | pt);
    put16(data + 2, seq);
    put32(data + 4, ts);
    put32(data + 8, to->ssrc);
    int total = h->payload_offset + h->payload_length;
    data[0] &= (uint8_t)~0x20;    /* padding dropped: the partner gets the payload only */
    send_datagram(to, to->rtp_fd, data, total);
    if ((uint16_t)(seq - to->seq) < 0x8000) {
        to->seq = (uint16_t)(seq + 1);
        to->ts = ts + (uint32_t)(to->frames_per_packet * BLOCK);
    }
    to->st.packets_sent++;
    to->st.octets_sent += (uint64_t)h->payload_length;
    from->st.relayed++;
}

static void receive_rtcp(rtp_port *p, rtp_leg *leg, const uint8_t *data, int length, double now)
{
    rtcp_info_t info;
    if (rtcp_parse(data, length, &info) != 0) {
        leg->st.rtcp_malformed++;
        return;
    }
    leg->st.rtcp_received++;
    if (info.is_sender_report) {
        leg->lsr = ntp_middle(info.ntp);
        leg->lsr_arrival = now;
    }
    for (int k = 0; k < info.n_reports; k++) {
        const rtcp_report_block_t *b = &info.reports[k];
        if (b->ssrc != leg->ssrc)
            continue;
        leg->st.remote_fraction_lost = b->fraction_lost / 256.0;
        leg->st.remote_lost = b->cumulative_lost;
        leg->st.remote_jitter_ms = b->jitter / 8.0;
        if (b->lsr != 0) {
            int32_t rtt = (int32_t)(ntp_middle(ntp_of(p, now)) - b->lsr - b->dlsr);
            if (rtt >= 0)
                leg->st.rtt_ms = rtt / 65.536;
        }
    }
}

static void receive_datagram(rtp_port *p, int leg_index, int on_rtcp_fd, uint8_t *data, int length, double now)
{
    rtp_leg *leg = &p->legs[leg_index];
    if (leg->srtp_receive) {
        int rtcp = on_rtcp_fd || is_rtcp_packet(data, length);
        /* shorter than a header and its tag (a NAT keepalive, a stray datagram): malformed, not
         * a failed authentication, and never taken as clear */
        if (length < (rtcp ? 8 + 4 + 10 : RTP_HEADER_OCTETS + 10)) {
            if (rtcp)
                leg->st.rtcp_malformed++;
            else {
                leg->st.malformed[-RTP_ERR_SHORT - 1]++;
                leg->st.malformed_total++;
            }
            return;
        }
        srtp_err_status_t rc = rtcp ? srtp_unprotect_rtcp(leg->srtp_receive, data, &length)
                                    : srtp_unprotect(leg->srtp_receive, data, &length);
        if (rc != srtp_err_status_ok) {
            leg->st.srtp_failures++;
            return;
        }
    }
    if (on_rtcp_fd) {
        receive_rtcp(p, leg, data, length, now);
        return;
    }
    rtp_header_t h;
    int rc = rtp_parse(data, length, &h);
    if (rc == RTP_ERR_RTCP) {
        receive_rtcp(p, leg, data, length, now);
        return;
    }
    if (rc < 0) {
        leg->st.malformed[-rc - 1]++;
        leg->st.malformed_total++;
        return;
    }
    int is_audio = h.payload_type == leg->cfg.payload_type;
    int is_event = leg->cfg.dtmf_payload_type >= 0 && h.payload_type == leg->cfg.dtmf_payload_type;
    if (!is_audio && !is_event) {
        leg->st.wrong_payload_type++;
        return;
    }
    if (!payload_fits(leg, &h, is_event)) {
        leg->st.malformed[-RTP_ERR_PAYLOAD - 1]++;
        leg->st.malformed_total++;
        return;
    }
    if (!leg->have_source || h.ssrc != leg->remote_ssrc)
        start_source(leg, &h);
    else
        update_sequence(leg, h.sequence);
    leg->received++;
    leg->st.packets_received++;
    leg->st.octets_received += (uint64_t)h.payload_length;
    if (is_audio) {
        /* RFC 3550 A.8, on audio only: an event's timestamp is its start, not its sending time. */
        double transit = now * 8000.0 - (double)h.timestamp;
        if (leg->have_transit) {
            double d = fabs(transit - leg->transit);
            if (d < 8000.0 * 60)   /* a timestamp jump is a new timeline, not jitter */
                leg->jitter += (d - leg->jitter) / 16.0;
        }
        leg->transit = transit;
        leg->have_transit = 1;
    }
    if (leg->partner) {
        if (leg->monitored) {    /* the taps' copy first: relay() rewrites the header in place */
            if (is_event)
                receive_event(p, leg_index, leg, &h, data, now);
            else
                receive_audio(leg, &h, data, now);
        }
        relay(leg, data, &h, is_event);
        return;
    }
    if (is_event)
        receive_event(p, leg_index, leg, &h, data, now);
    else
        receive_audio(leg, &h, data, now);
}

static void receive_all(rtp_port *p, double now)
{
    struct epoll_event events[64];
    for (;;) {
        int n = epoll_wait(p->epoll_fd, events, 64, 0);
        if (n <= 0)
            return;
        for (int e = 0; e < n; e++) {
            int leg_index = (int)(events[e].data.u64 / 2), on_rtcp = (int)(events[e].data.u64 % 2);
            rtp_leg *leg = &p->legs[leg_index];
            int fd = on_rtcp ? leg->rtcp_fd : leg->rtp_fd;
            capture_tap *tap = atomic_load_explicit(&p->tap, memory_order_relaxed);
            for (int tries = 0; tries < 1024; tries++) {
                int got = recvmmsg(fd, p->msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
                if (got < 0) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK)
                        break;
                    /* A connected socket reports an ICMP error (ECONNREFUSED: the peer's port
                     * is closed) once, ahead of what is queued: count it and read on, since an
                     * edge-triggered descriptor would not wake again for datagrams left behind. */
                    leg->st.receive_errors++;
                    if (errno == EBADF || errno == ENOTSOCK)
                        break;
                    continue;
                }
                if (got == 0)
                    break;
                for (int k = 0; k < got; k++) {
                    int length = (int)p->msgs[k].msg_len;
                    if (p->msgs[k].msg_hdr.msg_flags & MSG_TRUNC) {
                        leg->st.malformed[-RTP_ERR_SHORT - 1]++;
                        leg->st.malformed_total++;
                        continue;
                    }
                    if (tap)   /* before receive_datagram: a relay rewrites the header in place */
                        capture_tap_put(tap, on_rtcp ? &leg->rtcp_remote : &leg->rtp_remote,
                                        on_rtcp ? &leg->rtcp_local : &leg->rtp_local, on_rtcp ? CAPTURE_TAP_RTCP : 0,
                                        p->buffers[k], length);
                    receive_datagram(p, leg_index, on_rtcp, p->buffers[k], length, now);
                }
                if (got < RECV_BATCH)
                    break;
            }
        }
        if (n < 64)
            return;
    }
}

/* ---- the media blocks ---- */

static void encode_law(int law, const int16_t *pcm, uint8_t *out)
{
    if (law == MEDIA_CODEC_ALAW)
        g711_linear_to_alaw(pcm, out, BLOCK);
    else
        g711_linear_to_ulaw(pcm, out, BLOCK);
}

static void fill_line_in(rtp_leg *leg, uint8_t *line_in, double t)
{
    uint8_t frame[JITTER_FRAME_MAX];
    int16_t pcm[BLOCK];
    int length = jitter_get(&leg->jb, frame, t);
    int law = line_law(leg->cfg.codec);
    if (!leg->jb.playing) {
        if (!play_tone(leg, law, line_in, t))
            memset(line_in, law == MEDIA_CODEC_ALAW ? G711_ALAW_SILENCE : G711_ULAW_SILENCE, BLOCK);
        return;
    }
    if (length == 0)
        leg->st.concealed++;
    if (play_tone(leg, law, line_in, t))
        return;   /* the audio under an event is the sender's muted or leaking tone: replaced */
    if (is_g711(leg->cfg.codec)) {
        if (length == BLOCK) {
            if (law == MEDIA_CODEC_ALAW)
                g711_alaw_to_linear(frame, pcm, BLOCK);
            else
                g711_ulaw_to_linear(frame, pcm, BLOCK);
            if (plc_good(&leg->plc, pcm, BLOCK))
                encode_law(law, pcm, line_in);       /* the end of a loss, cross-faded */
            else
                memcpy(line_in, frame, BLOCK);       /* bit-transparent */
        } else {
            plc_conceal(&leg->plc, pcm, BLOCK);
            encode_law(law, pcm, line_in);
        }
        return;
    }
    uint8_t frame_length = (uint8_t)(length == G729_FRAME_OCTETS || length == G729_SID_OCTETS ? length : 0);
    g729_decode(leg->decoder, frame, &frame_length, 1, pcm);   /* length 0: frame erasure */
    g711_linear_to_alaw(pcm, line_in, BLOCK);
}

static void send_event_packet(rtp_leg *leg)
{
    uint8_t buffer[RTP_HEADER_OCTETS + 4];
    int end = leg->digit_elapsed >= leg->digit_total;
    int duration = end ? leg->digit_total : leg->digit_elapsed;
    rtp_write_header(buffer, leg->digit_first, leg->cfg.dtmf_payload_type, leg->seq++, leg->digit_ts, leg->ssrc);
    rtp_dtmf_write(buffer + RTP_HEADER_OCTETS, leg->digit_event, end, leg->digit_volume, duration);
    send_datagram(leg, leg->rtp_fd, buffer, sizeof buffer);
    leg->st.packets_sent++;
    leg->st.octets_sent += 4;
    leg->digit_first = 0;
    if (end && --leg->digit_end_left == 0) {
        leg->digit_active = 0;
        leg->st.dtmf_sent++;
    }
}

static int digit_event(char digit)
{
    if (digit >= '0' && digit <= '9')
        return digit - '0';
    switch (digit) {
    case '*': return 10;
    case '#': return 11;
    case 'A': case 'a': return 12;
    case 'B': case 'b': return 13;
    case 'C': case 'c': return 14;
    case 'D': case 'd': return 15;
    default: return -1;
    }
}

static void send_packet(rtp_port *p, rtp_leg *leg)
{
    int units = leg->frames_per_packet * BLOCK;
    if (leg->send_off)
        return;   /* the timestamps run on: the stream resumes where the clock is */
    if (!leg->digit_active && leg->digits_count > 0) {
        queued_digit d = leg->digits[leg->digits_head];
        leg->digits_head = (leg->digits_head + 1) % RTP_PORT_DIGIT_QUEUE;
        leg->digits_count--;
        leg->digit_active = 1;
        leg->digit_event = digit_event(d.digit);
        leg->digit_total = d.units;
        leg->digit_volume = d.volume;
        leg->digit_elapsed = 0;
        leg->digit_end_left = DIGIT_END_REPEATS;
        leg->digit_first = 1;
        leg->digit_ts = leg->packet_ts;
    }
    if (leg->digit_active) {
        leg->digit_elapsed += units;
        send_event_packet(leg);
        return;
    }
    uint8_t *buffer = p->packet;
    rtp_write_header(buffer, !leg->sent_any, leg->cfg.payload_type, leg->seq++, leg->packet_ts, leg->ssrc);
    memcpy(buffer + RTP_HEADER_OCTETS, leg->payload, (size_t)leg->payload_length);
    send_datagram(leg, leg->rtp_fd, buffer, RTP_HEADER_OCTETS + leg->payload_length);
    leg->sent_any = 1;
    leg->st.packets_sent++;
    leg->st.octets_sent += (uint64_t)leg->payload_length;
}

static void packetize(rtp_port *p, rtp_leg *leg, const uint8_t *line_out)
{
    if (leg->frames_pending == 0) {
        leg->packet_ts = leg->ts;
        leg->payload_length = 0;
    }
    if (is_g711(leg->cfg.codec)) {
        memcpy(leg->payload + leg->payload_length, line_out, BLOCK);
        leg->payload_length += BLOCK;
    } else {
        int16_t pcm[BLOCK];
        uint8_t length = 0;
        g711_alaw_to_linear(line_out, pcm, BLOCK);
        g729_encode(leg->encoder, pcm, 1, leg->payload + leg->payload_length, &length);
        leg->payload_length += length;
    }
    leg->ts += BLOCK;
    if (++leg->frames_pending == leg->frames_per_packet) {
        send_packet(p, leg);
        leg->frames_pending = 0;
    }
}

static void run_block(rtp_port *p, double t)
{
    int any = 0;
    for (int i = 0; i < LEGS; i++) {
        rtp_leg *leg = &p->legs[i];
        uint8_t *in = p->line_in + i * BLOCK;
        if (leg->open && (!leg->partner || leg->monitored)) {
            fill_line_in(leg, in, t);
            any = 1;
        } else {
            memset(in, G711_ALAW_SILENCE, BLOCK);
        }
    }
    if (!any)
        return;
    /* Lock order: this port's lock is held; the media port's is taken inside. */
    media_port_block(p->media, p->line_in, p->line_out);
    for (int i = 0; i < LEGS; i++) {
        rtp_leg *leg = &p->legs[i];
        if (leg->open && !leg->partner)
            packetize(p, leg, p->line_out + i * BLOCK);
    }
}

/* ---- RTCP ---- */

static void send_report(rtp_port *p, rtp_leg *leg, double now)
{
    rtcp_report_block_t block, *report = NULL;
    if (leg->have_source) {
        int64_t expected = expected_of(leg);
        int64_t expected_interval = expected - leg->expected_prior;
        int64_t received_interval = leg->received - leg->received_prior;
        int64_t lost_interval = expected_interval - received_interval;
        leg->expected_prior = expected;
        leg->received_prior = leg->received;
        int fraction = expected_interval <= 0 || lost_interval <= 0 ? 0 : (int)((lost_interval << 8) / expected_interval);
        if (fraction > 255)
            fraction = 255;
        leg->st.fraction_lost = fraction / 256.0;
        int64_t lost = expected - leg->received;
        block.ssrc = leg->remote_ssrc;
        block.fraction_lost = (uint8_t)fraction;
        block.cumulative_lost = (int32_t)(lost > 0x7fffff ? 0x7fffff : lost < -0x800000 ? -0x800000 : lost);
        block.highest_sequence = leg->cycles + leg->max_seq;
        block.jitter = (uint32_t)leg->jitter;
        block.lsr = leg->lsr;
        block.dlsr = leg->lsr ? (uint32_t)((now - leg->lsr_arrival) * 65536.0) : 0;
        report = &block;
    }
    int sender = leg->st.packets_sent != leg->sent_at_last_report;
    leg->sent_at_last_report = leg->st.packets_sent;
    int n = rtcp_build(p->packet, DATAGRAM_MAX, sender, leg->ssrc, ntp_of(p, now), leg->ts,
                       (uint32_t)leg->st.packets_sent, (uint32_t)leg->st.octets_sent, report, "pribox");
    if (n > 0) {
        send_datagram(leg, leg->rtcp_fd >= 0 ? leg->rtcp_fd : leg->rtp_fd, p->packet, n);
        leg->st.rtcp_sent++;
    }
}

void rtp_port_advance(rtp_port *p, double now)
{
    pthread_mutex_lock(&p->lock);
    receive_all(p, now);
    int64_t due = (int64_t)floor((now - p->start) / BLOCK_SECONDS + 1e-9);
    if (due - p->blocks_run > MAX_CATCH_UP_BLOCKS) {
        p->blocks_skipped += (uint64_t)(due - MAX_CATCH_UP_BLOCKS - p->blocks_run);
        p->blocks_run = due - MAX_CATCH_UP_BLOCKS;
    }
    while (p->blocks_run < due) {
        p->blocks_run++;
        run_block(p, p->start + (double)p->blocks_run * BLOCK_SECONDS);
    }
    for (int i = 0; i < LEGS; i++) {
        rtp_leg *leg = &p->legs[i];
        if (leg->open && now >= leg->next_report) {
            send_report(p, leg, now);
            leg->next_report = now + leg->cfg.rtcp_interval * (0.5 + uniform(p));
        }
    }
    pthread_mutex_unlock(&p->lock);
}

/* ---- control ---- */

int rtp_port_send_digit(rtp_port *p, int leg_index, char digit, int duration_ms, int volume)
{
    if (!p)
        return RTP_PORT_ERR_ARGUMENT;
    if (leg_index < 0 || leg_index >= LEGS)
        return RTP_PORT_ERR_LEG;
    if (digit_event(digit) < 0 || duration_ms < 10 || duration_ms > 8000 || volume < 0 || volume > 63)
        return RTP_PORT_ERR_DIGIT;
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    rtp_leg *leg = &p->legs[leg_index];
    if (!leg->open)
        rc = RTP_PORT_ERR_NOT_OPEN;
    else if (leg->cfg.dtmf_payload_type < 0)
        rc = RTP_PORT_ERR_DIGIT;
    else if (leg->digits_count == RTP_PORT_DIGIT_QUEUE)
        rc = RTP_PORT_ERR_QUEUE_FULL;
    else {
        leg->digits[(leg->digits_head + leg->digits_count) % RTP_PORT_DIGIT_QUEUE] =
            (queued_digit){digit, duration_ms * 8, volume};
        leg->digits_count++;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static void unrelay_locked(rtp_leg *leg)
{
    if (!leg->partner)
        return;
    rtp_leg *other = &leg->partner->legs[leg->partner_leg];
    /* An unmonitored relay left the jitter buffers as they were when it began. */
    if (!leg->monitored) {
        jitter_reset(&leg->jb);
        jitter_reset(&other->jb);
    }
    other->partner = NULL;
    leg->partner = NULL;
    other->monitored = leg->monitored = 0;
}

static void lock_two(rtp_port *a, rtp_port *b)
{
    if (a == b) {
        pthread_mutex_lock(&a->lock);
    } else if ((uintptr_t)a < (uintptr_t)b) {
        pthread_mutex_lock(&a->lock);
        pthread_mutex_lock(&b->lock);
    } else {
        pthread_mutex_lock(&b->lock);
        pthread_mutex_lock(&a->lock);
    }
}

static void unlock_two(rtp_port *a, rtp_port *b)
{
    pthread_mutex_unlock(&a->lock);
    if (a != b)
        pthread_mutex_unlock(&b->lock);
}

int rtp_port_relay(rtp_port *a, int leg_a, rtp_port *b, int leg_b, int monitor)
{
    if (!a || !b)
        return RTP_PORT_ERR_ARGUMENT;
    if (leg_a < 0 || leg_a >= LEGS || leg_b < 0 || leg_b >= LEGS || (a == b && leg_a == leg_b))
        return RTP_PORT_ERR_LEG;
    int rc = 0;
    lock_two(a, b);
    rtp_leg *x = &a->legs[leg_a], *y = &b->legs[leg_b];
    if (!x->open || !y->open)
        rc = RTP_PORT_ERR_NOT_OPEN;
    else if (x->cfg.codec != y->cfg.codec)
        rc = RTP_PORT_ERR_MISMATCH;
    else {
        unrelay_locked(x);
        unrelay_locked(y);
        x->partner = b;
        x->partner_leg = leg_b;
        y->partner = a;
        y->partner_leg = leg_a;
        x->monitored = y->monitored = monitor != 0;
        x->relay_offsets_set = y->relay_offsets_set = 0;
    }
    unlock_two(a, b);
    return rc;
}

int rtp_port_unrelay(rtp_port *p, int leg_index)
{
    if (!p)
        return RTP_PORT_ERR_ARGUMENT;
    if (leg_index < 0 || leg_index >= LEGS)
        return RTP_PORT_ERR_LEG;
    pthread_mutex_lock(&p->lock);
    rtp_port *other = p->legs[leg_index].partner;
    pthread_mutex_unlock(&p->lock);
    if (!other)
        return 0;
    lock_two(p, other);
    unrelay_locked(&p->legs[leg_index]);
    unlock_two(p, other);
    return 0;
}

double rtp_emodel_r(int codec, double loss_percent, double delay_ms)
{
    /* G.113 Appendix I: equipment impairment Ie and packet-loss robustness Bpl. */
    double ie = 0, bpl = 25.1;               /* G.711 with concealment */
    if (codec == MEDIA_CODEC_G729) {
        ie = 11;
        bpl = 19.0;
    }
    if (loss_percent < 0)
        loss_percent = 0;
    if (loss_percent > 100)
        loss_percent = 100;
    double ie_eff = ie + (95 - ie) * loss_percent / (loss_percent + bpl);
    double d = delay_ms < 0 ? 0 : delay_ms;
    double id = 0.024 * d + (d > 177.3 ? 0.11 * (d - 177.3) : 0);
    return 93.2 - id - ie_eff;
}

double rtp_emodel_mos(double r)
{
    if (r <= 0)
        return 1.0;
    if (r >= 100)
        return 4.5;
    return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6;
}

int rtp_port_stats(rtp_port *p, int leg_index, rtp_leg_stats *out)
{
    if (!p || !out)
        return RTP_PORT_ERR_ARGUMENT;
    if (leg_index < 0 || leg_index >= LEGS)
        return RTP_PORT_ERR_LEG;
    pthread_mutex_lock(&p->lock);
    rtp_leg *leg = &p->legs[leg_index];
    int rc = leg->open ? 0 : RTP_PORT_ERR_NOT_OPEN;
    if (rc == 0) {
        *out = leg->st;
        out->expected = leg->have_source ? expected_of(leg) : 0;
        out->lost = leg->have_source ? out->expected - leg->received : 0;
        out->jitter_ms = leg->jitter / 8.0;
        out->jitter_buffer = leg->jb.stats;
        out->jitter_delay_p50_ms = jitter_delay_percentile(&leg->jb, 50);
        double loss = 0;
        if (out->expected > 0)
            loss = 100.0 * (double)(out->lost + (int64_t)leg->jb.stats.late) / (double)out->expected;
        double delay = (out->rtt_ms > 0 ? out->rtt_ms / 2 : 0) + leg->jb.stats.target_ms + leg->cfg.ptime_ms +
                       (leg->cfg.codec == MEDIA_CODEC_G729 ? 15 : 0);
        out->r_factor = rtp_emodel_r(leg->cfg.codec, loss, delay);
        out->mos = rtp_emodel_mos(out->r_factor);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

int rtp_port_delay_histogram(rtp_port *p, int leg_index, uint32_t *out)
{
    if (!p || !out)
        return RTP_PORT_ERR_ARGUMENT;
    if (leg_index < 0 || leg_index >= LEGS)
        return RTP_PORT_ERR_LEG;
    pthread_mutex_lock(&p->lock);
    memcpy(out, p->legs[leg_index].jb.histogram, sizeof p->legs[leg_index].jb.histogram);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

void rtp_port_blocks(rtp_port *p, int64_t *run, uint64_t *skipped)
{
    pthread_mutex_lock(&p->lock);
    *run = p->blocks_run;
    *skipped = p->blocks_skipped;
    pthread_mutex_unlock(&p->lock);
}
