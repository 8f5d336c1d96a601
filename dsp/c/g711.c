/* G.711 companding through tables built once at load time from the law's definition (ITU-T
 * G.711 Tables 1 and 2): a segment number (exponent) and a 4-bit step within the segment. */
#include "g711.h"

#include <stddef.h>

uint8_t g711_alaw_encode_table[8192];
uint8_t g711_ulaw_encode_table[16384];
int16_t g711_alaw_decode_table[256];
int16_t g711_ulaw_decode_table[256];
uint8_t g711_alaw_to_ulaw_table[256];
uint8_t g711_ulaw_to_alaw_table[256];

static int highest_bit(unsigned value)
{
    int bit = -1;
    while (value) {
        value >>= 1;
        bit++;
    }
    return bit;
}

/* 13-bit two's complement in (-4096..4095).  Negative values are coded from their one's
 * complement, which is what makes -1 and 0 land on the two smallest magnitudes. */
static uint8_t alaw_from_13bit(int value)
{
    int even_bit_inversion = value >= 0 ? 0xD5 : 0x55;
    unsigned magnitude = value >= 0 ? (unsigned)value : (unsigned)(-value - 1);
    int segment = magnitude < 32 ? 0 : highest_bit(magnitude) - 4;
    unsigned step = segment < 2 ? (magnitude >> 1) & 0x0F : (magnitude >> segment) & 0x0F;
    return (uint8_t)(((unsigned)(segment << 4) | step) ^ (unsigned)even_bit_inversion);
}

/* 14-bit two's complement in (-8192..8191); mu-law adds a bias of 33 so every segment starts
 * on a power of two, and sends all bits inverted. */
static uint8_t ulaw_from_14bit(int value)
{
    enum { BIAS = 33, CLIP = 8159 };
    int inversion = value >= 0 ? 0xFF : 0x7F;
    unsigned magnitude = value >= 0 ? (unsigned)value : (unsigned)(-value);
    if (magnitude > CLIP)
        magnitude = CLIP;
    magnitude += BIAS;
    int segment = highest_bit(magnitude) - 5;
    if (segment > 7)
        return (uint8_t)(0x7F ^ inversion);
    unsigned step = (magnitude >> (segment + 1)) & 0x0F;
    return (uint8_t)(((unsigned)(segment << 4) | step) ^ (unsigned)inversion);
}

static int16_t linear_from_alaw(uint8_t code)
{
    unsigned bits = code ^ 0x55u;
    unsigned segment = (bits & 0x70u) >> 4;
    int magnitude = (int)((bits & 0x0Fu) << 4);
    if (segment == 0)
        magnitude += 8;
    else
        magnitude = (magnitude + 0x108) << (segment - 1);
    return (int16_t)((bits & 0x80u) ? magnitude : -magnitude);
}

static int16_t linear_from_ulaw(uint8_t code)
{
    unsigned bits = (uint8_t)~code;
    int magnitude = (int)(((bits & 0x0Fu) << 3) + 0x84u) << ((bits & 0x70u) >> 4);
    return (int16_t)((bits & 0x80u) ? 0x84 - magnitude : magnitude - 0x84);
}

__attribute__((constructor)) static void g711_build_tables(void)
{
    for (int i = 0; i < 8192; i++)
        g711_alaw_encode_table[i] = alaw_from_13bit(i - 4096);
    for (int i = 0; i < 16384; i++)
        g711_ulaw_encode_table[i] = ulaw_from_14bit(i - 8192);
    for (int code = 0; code < 256; code++) {
        g711_alaw_decode_table[code] = linear_from_alaw((uint8_t)code);
        g711_ulaw_decode_table[code] = linear_from_ulaw((uint8_t)code);
    }
    for (int code = 0; code < 256; code++) {
        g711_alaw_to_ulaw_table[code] = g711_encode_ulaw(g711_alaw_decode_table[code]);
        g711_ulaw_to_alaw_table[code] = g711_encode_alaw(g711_ulaw_decode_table[code]);
    }
}

void g711_linear_to_alaw(const int16_t *pcm, uint8_t *codes, int n)
{
    if (pcm == NULL || codes == NULL)
        return;
    for (int i = 0; i < n; i++)
        codes[i] = g711_encode_alaw(pcm[i]);
}

void g711_linear_to_ulaw(const int16_t *pcm, uint8_t *codes, int n)
{
    if (pcm == NULL || codes == NULL)
        return;
    for (int i = 0; i < n; i++)
        codes[i] = g711_encode_ulaw(pcm[i]);
}

void g711_alaw_to_linear(const uint8_t *codes, int16_t *pcm, int n)
{
    if (pcm == NULL || codes == NULL)
        return;
    for (int i = 0; i < n; i++)
        pcm[i] = g711_alaw_decode_table[codes[i]];
}

void g711_ulaw_to_linear(const uint8_t *codes, int16_t *pcm, int n)
{
    if (pcm == NULL || codes == NULL)
        return;
    for (int i = 0; i < n; i++)
        pcm[i] = g711_ulaw_decode_table[codes[i]];
}

void g711_alaw_to_ulaw(const uint8_t *alaw, uint8_t *ulaw, int n)
{
    if (alaw == NULL || ulaw == NULL)
        return;
    for (int i = 0; i < n; i++)
        ulaw[i] = g711_alaw_to_ulaw_table[alaw[i]];
}

void g711_ulaw_to_alaw(const uint8_t *ulaw, uint8_t *alaw, int n)
{
    if (alaw == NULL || ulaw == NULL)
        return;
    for (int i = 0; i < n; i++)
        alaw[i] = g711_ulaw_to_alaw_table[ulaw[i]];
}
