#include "bridge.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    bridge_point_t *point;
    int32_t gain_q12;
    uint64_t read;           /* next sample of the source's stream to take */
} bridge_source_t;

struct bridge_point {
    int16_t ring[BRIDGE_RING];
    uint64_t written;
    bridge_source_t sources[BRIDGE_MAX_SOURCES];
    int n_sources;
    uint64_t underruns, resyncs;
};

bridge_point_t *bridge_point_new(void)
{
    return calloc(1, sizeof(bridge_point_t));
}

void bridge_point_free(bridge_point_t *p)
{
    free(p);
}

void bridge_point_tap(bridge_point_t *p, const int16_t *amp, int n)
{
    for (int i = 0; i < n; i++)
        p->ring[(p->written + (uint64_t)i) % BRIDGE_RING] = amp[i];
    p->written += (uint64_t)n;
}

static uint64_t start_position(const bridge_point_t *source)
{
    return source->written > BRIDGE_DELAY ? source->written - BRIDGE_DELAY : 0;
}

void bridge_point_mix(bridge_point_t *p, int16_t *amp, int n)
{
    if (p->n_sources == 0)
        return;
    int64_t acc[640];
    for (int done = 0; done < n; done += 640) {
        int m = n - done < 640 ? n - done : 640;
        for (int i = 0; i < m; i++)
            acc[i] = (int64_t)amp[done + i] * 4096;
        for (int s = 0; s < p->n_sources; s++) {
            bridge_source_t *src = &p->sources[s];
            const bridge_point_t *from = src->point;
            if (from->written - src->read > BRIDGE_RING - (uint64_t)m) {
                src->read = start_position(from);          /* fell behind by a ring: skip ahead */
                p->resyncs++;
            }
            uint64_t ready = from->written - src->read;
            int take = ready < (uint64_t)m ? (int)ready : m;
            if (take < m)
                p->underruns++;
            for (int i = 0; i < take; i++)
                acc[i] += (int64_t)from->ring[(src->read + (uint64_t)i) % BRIDGE_RING] * src->gain_q12;
            src->read += (uint64_t)take;
        }
        for (int i = 0; i < m; i++) {
            int64_t v = acc[i] / 4096;
            amp[done + i] = (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
        }
    }
}

int bridge_point_listen(bridge_point_t *p, bridge_point_t *source, int32_t gain_q12)
{
    if (!p || !source || p == source || gain_q12 < -32768 || gain_q12 > 32768)
        return BRIDGE_ERR_ARGUMENT;
    for (int s = 0; s < p->n_sources; s++)
        if (p->sources[s].point == source) {
            p->sources[s].gain_q12 = gain_q12;
            return 0;
        }
    if (p->n_sources == BRIDGE_MAX_SOURCES)
        return BRIDGE_ERR_FULL;
    p->sources[p->n_sources++] = (bridge_source_t){source, gain_q12, start_position(source)};
    return 0;
}

int bridge_point_unlisten(bridge_point_t *p, bridge_point_t *source)
{
    for (int s = 0; s < p->n_sources; s++)
        if (p->sources[s].point == source) {
            p->sources[s] = p->sources[--p->n_sources];
            return 0;
        }
    return BRIDGE_ERR_ARGUMENT;
}

void bridge_point_get_stats(const bridge_point_t *p, bridge_point_stats_t *out)
{
    out->samples_written = p->written;
    out->underruns = p->underruns;
    out->resyncs = p->resyncs;
    out->sources = p->n_sources;
}
