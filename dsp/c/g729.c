/* Our layer over libbcg729.  bcg729 trusts its caller completely (it reads 10 octets for a
 * speech frame, 2 for a SID and up to 11 for an RFC 3389 payload whatever length it is told),
 * so every frame is copied into a zero-padded slot here before bcg729 sees it. */
#include "g729.h"

#include <bcg729/decoder.h>
#include <bcg729/encoder.h>
#include <stdlib.h>
#include <string.h>

struct g729_encoder {
    bcg729EncoderChannelContextStruct *context;
    int vad;
};

struct g729_decoder {
    bcg729DecoderChannelContextStruct *context;
};

g729_encoder_t *g729_encoder_new(int enable_vad)
{
    g729_encoder_t *encoder = calloc(1, sizeof *encoder);
    if (encoder == NULL)
        return NULL;
    encoder->vad = enable_vad ? 1 : 0;
    encoder->context = initBcg729EncoderChannel((uint8_t)encoder->vad);
    if (encoder->context == NULL) {
        free(encoder);
        return NULL;
    }
    return encoder;
}

void g729_encoder_free(g729_encoder_t *encoder)
{
    if (encoder == NULL)
        return;
    closeBcg729EncoderChannel(encoder->context);
    free(encoder);
}

int g729_encoder_vad_enabled(const g729_encoder_t *encoder)
{
    return encoder != NULL && encoder->vad;
}

int g729_encode(g729_encoder_t *encoder, const int16_t *pcm, int n_frames, uint8_t *frames,
                uint8_t *lengths)
{
    if (encoder == NULL || pcm == NULL || frames == NULL || lengths == NULL || n_frames < 0)
        return G729_ERR_ARGUMENT;
    for (int f = 0; f < n_frames; f++) {
        uint8_t *slot = frames + (size_t)f * G729_FRAME_OCTETS;
        uint8_t length = 0;
        memset(slot, 0, G729_FRAME_OCTETS);
        bcg729Encoder(encoder->context, pcm + (size_t)f * G729_FRAME_SAMPLES, slot, &length);
        lengths[f] = length;
    }
    return n_frames;
}

/* The RFC 3389 form of the noise the encoder last described in a SID: for a peer that
 * negotiated comfort noise (payload type 13) instead of G.729B SID frames. */
int g729_encoder_comfort_noise(g729_encoder_t *encoder, uint8_t *payload, int capacity)
{
    if (encoder == NULL || payload == NULL)
        return G729_ERR_ARGUMENT;
    if (!encoder->vad)
        return G729_ERR_ARGUMENT;
    if (capacity < G729_RFC3389_MAX_OCTETS)
        return G729_ERR_CAPACITY;
    memset(payload, 0, G729_RFC3389_MAX_OCTETS);
    bcg729GetRFC3389Payload(encoder->context, payload);
    return G729_RFC3389_MAX_OCTETS;
}

g729_decoder_t *g729_decoder_new(void)
{
    g729_decoder_t *decoder = calloc(1, sizeof *decoder);
    if (decoder == NULL)
        return NULL;
    decoder->context = initBcg729DecoderChannel();
    if (decoder->context == NULL) {
        free(decoder);
        return NULL;
    }
    return decoder;
}

void g729_decoder_free(g729_decoder_t *decoder)
{
    if (decoder == NULL)
        return;
    closeBcg729DecoderChannel(decoder->context);
    free(decoder);
}

static void decode_one(g729_decoder_t *decoder, const uint8_t *slot, uint8_t length, int16_t *pcm)
{
    uint8_t padded[G729_FRAME_OCTETS] = {0};
    if (length == 0) {
        bcg729Decoder(decoder->context, NULL, 0, 1, 0, 0, pcm);
        return;
    }
    memcpy(padded, slot, length);
    bcg729Decoder(decoder->context, padded, length, 0, length == G729_SID_OCTETS, 0, pcm);
}

int g729_decode(g729_decoder_t *decoder, const uint8_t *frames, const uint8_t *lengths,
                int n_frames, int16_t *pcm)
{
    if (decoder == NULL || frames == NULL || lengths == NULL || pcm == NULL || n_frames < 0)
        return G729_ERR_ARGUMENT;
    for (int f = 0; f < n_frames; f++) {
        uint8_t length = lengths[f];
        if (length != 0 && length != G729_SID_OCTETS && length != G729_FRAME_OCTETS)
            return G729_ERR_FRAME_LENGTH;
    }
    for (int f = 0; f < n_frames; f++)
        decode_one(decoder, frames + (size_t)f * G729_FRAME_OCTETS, lengths[f],
                   pcm + (size_t)f * G729_FRAME_SAMPLES);
    return n_frames;
}

/* One 10 ms frame of comfort noise from an RFC 3389 payload: a noise level octet and up to
 * ten reflection coefficients (extra coefficients are ignored, as RFC 3389 allows). */
int g729_decode_comfort_noise(g729_decoder_t *decoder, const uint8_t *payload, int length,
                              int16_t *pcm)
{
    uint8_t padded[G729_RFC3389_MAX_OCTETS] = {0};
    if (decoder == NULL || payload == NULL || pcm == NULL)
        return G729_ERR_ARGUMENT;
    if (length < 1)
        return G729_ERR_PAYLOAD_LENGTH;
    if (length > G729_RFC3389_MAX_OCTETS)
        length = G729_RFC3389_MAX_OCTETS;
    memcpy(padded, payload, (size_t)length);
    bcg729Decoder(decoder->context, padded, (uint8_t)length, 0, 1, 1, pcm);
    return 1;
}

int g729_payload_to_frames(const uint8_t *payload, int length, uint8_t *frames, uint8_t *lengths,
                           int max_frames)
{
    if (payload == NULL || frames == NULL || lengths == NULL || length < 0 || max_frames < 0)
        return G729_ERR_ARGUMENT;
    int speech = length / G729_FRAME_OCTETS;
    int tail = length % G729_FRAME_OCTETS;
    if (tail != 0 && tail != G729_SID_OCTETS)
        return G729_ERR_PAYLOAD_LENGTH;
    int total = speech + (tail ? 1 : 0);
    if (total > max_frames)
        return G729_ERR_CAPACITY;
    for (int f = 0; f < total; f++) {
        int octets = f < speech ? G729_FRAME_OCTETS : G729_SID_OCTETS;
        uint8_t *slot = frames + (size_t)f * G729_FRAME_OCTETS;
        memset(slot, 0, G729_FRAME_OCTETS);
        memcpy(slot, payload + (size_t)f * G729_FRAME_OCTETS, (size_t)octets);
        lengths[f] = (uint8_t)octets;
    }
    return total;
}

/* Packs the first run of consecutive transmitted frames at or after frame 0 into one payload:
 * speech frames, ended by a gap, by the end, or by a SID which it includes (a SID can only be
 * last).  *first_frame is where the run starts (the RTP timestamp offsets by 80 samples per
 * frame), *next_frame where the caller resumes for the next payload.  Returns the payload
 * length; 0 with *next_frame == n_frames when nothing is left to send. */
int g729_frames_to_payload(const uint8_t *frames, const uint8_t *lengths, int n_frames,
                           uint8_t *payload, int capacity, int *first_frame, int *next_frame)
{
    if (frames == NULL || lengths == NULL || payload == NULL || first_frame == NULL ||
        next_frame == NULL || n_frames < 0 || capacity < 0)
        return G729_ERR_ARGUMENT;
    for (int f = 0; f < n_frames; f++) {
        uint8_t length = lengths[f];
        if (length != 0 && length != G729_SID_OCTETS && length != G729_FRAME_OCTETS)
            return G729_ERR_FRAME_LENGTH;
    }
    int f = 0;
    while (f < n_frames && lengths[f] == 0)
        f++;
    *first_frame = f;
    int written = 0;
    while (f < n_frames && lengths[f] != 0) {
        int octets = lengths[f];
        if (written + octets > capacity)
            return G729_ERR_CAPACITY;
        memcpy(payload + written, frames + (size_t)f * G729_FRAME_OCTETS, (size_t)octets);
        written += octets;
        f++;
        if (octets == G729_SID_OCTETS)
            break;
    }
    *next_frame = f;
    return written;
}
