#include "e1_wire.h"
#include "rt_lock.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define FRAME 32

/* A byte ring of length-prefixed datagrams: what the in-process far end sent. */
typedef struct {
    uint8_t *data;
    size_t head, used;
} inbox_ring;

struct e1_wire {
    pthread_mutex_t lock;
    int frames_per_datagram;
    int fd;
    int peer_gone;
    int plugged;
    e1_wire *peer;
    inbox_ring inbox;
    int bad_len[E1_WIRE_BAD_LOG], bad_trunc[E1_WIRE_BAD_LOG], bad_head, bad_count;
    uint8_t scratch[E1_WIRE_MAX_DATAGRAM];
    e1_wire_stats st;
};

e1_wire *e1_wire_new(int frames_per_datagram)
{
    if (frames_per_datagram < 1 || frames_per_datagram * FRAME > E1_WIRE_MAX_DATAGRAM)
        return NULL;
    e1_wire *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->inbox.data = malloc(E1_WIRE_INBOX_OCTETS);
    if (!w->inbox.data) {
        free(w);
        return NULL;
    }
    rt_lock_init(&w->lock);
    w->frames_per_datagram = frames_per_datagram;
    w->fd = -1;
    w->plugged = 1;
    return w;
}

void e1_wire_free(e1_wire *w)
{
    if (!w)
        return;
    /* Unlink from a partner so it never pushes into freed memory. */
    e1_wire *peer = w->peer;
    if (peer) {
        pthread_mutex_lock(&peer->lock);
        if (peer->peer == w)
            peer->peer = NULL;
        pthread_mutex_unlock(&peer->lock);
    }
    pthread_mutex_destroy(&w->lock);
    free(w->inbox.data);
    free(w);
}

void e1_wire_pair(e1_wire *a, e1_wire *b)
{
    pthread_mutex_lock(&a->lock);
    a->peer = b;
    pthread_mutex_unlock(&a->lock);
    pthread_mutex_lock(&b->lock);
    b->peer = a;
    pthread_mutex_unlock(&b->lock);
}

void e1_wire_attach_fd(e1_wire *w, int fd)
{
    pthread_mutex_lock(&w->lock);
    w->fd = fd;
    w->peer_gone = 0;
    w->st.connects++;
    pthread_mutex_unlock(&w->lock);
}

void e1_wire_detach_fd(e1_wire *w)
{
    pthread_mutex_lock(&w->lock);
    if (w->fd >= 0)
        w->st.disconnects++;
    w->fd = -1;
    w->peer_gone = 0;
    pthread_mutex_unlock(&w->lock);
}

int e1_wire_peer_gone(e1_wire *w)
{
    pthread_mutex_lock(&w->lock);
    int gone = w->peer_gone;
    pthread_mutex_unlock(&w->lock);
    return gone;
}

void e1_wire_set_plugged(e1_wire *w, int plugged)
{
    pthread_mutex_lock(&w->lock);
    w->plugged = plugged != 0;
    pthread_mutex_unlock(&w->lock);
}

int e1_wire_plugged(e1_wire *w) { return w->plugged; }
int e1_wire_frames_per_datagram(e1_wire *w) { return w->frames_per_datagram; }

/* Called with w locked.  A pair is connected while both ends are plugged. */
static int connected_locked(e1_wire *w)
{
    if (w->fd >= 0)
        return !w->peer_gone;
    return w->peer != NULL && w->plugged && w->peer->plugged;
}

int e1_wire_connected(e1_wire *w)
{
    pthread_mutex_lock(&w->lock);
    int c = connected_locked(w);
    pthread_mutex_unlock(&w->lock);
    return c;
}

/* Called with the inbox's wire locked: `len` octets in at the tail, wrapping once at most. */
static void inbox_write(inbox_ring *r, size_t tail, const uint8_t *data, size_t len)
{
    size_t first = E1_WIRE_INBOX_OCTETS - tail < len ? E1_WIRE_INBOX_OCTETS - tail : len;
    memcpy(r->data + tail, data, first);
    memcpy(r->data, data + first, len - first);
}

/* Called with the inbox's wire locked. */
static int inbox_push(inbox_ring *r, const uint8_t *data, uint32_t len)
{
    size_t need = 4 + (size_t)len;
    if (r->used + need > E1_WIRE_INBOX_OCTETS)
        return -1;
    size_t tail = (r->head + r->used) % E1_WIRE_INBOX_OCTETS;
    const uint8_t hdr[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24)};
    inbox_write(r, tail, hdr, 4);
    inbox_write(r, (tail + 4) % E1_WIRE_INBOX_OCTETS, data, len);
    r->used += need;
    return 0;
}

static uint32_t inbox_peek_len(const inbox_ring *r)
{
    uint32_t len = 0;
    for (int i = 0; i < 4; i++)
        len |= (uint32_t)r->data[(r->head + (size_t)i) % E1_WIRE_INBOX_OCTETS] << (8 * i);
    return len;
}

static void inbox_pop(inbox_ring *r, uint8_t *out, uint32_t len)
{
    size_t pos = (r->head + 4) % E1_WIRE_INBOX_OCTETS;
    size_t first = E1_WIRE_INBOX_OCTETS - pos < len ? E1_WIRE_INBOX_OCTETS - pos : len;
    memcpy(out, r->data + pos, first);
    memcpy(out + first, r->data, len - first);
    r->head = (r->head + 4 + len) % E1_WIRE_INBOX_OCTETS;
    r->used -= 4 + (size_t)len;
}

int e1_wire_inject(e1_wire *w, const uint8_t *data, int len)
{
    if (len < 0)
        return -1;
    pthread_mutex_lock(&w->lock);
    int rc = inbox_push(&w->inbox, data, (uint32_t)len);
    if (rc)
        w->st.inbox_overflow++;
    pthread_mutex_unlock(&w->lock);
    return rc;
}

int e1_wire_send(e1_wire *w, const uint8_t *frames, int nframes)
{
    int per = w->frames_per_datagram;
    if (nframes < 0 || nframes % per)
        return -1;
    size_t step = (size_t)per * FRAME;
    pthread_mutex_lock(&w->lock);
    if (!connected_locked(w)) {
        pthread_mutex_unlock(&w->lock);
        return 0;
    }
    int sent = 0;
    if (w->fd >= 0) {
        for (int i = 0; i < nframes / per; i++) {
            ssize_t n = send(w->fd, frames + (size_t)i * step, step, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                w->st.tx_dropped_datagrams++;  /* the far end is not reading: those frames are lost */
                continue;
            }
            if (n < 0) {
                w->peer_gone = 1;
                break;
            }
            w->st.datagrams_tx++;
            w->st.frames_tx += (uint64_t)per;
            sent++;
        }
        pthread_mutex_unlock(&w->lock);
        return sent;
    }
    e1_wire *peer = w->peer;
    pthread_mutex_unlock(&w->lock);
    /* Never hold both locks: the peer may be sending towards us at the same moment. */
    pthread_mutex_lock(&peer->lock);
    for (int i = 0; i < nframes / per; i++) {
        if (inbox_push(&peer->inbox, frames + (size_t)i * step, (uint32_t)step) != 0) {
            peer->st.inbox_overflow++;
            continue;
        }
        sent++;
    }
    pthread_mutex_unlock(&peer->lock);
    pthread_mutex_lock(&w->lock);
    w->st.datagrams_tx += (uint64_t)sent;
    w->st.frames_tx += (uint64_t)sent * (uint64_t)per;
    pthread_mutex_unlock(&w->lock);
    return sent;
}

/* Called with w locked: accept one datagram into out (room for `room` frames) or count it bad. */
static int take_datagram(e1_wire *w, const uint8_t *data, size_t len, int truncated, uint8_t *out)
{
    if (truncated || len == 0 || len % FRAME) {
        w->st.bad_datagrams++;
        if (w->bad_count < E1_WIRE_BAD_LOG) {
            int slot = (w->bad_head + w->bad_count++) % E1_WIRE_BAD_LOG;
            w->bad_len[slot] = (int)len;
            w->bad_trunc[slot] = truncated;
        }
        return 0;
    }
    memcpy(out, data, len);
    w->st.datagrams_rx++;
    w->st.frames_rx += len / FRAME;
    return (int)(len / FRAME);
}

int e1_wire_receive(e1_wire *w, uint8_t *out, int cap_frames)
{
    int got = 0;
    pthread_mutex_lock(&w->lock);
    /* Injected octets first, then the descriptor. */
    while (w->inbox.used) {
        uint32_t len = inbox_peek_len(&w->inbox);
        int fits = len > E1_WIRE_MAX_DATAGRAM || len % FRAME || (int)(len / FRAME) <= cap_frames - got;
        if (!fits)
            break;
        if (len > E1_WIRE_MAX_DATAGRAM) {   /* cannot come from a socket; injected garbage */
            w->inbox.head = (w->inbox.head + 4 + len) % E1_WIRE_INBOX_OCTETS;
            w->inbox.used -= 4 + (size_t)len;
            take_datagram(w, NULL, len, 1, NULL);
            continue;
        }
        inbox_pop(&w->inbox, w->scratch, len);
        got += take_datagram(w, w->scratch, len, 0, out + (size_t)got * FRAME);
    }
    if (w->fd >= 0 && !w->peer_gone) {
        int per = w->frames_per_datagram;
        while (cap_frames - got >= per || cap_frames - got >= 1) {
            struct iovec iov = {w->scratch, sizeof w->scratch};
            struct msghdr msg = {0};
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            /* Peek the size first so a datagram that does not fit stays for the next call. */
            ssize_t n = recvmsg(w->fd, &msg, MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC);
            if (n < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                    w->peer_gone = 1;
                break;
            }
            if (n == 0) {                     /* end of file: the far end left */
                w->peer_gone = 1;
                break;
            }
            if (n % FRAME == 0 && n <= E1_WIRE_MAX_DATAGRAM && n / FRAME > cap_frames - got)
                break;
            n = recvmsg(w->fd, &msg, MSG_DONTWAIT);
            if (n <= 0)
                break;
            got += take_datagram(w, w->scratch, (size_t)n, (msg.msg_flags & MSG_TRUNC) != 0,
                                 out + (size_t)got * FRAME);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return got;
}

void e1_wire_get_stats(e1_wire *w, e1_wire_stats *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->st;
    pthread_mutex_unlock(&w->lock);
}

int e1_wire_next_bad(e1_wire *w, int *len, int *truncated)
{
    pthread_mutex_lock(&w->lock);
    int got = w->bad_count > 0;
    if (got) {
        *len = w->bad_len[w->bad_head];
        *truncated = w->bad_trunc[w->bad_head];
        w->bad_head = (w->bad_head + 1) % E1_WIRE_BAD_LOG;
        w->bad_count--;
    }
    pthread_mutex_unlock(&w->lock);
    return got;
}
