#include "impair.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct line_impairment {
    uint64_t rng;
    double ber, log_keep;      /* log(1 - ber) */
    uint64_t gap;              /* clean bits before the next random error */
    uint64_t burst_left;
    int ais, cut;
    uint64_t errors_injected;
};

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t draw_gap(line_impairment *im)
{
    if (im->ber <= 0.0)
        return UINT64_MAX;
    if (im->ber >= 1.0)
        return 0;
    double u = ((double)(splitmix64(&im->rng) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double g = floor(log(u) / im->log_keep);
    return g >= 1.8e19 ? UINT64_MAX : (uint64_t)g;
}

line_impairment *impair_new(uint64_t seed)
{
    line_impairment *im = calloc(1, sizeof *im);
    if (!im)
        return NULL;
    im->rng = seed;
    im->gap = UINT64_MAX;
    return im;
}

void impair_free(line_impairment *im)
{
    free(im);
}

void impair_set_ber(line_impairment *im, double ber)
{
    im->ber = ber;
    im->log_keep = (ber > 0.0 && ber < 1.0) ? log1p(-ber) : 0.0;
    im->gap = draw_gap(im);
}

void impair_burst(line_impairment *im, uint32_t nbits)
{
    im->burst_left += nbits;
}

void impair_set_ais(line_impairment *im, int on)
{
    im->ais = on != 0;
}

void impair_set_cut(line_impairment *im, int on)
{
    im->cut = on != 0;
}

static inline void flip(uint8_t *data, uint64_t bit)
{
    data[bit >> 3] ^= (uint8_t)(0x80u >> (bit & 7));   /* line order: MSB of each octet first */
}

void impair_apply(line_impairment *im, uint8_t *data, uint64_t nbytes)
{
    if (im->cut) {
        memset(data, 0x00, nbytes);
        return;
    }
    if (im->ais) {
        memset(data, 0xFF, nbytes);
        return;
    }
    uint64_t nbits = nbytes * 8;
    uint64_t pos = 0;
    if (im->burst_left) {
        uint64_t n = im->burst_left < nbits ? im->burst_left : nbits;
        for (uint64_t b = 0; b < n; b++)
            flip(data, b);
        im->burst_left -= n;
        im->errors_injected += n;
    }
    while (im->gap < nbits - pos) {
        pos += im->gap;
        flip(data, pos);
        im->errors_injected++;
        pos++;
        im->gap = draw_gap(im);
    }
    if (im->gap != UINT64_MAX)
        im->gap -= nbits - pos;
}

uint64_t impair_errors_injected(line_impairment *im)
{
    return im->errors_injected;
}
