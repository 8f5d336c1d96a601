/* Prompt player: plays queued int16 8 kHz prompts into one channel's outgoing audio.
 *
 * Shaped like a spandsp block: a state per channel, new/free, and
 * player_process(state, amp, n) that writes the next n samples of what is playing into amp,
 * either replacing what is there or mixed into it with saturation.  player_process_many() runs
 * a whole bank of channels in one call.
 *
 * Each channel has a FIFO of items (a prompt, how many times to play it, whether a caller's
 * digit may interrupt it).  Prompt samples are borrowed, never copied: the caller keeps them
 * alive until the item's end event has been read (dsp/prompts.py does this).
 *
 * Barge-in: player_link_barge_in() gives the player a probe, char probe(const void *state),
 * that returns the digit a detector hears right now, or 0 -- dtmf_rx_current() has exactly
 * this shape.  At the start of each process call the player asks the probe; a digit that was
 * not there on the previous call stops an interruptible item and flushes the queue before a
 * single sample of this block is written.  A key still held from before does not count again.
 *
 * Control calls and process calls on one player must not overlap (one thread at a time, as
 * for the media batch); every control call takes effect from the next process call. */
#ifndef PRIBOX_PLAYER_H
#define PRIBOX_PLAYER_H

#include <stdint.h>

/* cffi:begin */
#define PLAYER_MAX_QUEUE 16
#define PLAYER_MAX_EVENTS 64
#define PLAYER_MIX 0
#define PLAYER_REPLACE 1
#define PLAYER_END_DONE 1
#define PLAYER_END_BARGE_IN 2
#define PLAYER_END_STOPPED 3
/* gain is Q12 fixed point: 4096 = 0 dB */
#define PLAYER_GAIN_UNITY 4096
#define PLAYER_GAIN_MAX 16384
#define PLAYER_ERR_ARGUMENT -1
#define PLAYER_ERR_QUEUE_FULL -2

typedef struct player_state player_state_t;
typedef char (*player_barge_probe_fn)(const void *state);

typedef struct {
    int64_t item_id;         /* as returned by player_enqueue */
    int64_t samples_played;  /* over every loop of the item */
    int32_t reason;          /* PLAYER_END_DONE, PLAYER_END_BARGE_IN or PLAYER_END_STOPPED */
    char digit;              /* the digit that barged in, else 0 */
} player_event_t;

typedef struct {
    int64_t current_item;    /* item playing now, or 0 */
    int64_t position;        /* next sample of the current item's prompt */
    int64_t samples_played;  /* of the current item, over its loops so far */
    int32_t queued;          /* items waiting behind the current one */
    int32_t paused;
    int32_t mode;
    int32_t gain_q12;
    int64_t next_item;       /* the id the next enqueue will get */
    int64_t lost_events;     /* end events dropped because nobody read them in time */
} player_status_t;

player_state_t *player_new(void);
void player_free(player_state_t *s);
/* loops: times to play the prompt, 0 = until stopped.  Returns 0 and the id in *item_id. */
int player_enqueue(player_state_t *s, const int16_t *samples, int64_t n_samples, int32_t loops,
                   int32_t interruptible, int64_t *item_id);
/* Ends the current item (reason STOPPED); the queue plays on. */
void player_skip(player_state_t *s);
/* Ends the current item and every queued one (reason STOPPED). */
void player_stop(player_state_t *s);
void player_pause(player_state_t *s, int32_t paused);
int player_set_gain(player_state_t *s, int32_t gain_q12);
int player_set_mode(player_state_t *s, int32_t mode);
/* probe NULL unlinks. */
void player_link_barge_in(player_state_t *s, player_barge_probe_fn probe, void *probe_state);
/* A ready-made probe over a one-character cell: whoever hears a digit (a detector, an RFC 4733
 * telephone-event, the control plane) writes it there, and 0 when the key is released. */
char player_flag_probe(const void *flag);
void player_process(player_state_t *s, int16_t *amp, int n);
/* Bank of channels: amp is n_channels rows of n samples; a NULL state leaves its row alone. */
void player_process_many(player_state_t **states, int n_channels, int16_t *amp, int n);
/* Copies out up to max end events (oldest first) and removes them; returns the count. */
int player_get_events(player_state_t *s, player_event_t *out, int max);
void player_get_status(const player_state_t *s, player_status_t *out);
/* cffi:end */

#endif
