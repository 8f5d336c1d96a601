"""Interop of our LAPD with real libpri (Asterisk's PRI stack) over a D-channel socket, in both
pairings.  libpri keeps wall-clock timers, so these run on a real asyncio loop with short
T200/T203 on both sides to stay fast."""

import asyncio
import socket

import pytest

from firmware.isdn.lapd import DlData, DlEstablished, DlReleased, LapdTimers, Role
from firmware.isdn.lapd_frames import Kind, decode
from firmware.isdn.pcap import PcapWriter, read_pcap
from hil_tests.peers.libpri import LibpriPeer, bench_libpri_calls
from tests.support.libpri_link import CHANNEL_1, PAIRINGS, link, q931


@pytest.mark.parametrize("our_role,peer_role", PAIRINGS)
@pytest.mark.parametrize("poller", ["ours", "libpri"])
def test_link_up_survives_idle_keepalives_and_carries_q931_both_ways(our_role, peer_role, poller, tmp_path):
    fast, slow = 0.25, 30.0
    our_timers = LapdTimers(t200=0.2, t203=fast if poller == "ours" else slow)
    peer_timers = {"T200": 200, "T203": int((fast if poller == "libpri" else slow) * 1000)}
    path = tmp_path / "l2.pcap"

    async def scenario():
        with PcapWriter(path, network_side=our_role is Role.NETWORK) as pcap:
            async with link(our_role, peer_role, our_timers=our_timers, peer_timers=peer_timers, pcap=pcap) as (dc, peer, _):
                await asyncio.sleep(1.2)  # idle: about four T203 keepalive rounds
                assert dc.lapd.established and peer.dchannel_up
                assert dc.events.empty()  # no DlReleased, no re-establishment
                # libpri -> us: its SETUP arrives as an I frame
                call = peer.call("15881234", calling="0212345678", channel=1)
                setup = (await dc.wait_for(DlData)).payload
                assert setup[0] == 0x08 and setup[4] == 0x05
                cref = int.from_bytes(setup[2:4], "big") & 0x7FFF
                # us -> libpri: ALERTING then CONNECT reach its Q.931
                dc.send(q931(0x01, cref, CHANNEL_1))
                assert (await peer.wait_for("ringing")).call is call
                dc.send(q931(0x07, cref, CHANNEL_1))
                assert (await peer.wait_for("answer")).call is call
                peer.hangup(call, 16)
                disconnect = (await dc.wait_for(DlData)).payload
                if disconnect[4] == 0x0F:  # CONNECT ACKNOWLEDGE first, from a network-side libpri
                    disconnect = (await dc.wait_for(DlData)).payload
                assert disconnect[4] == 0x45
                assert dc.lapd.counters["mdl_error_J"] == 0 and dc.lapd.counters["reestablishments"] == 0
        return read_pcap(path.read_bytes())

    frames = asyncio.run(scenario())
    decoded = [(sent, decode(f)) for _, sent, _, f in frames]
    # Each keepalive is an RR command with P=1 answered by an RR response with F=1.
    our_cmd_cr = 1 if our_role is Role.NETWORK else 0
    polls_by_us = [f for sent, f in decoded if sent and f.kind == Kind.RR and f.pf and f.cr == our_cmd_cr]
    polls_by_peer = [f for sent, f in decoded if not sent and f.kind == Kind.RR and f.pf and f.cr != our_cmd_cr]
    finals_by_us = [f for sent, f in decoded if sent and f.kind == Kind.RR and f.pf and f.cr != our_cmd_cr]
    if poller == "ours":
        assert len(polls_by_us) >= 3
    else:
        assert len(polls_by_peer) >= 3 and len(finals_by_us) >= len(polls_by_peer)
    assert sum(1 for sent, f in decoded if f.kind == Kind.I) >= 5


@pytest.mark.parametrize("our_role,peer_role", PAIRINGS)
def test_link_reestablishes_after_the_line_is_cut_and_restored(our_role, peer_role):
    timers = LapdTimers(t200=0.15, n200=3, t203=0.3)
    peer_timers = {"T200": 150, "T203": 300, "N200": 3}

    async def scenario():
        async with link(our_role, peer_role, our_timers=timers, peer_timers=peer_timers) as (dc, peer, line):
            line.cut = True  # a break layer 1 does not see: only LAPD's timers can tell
            await dc.wait_for(DlReleased, timeout=4)
            await peer.wait_for("dchannel_down", timeout=4)
            await asyncio.sleep(0.5)
            line.cut = False
            await dc.wait_for(DlEstablished, timeout=4)
            await peer.wait_for("dchannel_up", timeout=4)
            assert line.lost["near_to_far"] > 0 and line.lost["far_to_near"] > 0
            # And the restored link carries Q.931 again.
            peer.call("15881234", calling="0212345678", channel=2)
            setup = (await dc.wait_for(DlData)).payload
            assert setup[4] == 0x05

            # A layer-1 alarm on our side: immediate release, clean re-establishment on recovery.
            line.cut = True
            dc.layer1_changed(False)
            assert isinstance(await dc.wait_for(DlReleased, timeout=1), DlReleased)
            await peer.wait_for("dchannel_down", timeout=4)
            line.cut = False
            dc.layer1_changed(True)
            await dc.wait_for(DlEstablished, timeout=4)
            await peer.wait_for("dchannel_up", timeout=4)
            assert dc.lapd.counters["layer1_down"] == 1

    asyncio.run(scenario())


def test_libpri_reference_call_rate_runs_in_this_process():
    completed, seconds = bench_libpri_calls(200)
    assert completed == 200 and seconds > 0
    assert completed / seconds > 1000  # libpri does thousands per second here; a stall would show


def test_the_peer_harness_drives_libpri_against_libpri_through_a_whole_call_set():
    """The harness the Q.931 scenarios use, proven on libpri talking to itself: ring fields,
    every action, causes both ways, busy rejection, overlap receiving and RESTART."""
    async def scenario():
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        net = LibpriPeer(a, "network", overlap=True)
        usr = LibpriPeer(b, "user", overlap=True)
        net.start()
        usr.start()
        try:
            await net.wait_for("dchannel_up")
            await usr.wait_for("dchannel_up")
            # A forwarded call (redirecting number), answered, cleared by the caller.
            call = net.call("15881234", calling="0212345678", redirecting="07012345678",
                            redirecting_reason=1, channel=3)
            ring = await usr.wait_for("ring")
            assert (ring.called, ring.calling, ring.redirecting, ring.channel, ring.complete) == \
                ("15881234", "0212345678", "07012345678", 3, True)
            assert ring.layer1 == 0x23  # A-law
            incoming = ring.call
            usr.proceeding(incoming)
            await net.wait_for("proceeding", call=call)
            usr.alerting(incoming)
            await net.wait_for("ringing", call=call)
            usr.progress(incoming)
            assert (await net.wait_for("progress", call=call)).progress == 8  # in-band info
            usr.answer(incoming)
            await net.wait_for("answer", call=call)
            net.hangup(call, 16)
            assert (await usr.wait_for("hangup_req", call=incoming)).cause == 16
            assert (await net.wait_for("hangup", call=call)).cause == 16  # auto RELEASE came back
            assert call.cleared
            # Busy: the user side rejects with cause 17.
            call = net.call("15881234", channel=4)
            ring = await usr.wait_for("ring")
            usr.hangup(ring.call, 17)
            assert (await net.wait_for("hangup_req", call=call)).cause == 17
            # Overlap receiving: digits after SETUP ACKNOWLEDGE.
            call = net.call("158", channel=5, complete=False)
            ring = await usr.wait_for("ring")
            assert (ring.called, ring.complete) == ("158", False)
            usr.need_more_info(ring.call)
            await net.wait_for("setup_ack", call=call)
            net.information(call, "81")
            digits = [(await usr.wait_for("info_received")).called for _ in range(2)]
            assert digits == ["8", "1"]
            usr.hangup(ring.call, 16)
            await net.wait_for("hangup_req", call=call)
            # RESTART of one channel, acknowledged.
            net.restart(7)
            assert (await usr.wait_for("restart")).channel == 7
            assert (await net.wait_for("restart_ack")).channel == 7
        finally:
            net.close()
            usr.close()
            a.close()
            b.close()

    asyncio.run(scenario())


def test_the_peer_reports_a_closed_line_and_stops_reading():
    async def scenario():
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        peer = LibpriPeer(theirs, "network", timers={"T200": 100, "N200": 2})
        peer.start()
        ours.close()
        assert (await peer.wait_for("line_closed", timeout=2)).kind == "line_closed"
        await asyncio.sleep(0.5)  # libpri keeps calling SABME into the void without spinning
        peer.close()
        theirs.close()

    asyncio.run(scenario())


@pytest.mark.parametrize("our_role,peer_role", PAIRINGS)
def test_calls_cross_a_lossy_line_exactly_once_and_in_order(our_role, peer_role):
    """Every fourth packet lost both ways: REJ and T200 recovery on both sides still deliver
    each of libpri's SETUPs to us once, in order, and each of our ALERTINGs to libpri."""
    timers = LapdTimers(t200=0.1, n200=5, t203=2.0)
    peer_timers = {"T200": 100, "N200": 5, "T203": 2000, "T303": 10000, "T301": 60000}
    calls = 6

    async def scenario():
        async with link(our_role, peer_role, our_timers=timers, peer_timers=peer_timers) as (dc, peer, line):
            counts = {"near_to_far": 0, "far_to_near": 0}

            def every_fourth(direction, packet):
                counts[direction] += 1
                return counts[direction] % 4 == 0
            line.drop = every_fourth
            placed = [peer.call("15881234", calling="0212345678", channel=ch) for ch in range(1, calls + 1)]
            crefs = []
            while len(crefs) < calls:
                payload = (await dc.wait_for(DlData, timeout=10)).payload
                assert payload[4] == 0x05
                crefs.append(int.from_bytes(payload[2:4], "big") & 0x7FFF)
            for cref in crefs:
                dc.send(q931(0x01, cref, bytes.fromhex("1803a98381")[:4] + bytes([0x80 | (crefs.index(cref) + 1)])))
            ringing = {(await peer.wait_for("ringing", timeout=10)).call for _ in range(calls)}
            assert ringing == set(placed)
            assert line.lost["near_to_far"] > 0 and line.lost["far_to_near"] > 0
            assert dc.lapd.counters["retransmitted"] > 0
            assert dc.lapd.counters["reestablishments"] == 0
            return crefs

    crefs = asyncio.run(scenario())
    assert len(set(crefs)) == calls and crefs == sorted(crefs)


@pytest.mark.parametrize("our_role,peer_role", PAIRINGS)
def test_libpri_holds_its_i_frames_while_we_are_busy(our_role, peer_role):
    timers = LapdTimers(t200=0.2, t203=5.0)

    async def scenario():
        async with link(our_role, peer_role, our_timers=timers, peer_timers={"T200": 200, "T203": 5000}) as (dc, peer, _):
            dc.set_own_busy(True)
            await asyncio.sleep(0.05)
            peer.call("15881234", calling="0212345678", channel=1)
            peer.call("15881235", calling="0212345678", channel=2)
            await asyncio.sleep(0.8)  # libpri polls the busy receiver and keeps the SETUPs
            assert dc.events.empty()
            assert dc.lapd.counters["rx_I"] == 0  # held by libpri, not sent and discarded here
            dc.set_own_busy(False)
            first = (await dc.wait_for(DlData, timeout=3)).payload
            second = (await dc.wait_for(DlData, timeout=3)).payload
            assert (first[4], second[4]) == (0x05, 0x05)
            assert b"15881234" in first and b"15881235" in second
            assert dc.lapd.counters["reestablishments"] == 0

    asyncio.run(scenario())
