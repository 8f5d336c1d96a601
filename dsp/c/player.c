#include "player.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const int16_t *samples;
    int64_t n_samples;
    int64_t id;
    int32_t loops;          /* 0 = forever */
    int32_t interruptible;
} player_item_t;

struct player_state {
    player_item_t queue[PLAYER_MAX_QUEUE]; /* ring; queue[head] is the current item */
    int head;
    int count;
    int64_t position;
    int64_t played;
    int32_t loops_done;
    int64_t next_id;
    int32_t paused;
    int32_t mode;
    int32_t gain;
    player_barge_probe_fn probe;
    const void *probe_state;
    char last_digit;
    player_event_t events[PLAYER_MAX_EVENTS]; /* ring */
    int ev_head;
    int ev_count;
    int64_t lost_events;
};

player_state_t *player_new(void)
{
    player_state_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->next_id = 1;
    s->mode = PLAYER_REPLACE;
    s->gain = PLAYER_GAIN_UNITY;
    return s;
}

void player_free(player_state_t *s)
{
    free(s);
}

int player_enqueue(player_state_t *s, const int16_t *samples, int64_t n_samples, int32_t loops,
                   int32_t interruptible, int64_t *item_id)
{
    if (s == NULL || samples == NULL || n_samples < 1 || loops < 0)
        return PLAYER_ERR_ARGUMENT;
    if (s->count >= PLAYER_MAX_QUEUE)
        return PLAYER_ERR_QUEUE_FULL;
    player_item_t *item = &s->queue[(s->head + s->count) % PLAYER_MAX_QUEUE];
    item->samples = samples;
    item->n_samples = n_samples;
    item->loops = loops;
    item->interruptible = interruptible != 0;
    item->id = s->next_id++;
    if (s->count == 0) {
        s->position = 0;
        s->played = 0;
        s->loops_done = 0;
    }
    s->count++;
    if (item_id != NULL)
        *item_id = item->id;
    return 0;
}

static void push_event(player_state_t *s, int64_t id, int64_t played, int32_t reason, char digit)
{
    if (s->ev_count == PLAYER_MAX_EVENTS) {
        /* keep the newest: the oldest is the one least likely to still matter */
        s->ev_head = (s->ev_head + 1) % PLAYER_MAX_EVENTS;
        s->ev_count--;
        s->lost_events++;
    }
    player_event_t *ev = &s->events[(s->ev_head + s->ev_count) % PLAYER_MAX_EVENTS];
    ev->item_id = id;
    ev->samples_played = played;
    ev->reason = reason;
    ev->digit = digit;
    s->ev_count++;
}

static void end_current(player_state_t *s, int32_t reason, char digit)
{
    if (s->count == 0)
        return;
    push_event(s, s->queue[s->head].id, s->played, reason, digit);
    s->head = (s->head + 1) % PLAYER_MAX_QUEUE;
    s->count--;
    s->position = 0;
    s->played = 0;
    s->loops_done = 0;
}

static void end_all(player_state_t *s, int32_t reason, char digit)
{
    while (s->count > 0)
        end_current(s, reason, digit);
}

void player_skip(player_state_t *s)
{
    if (s != NULL)
        end_current(s, PLAYER_END_STOPPED, 0);
}

void player_stop(player_state_t *s)
{
    if (s != NULL)
        end_all(s, PLAYER_END_STOPPED, 0);
}

void player_pause(player_state_t *s, int32_t paused)
{
    if (s != NULL)
        s->paused = paused != 0;
}

int player_set_gain(player_state_t *s, int32_t gain_q12)
{
    if (s == NULL || gain_q12 < 0 || gain_q12 > PLAYER_GAIN_MAX)
        return PLAYER_ERR_ARGUMENT;
    s->gain = gain_q12;
    return 0;
}

int player_set_mode(player_state_t *s, int32_t mode)
{
    if (s == NULL || (mode != PLAYER_MIX && mode != PLAYER_REPLACE))
        return PLAYER_ERR_ARGUMENT;
    s->mode = mode;
    return 0;
}

void player_link_barge_in(player_state_t *s, player_barge_probe_fn probe, void *probe_state)
{
    if (s == NULL)
        return;
    s->probe = probe;
    s->probe_state = probe_state;
    s->last_digit = 0;
}

char player_flag_probe(const void *flag)
{
    return flag == NULL ? 0 : *(const volatile char *)flag;
}

static int16_t saturate(int32_t v)
{
    return v > INT16_MAX ? INT16_MAX : v < INT16_MIN ? INT16_MIN : (int16_t)v;
}

/* Writes n prompt samples starting at src into amp. */
static void write_samples(const player_state_t *s, int16_t *amp, const int16_t *src, int n)
{
    if (s->gain == PLAYER_GAIN_UNITY) {
        if (s->mode == PLAYER_REPLACE) {
            memcpy(amp, src, (size_t)n * sizeof *amp);
        } else {
            for (int i = 0; i < n; i++)
                amp[i] = saturate((int32_t)amp[i] + src[i]);
        }
        return;
    }
    for (int i = 0; i < n; i++) {
        int32_t v = ((int32_t)src[i] * s->gain + (1 << 11)) >> 12;
        amp[i] = saturate(s->mode == PLAYER_REPLACE ? v : v + amp[i]);
    }
}

static void check_barge_in(player_state_t *s)
{
    if (s->probe == NULL)
        return;
    char digit = s->probe(s->probe_state);
    char fresh = digit != 0 && digit != s->last_digit;
    s->last_digit = digit;
    if (fresh && s->count > 0 && s->queue[s->head].interruptible)
        end_all(s, PLAYER_END_BARGE_IN, digit);
}

void player_process(player_state_t *s, int16_t *amp, int n)
{
    if (s == NULL || amp == NULL || n <= 0)
        return;
    check_barge_in(s);
    if (s->paused)
        return;
    int done = 0;
    while (done < n && s->count > 0) {
        player_item_t *item = &s->queue[s->head];
        int64_t left = item->n_samples - s->position;
        int chunk = left < n - done ? (int)left : n - done;
        write_samples(s, amp + done, item->samples + s->position, chunk);
        done += chunk;
        s->position += chunk;
        s->played += chunk;
        if (s->position == item->n_samples) {
            s->position = 0;
            s->loops_done++;
            if (item->loops != 0 && s->loops_done >= item->loops)
                end_current(s, PLAYER_END_DONE, 0);
        }
    }
}

void player_process_many(player_state_t **states, int n_channels, int16_t *amp, int n)
{
    if (states == NULL || amp == NULL || n <= 0)
        return;
    for (int c = 0; c < n_channels; c++)
        player_process(states[c], amp + (size_t)c * (size_t)n, n);
}

int player_get_events(player_state_t *s, player_event_t *out, int max)
{
    if (s == NULL || out == NULL || max <= 0)
        return 0;
    int k = 0;
    while (k < max && s->ev_count > 0) {
        out[k++] = s->events[s->ev_head];
        s->ev_head = (s->ev_head + 1) % PLAYER_MAX_EVENTS;
        s->ev_count--;
    }
    return k;
}

void player_get_status(const player_state_t *s, player_status_t *out)
{
    if (s == NULL || out == NULL)
        return;
    memset(out, 0, sizeof *out);
    if (s->count > 0) {
        out->current_item = s->queue[s->head].id;
        out->position = s->position;
        out->samples_played = s->played;
        out->queued = s->count - 1;
    }
    out->paused = s->paused;
    out->mode = s->mode;
    out->gain_q12 = s->gain;
    out->next_item = s->next_id;
    out->lost_events = s->lost_events;
}
