/* Line impairments applied in place to E1 frames on their way over the wire: random bit errors
 * at a set rate (geometric gaps between errors, so the cost follows the number of errors, not
 * the number of bits), bursts of consecutive errored bits, AIS (all ones) and a cut (all zeros). */
#ifndef PRIBOX_IMPAIR_H
#define PRIBOX_IMPAIR_H

#include <stdint.h>

/* cffi:begin */
typedef struct line_impairment line_impairment;
line_impairment *impair_new(uint64_t seed);
void impair_free(line_impairment *im);
void impair_set_ber(line_impairment *im, double ber);
void impair_burst(line_impairment *im, uint32_t nbits);
void impair_set_ais(line_impairment *im, int on);
void impair_set_cut(line_impairment *im, int on);
void impair_apply(line_impairment *im, uint8_t *data, uint64_t nbytes);
uint64_t impair_errors_injected(line_impairment *im);
/* cffi:end */

#endif
