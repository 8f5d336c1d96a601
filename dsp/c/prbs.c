#include "prbs.h"

#include <string.h>

static inline unsigned feedback(uint16_t reg)
{
    return ((reg >> 14) ^ (reg >> 13)) & 1u;
}

void prbs_gen_init(prbs_gen *g)
{
    g->state = 0x7FFF;
}

uint8_t prbs_gen_octet(prbs_gen *g)
{
    unsigned out = 0;
    uint16_t reg = g->state;
    for (int i = 0; i < 8; i++) {
        unsigned bit = feedback(reg);
        reg = (uint16_t)(((reg << 1) | bit) & 0x7FFF);
        out = (out << 1) | (bit ^ 1u);           /* O.151 sends the 2^15-1 pattern inverted */
    }
    g->state = reg;
    return (uint8_t)out;
}

void prbs_chk_init(prbs_chk *c)
{
    memset(c, 0, sizeof *c);
}

static inline void chk_bit(prbs_chk *c, unsigned line_bit)
{
    unsigned bit = line_bit ^ 1u;
    if (!c->in_sync) {
        if (c->loaded < 15) {
            c->loaded++;
        } else if (feedback(c->reg) == bit && c->reg != 0) {
            if (++c->good_run >= PRBS_SYNC_RUN) {
                c->in_sync = 1;
                c->window_bits = c->window_errors = 0;
            }
        } else {
            c->good_run = 0;
        }
        c->reg = (uint16_t)(((c->reg << 1) | bit) & 0x7FFF);
        return;
    }
    unsigned expected = feedback(c->reg);
    c->reg = (uint16_t)(((c->reg << 1) | expected) & 0x7FFF);
    c->bits_checked++;
    if (expected != bit) {
        c->bit_errors++;
        c->window_errors++;
    }
    if (++c->window_bits == PRBS_WINDOW_BITS) {
        if (c->window_errors >= PRBS_WINDOW_LOSS) {
            c->in_sync = 0;
            c->loaded = c->good_run = 0;
            c->resyncs++;
        }
        c->window_bits = c->window_errors = 0;
    }
}

void prbs_chk_octet(prbs_chk *c, uint8_t octet)
{
    for (int i = 7; i >= 0; i--)
        chk_bit(c, (octet >> i) & 1u);
}
