/* G.729 Annex A (with optional Annex B VAD/DTX/comfort noise) over libbcg729, plus the RTP
 * payload format of RFC 3551 section 4.5.6: a payload is zero or more 10-octet speech frames
 * followed by at most one 2-octet SID frame.
 *
 * A frame in our API is a 10-octet slot plus a length: 10 speech, 2 SID (in the first two
 * octets of the slot), 0 nothing (untransmitted under DTX, or lost).  The decoder turns a
 * missing frame into concealment after speech and into comfort noise after a SID, as G.729
 * Annex B prescribes; the caller need not tell which of the two it was.
 *
 * Functions return the count they produced (>= 0) or a negative G729_ERR_* code, and never
 * read or write outside the sizes they are given. */
#ifndef PRIBOX_G729_H
#define PRIBOX_G729_H

#include <stdint.h>

/* cffi:begin */
#define G729_FRAME_SAMPLES 80
#define G729_FRAME_OCTETS 10
#define G729_SID_OCTETS 2
#define G729_RFC3389_MAX_OCTETS 11
#define G729_ERR_ARGUMENT -1
#define G729_ERR_FRAME_LENGTH -2
#define G729_ERR_PAYLOAD_LENGTH -3
#define G729_ERR_CAPACITY -4
#define G729_ERR_NO_MEMORY -5

typedef struct g729_encoder g729_encoder_t;
typedef struct g729_decoder g729_decoder_t;

g729_encoder_t *g729_encoder_new(int enable_vad);
void g729_encoder_free(g729_encoder_t *encoder);
int g729_encoder_vad_enabled(const g729_encoder_t *encoder);
int g729_encode(g729_encoder_t *encoder, const int16_t *pcm, int n_frames,
                uint8_t *frames, uint8_t *lengths);
int g729_encoder_comfort_noise(g729_encoder_t *encoder, uint8_t *payload, int capacity);

g729_decoder_t *g729_decoder_new(void);
void g729_decoder_free(g729_decoder_t *decoder);
int g729_decode(g729_decoder_t *decoder, const uint8_t *frames, const uint8_t *lengths,
                int n_frames, int16_t *pcm);
int g729_decode_comfort_noise(g729_decoder_t *decoder, const uint8_t *payload, int length,
                              int16_t *pcm);

int g729_payload_to_frames(const uint8_t *payload, int length, uint8_t *frames,
                           uint8_t *lengths, int max_frames);
int g729_frames_to_payload(const uint8_t *frames, const uint8_t *lengths, int n_frames,
                           uint8_t *payload, int capacity, int *first_frame, int *next_frame);
/* cffi:end */

#endif
