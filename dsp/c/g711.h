/* G.711 A-law and mu-law: 16-bit linear <-> 8-bit codes, and direct A <-> mu conversion.
 *
 * Bit-exact with Python's audioop (lin2alaw/alaw2lin/lin2ulaw/ulaw2lin, width 2): audioop
 * quantises 16-bit input to 13 bits (A-law) or 14 bits (mu-law) by an arithmetic shift before
 * companding, and so do we.  Direct conversion is defined as decode-then-encode, so it equals
 * audioop's alaw2lin -> lin2ulaw (and the reverse) code for code.
 *
 * Every function takes a count; a count <= 0 or a NULL buffer does nothing. */
#ifndef PRIBOX_G711_H
#define PRIBOX_G711_H

#include <stdint.h>

/* cffi:begin */
#define G711_ALAW_SILENCE 213
#define G711_ULAW_SILENCE 255
void g711_linear_to_alaw(const int16_t *pcm, uint8_t *codes, int n);
void g711_linear_to_ulaw(const int16_t *pcm, uint8_t *codes, int n);
void g711_alaw_to_linear(const uint8_t *codes, int16_t *pcm, int n);
void g711_ulaw_to_linear(const uint8_t *codes, int16_t *pcm, int n);
void g711_alaw_to_ulaw(const uint8_t *alaw, uint8_t *ulaw, int n);
void g711_ulaw_to_alaw(const uint8_t *ulaw, uint8_t *alaw, int n);
/* cffi:end */

/* For other C blocks: the tables themselves, so a hot loop can inline the lookups. */
extern uint8_t g711_alaw_encode_table[8192];   /* index: (sample >> 3) + 4096 */
extern uint8_t g711_ulaw_encode_table[16384];  /* index: (sample >> 2) + 8192 */
extern int16_t g711_alaw_decode_table[256];
extern int16_t g711_ulaw_decode_table[256];
extern uint8_t g711_alaw_to_ulaw_table[256];
extern uint8_t g711_ulaw_to_alaw_table[256];

static inline uint8_t g711_encode_alaw(int16_t sample)
{
    return g711_alaw_encode_table[(sample >> 3) + 4096];
}

static inline uint8_t g711_encode_ulaw(int16_t sample)
{
    return g711_ulaw_encode_table[(sample >> 2) + 8192];
}

#endif
