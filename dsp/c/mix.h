/* Mixing with saturation: N-party conferences and weighted mixes (supervisor monitor, whisper
 * and barge are weight matrices over caller, agent and supervisor).  Sums run in 32 bits and
 * clip to int16 once at the end, so loud parties clip instead of wrapping around.
 *
 * Layout: streams are rows of n samples, row-major: in[party][n], out[listener][n]. */
#ifndef PRIBOX_MIX_H
#define PRIBOX_MIX_H

#include <stdint.h>

/* cffi:begin */
#define MIX_MAX_PARTIES 64
#define MIX_UNITY_GAIN 4096
#define MIX_ERR_ARGUMENT -1
/* Every party hears everyone but itself: out[p] = clip(sum of in[q], q != p). */
int mix_conference(const int16_t *in, int parties, int n, int16_t *out);
/* out[l] = clip(sum over p of weights[l][p] * in[p] / MIX_UNITY_GAIN); weights are Q12 gains
 * (4096 = 0 dB, 0 = not heard, negative allowed) for `listeners` rows of `parties` columns. */
int mix_weighted(const int16_t *in, int parties, int n, const int32_t *weights, int listeners,
                 int16_t *out);
/* cffi:end */

#endif
