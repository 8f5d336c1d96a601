/* DTMF receiver and generator.
 *
 * Receiver design.  Eight Goertzel filters run over hops of 51 samples (6.375 ms).  Every hop
 * the last two hops form a 102-sample decision window:
 *   - the coherent sum of the two hops' DFT values gives each tone's power over the window
 *     (78 Hz resolution, enough to separate adjacent rows and columns);
 *   - the phase advance of each DFT value from one hop to the next gives the tone's actual
 *     frequency (unambiguous within +/-78 Hz), so a tone 3.5 % off nominal is rejected by
 *     measurement rather than by the filter's skirt, which cannot separate 1.5 % from 3.5 %
 *     at this window length;
 *   - knowing the offset, the window's power loss for that offset is undone before the level,
 *     twist and total-energy tests, so a 1.5 % tone is judged at its true level.
 * A digit starts after `on_decisions` consecutive hits and ends after `off_decisions`
 * consecutive misses; with the defaults (4 and 5) a tone of 34.4 ms or more is always accepted,
 * one shorter than 28 ms never is, a 10 ms interruption never splits a digit and a 40 ms
 * pause always separates two (see dsp/dtmf.py for the arithmetic).
 */
#include "dtmf.h"

/* Plain complex multiply and divide: the values are finite by construction, so the C99
   NaN/Inf recovery calls (__mulsc3) would only cost time. */
#pragma GCC optimize("cx-limited-range")

#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLE_RATE 8000.0
#define HOP DTMF_HOP_SAMPLES
#define WINDOW (2 * HOP)
#define N_FILTERS 8
#define EVENT_QUEUE 64
/* Misses a starting digit may have between its hits: speech under a key press knocks out
   single windows.  It turned 4 of the 1,200 cross-check sequences right (99.17 -> 99.50 %) and
   added no false digit on any speech we have. */
#define START_GAP_TOLERANCE 2
/* spandsp's convention: a full-scale sine is +3.14 dBm0. */
#define DBM0_FULL_SCALE_SINE 3.14
/* amplitude ratio of -20.8 dB: the highest sidelobe 3.4 bins or more from a tone */
#define CROSS_GROUP_LEAKAGE 0.091f

typedef float v4sf __attribute__((vector_size(16)));

static const double tone_hz[N_FILTERS] = {697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0};
static const char keypad[17] = "123A456B789C*0#D";

struct dtmf_rx_state {
    float coef[N_FILTERS] __attribute__((aligned(16)));   /* 2 cos(w) */
    float s1[N_FILTERS] __attribute__((aligned(16)));     /* Goertzel recurrence over the hop */
    float s2[N_FILTERS] __attribute__((aligned(16)));
    float cos_w[N_FILTERS], sin_w[N_FILTERS];
    float rot_re[N_FILTERS], rot_im[N_FILTERS];   /* e^{-j w HOP} */
    float prev_re[N_FILTERS], prev_im[N_FILTERS]; /* previous hop's DFT value */
    float energy, prev_energy;
    int in_hop;              /* samples of the current hop seen so far */
    int have_prev;
    int64_t hops_done;

    /* decision thresholds, precomputed from params */
    dtmf_rx_params_t params;
    float min_power, normal_twist, reverse_twist, relative_peak_amp, min_fraction;

    /* hit tracking */
    char digit;              /* digit in progress, 0 if none */
    int misses;
    int64_t last_hit_end;
    char candidate;
    int candidate_hits;
    int candidate_gap;       /* misses since the candidate's last hit */
    int64_t candidate_start;

    dtmf_event_t events[EVENT_QUEUE];
    int ev_head, ev_count;
    int64_t lost;
};

static double dbm0_to_power(double dbm0)
{
    double amp = 32767.0 * pow(10.0, (dbm0 - DBM0_FULL_SCALE_SINE) / 20.0);
    return amp * amp / 2.0;
}

void dtmf_rx_default_params(dtmf_rx_params_t *p)
{
    p->min_level_dbm0 = -40.0f;
    p->normal_twist_db = 9.0f;
    p->reverse_twist_db = 5.0f;
    p->max_deviation = 0.02f;
    p->min_tone_fraction = 0.85f;
    p->relative_peak_db = 8.0f;
    p->on_decisions = 4;
    p->off_decisions = 5;
}

int dtmf_rx_set_params(dtmf_rx_state_t *s, const dtmf_rx_params_t *p)
{
    if (!(p->min_level_dbm0 >= -70.0f && p->min_level_dbm0 <= 3.0f)) return -1;
    if (!(p->normal_twist_db >= 0.0f && p->normal_twist_db <= 20.0f)) return -1;
    if (!(p->reverse_twist_db >= 0.0f && p->reverse_twist_db <= 20.0f)) return -1;
    if (!(p->max_deviation > 0.0f && p->max_deviation <= 0.045f)) return -1;
    if (!(p->min_tone_fraction > 0.0f && p->min_tone_fraction < 1.0f)) return -1;
    if (!(p->relative_peak_db >= 0.0f && p->relative_peak_db <= 30.0f)) return -1;
    if (p->on_decisions < 1 || p->on_decisions > 50) return -1;
    if (p->off_decisions < 1 || p->off_decisions > 50) return -1;
    s->params = *p;
    s->min_power = (float)dbm0_to_power(p->min_level_dbm0);
    s->normal_twist = (float)pow(10.0, p->normal_twist_db / 10.0);
    s->reverse_twist = (float)pow(10.0, p->reverse_twist_db / 10.0);
    s->relative_peak_amp = (float)pow(10.0, -p->relative_peak_db / 20.0);
    s->min_fraction = p->min_tone_fraction;
    return 0;
}

void dtmf_rx_get_params(const dtmf_rx_state_t *s, dtmf_rx_params_t *p)
{
    *p = s->params;
}

void dtmf_rx_reset(dtmf_rx_state_t *s)
{
    dtmf_rx_params_t params = s->params;
    memset(s, 0, sizeof(*s));
    for (int k = 0; k < N_FILTERS; k++) {
        double w = 2.0 * M_PI * tone_hz[k] / SAMPLE_RATE;
        s->coef[k] = (float)(2.0 * cos(w));
        s->cos_w[k] = (float)cos(w);
        s->sin_w[k] = (float)sin(w);
        s->rot_re[k] = (float)cos(w * HOP);
        s->rot_im[k] = (float)-sin(w * HOP);
    }
    if (params.on_decisions == 0)
        dtmf_rx_default_params(&params);
    dtmf_rx_set_params(s, &params);
}

dtmf_rx_state_t *dtmf_rx_new(void)
{
    dtmf_rx_state_t *s = aligned_alloc(16, (sizeof(dtmf_rx_state_t) + 15) & ~(size_t)15);
    if (s == NULL) return NULL;
    memset(s, 0, sizeof(*s));
    dtmf_rx_reset(s);
    return s;
}

void dtmf_rx_free(dtmf_rx_state_t *s)
{
    free(s);
}

static void push_event(dtmf_rx_state_t *s, int kind, char digit, int64_t sample)
{
    if (s->ev_count == EVENT_QUEUE) {   /* keep the newest: drop the oldest */
        s->ev_head = (s->ev_head + 1) % EVENT_QUEUE;
        s->ev_count--;
        s->lost++;
    }
    dtmf_event_t *e = &s->events[(s->ev_head + s->ev_count) % EVENT_QUEUE];
    e->kind = kind;
    e->digit = digit;
    e->sample = sample;
    s->ev_count++;
}

/* Power lost by a WINDOW-long DFT when the tone is off its bin by `delta` rad/sample. */
static float window_gain(float delta)
{
    float half = 0.5f * delta;
    float den = WINDOW * sinf(half);
    if (fabsf(den) < 1e-9f) return 1.0f;
    float r = sinf(WINDOW * half) / den;
    return r * r;
}

/* (1/HOP) * sum over n < HOP of e^{j delta n} */
static float complex hop_kernel(float delta)
{
    float half = 0.5f * delta;
    float den = HOP * sinf(half);
    float mag = fabsf(den) < 1e-9f ? 1.0f : sinf(HOP * half) / den;
    return mag * cexpf(I * half * (HOP - 1));
}

/* How much of tone `source` (off its nominal frequency by source_delta rad/sample) shows in
   filter `into`'s hop value, as a multiple of the source filter's own hop value. */
static float complex leak_coefficient_exact(int into, int source, double source_delta)
{
    double w_into = 2.0 * M_PI * tone_hz[into] / SAMPLE_RATE;
    double w_source = 2.0 * M_PI * tone_hz[source] / SAMPLE_RATE;
    return cexpf(I * (float)((w_into - w_source) * (HOP - 1)))
           * hop_kernel((float)(w_source + source_delta - w_into)) / hop_kernel((float)source_delta);
}

/* The coefficients for every (row, column) pair, tabulated over the measurable offsets
   (+/-pi/HOP) and interpolated: computing them per window cost as much as all the filtering. */
#define LEAK_STEPS 64
#define LEAK_RANGE ((float)(M_PI / HOP))
static float complex leak_table[N_FILTERS][N_FILTERS][LEAK_STEPS + 1];

__attribute__((constructor)) static void build_leak_table(void)
{
    for (int a = 0; a < N_FILTERS; a++)
        for (int b = 0; b < N_FILTERS; b++)
            if ((a < 4) != (b < 4))
                for (int i = 0; i <= LEAK_STEPS; i++)
                    leak_table[a][b][i] = leak_coefficient_exact(
                        a, b, -LEAK_RANGE + 2.0 * LEAK_RANGE * i / LEAK_STEPS);
}

static float complex leak_coefficient(int into, int source, float source_delta)
{
    float pos = (source_delta + LEAK_RANGE) * (LEAK_STEPS / (2.0f * LEAK_RANGE));
    if (pos < 0.0f) pos = 0.0f;
    if (pos > LEAK_STEPS - 1e-3f) pos = LEAK_STEPS - 1e-3f;
    int i = (int)pos;
    float frac = pos - (float)i;
    const float complex *row = leak_table[into][source];
    return row[i] + frac * (row[i + 1] - row[i]);
}

/* Phase advance of filter k's tone from one hop to the next, beyond its nominal frequency's:
   the tone's offset in rad/sample, unambiguous within +/-pi/HOP (78 Hz). */
static float hop_phase_step(const dtmf_rx_state_t *s, int k, float complex prev, float complex cur)
{
    float complex rot = s->rot_re[k] + I * s->rot_im[k];
    return cargf(rot * cur * conjf(prev)) / HOP;
}

/* Judges the window made of the previous and the current hop; returns the digit or 0. */
static char judge_window(dtmf_rx_state_t *s, const float *cur_re, const float *cur_im)
{
    float power[N_FILTERS];
    for (int k = 0; k < N_FILTERS; k++) {
        float zr = s->prev_re[k] + s->rot_re[k] * cur_re[k] - s->rot_im[k] * cur_im[k];
        float zi = s->prev_im[k] + s->rot_re[k] * cur_im[k] + s->rot_im[k] * cur_re[k];
        power[k] = 2.0f * (zr * zr + zi * zi) / ((float)WINDOW * WINDOW);
    }
    int row = 0, col = 4;
    for (int k = 1; k < 4; k++) {
        if (power[k] > power[row]) row = k;
        if (power[k + 4] > power[col]) col = k + 4;
    }
    /* cheap rejection first: almost every window of silence or speech ends here */
    float floor_power = s->min_power * 0.3f;
    if (power[row] < floor_power || power[col] < floor_power) return 0;
    /* Relative peak, in amplitude: another row (column) may carry the best one's own skirt
       scaled by the relative-peak ratio, plus the leakage of the other group's tone, which is
       at least 268 Hz (3.4 bins) away where a 102-sample window's sidelobes stay below
       -20.8 dB.  Without that allowance a twisted pair fails on the strong tone's leakage. */
    float amp_row = sqrtf(power[row]), amp_col = sqrtf(power[col]);
    float row_limit = amp_row * s->relative_peak_amp + amp_col * CROSS_GROUP_LEAKAGE;
    float col_limit = amp_col * s->relative_peak_amp + amp_row * CROSS_GROUP_LEAKAGE;
    for (int k = 0; k < 4; k++) {
        if (k != row && sqrtf(power[k]) > row_limit) return 0;
        if (k + 4 != col && sqrtf(power[k + 4]) > col_limit) return 0;
    }
    /* Each tone leaks into the other group's hop DFTs (a 51-sample hop resolves only 157 Hz),
       moving the weaker tone's phase and level by up to ±9 Hz and ±2 dB as the phases turn.
       The leakage of a tone of known frequency is known exactly, so it is taken out before the
       frequencies and levels are judged. */
    float complex prev_r = s->prev_re[row] + I * s->prev_im[row], cur_r = cur_re[row] + I * cur_im[row];
    float complex prev_c = s->prev_re[col] + I * s->prev_im[col], cur_c = cur_re[col] + I * cur_im[col];
    float delta_r = hop_phase_step(s, row, prev_r, cur_r);
    float delta_c = hop_phase_step(s, col, prev_c, cur_c);
    float complex leak_into_r = leak_coefficient(row, col, delta_c);
    float complex leak_into_c = leak_coefficient(col, row, delta_r);
    float complex clean_prev_r = prev_r - leak_into_r * prev_c, clean_cur_r = cur_r - leak_into_r * cur_c;
    float complex clean_prev_c = prev_c - leak_into_c * prev_r, clean_cur_c = cur_c - leak_into_c * cur_r;
    const int pick[2] = {row, col};
    const float complex clean_prev[2] = {clean_prev_r, clean_prev_c};
    const float complex clean_cur[2] = {clean_cur_r, clean_cur_c};
    float corrected[2], as_measured[2];
    for (int i = 0; i < 2; i++) {
        int k = pick[i];
        float delta = hop_phase_step(s, k, clean_prev[i], clean_cur[i]);   /* rad/sample */
        float offset_hz = delta * (float)(SAMPLE_RATE / (2.0 * M_PI));
        if (fabsf(offset_hz) > s->params.max_deviation * (float)tone_hz[k]) return 0;
        float complex rot = s->rot_re[k] + I * s->rot_im[k];
        float complex z = clean_prev[i] + rot * clean_cur[i];
        float power_k = 2.0f * (crealf(z) * crealf(z) + cimagf(z) * cimagf(z)) / ((float)WINDOW * WINDOW);
        float gain = window_gain(delta);
        corrected[i] = power_k / gain;
        /* The share-of-power test takes the window as measured, mutual leakage included: a
           leakage model fitted to a ragged tone end or a codec-smeared tone is only roughly
           right, and the test must not swing with it. */
        as_measured[i] = power[k] / gain;
    }
    if (corrected[0] < s->min_power || corrected[1] < s->min_power) return 0;
    if (corrected[0] > corrected[1] * s->normal_twist) return 0;
    if (corrected[1] > corrected[0] * s->reverse_twist) return 0;
    float total = (s->prev_energy + s->energy) / (float)WINDOW;
    if (as_measured[0] + as_measured[1] < s->min_fraction * total) return 0;
    return keypad[row * 4 + (col - 4)];
}

static void track_hits(dtmf_rx_state_t *s, char hit, int64_t window_start, int64_t window_end)
{
    if (s->digit && hit == s->digit) {
        s->misses = 0;
        s->last_hit_end = window_end;
        s->candidate = 0;
        s->candidate_hits = 0;
        return;
    }
    if (hit) {
        if (hit == s->candidate) {
            s->candidate_hits++;
        } else {
            s->candidate = hit;
            s->candidate_hits = 1;
            s->candidate_start = window_start;
        }
        s->candidate_gap = 0;
    } else if (s->candidate && ++s->candidate_gap > START_GAP_TOLERANCE) {
        s->candidate = 0;
        s->candidate_hits = 0;
    }
    if (s->digit) {
        s->misses++;
        if (s->misses >= s->params.off_decisions
            || (s->candidate && s->candidate_hits >= s->params.on_decisions)) {
            push_event(s, DTMF_EVENT_END, s->digit, s->last_hit_end);
            s->digit = 0;
        }
    }
    if (!s->digit && s->candidate && s->candidate_hits >= s->params.on_decisions) {
        s->digit = s->candidate;
        s->misses = 0;
        s->last_hit_end = window_end;
        push_event(s, DTMF_EVENT_START, s->digit, s->candidate_start);
        s->candidate = 0;
        s->candidate_hits = 0;
    }
}

static void end_of_hop(dtmf_rx_state_t *s)
{
    float cur_re[N_FILTERS], cur_im[N_FILTERS];
    for (int k = 0; k < N_FILTERS; k++) {
        /* DFT value of the hop, up to a phase factor that cancels between hops */
        cur_re[k] = s->s1[k] - s->cos_w[k] * s->s2[k];
        cur_im[k] = s->sin_w[k] * s->s2[k];
    }
    int64_t hop_end = (s->hops_done + 1) * HOP;
    if (s->have_prev) {
        char hit = judge_window(s, cur_re, cur_im);
        track_hits(s, hit, hop_end - WINDOW, hop_end);
    }
    memcpy(s->prev_re, cur_re, sizeof(cur_re));
    memcpy(s->prev_im, cur_im, sizeof(cur_im));
    s->prev_energy = s->energy;
    s->have_prev = 1;
    s->hops_done++;
    s->energy = 0.0f;
    s->in_hop = 0;
    memset(s->s1, 0, sizeof(s->s1));
    memset(s->s2, 0, sizeof(s->s2));
}

/* Runs the Goertzel recurrence s[n] = x[n] + c s[n-1] - s[n-2] over `take` samples, two at a
   time: s[n+1] = (c^2 - 1) s[n-1] - c s[n-2] + c x[n] + x[n+1], which halves the length of the
   dependency chain that bounds the speed. */
static void goertzel_run(dtmf_rx_state_t *s, const int16_t *amp, int take)
{
    /* the eight filters as two 4-float vectors: 128-bit registers exist on every x86-64 and
       ARMv8 core (wider AVX2 vectors measured no faster here) */
    v4sf s1a, s1b, s2a, s2b, ca, cb;
    memcpy(&s1a, s->s1, 16); memcpy(&s1b, s->s1 + 4, 16);
    memcpy(&s2a, s->s2, 16); memcpy(&s2b, s->s2 + 4, 16);
    memcpy(&ca, s->coef, 16); memcpy(&cb, s->coef + 4, 16);
    const v4sf c2a = ca * ca - 1.0f, c2b = cb * cb - 1.0f;
    float e0 = 0.0f, e1 = 0.0f;
    int j = 0;
    for (; j + 1 < take; j += 2) {
        float x0 = (float)amp[j], x1 = (float)amp[j + 1];
        e0 += x0 * x0;
        e1 += x1 * x1;
        v4sf x0v = {x0, x0, x0, x0};
        v4sf x1v = {x1, x1, x1, x1};
        v4sf n1a = c2a * s1a - ca * s2a + (ca * x0v + x1v);
        v4sf n1b = c2b * s1b - cb * s2b + (cb * x0v + x1v);
        v4sf n2a = ca * s1a - s2a + x0v;
        v4sf n2b = cb * s1b - s2b + x0v;
        s1a = n1a; s1b = n1b;
        s2a = n2a; s2b = n2b;
    }
    if (j < take) {
        float x = (float)amp[j];
        e0 += x * x;
        v4sf xv = {x, x, x, x};
        v4sf n1a = (xv - s2a) + ca * s1a;
        v4sf n1b = (xv - s2b) + cb * s1b;
        s2a = s1a; s2b = s1b;
        s1a = n1a; s1b = n1b;
    }
    memcpy(s->s1, &s1a, 16); memcpy(s->s1 + 4, &s1b, 16);
    memcpy(s->s2, &s2a, 16); memcpy(s->s2 + 4, &s2b, 16);
    s->energy += e0 + e1;
}

void dtmf_rx(dtmf_rx_state_t *s, const int16_t *amp, int n)
{
    int i = 0;
    while (i < n) {
        int take = HOP - s->in_hop;
        if (take > n - i) take = n - i;
        goertzel_run(s, amp + i, take);
        s->in_hop += take;
        i += take;
        if (s->in_hop == HOP) end_of_hop(s);
    }
}

void dtmf_rx_many(dtmf_rx_state_t **states, int n_channels, const int16_t *amp, int n)
{
    for (int c = 0; c < n_channels; c++)
        dtmf_rx(states[c], amp + (int64_t)c * n, n);
}

int dtmf_rx_get_events(dtmf_rx_state_t *s, dtmf_event_t *out, int max)
{
    int n = s->ev_count < max ? s->ev_count : max;
    for (int i = 0; i < n; i++)
        out[i] = s->events[(s->ev_head + i) % EVENT_QUEUE];
    s->ev_head = (s->ev_head + n) % EVENT_QUEUE;
    s->ev_count -= n;
    return n;
}

char dtmf_rx_current(const dtmf_rx_state_t *s)
{
    return s->digit;
}

int64_t dtmf_rx_lost_events(const dtmf_rx_state_t *s)
{
    return s->lost;
}

/* ---- generator ---- */

struct dtmf_tx_state {
    char queue[DTMF_TX_MAX_QUEUE];
    int q_head, q_count;
    double amp_low, amp_high;
    int on_samples, off_samples;
    char digit;              /* digit being sent (tone or its trailing pause), 0 if idle */
    int position;            /* samples into the digit's on+off period */
    double w_low, w_high;
};

static int keypad_index(char c)
{
    if (c >= 'a' && c <= 'd') c = (char)(c - 'a' + 'A');
    const char *p = c ? strchr(keypad, c) : NULL;
    return p ? (int)(p - keypad) : -1;
}

dtmf_tx_state_t *dtmf_tx_new(void)
{
    dtmf_tx_state_t *s = calloc(1, sizeof(*s));
    if (s == NULL) return NULL;
    dtmf_tx_set_level(s, -10.0f, 0.0f);
    dtmf_tx_set_timing(s, 50, 55);
    return s;
}

void dtmf_tx_free(dtmf_tx_state_t *s)
{
    free(s);
}

int dtmf_tx_set_level(dtmf_tx_state_t *s, float low_level_dbm0, float twist_db)
{
    if (!(low_level_dbm0 >= -90.0f && low_level_dbm0 <= 3.14f)) return -1;
    if (!(twist_db >= -20.0f && twist_db <= 20.0f)) return -1;
    s->amp_low = 32767.0 * pow(10.0, (low_level_dbm0 - DBM0_FULL_SCALE_SINE) / 20.0);
    s->amp_high = s->amp_low * pow(10.0, -twist_db / 20.0);
    return 0;
}

int dtmf_tx_set_timing(dtmf_tx_state_t *s, int on_ms, int off_ms)
{
    if (on_ms < 1 || on_ms > 60000 || off_ms < 0 || off_ms > 60000) return -1;
    s->on_samples = on_ms * 8;
    s->off_samples = off_ms * 8;
    return 0;
}

int dtmf_tx_put(dtmf_tx_state_t *s, const char *digits, int len)
{
    if (len < 0) len = (int)strlen(digits);
    for (int i = 0; i < len; i++)
        if (keypad_index(digits[i]) < 0) return -1;
    int taken = 0;
    while (taken < len && s->q_count < DTMF_TX_MAX_QUEUE) {
        s->queue[(s->q_head + s->q_count) % DTMF_TX_MAX_QUEUE] = keypad[keypad_index(digits[taken])];
        s->q_count++;
        taken++;
    }
    return taken;
}

int dtmf_tx_pending(const dtmf_tx_state_t *s)
{
    return s->q_count + (s->digit ? 1 : 0);
}

int dtmf_tx(dtmf_tx_state_t *s, int16_t *amp, int max)
{
    int written = 0;
    while (written < max) {
        if (!s->digit) {
            if (s->q_count == 0) break;
            s->digit = s->queue[s->q_head];
            s->q_head = (s->q_head + 1) % DTMF_TX_MAX_QUEUE;
            s->q_count--;
            s->position = 0;
            int k = keypad_index(s->digit);
            s->w_low = 2.0 * M_PI * tone_hz[k / 4] / SAMPLE_RATE;
            s->w_high = 2.0 * M_PI * tone_hz[4 + k % 4] / SAMPLE_RATE;
        }
        int period = s->on_samples + s->off_samples;
        while (written < max && s->position < period) {
            double v = 0.0;
            if (s->position < s->on_samples)
                v = s->amp_low * sin(s->w_low * s->position) + s->amp_high * sin(s->w_high * s->position);
            v = v > 32767.0 ? 32767.0 : (v < -32768.0 ? -32768.0 : v);
            amp[written++] = (int16_t)lrint(v);
            s->position++;
        }
        if (s->position >= period) s->digit = 0;
    }
    return written;
}
