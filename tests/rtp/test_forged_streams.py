"""Streams forged with the bench's scapy forgers (hil_tests/packets/forge.py) played to a live
leg on the virtual clock: loss bursts, duplicates, reordering and jitter show in the leg's
figures as forged; malformed RTP and RTCP garbage are counted by fault and dropped."""

from __future__ import annotations

from hil_tests.packets import forge
from dsp.rtp import RtpPort
from tests.rtp.support import FarEnd


def play(port: RtpPort, far: FarEnd, to, items: list[tuple[float, bytes]], tail: float = 0.5) -> None:
    """Send each (arrival time, payload) when the virtual clock reaches it, advancing the port
    every millisecond."""
    start = items[0][0] - 0.05
    k, now = 0, 0.0
    end = items[-1][0] - start + tail
    while now < end:
        now += 0.001
        while k < len(items) and items[k][0] - start <= now:
            far.send(items[k][1], to)
            k += 1
        port.advance(now)


def open_leg():
    port, far = RtpPort(), FarEnd()
    leg = port.open(0, ("127.0.0.1", 0), far.address, "PCMA", rtcp_mux=True)
    return port, far, leg


def test_forged_loss_duplicates_reordering_and_jitter_are_seen_as_forged():
    port, far, leg = open_leg()
    stream = forge.rtp_stream(250)
    faulty = forge.with_jitter(forge.reordered(forge.duplicated(forge.loss_burst(stream, 50, 5), [80, 81]), 120, 2),
                               forge.random_delays(250, 0.015, seed=4))
    play(port, far, leg.local, forge.as_pairs(faulty))
    s = leg.stats()
    assert s["expected"] == 250 and s["lost"] == 5 - 2        # RFC 3550 counts duplicates as received
    # Two packets of two frames each came twice: dropped as duplicates (or as late, when the
    # first copy had already been played).
    assert s["jitter_buffer"]["duplicates"] >= 2
    assert s["reordered"] >= 1
    # Late: the packet held back 40 ms, and frames of the first second before the buffer learned
    # the jitter (it starts at 20 ms).
    assert s["jitter_buffer"]["late"] <= 0.05 * 500
    assert s["jitter_buffer"]["missing"] >= 10                 # the burst's frames, concealed
    assert 2.0 < s["jitter_ms"] < 10.0
    far.close()


def test_forged_malformed_rtp_and_rtcp_garbage_are_counted_and_dropped():
    port, far, leg = open_leg()
    stream = forge.rtp_stream(100)
    items = forge.as_pairs(stream)
    bad = [forge.wrong_version(stream[10]), forge.truncated_header(stream[11]), forge.csrc_past_end(stream[12])]
    garbage = [forge.rtcp_garbage(kind) for kind in ("length_past_end", "short_sr", "unknown_type",
                                                    "not_multiple_of_4")]
    at = items[20][0] + 0.001
    items += [(at, payload) for payload in bad + garbage]
    items.sort(key=lambda item: item[0])
    play(port, far, leg.local, items)
    s = leg.stats()
    assert s["malformed"]["version"] == 1 and s["malformed"]["short"] == 1 and s["malformed"]["csrc"] == 1
    assert s["rtcp_malformed"] == 4
    assert s["packets_received"] == 100 and s["lost"] == 0
    far.close()
