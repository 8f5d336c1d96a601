"""cffi module `hil_tests.peers._spandsp_ref`: spandsp's DTMF receiver and generator (libspandsp
0.0.6, Debian `libspandsp-dev`) as the reference our DTMF block is cross-checked and benchmarked
against, and a plain bcg729 encode/decode loop (Debian `libbcg729-dev`) to make G.729-decoded
audio for the DTMF tests.  Built by setup.py's cffi_modules next to the core.

Only the few spandsp calls we need are declared, by hand: spandsp.h drags in libtiff's headers,
which nothing else here needs.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cffi import FFI

_CDEF = """
typedef struct dtmf_rx_state_s dtmf_rx_state_t;
typedef struct dtmf_tx_state_s dtmf_tx_state_t;

dtmf_rx_state_t *ref_dtmf_rx_new(void);
int dtmf_rx_free(dtmf_rx_state_t *s);
void dtmf_rx_parms(dtmf_rx_state_t *s, int filter_dialtone, int twist, int reverse_twist, int threshold);
int dtmf_rx(dtmf_rx_state_t *s, const int16_t amp[], int samples);
size_t dtmf_rx_get(dtmf_rx_state_t *s, char *digits, int max);

dtmf_tx_state_t *dtmf_tx_init(dtmf_tx_state_t *s);
int dtmf_tx_free(dtmf_tx_state_t *s);
void dtmf_tx_set_level(dtmf_tx_state_t *s, int level, int twist);
void dtmf_tx_set_timing(dtmf_tx_state_t *s, int on_time, int off_time);
int dtmf_tx_put(dtmf_tx_state_t *s, const char *digits, int len);
int dtmf_tx(dtmf_tx_state_t *s, int16_t amp[], int max_samples);

int ref_dtmf_rx_run(dtmf_rx_state_t *s, const int16_t *amp, int n, int chunk, char *digits, int max_digits);
void ref_dtmf_rx_many(dtmf_rx_state_t **states, int n_channels, const int16_t *amp, int n);
int ref_g729_roundtrip(const int16_t *in, int16_t *out, int n);
"""

_SOURCE = r"""
#include <stdint.h>
#include <stddef.h>
#include <bcg729/encoder.h>
#include <bcg729/decoder.h>

typedef struct dtmf_rx_state_s dtmf_rx_state_t;
typedef struct dtmf_tx_state_s dtmf_tx_state_t;
typedef void (*digits_rx_callback_t)(void *user_data, const char *digits, int len);

dtmf_rx_state_t *dtmf_rx_init(dtmf_rx_state_t *s, digits_rx_callback_t callback, void *user_data);
int dtmf_rx_free(dtmf_rx_state_t *s);
void dtmf_rx_parms(dtmf_rx_state_t *s, int filter_dialtone, int twist, int reverse_twist, int threshold);
int dtmf_rx(dtmf_rx_state_t *s, const int16_t amp[], int samples);
size_t dtmf_rx_get(dtmf_rx_state_t *s, char *digits, int max);

dtmf_tx_state_t *dtmf_tx_init(dtmf_tx_state_t *s);
int dtmf_tx_free(dtmf_tx_state_t *s);
void dtmf_tx_set_level(dtmf_tx_state_t *s, int level, int twist);
void dtmf_tx_set_timing(dtmf_tx_state_t *s, int on_time, int off_time);
int dtmf_tx_put(dtmf_tx_state_t *s, const char *digits, int len);
int dtmf_tx(dtmf_tx_state_t *s, int16_t amp[], int max_samples);

dtmf_rx_state_t *ref_dtmf_rx_new(void)
{
    return dtmf_rx_init(NULL, NULL, NULL);
}

/* Feeds `amp` in chunks of `chunk` samples (as a tick would) and collects the digits, draining
   spandsp's 128-digit queue after every chunk.  Returns the number of digits written. */
int ref_dtmf_rx_run(dtmf_rx_state_t *s, const int16_t *amp, int n, int chunk, char *digits, int max_digits)
{
    int got = 0;
    if (chunk < 1) chunk = n > 0 ? n : 1;
    for (int i = 0; i < n; i += chunk) {
        int take = n - i < chunk ? n - i : chunk;
        dtmf_rx(s, amp + i, take);
        if (got < max_digits)
            got += (int)dtmf_rx_get(s, digits + got, max_digits - got);
    }
    return got;
}

void ref_dtmf_rx_many(dtmf_rx_state_t **states, int n_channels, const int16_t *amp, int n)
{
    char sink[128];
    for (int c = 0; c < n_channels; c++) {
        dtmf_rx(states[c], amp + (long)c * n, n);
        dtmf_rx_get(states[c], sink, (int)sizeof(sink));
    }
}

/* Plain bcg729 encode then decode (no VAD), 80-sample frames; n must be a multiple of 80.
   Gives G.729-decoded audio for the DTMF tests until the core's own G.729 path exists. */
int ref_g729_roundtrip(const int16_t *in, int16_t *out, int n)
{
    if (n % 80) return -1;
    bcg729EncoderChannelContextStruct *enc = initBcg729EncoderChannel(0);
    bcg729DecoderChannelContextStruct *dec = initBcg729DecoderChannel();
    if (enc == NULL || dec == NULL) return -1;
    uint8_t bits[10];
    uint8_t len;
    for (int i = 0; i < n; i += 80) {
        bcg729Encoder(enc, in + i, bits, &len);
        bcg729Decoder(dec, bits, len, 0, 0, 0, out + i);
    }
    closeBcg729EncoderChannel(enc);
    closeBcg729DecoderChannel(dec);
    return 0;
}
"""


def make_builder() -> FFI:
    if not Path("/usr/include/spandsp/dtmf.h").exists():
        print("pribox build: /usr/include/spandsp/dtmf.h not found: install the Debian package "
              "'libspandsp-dev'", file=sys.stderr)
        raise SystemExit(1)
    ffi = FFI()
    ffi.cdef(_CDEF)
    ffi.set_source("hil_tests.peers._spandsp_ref", _SOURCE, libraries=["spandsp", "bcg729", "m"],
                   extra_compile_args=["-O2"])
    return ffi


ffibuilder = make_builder()
