/* PRBS 2^15-1 test pattern of ITU-T O.151 (x^15 + x^14 + 1, inverted output): the generator
 * and a checker that locks onto the received sequence and then runs free, so each received
 * bit error is counted once (a self-synchronising checker would count it three times). */
#ifndef PRIBOX_PRBS_H
#define PRIBOX_PRBS_H

#include <stdint.h>

#define PRBS_SYNC_RUN 32          /* error-free predictions needed to declare sync */
#define PRBS_WINDOW_BITS 1024     /* sync is lost at >= 20 % errors in one window */
#define PRBS_WINDOW_LOSS 205

typedef struct {
    uint16_t state;
} prbs_gen;

typedef struct {
    uint16_t reg;
    int loaded, good_run, in_sync;
    int window_bits, window_errors;
    uint64_t bits_checked, bit_errors, resyncs;
} prbs_chk;

void prbs_gen_init(prbs_gen *g);
uint8_t prbs_gen_octet(prbs_gen *g);     /* 8 line bits, first bit in the MSB */
void prbs_chk_init(prbs_chk *c);
void prbs_chk_octet(prbs_chk *c, uint8_t octet);

#endif
