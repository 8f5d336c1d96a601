/* See dahdi_io.h. */
#include "dahdi_io.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* DAHDI fails a read or write with ELAST (500) while an event waits on the channel. */
#define DAHDI_ELAST 500

static void drop_oldest(uint8_t *ring, int32_t *len, int n)
{
    memmove(ring, ring + n, (size_t)(*len - n));
    *len -= n;
}

int dahdi_bearer_pass(const int32_t *fds, int nfds, int block, int cap,
                      uint8_t *rx, int32_t *rx_len, uint8_t *tx, int32_t *tx_len,
                      int32_t *evented, dahdi_io_stats *stats)
{
    int nevented = 0;
    if (block <= 0 || block > DAHDI_IO_MAX_BLOCK || cap < block)
        return -1;
    for (int i = 0; i < nfds; i++) {
        uint8_t *ring = rx + (size_t)i * (size_t)cap;
        int flagged = 0;
        /* Receive: each read returns at most one block; stop at EAGAIN (non-blocking fds). */
        for (int guard = 0; guard < 64; guard++) {
            uint8_t chunk[DAHDI_IO_MAX_BLOCK];
            ssize_t got = read(fds[i], chunk, (size_t)block);
            if (got > 0) {
                if (rx_len[i] + got > cap) { /* nobody took the audio: the oldest goes */
                    int excess = rx_len[i] + (int)got - cap;
                    stats->rx_dropped += excess;
                    drop_oldest(ring, &rx_len[i], excess);
                }
                memcpy(ring + rx_len[i], chunk, (size_t)got);
                rx_len[i] += (int32_t)got;
                stats->rx_octets += got;
                continue;
            }
            if (got < 0 && errno == DAHDI_ELAST)
                flagged = 1;
            else if (got < 0 && errno != EAGAIN && errno != EINTR) {
                stats->errors++;
                stats->last_errno = errno;
            }
            break;
        }
        /* Transmit whole blocks only: DAHDI spends one buffer per write, however short. */
        uint8_t *out = tx + (size_t)i * (size_t)cap;
        while (!flagged && tx_len[i] >= block) {
            ssize_t put = write(fds[i], out, (size_t)block);
            if (put > 0) {
                stats->tx_octets += put;
                drop_oldest(out, &tx_len[i], (int)put);
                continue;
            }
            if (put < 0 && errno == DAHDI_ELAST)
                flagged = 1;
            else if (put < 0 && (errno == EAGAIN || errno == EINTR))
                stats->tx_busy++;
            else {
                stats->errors++;
                stats->last_errno = errno;
            }
            break;
        }
        if (flagged)
            evented[nevented++] = i;
    }
    return nevented;
}
