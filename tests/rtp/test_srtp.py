"""SRTP on a leg (RFC 3711, AES_CM_128_HMAC_SHA1_80 with SDES keys): two legs with each other's
keys carry a tone as plain legs do, RTCP included; on the wire the payload is ciphertext with a
10-octet tag; a wrong key or a forged packet is dropped and counted, never played; keys are
checked by size.  baresip's SRTP against the box: tests/sip/test_sip_tls_srtp.py."""

from __future__ import annotations

import os

import numpy as np
import pytest

from dsp.companding import decode, encode
from dsp.rtp import RtpError, RtpPort
from tests.rtp.support import Clock, FarEnd, aligned_snr_db, connect_pair, power_db, tone

K1, K2 = os.urandom(30), os.urandom(30)


@pytest.mark.parametrize("codec", ["PCMA", "G729"])
def test_two_srtp_legs_with_each_others_keys_carry_the_audio_and_rtcp(codec):
    a, b = RtpPort(), RtpPort()
    x, y = connect_pair(a, 0, b, 0, codec, rtcp_interval=0.5)
    x.set_srtp(K1, K2)
    y.set_srtp(K2, K1)
    sent = tone(800, 3.0)
    a.media.play(0, sent)
    b.media.record(0)
    Clock(a, b).run(3.0)
    heard = b.media.recorded(0)
    assert power_db(heard[8000:], 800) > -25
    if codec == "PCMA":
        assert aligned_snr_db(sent[8000:], heard[8000:]) > 30
    for s in (x.stats(), y.stats()):
        assert s["srtp_failures"] == 0 and s["rtcp_received"] >= 2 and s["rtcp_malformed"] == 0
    assert y.stats()["packets_received"] > 120 and y.stats()["lost"] == 0


def test_on_the_wire_the_payload_is_ciphertext_with_an_authentication_tag():
    port = RtpPort()
    far = FarEnd()
    leg = port.open(0, ("127.0.0.1", 0), far.address, "PCMA", rtcp_mux=True)
    leg.set_srtp(K1, K2)
    port.media.play(0, np.zeros(8000, np.int16))        # silence: 0xD5 octets in the clear
    Clock(port).run(0.5)
    packets = [d for d in far.received() if not 192 <= d[1] <= 223]
    assert packets and {len(d) for d in packets} == {12 + 160 + 10}
    assert all(d[12:172].count(0xD5) < 20 for d in packets)          # not the clear silence
    far.close()


def test_a_wrong_key_or_a_forged_packet_is_dropped_and_counted():
    a, b = RtpPort(), RtpPort()
    x, y = connect_pair(a, 0, b, 0, "PCMU")
    x.set_srtp(K1, K2)
    y.set_srtp(K2, os.urandom(30))                        # y expects another key than x sends with
    a.media.play(0, tone(800, 1.0))
    b.media.record(0)
    Clock(a, b).run(1.0)
    s = y.stats()
    assert s["packets_received"] == 0 and s["srtp_failures"] >= 45
    assert power_db(b.media.recorded(0), 800) < -60
    # a plain (unprotected) packet at an SRTP leg fails authentication too
    far = FarEnd()
    leg = a.open(1, ("127.0.0.1", 0), far.address, "PCMA", rtcp_mux=True)
    leg.set_srtp(K1, K2)
    for i in range(5):
        far.send(far.packet(b"\xd5" * 160, seq=i, ts=160 * i), leg.local)
    Clock(a).run(0.1)
    assert leg.stats()["srtp_failures"] == 5 and leg.stats()["packets_received"] == 0
    # shorter than a header and a tag (a peer's NAT keepalive): malformed, never taken in the clear
    far.send(far.packet(b"\xd5" * 4, seq=9, ts=0), leg.local)
    far.send(b"\0\0\0\0", leg.local)
    Clock(a).run(0.05)
    s = leg.stats()
    assert s["srtp_failures"] == 5 and s["malformed_total"] == 2 and s["packets_received"] == 0
    far.close()


def test_srtp_keys_are_checked_and_srtp_turns_off():
    port = RtpPort()
    leg = port.open(0, ("127.0.0.1", 0), ("127.0.0.1", 9), "PCMA")
    with pytest.raises(RtpError, match="30 octets"):
        leg.set_srtp(b"short", K2)
    with pytest.raises(RtpError, match="both keys"):
        leg.set_srtp(K1, None)
    with pytest.raises(RtpError, match="leg 4 is not open"):
        port.set_srtp(4, K1, K2)
    leg.set_srtp(K1, K2)
    assert leg.srtp
    leg.set_srtp(None, None)
    assert not leg.srtp


def test_a_relay_decrypts_from_the_srtp_leg_and_encrypts_toward_the_other_with_its_own_keys():
    """Phone A (SRTP) <-> box leg 0 =relay= box leg 1 (SRTP, other keys) <-> phone C: each side
    keyed on its own, the payload passed through untouched."""
    pair = connect_pair
    a, box, c = RtpPort(), RtpPort(), RtpPort()
    x, b0 = pair(a, 0, box, 0, "PCMA")
    b1, y = pair(box, 1, c, 0, "PCMA")
    ka, kb0, kb1, kc = (os.urandom(30) for _ in range(4))
    x.set_srtp(ka, kb0)
    b0.set_srtp(kb0, ka)
    b1.set_srtp(kb1, kc)
    y.set_srtp(kc, kb1)
    b0.relay(b1)
    sent = tone(1000, 2.0)
    a.media.play(0, sent)
    c.media.play(0, tone(600, 2.0))
    c.media.record(0)
    a.media.record(0)
    Clock(a, box, c).run(1.5)
    companded = decode(encode(sent, "alaw"), "alaw")
    assert aligned_snr_db(companded[4000:], c.media.recorded(0)[4000:]) > 60   # untouched: A's A-law, bit-exact
    assert power_db(a.media.recorded(0)[4000:], 600) > -25
    for leg in (x, b0, b1, y):
        s = leg.stats()
        assert s["srtp_failures"] == 0 and s["packets_received"] > 60, s
    assert b0.stats()["relayed"] > 60 and b1.stats()["relayed"] > 60
