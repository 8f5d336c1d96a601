/* libpri far-end shim: see libpri_peer.h. */
#include "libpri_peer.h"

#include <errno.h>
#include <libpri.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

struct lp_peer {
    struct pri *pri;
    int fd;
    int frames_in;
    int frames_out;
    int line_closed;   /* the socket's other end is gone: reads see end of file */
    int is_socket;     /* a seqpacket socket; otherwise a DAHDI D-channel (hdlcfcs) descriptor */
    int dahdi_events;  /* events drained with DAHDI_GETEVENT, as chan_dahdi does on ELAST */
    int last_dahdi_event;
};

/* DAHDI's values (include/dahdi/user.h; drivers/dahdi_ioctl.py tests them against the header). */
#define LP_DAHDI_ELAST 500
#define LP_DAHDI_GETEVENT 0x8004DA08UL

static void drain_dahdi_events(lp_peer *peer)
{
    for (int i = 0; i < 64; i++) {
        int event = 0;
        if (ioctl(peer->fd, LP_DAHDI_GETEVENT, &event) < 0 || event == 0)
            return;
        peer->dahdi_events++;
        peer->last_dahdi_event = event;
    }
}

/* ---- libpri's messages and errors go to one bounded log the tests can read ---- */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_buf[65536];
static size_t log_len;

static void log_append(struct pri *pri, char *text)
{
    (void)pri;
    pthread_mutex_lock(&log_lock);
    size_t n = strlen(text);
    if (n > sizeof(log_buf) - 1)
        n = sizeof(log_buf) - 1;
    if (log_len + n > sizeof(log_buf) - 1) {  /* keep the newest text */
        size_t drop = log_len + n - (sizeof(log_buf) - 1);
        memmove(log_buf, log_buf + drop, log_len - drop);
        log_len -= drop;
    }
    memcpy(log_buf + log_len, text, n);
    log_len += n;
    pthread_mutex_unlock(&log_lock);
}

int lp_take_log(char *buf, int buflen)
{
    pthread_mutex_lock(&log_lock);
    size_t n = log_len < (size_t)(buflen - 1) ? log_len : (size_t)(buflen - 1);
    memcpy(buf, log_buf + log_len - n, n);
    buf[n] = 0;
    log_len = 0;
    pthread_mutex_unlock(&log_lock);
    return (int)n;
}

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static void install_log(void)
{
    pri_set_message(log_append);
    pri_set_error(log_append);
}

/* ---- D-channel I/O with DAHDI hdlcfcs semantics: frames carry 2 FCS octets both ways ---- */
static int io_read(struct pri *pri, void *buf, int buflen)
{
    lp_peer *peer = pri_get_userdata(pri);
    int res;
    if (!peer->is_socket) {
        res = (int)read(peer->fd, buf, (size_t)buflen);
        if (res < 0 && errno == LP_DAHDI_ELAST) { /* an alarm or HDLC event waits: drain it */
            drain_dahdi_events(peer);
            errno = EAGAIN;
            return -1;
        }
        if (res > 0)
            peer->frames_in++;
        return res;
    }
    res = (int)recv(peer->fd, buf, (size_t)buflen, MSG_DONTWAIT);
    if (res < 0)
        return -1;
    if (res == 0) { /* the other end closed: nothing to deliver */
        peer->line_closed = 1;
        errno = EAGAIN;
        return -1;
    }
    peer->frames_in++;
    return res;
}

static int io_write(struct pri *pri, void *buf, int buflen)
{
    lp_peer *peer = pri_get_userdata(pri);
    int res;
    if (!peer->is_socket) {
        res = (int)write(peer->fd, buf, (size_t)buflen);
        if (res < 0 && errno == LP_DAHDI_ELAST) {
            drain_dahdi_events(peer);
            res = (int)write(peer->fd, buf, (size_t)buflen);
        }
        if (res < 0)
            return buflen;
        peer->frames_out++;
        return res;
    }
    res = (int)send(peer->fd, buf, (size_t)buflen, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (res < 0) /* a cut or full line loses the frame, as a real one would */
        return buflen;
    peer->frames_out++;
    return res;
}

lp_peer *lp_new(int fd, int nodetype, int switchtype, int debug)
{
    pthread_once(&log_once, install_log);
    lp_peer *peer = calloc(1, sizeof *peer);
    if (!peer)
        return NULL;
    peer->fd = fd;
    struct stat st;
    peer->is_socket = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    peer->pri = pri_new_cb(fd, nodetype, switchtype, io_read, io_write, peer);
    if (!peer->pri) {
        free(peer);
        return NULL;
    }
    if (debug)
        pri_set_debug(peer->pri, debug);
    return peer;
}

void lp_free(lp_peer *peer)
{
    if (!peer)
        return;
    /* libpri 1.6 has no destructor for a D-channel; its memory is let go with the peer */
    free(peer);
}

int lp_set_timer(lp_peer *peer, const char *name, int value)
{
    int idx = pri_timer2idx(name);
    if (idx < 0)
        return -1;
    return pri_set_timer(peer->pri, idx, value);
}

int lp_next_timeout_ms(lp_peer *peer)
{
    struct timeval *next = pri_schedule_next(peer->pri);
    if (!next)
        return -1;
    struct timeval now;
    gettimeofday(&now, NULL);
    long ms = (next->tv_sec - now.tv_sec) * 1000L + (next->tv_usec - now.tv_usec + 999) / 1000;
    return ms < 0 ? 0 : (int)ms;
}

static void copy_str(char *dst, const char *src)
{
    size_t n = src ? strnlen(src, LP_NUM_LEN - 1) : 0;  /* longer numbers are cut, never overrun */
    if (n)
        memcpy(dst, src, n);
    dst[n] = 0;
}

/* Flatten whatever libpri emitted; unknown event numbers keep only `type`. */
static int flatten(pri_event *e, lp_event *out)
{
    memset(out, 0, sizeof *out);
    out->channel = -1;
    out->cause = -1;
    out->cref = -1;
    out->progress = -1;
    if (!e)
        return 0;
    out->type = e->e;
    switch (e->e) {
    case PRI_EVENT_DCHAN_UP:
    case PRI_EVENT_DCHAN_DOWN:
        break;
    case PRI_EVENT_CONFIG_ERR:
        snprintf(out->text, LP_TEXT_LEN, "%s", e->err.err);
        break;
    case PRI_EVENT_RESTART:
        out->channel = e->restart.channel;
        break;
    case PRI_EVENT_RESTART_ACK:
        out->channel = e->restartack.channel;
        break;
    case PRI_EVENT_RING:
        out->channel = e->ring.channel;
        out->cref = e->ring.cref;
        out->call = e->ring.call;
        out->complete = e->ring.complete;
        out->ctype = e->ring.ctype;
        out->layer1 = e->ring.layer1;
        out->progress = e->ring.progress;
        out->progressmask = e->ring.progressmask;
        out->calledplan = e->ring.calledplan;
        out->callingplan = e->ring.callingplan;
        out->callingpres = e->ring.callingpres;
        out->redirectingreason = e->ring.redirectingreason;
        out->redirectingplan = e->ring.callingplanrdnis;
        copy_str(out->callednum, e->ring.callednum);
        copy_str(out->callingnum, e->ring.callingnum);
        copy_str(out->callingname, e->ring.callingname);
        copy_str(out->redirectingnum, e->ring.redirectingnum);
        copy_str(out->origcallednum, e->ring.origcallednum);
        copy_str(out->digits, e->ring.keypad_digits);
        break;
    case PRI_EVENT_HANGUP:
    case PRI_EVENT_HANGUP_REQ:
    case PRI_EVENT_HANGUP_ACK:
        out->channel = e->hangup.channel;
        out->cause = e->hangup.cause;
        out->cref = e->hangup.cref;
        out->call = e->hangup.call;
        break;
    case PRI_EVENT_RINGING:
        out->channel = e->ringing.channel;
        out->cref = e->ringing.cref;
        out->call = e->ringing.call;
        out->progress = e->ringing.progress;
        out->progressmask = e->ringing.progressmask;
        break;
    case PRI_EVENT_ANSWER:
        out->channel = e->answer.channel;
        out->cref = e->answer.cref;
        out->call = e->answer.call;
        out->progress = e->answer.progress;
        out->progressmask = e->answer.progressmask;
        break;
    case PRI_EVENT_FACILITY:
        out->channel = e->facility.channel;
        out->cref = e->facility.cref;
        out->call = e->facility.call;
        copy_str(out->callingnum, e->facility.callingnum);
        copy_str(out->callingname, e->facility.callingname);
        break;
    case PRI_EVENT_INFO_RECEIVED:
        out->channel = e->ring.channel;
        out->cref = e->ring.cref;
        out->call = e->ring.call;
        out->complete = e->ring.complete;
        copy_str(out->callednum, e->ring.callednum);
        copy_str(out->digits, e->ring.keypad_digits);
        break;
    case PRI_EVENT_PROCEEDING:
    case PRI_EVENT_PROGRESS:
        out->channel = e->proceeding.channel;
        out->cref = e->proceeding.cref;
        out->call = e->proceeding.call;
        out->cause = e->proceeding.cause;
        out->progress = e->proceeding.progress;
        out->progressmask = e->proceeding.progressmask;
        break;
    case PRI_EVENT_SETUP_ACK:
        out->channel = e->setup_ack.channel;
        out->call = e->setup_ack.call;
        out->progressmask = e->setup_ack.progressmask;
        break;
    case PRI_EVENT_NOTIFY:
        out->channel = e->notify.channel;
        out->call = e->notify.call;
        out->notify_info = e->notify.info;
        break;
    case PRI_EVENT_KEYPAD_DIGIT:
        out->channel = e->digit.channel;
        out->call = e->digit.call;
        copy_str(out->digits, e->digit.digits);
        break;
    case PRI_EVENT_SERVICE:
        out->channel = e->service.channel;
        out->changestatus = e->service.changestatus;
        break;
    case PRI_EVENT_SERVICE_ACK:
        out->channel = e->service_ack.channel;
        out->changestatus = e->service_ack.changestatus;
        break;
    case PRI_EVENT_HOLD:
    case PRI_EVENT_HOLD_ACK:
    case PRI_EVENT_RETRIEVE_ACK:
    case PRI_EVENT_CONNECT_ACK:
        out->channel = e->hold.channel;
        out->call = e->hold.call;
        break;
    case PRI_EVENT_HOLD_REJ:
        out->channel = e->hold_rej.channel;
        out->call = e->hold_rej.call;
        out->cause = e->hold_rej.cause;
        break;
    case PRI_EVENT_RETRIEVE:
        out->channel = e->retrieve.channel;
        out->call = e->retrieve.call;
        break;
    case PRI_EVENT_RETRIEVE_REJ:
        out->channel = e->retrieve_rej.channel;
        out->call = e->retrieve_rej.call;
        out->cause = e->retrieve_rej.cause;
        break;
    default:
        break;
    }
    return out->type != 0;
}

int lp_on_readable(lp_peer *peer, lp_event *out)
{
    return flatten(pri_check_event(peer->pri), out);
}

int lp_on_timer(lp_peer *peer, lp_event *out)
{
    return flatten(pri_schedule_run(peer->pri), out);
}

int lp_frames_in(lp_peer *peer) { return peer->frames_in; }
int lp_frames_out(lp_peer *peer) { return peer->frames_out; }
int lp_line_closed(lp_peer *peer) { return peer->line_closed; }
int lp_dahdi_events(lp_peer *peer) { return peer->dahdi_events; }
int lp_last_dahdi_event(lp_peer *peer) { return peer->last_dahdi_event; }
const char *lp_event_name(int type) { return pri_event2str(type); }
const char *lp_cause_name(int cause) { return pri_cause2str(cause); }

/* ---- actions ---- */
void *lp_new_call(lp_peer *peer) { return pri_new_call(peer->pri); }

int lp_setup(lp_peer *peer, void *call, int channel, int exclusive, const char *called, int calledplan,
             const char *calling, int callingplan, int callingpres, const char *redirecting,
             int redirectingreason, int complete, int layer1)
{
    struct pri_sr *sr = pri_sr_new();
    if (!sr)
        return -1;
    pri_sr_set_channel(sr, channel, exclusive, 0);
    pri_sr_set_bearer(sr, PRI_TRANS_CAP_SPEECH, layer1);
    pri_sr_set_called(sr, (char *)called, calledplan, complete);
    if (calling && *calling)
        pri_sr_set_caller(sr, (char *)calling, NULL, callingplan, callingpres);
    if (redirecting && *redirecting)
        pri_sr_set_redirecting(sr, (char *)redirecting, callingplan, PRES_ALLOWED_USER_NUMBER_NOT_SCREENED,
                               redirectingreason);
    int res = pri_setup(peer->pri, call, sr);
    pri_sr_free(sr);
    return res;
}

int lp_proceeding(lp_peer *peer, void *call, int channel, int inband)
{
    return pri_proceeding(peer->pri, call, channel, inband);
}

int lp_progress(lp_peer *peer, void *call, int channel, int inband)
{
    return pri_progress(peer->pri, call, channel, inband);
}

int lp_acknowledge(lp_peer *peer, void *call, int channel, int inband)
{
    return pri_acknowledge(peer->pri, call, channel, inband);
}

int lp_need_more_info(lp_peer *peer, void *call, int channel)
{
    return pri_need_more_info(peer->pri, call, channel, 0);
}

int lp_information(lp_peer *peer, void *call, const char *digits)
{
    for (; digits && *digits; digits++) {
        int res = pri_information(peer->pri, call, *digits);
        if (res)
            return res;
    }
    return 0;
}

int lp_answer(lp_peer *peer, void *call, int channel) { return pri_answer(peer->pri, call, channel, 0); }
int lp_hangup(lp_peer *peer, void *call, int cause) { return pri_hangup(peer->pri, call, cause); }
int lp_reset_channel(lp_peer *peer, int channel) { return pri_reset(peer->pri, channel); }
/* libpri 1.6 sends RESTART for one channel only (its pri_restart() does nothing); a whole
 * interface is restarted channel by channel, as Asterisk does. */
void lp_set_overlap(lp_peer *peer, int enable) { pri_set_overlapdial(peer->pri, enable); }

/* ---- the same-run reference for bench/q931_calls.py ----
 * Two libpri instances (network calls, CPE answers) over one SOCK_SEQPACKET socketpair in this
 * process.  Each call: SETUP, CALL PROCEEDING, CONNECT, CONNECT ACKNOWLEDGE, DISCONNECT (from
 * the caller), RELEASE, RELEASE COMPLETE; the next call starts when both sides have let the
 * previous one go.  Returns the seconds the `count` calls took (link bring-up excluded), or a
 * negative number when libpri stalled (no progress for 5 s). */
static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct bench_side {
    lp_peer *peer;
    int up;
    q931_call *call;
};

static void bench_handle(struct bench_side *net, struct bench_side *cpe, int is_net, pri_event *e,
                         int *net_done, int *cpe_done)
{
    struct bench_side *side = is_net ? net : cpe;
    if (!e)
        return;
    switch (e->e) {
    case PRI_EVENT_DCHAN_UP:
        side->up = 1;
        break;
    case PRI_EVENT_DCHAN_DOWN:
        side->up = 0;
        break;
    case PRI_EVENT_RING:
        if (!is_net) {
            cpe->call = e->ring.call;
            pri_proceeding(cpe->peer->pri, e->ring.call, e->ring.channel, 0);
            pri_answer(cpe->peer->pri, e->ring.call, e->ring.channel, 0);
        }
        break;
    case PRI_EVENT_ANSWER:
        if (is_net)
            pri_hangup(net->peer->pri, e->answer.call, PRI_CAUSE_NORMAL_CLEARING);
        break;
    case PRI_EVENT_HANGUP_REQ:
        pri_hangup(side->peer->pri, e->hangup.call, e->hangup.cause);
        break;
    case PRI_EVENT_HANGUP:
        pri_hangup(side->peer->pri, e->hangup.call, e->hangup.cause);
        if (is_net)
            *net_done = 1;
        else
            *cpe_done = 1;
        break;
    case PRI_EVENT_HANGUP_ACK:
        if (is_net)
            *net_done = 1;
        else
            *cpe_done = 1;
        break;
    default:
        break;
    }
}

static int bench_step(struct bench_side *net, struct bench_side *cpe, int *net_done, int *cpe_done)
{
    struct pollfd fds[2] = {{net->peer->fd, POLLIN, 0}, {cpe->peer->fd, POLLIN, 0}};
    int t1 = lp_next_timeout_ms(net->peer), t2 = lp_next_timeout_ms(cpe->peer);
    int timeout = t1 < 0 ? t2 : (t2 < 0 ? t1 : (t1 < t2 ? t1 : t2));
    if (timeout < 0 || timeout > 100)
        timeout = 100;
    int n = poll(fds, 2, timeout);
    if (n < 0 && errno != EINTR)
        return -1;
    if (n > 0) {
        if (fds[0].revents & POLLIN)
            bench_handle(net, cpe, 1, pri_check_event(net->peer->pri), net_done, cpe_done);
        if (fds[1].revents & POLLIN)
            bench_handle(net, cpe, 0, pri_check_event(cpe->peer->pri), net_done, cpe_done);
    }
    if (lp_next_timeout_ms(net->peer) == 0)
        bench_handle(net, cpe, 1, pri_schedule_run(net->peer->pri), net_done, cpe_done);
    if (lp_next_timeout_ms(cpe->peer) == 0)
        bench_handle(net, cpe, 0, pri_schedule_run(cpe->peer->pri), net_done, cpe_done);
    return 0;
}

double lp_bench_calls(int count, int *completed)
{
    int sv[2];
    *completed = 0;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
        return -1.0;
    struct bench_side net = {lp_new(sv[0], PRI_NETWORK, PRI_SWITCH_EUROISDN_E1, 0), 0, NULL};
    struct bench_side cpe = {lp_new(sv[1], PRI_CPE, PRI_SWITCH_EUROISDN_E1, 0), 0, NULL};
    double result = -1.0;
    if (!net.peer || !cpe.peer)
        goto out;
    int dummy_n = 0, dummy_c = 0;
    double deadline = mono() + 5.0;
    while (!(net.up && cpe.up)) {
        if (mono() > deadline || bench_step(&net, &cpe, &dummy_n, &dummy_c) < 0)
            goto out;
    }
    double start = mono();
    for (int i = 0; i < count; i++) {
        int net_done = 0, cpe_done = 0;
        q931_call *call = pri_new_call(net.peer->pri);
        struct pri_sr *sr = pri_sr_new();
        if (!call || !sr)
            goto out;
        int channel = 1 + i % 30;
        channel += channel >= 16;  /* E1 timeslots 1-15, 17-31 */
        pri_sr_set_channel(sr, channel, 1, 0);
        pri_sr_set_bearer(sr, PRI_TRANS_CAP_SPEECH, PRI_LAYER_1_ALAW);
        pri_sr_set_called(sr, "15881234", PRI_NATIONAL_ISDN, 1);
        pri_sr_set_caller(sr, "0212345678", NULL, PRI_NATIONAL_ISDN, PRES_ALLOWED_USER_NUMBER_NOT_SCREENED);
        int res = pri_setup(net.peer->pri, call, sr);
        pri_sr_free(sr);
        if (res)
            goto out;
        deadline = mono() + 5.0;
        while (!(net_done && cpe_done)) {
            if (mono() > deadline || bench_step(&net, &cpe, &net_done, &cpe_done) < 0)
                goto out;
        }
        *completed = i + 1;
    }
    result = mono() - start;
out:
    close(sv[0]);
    close(sv[1]);
    lp_free(net.peer);
    lp_free(cpe.peer);
    return result;
}
