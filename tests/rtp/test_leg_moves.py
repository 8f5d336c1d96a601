"""A leg whose far end moves (a re-INVITE with a new RTP address) and a leg on hold: the C leg
sends to the new address from the next packet with its stream unbroken (SSRC, sequence and
timestamps continue: the new far end loses nothing), takes the new far end's packets and drops
the old one's; on hold it sends no RTP but keeps RTCP and reception, and resumes with a marker."""

from __future__ import annotations

import struct

import pytest

from dsp.companding import encode
from dsp.rtp import RtpError, RtpPort
from tests.rtp.support import Clock, FarEnd, power_db, tone


def rtp_of(datagrams: list[bytes]) -> list[tuple[int, int, int, int]]:
    """(marker, sequence, timestamp, ssrc) of each RTP packet (RTCP, PT 200-204, left out)."""
    out = []
    for d in datagrams:
        if len(d) >= 12 and not 200 <= d[1] <= 204:
            _, b1, seq, ts, ssrc = struct.unpack("!BBHII", d[:12])
            out.append((b1 >> 7, seq, ts, ssrc))
    return out


def test_a_moved_leg_sends_to_the_new_far_end_with_its_stream_unbroken_and_hears_only_it():
    port = RtpPort()
    old, new = FarEnd(), FarEnd()
    leg = port.open(0, ("127.0.0.1", 0), old.address, "PCMA", rtcp_mux=True)
    port.media.play(0, tone(1000, 3.0))
    port.media.record(0)
    clock = Clock(port)
    clock.run(1.0)
    before = rtp_of(old.received())
    leg.move(new.address)
    assert leg.remote == new.address
    new.ssrc = 0x0BADCAFE
    for i in range(50):                   # the new far end talks (A-law of a 600 Hz tone)...
        pcm = tone(600, 0.02 * (i + 1))[-160:]
        new.send(new.packet(encode(pcm, "alaw").tobytes(), seq=7000 + i, ts=160 * i), leg.local)
        old.send(old.packet(b"\xd5" * 160, seq=100 + i, ts=160 * i), leg.local)   # ...the old one is gone
        clock.run(0.02)
    after_old, after_new = rtp_of(old.received()), rtp_of(new.received())
    assert len(before) >= 45 and len(after_old) <= 1 and len(after_new) >= 45
    # one stream: the new far end's first packet follows the old one's last (sequence and time)
    last, first = before[-1] if not after_old else after_old[-1], after_new[0]
    assert first[3] == last[3] and first[1] == (last[1] + 1) & 0xFFFF and first[2] - last[2] == 160
    assert first[0] == 1                  # the marker: a new talkspurt for the new far end
    s = leg.stats()
    assert s["packets_received"] == 50 and s["lost"] == 0 and s["ssrc_changes"] == 0
    heard = port.media.recorded(0)[-4000:]
    assert power_db(heard, 600) > -25     # the new far end's tone is what the leg plays
    old.close()
    new.close()


def test_hold_stops_rtp_but_not_rtcp_or_reception_and_resume_marks_the_first_packet():
    port = RtpPort()
    far = FarEnd()
    leg = port.open(0, ("127.0.0.1", 0), far.address, "PCMU", rtcp_mux=True, rtcp_interval=0.3)
    port.media.play(0, tone(1000, 4.0))
    clock = Clock(port)
    clock.run(0.5)
    playing = rtp_of(far.received())
    leg.set_sending(False)
    for i in range(50):
        far.send(far.packet(b"\xff" * 160, pt=0, seq=i, ts=160 * i), leg.local)
        clock.run(0.02)
    held = far.received()
    assert rtp_of(held) == [] or len(rtp_of(held)) <= 1      # at most a packet already on its way
    assert any(200 <= d[1] <= 204 for d in held)               # RTCP goes on
    assert leg.stats()["packets_received"] == 50
    leg.set_sending(True)
    clock.run(0.5)
    resumed = rtp_of(far.received())
    assert len(resumed) >= 20 and resumed[0][0] == 1 and resumed[0][3] == playing[-1][3]
    assert resumed[0][2] - playing[-1][2] >= 160 * 50          # the timestamps ran on through the hold
    far.close()


def test_bad_moves_are_named():
    port = RtpPort()
    far = FarEnd()
    leg = port.open(0, ("127.0.0.1", 0), far.address, "PCMA")
    with pytest.raises(RtpError, match="address family"):
        leg.move(("::1", 4000))
    with pytest.raises(RtpError, match="leg 3 is not open"):
        port.move(3, far.address)
    with pytest.raises(RtpError, match="leg 5 is not open"):
        port.set_sending(5, False)
    leg.move(far.address)                 # RTCP follows to the port above
    assert leg.remote == far.address
    far.close()
