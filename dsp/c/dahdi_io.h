/* B-channel audio of one DAHDI span in one call: every descriptor's waiting blocks read into
 * its receive ring and every transmit ring's whole blocks written, with no Python per channel.
 * The span's thread (or today the bearer pump) calls it once per tick; descriptors that
 * reported an event (read or write failed with ELAST) are listed for the caller to drain with
 * DAHDI_GETEVENT.  Rings are row-major uint8 [nfds][cap] with a fill count per row. */
#ifndef PRIBOX_DAHDI_IO_H
#define PRIBOX_DAHDI_IO_H

#include <stdint.h>

/* cffi:begin */
#define DAHDI_IO_MAX_BLOCK 8192   /* DAHDI_MAX_BLOCKSIZE */

typedef struct {
    int64_t rx_octets;      /* octets read */
    int64_t tx_octets;      /* octets written */
    int64_t rx_dropped;     /* octets dropped from a full receive ring (oldest first) */
    int64_t tx_busy;        /* writes refused with EAGAIN (the kernel's buffers were full) */
    int64_t errors;         /* reads or writes failing otherwise (errno in last_errno) */
    int32_t last_errno;
} dahdi_io_stats;

int dahdi_bearer_pass(const int32_t *fds, int nfds, int block, int cap,
                      uint8_t *rx, int32_t *rx_len, uint8_t *tx, int32_t *tx_len,
                      int32_t *evented, dahdi_io_stats *stats);
/* cffi:end */

#endif
