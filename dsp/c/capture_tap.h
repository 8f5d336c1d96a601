/* A capture tap: the data plane copies each datagram it sends or receives into a bounded byte
 * ring, and the control plane drains whole records in batches to a capture's writer.  A full
 * ring drops the copy and counts it; the datagram itself goes on untouched, so capturing never
 * costs a call.  Producers (the line thread, or whoever advances a port) serialize on a spin
 * flag held only while one record is copied; the one consumer takes no lock. */
#ifndef PRIBOX_CAPTURE_TAP_H
#define PRIBOX_CAPTURE_TAP_H

#include <stdint.h>

/* cffi:begin */
#define CAPTURE_TAP_SENT 1           /* flags: the box sent it (else received) */
#define CAPTURE_TAP_RTCP 2           /* on the leg's RTCP socket (else its RTP socket) */
#define CAPTURE_TAP_RECORD_HEADER 48
#define CAPTURE_TAP_MAX_DATAGRAM 2048

/* One record as drained: this header, then `length` octets, then padding to 8 octets.  The
 * addresses are the datagram's source and destination (4 or 16 octets used by `family`,
 * 4 = IPv4, 6 = IPv6), ports in host order. */
typedef struct {
    int64_t time_ns;            /* CLOCK_REALTIME when copied */
    uint16_t length;
    uint8_t flags;
    uint8_t family;
    uint16_t src_port, dst_port;
    uint8_t src[16], dst[16];
} capture_tap_record;

typedef struct capture_tap capture_tap;

typedef struct {
    uint64_t records;           /* copied into the ring */
    uint64_t dropped;           /* refused: the ring was full */
    uint64_t oversized;         /* longer than CAPTURE_TAP_MAX_DATAGRAM: not copied */
    uint64_t queued_octets;
    uint64_t capacity;
} capture_tap_stats;

capture_tap *capture_tap_new(uint32_t capacity_octets);   /* rounded up to a power of two */
void capture_tap_free(capture_tap *t);
void capture_tap_enable(capture_tap *t, int on);        /* off: producers copy nothing */
/* Whole records, oldest first, into `out` (at most `room` octets); returns the octets written. */
uint32_t capture_tap_drain(capture_tap *t, uint8_t *out, uint32_t room);
void capture_tap_get_stats(capture_tap *t, capture_tap_stats *out);
/* cffi:end */

/* For the data plane: copy one datagram (a no-op when the tap is off or NULL). */
struct sockaddr_storage;
typedef struct {
    uint8_t family;             /* 0: unknown (the datagram is not copied) */
    uint16_t port;
    uint8_t address[16];
} capture_tap_endpoint;

void capture_tap_endpoint_of(capture_tap_endpoint *out, const struct sockaddr_storage *ss);
void capture_tap_put(capture_tap *t, const capture_tap_endpoint *src, const capture_tap_endpoint *dst, int flags,
                     const uint8_t *data, int length);

#endif
