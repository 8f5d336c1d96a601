"""The reference G.729 peer: libbcg729 called directly, with nothing of ours in between.

Tests use it to check our layer (dsp/c/g729.c) against raw bcg729 bit for bit, and bench/dsp.py
uses `bcg729_ref_full_duplex` as the baseline our per-tick batch is measured against.  Built by
setup.py's cffi_modules as `hil_tests.peers._bcg729_ref`.
"""

from cffi import FFI

CDEF = """
typedef struct bcg729EncoderChannelContextStruct_struct bcg729EncoderChannelContextStruct;
typedef struct bcg729DecoderChannelContextStruct_struct bcg729DecoderChannelContextStruct;
bcg729EncoderChannelContextStruct *initBcg729EncoderChannel(uint8_t enableVAD);
void closeBcg729EncoderChannel(bcg729EncoderChannelContextStruct *ctx);
void bcg729Encoder(bcg729EncoderChannelContextStruct *ctx, const int16_t inputFrame[],
                   uint8_t bitStream[], uint8_t *bitStreamLength);
void bcg729GetRFC3389Payload(bcg729EncoderChannelContextStruct *ctx, uint8_t payload[]);
bcg729DecoderChannelContextStruct *initBcg729DecoderChannel(void);
void closeBcg729DecoderChannel(bcg729DecoderChannelContextStruct *ctx);
void bcg729Decoder(bcg729DecoderChannelContextStruct *ctx, const uint8_t bitStream[],
                   uint8_t bitStreamLength, uint8_t frameErasureFlag, uint8_t SIDFrameFlag,
                   uint8_t rfc3389PayloadFlag, int16_t signal[]);
int bcg729_ref_full_duplex(int n_channels, int n_frames, const int16_t *pcm, int16_t *out);
"""

# Every channel encodes the same 10 ms frames and decodes its own output, frame by frame,
# channels interleaved as a per-tick loop would run them.
SOURCE = r"""
#include <stdlib.h>
#include <bcg729/encoder.h>
#include <bcg729/decoder.h>

int bcg729_ref_full_duplex(int n_channels, int n_frames, const int16_t *pcm, int16_t *out)
{
    bcg729EncoderChannelContextStruct **enc = calloc((size_t)n_channels, sizeof *enc);
    bcg729DecoderChannelContextStruct **dec = calloc((size_t)n_channels, sizeof *dec);
    if (enc == NULL || dec == NULL) {
        free(enc);
        free(dec);
        return -1;
    }
    for (int c = 0; c < n_channels; c++) {
        enc[c] = initBcg729EncoderChannel(0);
        dec[c] = initBcg729DecoderChannel();
    }
    for (int f = 0; f < n_frames; f++) {
        for (int c = 0; c < n_channels; c++) {
            uint8_t bits[10];
            uint8_t length = 0;
            bcg729Encoder(enc[c], pcm + (size_t)f * 80, bits, &length);
            bcg729Decoder(dec[c], bits, length, 0, 0, 0, out + (size_t)f * 80);
        }
    }
    for (int c = 0; c < n_channels; c++) {
        closeBcg729EncoderChannel(enc[c]);
        closeBcg729DecoderChannel(dec[c]);
    }
    free(enc);
    free(dec);
    return 0;
}
"""

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("hil_tests.peers._bcg729_ref", SOURCE, libraries=["bcg729"],
                      extra_compile_args=["-O2"])

if __name__ == "__main__":
    ffibuilder.compile(verbose=False)
