/* Receive elastic store: whole E1 frames written as they arrive from the wire, read at the
 * local clock's rate.  A full store drops the arriving frame, an empty one repeats the last
 * frame read: each is one controlled slip, as in a real E1 receiver. */
#ifndef PRIBOX_ELASTIC_H
#define PRIBOX_ELASTIC_H

#include <stdint.h>

/* cffi:begin */
#define ELASTIC_MAX_DEPTH 65536
typedef struct elastic_store elastic_store;
typedef struct {
    uint64_t overflow_slips;
    uint64_t underflow_slips;
    int fill;
    int depth;
    int primed;
} elastic_stats;
elastic_store *elastic_new(int depth_frames);
void elastic_free(elastic_store *e);
int elastic_write(elastic_store *e, const uint8_t *frames, int nframes);
int elastic_read(elastic_store *e, uint8_t *out, int nframes);
void elastic_get_stats(elastic_store *e, elastic_stats *out);
/* cffi:end */

#endif
