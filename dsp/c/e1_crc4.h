/* CRC-4 of G.704 over a sub-multiframe (8 frames, 2048 bits, x^4 + x + 1), computed word-wise.
 *
 * The CRC is linear, so the remainder of the block is the XOR of the remainders of its set
 * bits.  For each of the 32 64-bit words of a sub-multiframe we keep four masks: mask j holds
 * the bit positions whose remainder x^(2051-p) mod P has bit j set.  Accumulating
 * acc[j] ^= word & mask[j] and taking the parity of acc[j] at the end gives remainder bit j —
 * eight ANDs and XORs per 64 line bits, no per-bit loop. */
#ifndef PRIBOX_E1_CRC4_H
#define PRIBOX_E1_CRC4_H

#include <stdint.h>
#include <string.h>

typedef struct {
    uint64_t acc[4];
} e1_crc4_acc;

extern uint64_t e1_crc4_masks[32][4];

static inline uint64_t e1_load_be64(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* Adds one frame (32 octets) at position frame_in_smf (0..7); FAS frames have their C-bit
 * position (bit 1 of TS0) counted as 0, as G.704 requires. */
static inline void e1_crc4_add_frame(e1_crc4_acc *a, const uint8_t *frame, int frame_in_smf)
{
    const uint64_t (*m)[4] = &e1_crc4_masks[frame_in_smf * 4];
    for (int k = 0; k < 4; k++) {
        uint64_t w = e1_load_be64(frame + 8 * k);
        if (k == 0 && (frame_in_smf & 1) == 0)
            w &= ~(1ull << 63);
        a->acc[0] ^= w & m[k][0];
        a->acc[1] ^= w & m[k][1];
        a->acc[2] ^= w & m[k][2];
        a->acc[3] ^= w & m[k][3];
    }
}

/* The 4-bit remainder, C1 (coefficient of x^3) in bit 3; resets the accumulator. */
static inline unsigned e1_crc4_finish(e1_crc4_acc *a)
{
    unsigned crc = 0;
    for (int j = 0; j < 4; j++) {
        crc |= (unsigned)__builtin_parityll(a->acc[j]) << j;
        a->acc[j] = 0;
    }
    return crc;
}

#endif
