#include "capture_tap.h"

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

_Static_assert(sizeof(capture_tap_record) == CAPTURE_TAP_RECORD_HEADER, "record header layout");

/* A record whose length is PAD_RECORD fills the ring's end: the consumer skips to the start. */
#define PAD_RECORD 0xFFFF

struct capture_tap {
    uint8_t *ring;
    uint64_t capacity, mask;
    _Atomic uint64_t head;      /* written by producers (under `producing`) */
    _Atomic uint64_t tail;      /* written by the consumer */
    atomic_flag producing;
    _Atomic int enabled;
    _Atomic uint64_t records, dropped, oversized;
};

static uint64_t padded(uint64_t n) { return (n + 7) & ~(uint64_t)7; }

capture_tap *capture_tap_new(uint32_t capacity_octets)
{
    uint64_t capacity = 4096;
    while (capacity < capacity_octets)
        capacity <<= 1;
    capture_tap *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ring = malloc(capacity);
    if (!t->ring) {
        free(t);
        return NULL;
    }
    /* Touch every page now: a first-touch page fault inside the line thread's tick would make it late. */
    memset(t->ring, 0, capacity);
    t->capacity = capacity;
    t->mask = capacity - 1;
    atomic_flag_clear(&t->producing);
    return t;
}

void capture_tap_free(capture_tap *t)
{
    if (!t)
        return;
    free(t->ring);
    free(t);
}

void capture_tap_enable(capture_tap *t, int on) { atomic_store(&t->enabled, on ? 1 : 0); }

void capture_tap_endpoint_of(capture_tap_endpoint *out, const struct sockaddr_storage *ss)
{
    memset(out, 0, sizeof *out);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        out->family = 4;
        out->port = ntohs(a->sin_port);
        memcpy(out->address, &a->sin_addr, 4);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        out->family = 6;
        out->port = ntohs(a->sin6_port);
        memcpy(out->address, &a->sin6_addr, 16);
    }
}

void capture_tap_put(capture_tap *t, const capture_tap_endpoint *src, const capture_tap_endpoint *dst, int flags,
                     const uint8_t *data, int length)
{
    if (!t || !atomic_load_explicit(&t->enabled, memory_order_relaxed) || length < 0 || src->family == 0)
        return;
    if (length > CAPTURE_TAP_MAX_DATAGRAM) {
        atomic_fetch_add(&t->oversized, 1);
        return;
    }
    uint64_t need = CAPTURE_TAP_RECORD_HEADER + padded((uint64_t)length);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    while (atomic_flag_test_and_set_explicit(&t->producing, memory_order_acquire))
        ;
    uint64_t head = atomic_load_explicit(&t->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&t->tail, memory_order_acquire);
    uint64_t offset = head & t->mask;
    uint64_t to_end = t->capacity - offset;
    uint64_t pad = to_end < need ? to_end : 0;   /* records never wrap: fill the end and start over */
    if (head + pad + need - tail > t->capacity) {
        atomic_flag_clear_explicit(&t->producing, memory_order_release);
        atomic_fetch_add(&t->dropped, 1);
        return;
    }
    if (pad) {
        /* An end shorter than a header needs no marker: the consumer skips it by its size. */
        if (pad >= CAPTURE_TAP_RECORD_HEADER)
            ((capture_tap_record *)(t->ring + offset))->length = PAD_RECORD;
        head += pad;
        offset = 0;
    }
    capture_tap_record *r = (capture_tap_record *)(t->ring + offset);
    r->time_ns = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec;
    r->length = (uint16_t)length;
    r->flags = (uint8_t)flags;
    r->family = src->family;
    r->src_port = src->port;
    r->dst_port = dst->port;
    memcpy(r->src, src->address, 16);
    memcpy(r->dst, dst->address, 16);
    memcpy(t->ring + offset + CAPTURE_TAP_RECORD_HEADER, data, (size_t)length);
    atomic_store_explicit(&t->head, head + need, memory_order_release);
    atomic_flag_clear_explicit(&t->producing, memory_order_release);
    atomic_fetch_add_explicit(&t->records, 1, memory_order_relaxed);
}

uint32_t capture_tap_drain(capture_tap *t, uint8_t *out, uint32_t room)
{
    uint64_t tail = atomic_load_explicit(&t->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&t->head, memory_order_acquire);
    uint32_t written = 0;
    while (tail < head) {
        uint64_t offset = tail & t->mask;
        const capture_tap_record *r = (const capture_tap_record *)(t->ring + offset);
        if (t->capacity - offset < CAPTURE_TAP_RECORD_HEADER || r->length == PAD_RECORD) {
            tail += t->capacity - offset;
            continue;
        }
        uint64_t size = CAPTURE_TAP_RECORD_HEADER + padded(r->length);
        if (written + size > room)
            break;
        memcpy(out + written, r, (size_t)size);
        written += (uint32_t)size;
        tail += size;
    }
    atomic_store_explicit(&t->tail, tail, memory_order_release);
    return written;
}

void capture_tap_get_stats(capture_tap *t, capture_tap_stats *out)
{
    out->records = atomic_load(&t->records);
    out->dropped = atomic_load(&t->dropped);
    out->oversized = atomic_load(&t->oversized);
    out->queued_octets = atomic_load(&t->head) - atomic_load(&t->tail);
    out->capacity = t->capacity;
}
