#include "e1_crc4.h"

uint64_t e1_crc4_masks[32][4];

/* Built when the library loads, before any thread can call in with the GIL released. */
__attribute__((constructor)) static void e1_crc4_tables_init(void)
{
    memset(e1_crc4_masks, 0, sizeof e1_crc4_masks);
    unsigned v = 0x3;                          /* x^4 mod (x^4 + x + 1) = x + 1: the last bit */
    for (int p = 2047; p >= 0; p--) {
        for (int j = 0; j < 4; j++)
            if ((v >> j) & 1u)
                e1_crc4_masks[p / 64][j] |= 1ull << (63 - p % 64);
        v <<= 1;                               /* one bit earlier: one more power of x */
        if (v & 0x10)
            v ^= 0x13;
    }
}
