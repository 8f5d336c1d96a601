/* See media_port.h. */
#include "media_port.h"
#include "rt_lock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define CHANNELS MEDIA_PORT_CHANNELS
#define BLOCK MEDIA_PORT_BLOCK

struct media_port {
    pthread_mutex_t lock;
    media_batch_t *batch;
    int blocks;
    player_state_t *players[CHANNELS];
    dtmf_rx_state_t *receivers[CHANNELS];
    media_port_event events[MEDIA_PORT_EVENT_QUEUE];
    int events_head, events_count;
    uint64_t events_lost;
    volatile uint32_t events_counter;
    uint8_t net_in[CHANNELS * BLOCK], net_out[CHANNELS * BLOCK];
    uint8_t net_in_len[CHANNELS], net_out_len[CHANNELS];
    int16_t pcm_from[CHANNELS * BLOCK], pcm_to[CHANNELS * BLOCK];
};

media_port *media_port_new(void)
{
    media_port *mp = calloc(1, sizeof *mp);
    if (!mp)
        return NULL;
    mp->batch = media_batch_new(CHANNELS, 1);
    if (!mp->batch) {
        free(mp);
        return NULL;
    }
    rt_lock_init(&mp->lock);
    return mp;
}

void media_port_free(media_port *mp)
{
    if (!mp)
        return;
    pthread_mutex_destroy(&mp->lock);
    media_batch_free(mp->batch);
    free(mp);
}

#define LOCKED(mp, stmt)                   \
    do {                                   \
        pthread_mutex_lock(&(mp)->lock);   \
        stmt;                              \
        pthread_mutex_unlock(&(mp)->lock); \
    } while (0)

static void push_event(media_port *mp, media_port_event ev)
{
    if (mp->events_count == MEDIA_PORT_EVENT_QUEUE) {
        mp->events_head = (mp->events_head + 1) % MEDIA_PORT_EVENT_QUEUE;
        mp->events_count--;
        mp->events_lost++;
    }
    mp->events[(mp->events_head + mp->events_count) % MEDIA_PORT_EVENT_QUEUE] = ev;
    mp->events_count++;
}

static void gather_events(media_port *mp)
{
    int added = 0;
    for (int ch = 0; ch < CHANNELS; ch++) {
        if (mp->receivers[ch]) {
            dtmf_event_t d[8];
            int n;
            while ((n = dtmf_rx_get_events(mp->receivers[ch], d, 8)) > 0) {
                for (int k = 0; k < n; k++)
                    push_event(mp, (media_port_event){ch, d[k].kind == DTMF_EVENT_START ? MEDIA_PORT_EVENT_DIGIT_START
                                                                                       : MEDIA_PORT_EVENT_DIGIT_END,
                                                      0, 0, d[k].digit});
                added += n;
                if (n < 8)
                    break;
            }
        }
        if (mp->players[ch]) {
            player_event_t e[8];
            int n;
            while ((n = player_get_events(mp->players[ch], e, 8)) > 0) {
                for (int k = 0; k < n; k++)
                    push_event(mp, (media_port_event){ch, MEDIA_PORT_EVENT_PROMPT_END, e[k].item_id, e[k].reason,
                                                      e[k].digit});
                added += n;
                if (n < 8)
                    break;
            }
        }
    }
    if (added)
        mp->events_counter++;
}

void media_port_block(media_port *mp, const uint8_t *line_in, uint8_t *line_out)
{
    pthread_mutex_lock(&mp->lock);
    media_batch_run(mp->batch, line_in, line_out, mp->net_in, mp->net_in_len, mp->net_out, mp->net_out_len,
                    mp->pcm_from, mp->pcm_to);
    mp->blocks++;
    gather_events(mp);
    pthread_mutex_unlock(&mp->lock);
}

int media_port_blocks(media_port *mp)
{
    int n;
    LOCKED(mp, n = mp->blocks);
    return n;
}

static int channel_ok(int channel)
{
    return channel >= 0 && channel < CHANNELS ? 0 : MEDIA_ERR_CHANNEL;
}

int media_port_configure(media_port *mp, int channel, int line_law, int active)
{
    int rc = channel_ok(channel);
    if (rc == 0)
        LOCKED(mp, rc = media_batch_configure(mp->batch, channel, line_law,
                                              active ? MEDIA_CODEC_LOCAL : MEDIA_CODEC_IDLE, 0));
    return rc;
}

int media_port_attach_player(media_port *mp, int channel, player_state_t *player)
{
    int rc = channel_ok(channel);
    if (rc == 0)
        LOCKED(mp, {
            rc = media_batch_attach_source(mp->batch, channel, (media_source_fn)player_process, player);
            if (rc == 0)
                mp->players[channel] = player;
        });
    return rc;
}

int media_port_attach_dtmf(media_port *mp, int channel, dtmf_rx_state_t *rx)
{
    int rc = channel_ok(channel);
    if (rc == 0)
        LOCKED(mp, {
            rc = media_batch_attach_tap(mp->batch, channel, MEDIA_FROM_LINE, (media_tap_fn)dtmf_rx, rx);
            if (rc == 0)
                mp->receivers[channel] = rx;
        });
    return rc;
}

int media_port_attach_level(media_port *mp, int channel, int direction, level_meter_t *meter)
{
    int rc = channel_ok(channel);
    if (rc == 0)
        LOCKED(mp, rc = media_batch_attach_tap(mp->batch, channel, direction, (media_tap_fn)level_meter_process,
                                               meter));
    return rc;
}

int media_port_attach_recorder(media_port *mp, int channel, int direction, pcm_ring_t *ring)
{
    int rc = channel_ok(channel);
    if (rc == 0)
        LOCKED(mp, rc = media_batch_attach_tap(mp->batch, channel, direction, (media_tap_fn)pcm_ring_process, ring));
    return rc;
}

int media_port_attach_bridge(media_port *mp, int channel, bridge_point_t *point)
{
    int rc = channel_ok(channel);
    if (rc == 0)
        LOCKED(mp, {
            rc = media_batch_attach_tap(mp->batch, channel, MEDIA_FROM_LINE, (media_tap_fn)bridge_point_tap, point);
            if (rc == 0)
                rc = media_batch_attach_source(mp->batch, channel, (media_source_fn)bridge_point_mix, point);
        });
    return rc;
}

int media_port_clear(media_port *mp, int channel)
{
    int rc = channel_ok(channel);
    if (rc != 0)
        return rc;
    LOCKED(mp, {
        media_batch_clear_taps(mp->batch, channel, MEDIA_FROM_LINE);
        media_batch_clear_taps(mp->batch, channel, MEDIA_TO_LINE);
        media_batch_clear_sources(mp->batch, channel);
        mp->players[channel] = NULL;
        mp->receivers[channel] = NULL;
        /* Events of the channel's last call still queued would be read as the next call's. */
        int kept = 0;
        for (int i = 0; i < mp->events_count; i++) {
            media_port_event ev = mp->events[(mp->events_head + i) % MEDIA_PORT_EVENT_QUEUE];
            if (ev.channel != channel)
                mp->events[(mp->events_head + kept++) % MEDIA_PORT_EVENT_QUEUE] = ev;
        }
        mp->events_count = kept;
    });
    return 0;
}

int media_port_bridge_listen(media_port *mp, bridge_point_t *listener, bridge_point_t *source, int32_t gain_q12)
{
    int rc;
    LOCKED(mp, rc = bridge_point_listen(listener, source, gain_q12));
    return rc;
}

int media_port_bridge_unlisten(media_port *mp, bridge_point_t *listener, bridge_point_t *source)
{
    int rc;
    LOCKED(mp, rc = bridge_point_unlisten(listener, source));
    return rc;
}

void media_port_bridge_stats(media_port *mp, bridge_point_t *point, bridge_point_stats_t *out)
{
    LOCKED(mp, bridge_point_get_stats(point, out));
}

int media_port_player_enqueue(media_port *mp, player_state_t *player, const int16_t *samples, int64_t n,
                              int32_t loops, int32_t interruptible, int64_t *item_id)
{
    int rc;
    LOCKED(mp, rc = player_enqueue(player, samples, n, loops, interruptible, item_id));
    return rc;
}

void media_port_player_stop(media_port *mp, player_state_t *player) { LOCKED(mp, player_stop(player)); }

void media_port_player_barge_in(media_port *mp, player_state_t *player, dtmf_rx_state_t *rx)
{
    LOCKED(mp, player_link_barge_in(player, rx ? (player_barge_probe_fn)dtmf_rx_current : NULL, rx));
}

int media_port_player_events(media_port *mp, player_state_t *player, player_event_t *out, int max)
{
    int n;
    LOCKED(mp, n = player_get_events(player, out, max));
    return n;
}

int media_port_dtmf_events(media_port *mp, dtmf_rx_state_t *rx, dtmf_event_t *out, int max)
{
    int n;
    LOCKED(mp, n = dtmf_rx_get_events(rx, out, max));
    return n;
}

void media_port_dtmf_reset(media_port *mp, dtmf_rx_state_t *rx) { LOCKED(mp, dtmf_rx_reset(rx)); }

void media_port_level_take(media_port *mp, level_meter_t *meter, level_meter_t *out)
{
    LOCKED(mp, {
        *out = *meter;
        level_meter_init(meter);
    });
}

int media_port_recorder_take(media_port *mp, pcm_ring_t *ring, int16_t *out, int max)
{
    int n;
    LOCKED(mp, n = pcm_ring_take(ring, out, max));
    return n;
}

int media_port_events(media_port *mp, media_port_event *out, int max)
{
    int n;
    LOCKED(mp, {
        n = mp->events_count < max ? mp->events_count : max;
        for (int i = 0; i < n; i++)
            out[i] = mp->events[(mp->events_head + i) % MEDIA_PORT_EVENT_QUEUE];
        mp->events_head = (mp->events_head + n) % MEDIA_PORT_EVENT_QUEUE;
        mp->events_count -= n;
    });
    return n;
}

volatile uint32_t *media_port_event_counter(media_port *mp) { return &mp->events_counter; }

uint64_t media_port_events_lost(media_port *mp)
{
    uint64_t n;
    LOCKED(mp, n = mp->events_lost);
    return n;
}

int media_port_report_digit(media_port *mp, int channel, int kind, char digit)
{
    int rc = channel_ok(channel);
    if (rc == 0 && kind != MEDIA_PORT_EVENT_DIGIT_START && kind != MEDIA_PORT_EVENT_DIGIT_END)
        rc = MEDIA_ERR_ARGUMENT;
    if (rc == 0)
        LOCKED(mp, {
            push_event(mp, (media_port_event){channel, kind, 0, 0, digit});
            mp->events_counter++;
        });
    return rc;
}
