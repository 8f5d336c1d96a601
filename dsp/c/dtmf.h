/* DTMF receiver and generator (ITU-T Q.23 frequencies, Q.24 receiver limits).
 *
 * Shaped like spandsp's dtmf.h: a state struct per channel, init, process over a block of
 * int16 linear samples at 8 kHz, results read back, free.  dtmf_rx_many() runs a whole bank
 * of channels in one call, for the per-tick batch.
 *
 * Levels are in dBm0 with spandsp's convention: a full-scale int16 sine is +3.14 dBm0.
 */
#ifndef PRIBOX_DTMF_H
#define PRIBOX_DTMF_H

#include <stdint.h>

/* cffi:begin */
#define DTMF_EVENT_START 1
#define DTMF_EVENT_END 2
/* Samples between two detector decisions; each decision looks at the last 2 hops. */
#define DTMF_HOP_SAMPLES 51
#define DTMF_TX_MAX_QUEUE 128

typedef struct dtmf_rx_state dtmf_rx_state_t;
typedef struct dtmf_tx_state dtmf_tx_state_t;

typedef struct {
    int32_t kind;        /* DTMF_EVENT_START or DTMF_EVENT_END */
    char digit;          /* one of 0123456789*#ABCD */
    int64_t sample;      /* sample index since init: tone onset for START, tone end for END */
} dtmf_event_t;

typedef struct {
    float min_level_dbm0;      /* weakest accepted tone of the pair */
    float normal_twist_db;     /* low group louder than high group by at most this */
    float reverse_twist_db;    /* high group louder than low group by at most this */
    float max_deviation;       /* fraction of nominal frequency, e.g. 0.025 */
    float min_tone_fraction;   /* the pair's share of the total power in a decision window */
    float relative_peak_db;    /* best row/column above the other rows/columns by this */
    int32_t on_decisions;      /* consecutive hits that start a digit */
    int32_t off_decisions;     /* consecutive misses that end it */
} dtmf_rx_params_t;

dtmf_rx_state_t *dtmf_rx_new(void);
void dtmf_rx_free(dtmf_rx_state_t *s);
void dtmf_rx_reset(dtmf_rx_state_t *s);
void dtmf_rx_default_params(dtmf_rx_params_t *p);
/* Returns 0, or -1 when a parameter is out of range (the previous ones stay). */
int dtmf_rx_set_params(dtmf_rx_state_t *s, const dtmf_rx_params_t *p);
void dtmf_rx_get_params(const dtmf_rx_state_t *s, dtmf_rx_params_t *p);
void dtmf_rx(dtmf_rx_state_t *s, const int16_t *amp, int n);
/* Bank of channels: amp is n_channels rows of n samples each. */
void dtmf_rx_many(dtmf_rx_state_t **states, int n_channels, const int16_t *amp, int n);
/* Copies out up to max queued events (oldest first) and removes them; returns the count. */
int dtmf_rx_get_events(dtmf_rx_state_t *s, dtmf_event_t *out, int max);
/* The digit being received now, or 0. */
char dtmf_rx_current(const dtmf_rx_state_t *s);
/* Events dropped because nobody read the queue in time. */
int64_t dtmf_rx_lost_events(const dtmf_rx_state_t *s);

dtmf_tx_state_t *dtmf_tx_new(void);
void dtmf_tx_free(dtmf_tx_state_t *s);
/* level of the low-group tone in dBm0; twist_db = low minus high; returns -1 if out of range. */
int dtmf_tx_set_level(dtmf_tx_state_t *s, float low_level_dbm0, float twist_db);
/* returns -1 if on_ms or off_ms is out of range. */
int dtmf_tx_set_timing(dtmf_tx_state_t *s, int on_ms, int off_ms);
/* Queues digits; returns how many were taken, or -1 (nothing queued) on a non-DTMF character. */
int dtmf_tx_put(dtmf_tx_state_t *s, const char *digits, int len);
/* Writes up to max samples; returns how many were written (fewer once the queue ran dry). */
int dtmf_tx(dtmf_tx_state_t *s, int16_t *amp, int max);
int dtmf_tx_pending(const dtmf_tx_state_t *s);
/* cffi:end */

#endif
