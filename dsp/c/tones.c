/* Call-progress tone generator and receiver. */
#include "tones.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLE_RATE 8000.0
#define DBM0_FULL_SCALE_SINE 3.14
#define SEGMENT_QUEUE 32
/* A frequency counts as present when within 10 dB of the strongest watched one, and the
 * present ones must carry 70 % of the block's power: noise and speech fail one or the other. */
#define PRESENT_WITHIN 0.1f
#define MIN_TONAL_FRACTION 0.7f
/* A change of mask must hold for this many blocks before it starts a new segment. */
#define DEBOUNCE_BLOCKS 2

static double dbm0_to_amplitude(double dbm0)
{
    return 32767.0 * pow(10.0, (dbm0 - DBM0_FULL_SCALE_SINE) / 20.0);
}

/* ---- generator ---- */

struct tone_tx_state {
    double w1, w2, amp1, amp2;
    int64_t segments[TONE_MAX_SEGMENTS];
    int n_segments, repeat;
    int segment;             /* index into segments; n_segments when finished */
    int64_t position;        /* samples into the current segment */
    int64_t phase_n;         /* samples since the current tone burst began */
};

tone_tx_state_t *tone_tx_new(float freq1_hz, float freq2_hz, float level_dbm0,
                             const int32_t *segments_ms, int n_segments, int repeat)
{
    if (!(freq1_hz > 0.0f && freq1_hz < 4000.0f) || !(freq2_hz >= 0.0f && freq2_hz < 4000.0f)) return NULL;
    if (!(level_dbm0 >= -90.0f && level_dbm0 <= 3.14f)) return NULL;
    if (n_segments < 0 || n_segments > TONE_MAX_SEGMENTS) return NULL;
    for (int i = 0; i < n_segments; i++)
        if (segments_ms[i] < 1 || segments_ms[i] > 600000) return NULL;
    tone_tx_state_t *s = calloc(1, sizeof(*s));
    if (s == NULL) return NULL;
    s->w1 = 2.0 * M_PI * freq1_hz / SAMPLE_RATE;
    s->w2 = 2.0 * M_PI * freq2_hz / SAMPLE_RATE;
    s->amp1 = dbm0_to_amplitude(level_dbm0);
    s->amp2 = freq2_hz > 0.0f ? s->amp1 : 0.0;
    for (int i = 0; i < n_segments; i++) s->segments[i] = (int64_t)segments_ms[i] * 8;
    s->n_segments = n_segments;
    s->repeat = repeat;
    return s;
}

void tone_tx_free(tone_tx_state_t *s)
{
    free(s);
}

int tone_tx(tone_tx_state_t *s, int16_t *amp, int max)
{
    int written = 0;
    while (written < max) {
        int on = 1;
        int64_t left = INT64_MAX;
        if (s->n_segments) {
            if (s->segment >= s->n_segments) {
                if (!s->repeat) break;
                s->segment = 0;
            }
            on = (s->segment % 2) == 0;
            left = s->segments[s->segment] - s->position;
        }
        int take = (int)((int64_t)(max - written) < left ? (int64_t)(max - written) : left);
        for (int j = 0; j < take; j++) {
            double v = 0.0;
            if (on) {
                double n = (double)s->phase_n++;
                v = s->amp1 * sin(s->w1 * n) + s->amp2 * sin(s->w2 * n);
            }
            v = v > 32767.0 ? 32767.0 : (v < -32768.0 ? -32768.0 : v);
            amp[written + j] = (int16_t)lrint(v);
        }
        written += take;
        if (s->n_segments) {
            s->position += take;
            if (s->position >= s->segments[s->segment]) {
                s->segment++;
                s->position = 0;
                s->phase_n = 0;
            }
        }
    }
    return written;
}

/* ---- receiver ---- */

struct tone_rx_state {
    int n_freqs;
    float coef[TONE_MAX_FREQS];
    float s1[TONE_MAX_FREQS], s2[TONE_MAX_FREQS];
    float energy;
    int in_block;
    int64_t blocks_done;
    float min_power;

    uint32_t mask;            /* mask of the segment in progress */
    int64_t start;
    uint32_t pending_mask;    /* a different mask seen in the last blocks */
    int pending_blocks;
    int64_t pending_start;

    tone_segment_t queue[SEGMENT_QUEUE];
    int q_head, q_count;
};

tone_rx_state_t *tone_rx_new(const float *freqs_hz, int n_freqs, float min_level_dbm0)
{
    if (n_freqs < 1 || n_freqs > TONE_MAX_FREQS) return NULL;
    for (int k = 0; k < n_freqs; k++)
        if (!(freqs_hz[k] > 0.0f && freqs_hz[k] < 4000.0f)) return NULL;
    if (!(min_level_dbm0 >= -70.0f && min_level_dbm0 <= 3.0f)) return NULL;
    tone_rx_state_t *s = calloc(1, sizeof(*s));
    if (s == NULL) return NULL;
    s->n_freqs = n_freqs;
    for (int k = 0; k < n_freqs; k++)
        s->coef[k] = (float)(2.0 * cos(2.0 * M_PI * freqs_hz[k] / SAMPLE_RATE));
    double a = dbm0_to_amplitude(min_level_dbm0);
    s->min_power = (float)(a * a / 2.0);
    return s;
}

void tone_rx_free(tone_rx_state_t *s)
{
    free(s);
}

static void push_segment(tone_rx_state_t *s, uint32_t mask, int64_t start, int64_t end)
{
    if (s->q_count == SEGMENT_QUEUE) {   /* keep the newest */
        s->q_head = (s->q_head + 1) % SEGMENT_QUEUE;
        s->q_count--;
    }
    tone_segment_t *g = &s->queue[(s->q_head + s->q_count) % SEGMENT_QUEUE];
    g->mask = mask;
    g->start = start;
    g->end = end;
    s->q_count++;
}

static uint32_t classify_block(tone_rx_state_t *s)
{
    float power[TONE_MAX_FREQS], strongest = 0.0f;
    for (int k = 0; k < s->n_freqs; k++) {
        float c = s->coef[k];
        float e = s->s1[k] * s->s1[k] + s->s2[k] * s->s2[k] - c * s->s1[k] * s->s2[k];
        power[k] = 2.0f * e / ((float)TONE_RX_BLOCK * TONE_RX_BLOCK);
        if (power[k] > strongest) strongest = power[k];
    }
    float total = s->energy / TONE_RX_BLOCK;
    if (strongest < s->min_power) return 0;
    uint32_t mask = 0;
    float tonal = 0.0f;
    for (int k = 0; k < s->n_freqs; k++) {
        if (power[k] >= strongest * PRESENT_WITHIN && power[k] >= s->min_power) {
            mask |= 1u << k;
            tonal += power[k];
        }
    }
    return tonal >= MIN_TONAL_FRACTION * total ? mask : 0;
}

static void end_of_block(tone_rx_state_t *s)
{
    uint32_t mask = classify_block(s);
    int64_t block_start = s->blocks_done * TONE_RX_BLOCK;
    s->blocks_done++;
    if (mask == s->mask) {
        s->pending_blocks = 0;
    } else {
        if (s->pending_blocks && mask == s->pending_mask) {
            s->pending_blocks++;
        } else {
            s->pending_mask = mask;
            s->pending_blocks = 1;
            s->pending_start = block_start;
        }
        if (s->pending_blocks >= DEBOUNCE_BLOCKS) {
            if (s->pending_start > s->start)
                push_segment(s, s->mask, s->start, s->pending_start);
            s->mask = mask;
            s->start = s->pending_start;
            s->pending_blocks = 0;
        }
    }
    memset(s->s1, 0, sizeof(s->s1));
    memset(s->s2, 0, sizeof(s->s2));
    s->energy = 0.0f;
    s->in_block = 0;
}

void tone_rx(tone_rx_state_t *s, const int16_t *amp, int n)
{
    int i = 0;
    while (i < n) {
        int take = TONE_RX_BLOCK - s->in_block;
        if (take > n - i) take = n - i;
        float energy = s->energy;
        for (int j = 0; j < take; j++) {
            float x = (float)amp[i + j];
            energy += x * x;
            for (int k = 0; k < TONE_MAX_FREQS; k++) {
                float v = (x - s->s2[k]) + s->coef[k] * s->s1[k];
                s->s2[k] = s->s1[k];
                s->s1[k] = v;
            }
        }
        s->energy = energy;
        s->in_block += take;
        i += take;
        if (s->in_block == TONE_RX_BLOCK) end_of_block(s);
    }
}

void tone_rx_many(tone_rx_state_t **states, int n_channels, const int16_t *amp, int n)
{
    for (int c = 0; c < n_channels; c++)
        tone_rx(states[c], amp + (int64_t)c * n, n);
}

int tone_rx_get_segments(tone_rx_state_t *s, tone_segment_t *out, int max)
{
    int n = s->q_count < max ? s->q_count : max;
    for (int i = 0; i < n; i++)
        out[i] = s->queue[(s->q_head + i) % SEGMENT_QUEUE];
    s->q_head = (s->q_head + n) % SEGMENT_QUEUE;
    s->q_count -= n;
    return n;
}

void tone_rx_current(const tone_rx_state_t *s, tone_segment_t *out)
{
    out->mask = s->mask;
    out->start = s->start;
    out->end = s->blocks_done * TONE_RX_BLOCK + s->in_block;
}
