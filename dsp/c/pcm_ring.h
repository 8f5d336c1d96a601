/* A recorder tap: linear audio of one channel and direction copied into a bounded ring inside
 * the media tick, for the control plane to drain off the tick (to a WAV file, a probe, a test).
 * A ring the control plane did not drain in time keeps the newest audio and counts the loss. */
#ifndef PRIBOX_PCM_RING_H
#define PRIBOX_PCM_RING_H

#include <stdint.h>

/* cffi:begin */
typedef struct pcm_ring pcm_ring_t;
pcm_ring_t *pcm_ring_new(int capacity_samples);
void pcm_ring_free(pcm_ring_t *r);
void pcm_ring_process(pcm_ring_t *r, const int16_t *samples, int n);   /* the tap */
int pcm_ring_take(pcm_ring_t *r, int16_t *out, int max);                /* oldest first */
int64_t pcm_ring_lost(const pcm_ring_t *r);
int64_t pcm_ring_total(const pcm_ring_t *r);                            /* samples seen */
/* cffi:end */

#endif
