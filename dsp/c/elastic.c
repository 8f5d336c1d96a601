#include "elastic.h"

#include <stdlib.h>
#include <string.h>

#define FRAME 32

struct elastic_store {
    uint8_t *ring;
    uint8_t last[FRAME];
    int depth, rd, fill, primed;
    uint64_t overflow_slips, underflow_slips;
};

elastic_store *elastic_new(int depth_frames)
{
    if (depth_frames < 2 || depth_frames > ELASTIC_MAX_DEPTH)
        return NULL;
    elastic_store *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->ring = malloc((size_t)depth_frames * FRAME);
    if (!e->ring) {
        free(e);
        return NULL;
    }
    e->depth = depth_frames;
    memset(e->last, 0xFF, FRAME);              /* nothing received yet reads as all ones */
    return e;
}

void elastic_free(elastic_store *e)
{
    if (!e)
        return;
    free(e->ring);
    free(e);
}

/* Returns how many arriving frames were dropped (overflow slips). */
int elastic_write(elastic_store *e, const uint8_t *frames, int nframes)
{
    int dropped = 0;
    for (int i = 0; i < nframes; i++) {
        if (e->fill == e->depth) {
            dropped++;
            continue;
        }
        int wr = (e->rd + e->fill) % e->depth;
        memcpy(e->ring + (size_t)wr * FRAME, frames + (size_t)i * FRAME, FRAME);
        e->fill++;
    }
    e->overflow_slips += (uint64_t)dropped;
    /* Reading starts once the store is half full, so jitter either way is absorbed. */
    if (!e->primed && e->fill >= e->depth / 2)
        e->primed = 1;
    return dropped;
}

/* Returns how many frames were repeated (underflow slips). */
int elastic_read(elastic_store *e, uint8_t *out, int nframes)
{
    int repeated = 0;
    for (int i = 0; i < nframes; i++) {
        uint8_t *dst = out + (size_t)i * FRAME;
        if (e->primed && e->fill > 0) {
            memcpy(e->last, e->ring + (size_t)e->rd * FRAME, FRAME);
            e->rd = (e->rd + 1) % e->depth;
            e->fill--;
        } else if (e->primed) {
            repeated++;
        }
        memcpy(dst, e->last, FRAME);
    }
    e->underflow_slips += (uint64_t)repeated;
    return repeated;
}

void elastic_get_stats(elastic_store *e, elastic_stats *out)
{
    out->overflow_slips = e->overflow_slips;
    out->underflow_slips = e->underflow_slips;
    out->fill = e->fill;
    out->depth = e->depth;
    out->primed = e->primed;
}
