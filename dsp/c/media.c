#include "media.h"

#include <stdlib.h>
#include <string.h>

#include "g711.h"
#include "g729.h"
#include "plc.h"

typedef struct {
    media_tap_fn process;
    void *state;
} media_tap_t;

typedef struct {
    media_source_fn process;
    void *state;
} media_source_t;

typedef struct {
    int line_law;
    int net_codec;
    g729_encoder_t *encoder;
    g729_decoder_t *decoder;
    plc_state_t plc;
    media_tap_t taps[2][MEDIA_MAX_TAPS];
    int n_taps[2];
    media_source_t sources[MEDIA_MAX_SOURCES];
    int n_sources;
    media_channel_stats_t stats;
} media_channel_t;

struct media_batch {
    int n_channels;
    int frames;
    int samples;
    media_channel_t *channels;
};

static int is_g711(int codec)
{
    return codec == MEDIA_CODEC_ALAW || codec == MEDIA_CODEC_ULAW;
}

static void release_codecs(media_channel_t *channel)
{
    g729_encoder_free(channel->encoder);
    g729_decoder_free(channel->decoder);
    channel->encoder = NULL;
    channel->decoder = NULL;
}

media_batch_t *media_batch_new(int n_channels, int frames_per_tick)
{
    if (n_channels < 1 || n_channels > MEDIA_MAX_CHANNELS || frames_per_tick < 1 ||
        frames_per_tick > MEDIA_MAX_FRAMES_PER_TICK)
        return NULL;
    media_batch_t *batch = calloc(1, sizeof *batch);
    if (batch == NULL)
        return NULL;
    batch->channels = calloc((size_t)n_channels, sizeof *batch->channels);
    if (batch->channels == NULL) {
        free(batch);
        return NULL;
    }
    batch->n_channels = n_channels;
    batch->frames = frames_per_tick;
    batch->samples = frames_per_tick * G729_FRAME_SAMPLES;
    for (int c = 0; c < n_channels; c++) {
        batch->channels[c].line_law = MEDIA_CODEC_ALAW;
        batch->channels[c].net_codec = MEDIA_CODEC_IDLE;
    }
    return batch;
}

void media_batch_free(media_batch_t *batch)
{
    if (batch == NULL)
        return;
    for (int c = 0; c < batch->n_channels; c++)
        release_codecs(&batch->channels[c]);
    free(batch->channels);
    free(batch);
}

/* Starts the channel afresh (new codec state, zeroed stats); its taps stay attached. */
int media_batch_configure(media_batch_t *batch, int channel, int line_law, int net_codec, int vad)
{
    if (batch == NULL)
        return MEDIA_ERR_ARGUMENT;
    if (channel < 0 || channel >= batch->n_channels)
        return MEDIA_ERR_CHANNEL;
    if (!is_g711(line_law) || (net_codec != MEDIA_CODEC_IDLE && !is_g711(net_codec) &&
                               net_codec != MEDIA_CODEC_G729 && net_codec != MEDIA_CODEC_LOCAL))
        return MEDIA_ERR_CODEC;
    media_channel_t *ch = &batch->channels[channel];
    g729_encoder_t *encoder = NULL;
    g729_decoder_t *decoder = NULL;
    if (net_codec == MEDIA_CODEC_G729) {
        encoder = g729_encoder_new(vad);
        decoder = g729_decoder_new();
        if (encoder == NULL || decoder == NULL) {
            g729_encoder_free(encoder);
            g729_decoder_free(decoder);
            return MEDIA_ERR_NO_MEMORY;
        }
    }
    release_codecs(ch);
    ch->encoder = encoder;
    ch->decoder = decoder;
    ch->line_law = line_law;
    ch->net_codec = net_codec;
    plc_init(&ch->plc);
    memset(&ch->stats, 0, sizeof ch->stats);
    return 0;
}

int media_batch_attach_tap(media_batch_t *batch, int channel, int direction, media_tap_fn process,
                           void *state)
{
    if (batch == NULL || process == NULL)
        return MEDIA_ERR_ARGUMENT;
    if (channel < 0 || channel >= batch->n_channels)
        return MEDIA_ERR_CHANNEL;
    if (direction != MEDIA_FROM_LINE && direction != MEDIA_TO_LINE)
        return MEDIA_ERR_DIRECTION;
    media_channel_t *ch = &batch->channels[channel];
    if (ch->n_taps[direction] >= MEDIA_MAX_TAPS)
        return MEDIA_ERR_TAPS_FULL;
    ch->taps[direction][ch->n_taps[direction]].process = process;
    ch->taps[direction][ch->n_taps[direction]].state = state;
    ch->n_taps[direction]++;
    return 0;
}

int media_batch_clear_taps(media_batch_t *batch, int channel, int direction)
{
    if (batch == NULL)
        return MEDIA_ERR_ARGUMENT;
    if (channel < 0 || channel >= batch->n_channels)
        return MEDIA_ERR_CHANNEL;
    if (direction != MEDIA_FROM_LINE && direction != MEDIA_TO_LINE)
        return MEDIA_ERR_DIRECTION;
    batch->channels[channel].n_taps[direction] = 0;
    return 0;
}

int media_batch_attach_source(media_batch_t *batch, int channel, media_source_fn process, void *state)
{
    if (batch == NULL || process == NULL)
        return MEDIA_ERR_ARGUMENT;
    if (channel < 0 || channel >= batch->n_channels)
        return MEDIA_ERR_CHANNEL;
    media_channel_t *ch = &batch->channels[channel];
    if (ch->n_sources >= MEDIA_MAX_SOURCES)
        return MEDIA_ERR_SOURCES_FULL;
    ch->sources[ch->n_sources].process = process;
    ch->sources[ch->n_sources].state = state;
    ch->n_sources++;
    return 0;
}

int media_batch_clear_sources(media_batch_t *batch, int channel)
{
    if (batch == NULL)
        return MEDIA_ERR_ARGUMENT;
    if (channel < 0 || channel >= batch->n_channels)
        return MEDIA_ERR_CHANNEL;
    batch->channels[channel].n_sources = 0;
    return 0;
}

int media_batch_stats(const media_batch_t *batch, int channel, media_channel_stats_t *stats)
{
    if (batch == NULL || stats == NULL)
        return MEDIA_ERR_ARGUMENT;
    if (channel < 0 || channel >= batch->n_channels)
        return MEDIA_ERR_CHANNEL;
    *stats = batch->channels[channel].stats;
    return 0;
}

static void run_taps(const media_channel_t *ch, int direction, const int16_t *pcm, int n)
{
    for (int t = 0; t < ch->n_taps[direction]; t++)
        ch->taps[direction][t].process(ch->taps[direction][t].state, pcm, n);
}

static void decode_line(int law, const uint8_t *octets, int16_t *pcm, int n)
{
    if (law == MEDIA_CODEC_ALAW)
        g711_alaw_to_linear(octets, pcm, n);
    else
        g711_ulaw_to_linear(octets, pcm, n);
}

static void encode_line(int law, const int16_t *pcm, uint8_t *octets, int n)
{
    if (law == MEDIA_CODEC_ALAW)
        g711_linear_to_alaw(pcm, octets, n);
    else
        g711_linear_to_ulaw(pcm, octets, n);
}

static void convert_law(int from, int to, const uint8_t *in, uint8_t *out, int n)
{
    if (from == to)
        memcpy(out, in, (size_t)n);
    else if (from == MEDIA_CODEC_ALAW)
        g711_alaw_to_ulaw(in, out, n);
    else
        g711_ulaw_to_alaw(in, out, n);
}

static void run_idle(const media_batch_t *batch, media_channel_t *ch, uint8_t *line_out,
                     uint8_t *net_out_lengths, int16_t *pcm_from_line, int16_t *pcm_to_line)
{
    int silence = ch->line_law == MEDIA_CODEC_ALAW ? G711_ALAW_SILENCE : G711_ULAW_SILENCE;
    memset(line_out, silence, (size_t)batch->samples);
    memset(net_out_lengths, 0, (size_t)batch->frames);
    memset(pcm_from_line, 0, (size_t)batch->samples * sizeof *pcm_from_line);
    memset(pcm_to_line, 0, (size_t)batch->samples * sizeof *pcm_to_line);
}

static void line_to_network(const media_batch_t *batch, media_channel_t *ch, const uint8_t *line_in,
                            uint8_t *net_out, uint8_t *net_out_lengths, int16_t *pcm)
{
    decode_line(ch->line_law, line_in, pcm, batch->samples);
    run_taps(ch, MEDIA_FROM_LINE, pcm, batch->samples);
    if (ch->net_codec == MEDIA_CODEC_LOCAL) {
        memset(net_out_lengths, 0, (size_t)batch->frames);
        return;
    }
    if (is_g711(ch->net_codec)) {
        convert_law(ch->line_law, ch->net_codec, line_in, net_out, batch->samples);
        memset(net_out_lengths, G729_FRAME_SAMPLES, (size_t)batch->frames);
        return;
    }
    g729_encode(ch->encoder, pcm, batch->frames, net_out, net_out_lengths);
    for (int f = 0; f < batch->frames; f++) {
        if (net_out_lengths[f] == G729_SID_OCTETS)
            ch->stats.sid_out++;
        else if (net_out_lengths[f] == 0)
            ch->stats.untransmitted_out++;
    }
}

static int valid_length(int codec, uint8_t length)
{
    if (is_g711(codec))
        return length == 0 || length == G729_FRAME_SAMPLES;
    return length == 0 || length == G729_SID_OCTETS || length == G729_FRAME_OCTETS;
}

static void local_to_line(const media_batch_t *batch, media_channel_t *ch, uint8_t *line_out, int16_t *pcm)
{
    memset(pcm, 0, (size_t)batch->samples * sizeof *pcm);
    for (int k = 0; k < ch->n_sources; k++)
        ch->sources[k].process(ch->sources[k].state, pcm, batch->samples);
    encode_line(ch->line_law, pcm, line_out, batch->samples);
    run_taps(ch, MEDIA_TO_LINE, pcm, batch->samples);
}

static void network_to_line(const media_batch_t *batch, media_channel_t *ch, const uint8_t *net_in,
                            const uint8_t *net_in_lengths, uint8_t *line_out, int16_t *pcm)
{
    int transparent = 1;
    if (ch->net_codec == MEDIA_CODEC_LOCAL) {
        local_to_line(batch, ch, line_out, pcm);
        return;
    }
    for (int f = 0; f < batch->frames; f++) {
        uint8_t length = net_in_lengths[f];
        if (!valid_length(ch->net_codec, length)) {
            ch->stats.frames_bad++;
            length = 0;
        }
        if (length == 0) {
            ch->stats.frames_missing++;
            transparent = 0;
        } else {
            ch->stats.frames_in++;
            if (length == G729_SID_OCTETS && ch->net_codec == MEDIA_CODEC_G729)
                ch->stats.sid_in++;
        }
        int16_t *frame_pcm = pcm + (size_t)f * G729_FRAME_SAMPLES;
        if (is_g711(ch->net_codec)) {
            if (length) {
                decode_line(ch->net_codec, net_in + (size_t)f * G729_FRAME_SAMPLES, frame_pcm,
                            G729_FRAME_SAMPLES);
                if (plc_good(&ch->plc, frame_pcm, G729_FRAME_SAMPLES))
                    transparent = 0;
            } else {
                plc_conceal(&ch->plc, frame_pcm, G729_FRAME_SAMPLES);
            }
        } else {
            g729_decode(ch->decoder, net_in + (size_t)f * G729_FRAME_OCTETS, &length, 1, frame_pcm);
        }
    }
    for (int k = 0; k < ch->n_sources; k++) {
        ch->sources[k].process(ch->sources[k].state, pcm, batch->samples);
        transparent = 0; /* the line now carries what the sources wrote */
    }
    /* G.711 both sides with every frame as received (none lost or cross-faded after a loss):
     * convert the octets themselves, so a same-law call is bit-transparent end to end. */
    if (is_g711(ch->net_codec) && transparent)
        convert_law(ch->net_codec, ch->line_law, net_in, line_out, batch->samples);
    else
        encode_line(ch->line_law, pcm, line_out, batch->samples);
    run_taps(ch, MEDIA_TO_LINE, pcm, batch->samples);
}

int media_batch_run(media_batch_t *batch, const uint8_t *line_in, uint8_t *line_out,
                    const uint8_t *net_in, const uint8_t *net_in_lengths, uint8_t *net_out,
                    uint8_t *net_out_lengths, int16_t *pcm_from_line, int16_t *pcm_to_line)
{
    if (batch == NULL || line_in == NULL || line_out == NULL || net_in == NULL ||
        net_in_lengths == NULL || net_out == NULL || net_out_lengths == NULL ||
        pcm_from_line == NULL || pcm_to_line == NULL)
        return MEDIA_ERR_ARGUMENT;
    int active = 0;
    for (int c = 0; c < batch->n_channels; c++) {
        media_channel_t *ch = &batch->channels[c];
        size_t octets = (size_t)c * (size_t)batch->samples;
        size_t frames = (size_t)c * (size_t)batch->frames;
        ch->stats.ticks++;
        if (ch->net_codec == MEDIA_CODEC_IDLE) {
            run_idle(batch, ch, line_out + octets, net_out_lengths + frames, pcm_from_line + octets,
                     pcm_to_line + octets);
            continue;
        }
        active++;
        line_to_network(batch, ch, line_in + octets, net_out + octets, net_out_lengths + frames,
                        pcm_from_line + octets);
        network_to_line(batch, ch, net_in + octets, net_in_lengths + frames, line_out + octets,
                        pcm_to_line + octets);
    }
    return active;
}
