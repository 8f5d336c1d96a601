/* One end of the emulated E1 wire, in C so the line's own thread can move frames without Python.
 *
 * A wire carries whole 32-octet frames in datagrams of `frames_per_datagram` frames (contract:
 * docs/emulated-wire.md).  Two kinds of far end:
 *   - a connected SOCK_SEQPACKET descriptor handed over by the control plane, which keeps the
 *     socket object and its listen/accept/connect life; the wire never closes it, and notes
 *     `peer_gone` when a read or write shows the far end left (the control plane then detaches);
 *   - another wire in the same process (`e1_wire_pair`): what one end sends waits in the other
 *     end's inbox, for lockstep tests on the virtual clock.
 * Every call locks the wire, so the control plane may read stats, inject or detach while the
 * line's thread sends and receives. */
#ifndef PRIBOX_E1_WIRE_H
#define PRIBOX_E1_WIRE_H

#include <stdint.h>

/* cffi:begin */
#define E1_WIRE_MAX_DATAGRAM 65536
#define E1_WIRE_INBOX_OCTETS 1048576
#define E1_WIRE_BAD_LOG 16

typedef struct e1_wire e1_wire;

typedef struct {
    uint64_t datagrams_tx;
    uint64_t datagrams_rx;
    uint64_t frames_tx;
    uint64_t frames_rx;
    uint64_t bad_datagrams;
    uint64_t tx_dropped_datagrams;
    uint64_t connects;
    uint64_t disconnects;
    uint64_t inbox_overflow;
} e1_wire_stats;

e1_wire *e1_wire_new(int frames_per_datagram);
void e1_wire_free(e1_wire *w);
void e1_wire_pair(e1_wire *a, e1_wire *b);          /* in-process far ends of each other */
void e1_wire_attach_fd(e1_wire *w, int fd);          /* a connected, non-blocking descriptor */
void e1_wire_detach_fd(e1_wire *w);                  /* forget the descriptor (the caller closes it) */
int e1_wire_peer_gone(e1_wire *w);                   /* 1 once the descriptor's far end left */
void e1_wire_set_plugged(e1_wire *w, int plugged);
int e1_wire_plugged(e1_wire *w);
int e1_wire_connected(e1_wire *w);
int e1_wire_frames_per_datagram(e1_wire *w);
/* Send n frames (a multiple of frames_per_datagram) as datagrams; nowhere when unplugged. */
int e1_wire_send(e1_wire *w, const uint8_t *frames, int nframes);
/* Whole frames that arrived, at most cap; a datagram not a whole number of frames is counted
 * in bad_datagrams and dropped; a datagram that would not fit waits for the next call. */
int e1_wire_receive(e1_wire *w, uint8_t *out, int cap_frames);
/* Raw octets towards this end, as a misbehaving far end would send them. */
int e1_wire_inject(e1_wire *w, const uint8_t *data, int len);
void e1_wire_get_stats(e1_wire *w, e1_wire_stats *out);
/* The size of a recent bad datagram (truncated: larger than E1_WIRE_MAX_DATAGRAM), for the
 * control plane's log; the last E1_WIRE_BAD_LOG are kept.  Returns 1 if one was taken. */
int e1_wire_next_bad(e1_wire *w, int *len, int *truncated);
/* cffi:end */

#endif
