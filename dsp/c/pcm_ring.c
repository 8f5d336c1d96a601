#include "pcm_ring.h"

#include <stdlib.h>
#include <string.h>

struct pcm_ring {
    int16_t *buf;
    int capacity, head, count;
    int64_t lost, total;
};

pcm_ring_t *pcm_ring_new(int capacity_samples)
{
    if (capacity_samples < 1)
        return NULL;
    pcm_ring_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->buf = malloc((size_t)capacity_samples * sizeof *r->buf);
    if (!r->buf) {
        free(r);
        return NULL;
    }
    r->capacity = capacity_samples;
    return r;
}

void pcm_ring_free(pcm_ring_t *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r);
}

void pcm_ring_process(pcm_ring_t *r, const int16_t *samples, int n)
{
    r->total += n;
    for (int i = 0; i < n; i++) {
        if (r->count == r->capacity) {
            r->head = (r->head + 1) % r->capacity;
            r->count--;
            r->lost++;
        }
        r->buf[(r->head + r->count) % r->capacity] = samples[i];
        r->count++;
    }
}

int pcm_ring_take(pcm_ring_t *r, int16_t *out, int max)
{
    int n = r->count < max ? r->count : max;
    int first = r->capacity - r->head < n ? r->capacity - r->head : n;
    memcpy(out, r->buf + r->head, (size_t)first * sizeof *out);
    memcpy(out + first, r->buf, (size_t)(n - first) * sizeof *out);
    r->head = (r->head + n) % r->capacity;
    r->count -= n;
    return n;
}

int64_t pcm_ring_lost(const pcm_ring_t *r) { return r->lost; }
int64_t pcm_ring_total(const pcm_ring_t *r) { return r->total; }
