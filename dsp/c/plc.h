/* Packet-loss concealment for G.711 channels, in the manner of ITU-T G.711 Appendix I: a lost
 * 10 ms frame is filled by repeating the last pitch period of the good audio, full level for
 * the first 10 ms of a loss, then fading by 20 % per 10 ms to silence at 60 ms; the first
 * good frame after a loss is cross-faded from the concealed continuation so nothing clicks.
 *
 * Block shape as spandsp's: state, init, process (good frames and lost frames), no free
 * needed (the state is plain memory). */
#ifndef PRIBOX_PLC_H
#define PRIBOX_PLC_H

#include <stdint.h>

/* cffi:begin */
#define PLC_HISTORY_SAMPLES 360
#define PLC_MIN_PITCH 40
#define PLC_MAX_PITCH 120
typedef struct {
    int16_t history[PLC_HISTORY_SAMPLES];  /* the most recent good audio, oldest first */
    int filled;                            /* how much of history holds real audio */
    int pitch;                             /* period being repeated during a loss */
    int position;                          /* next sample of the period to play */
    int lost_samples;                      /* length of the current loss so far */
} plc_state_t;

void plc_init(plc_state_t *plc);
/* A good block: remembered, and cross-faded in place if it ends a loss.  Returns 1 if it
 * changed the samples (the block ended a loss), else 0. */
int plc_good(plc_state_t *plc, int16_t *pcm, int n);
/* Fill a lost block. */
void plc_conceal(plc_state_t *plc, int16_t *out, int n);
/* cffi:end */

#endif
