"""One whole call captured with `all`, in real time on 127.0.0.1: the daemon on the embedded
default plus a 070 SIP trunk, SIPp as the carrier's trunk, agent lee ready at extension 2002
behind the center's PRI (span 4's simulated phones answer and talk).  `pribox capture` (the
control socket) defines `all` and starts before SIPp calls; the call goes through the IVR (key 2
by RFC 4733), is queued, rung on the PRI, answered, talks, and the agent hangs up.  Then:
tshark reads the file with 0 malformed packets; it holds the call's SIP dialogue, its Q.931 on
the center's D-channel and both RTP streams of the caller's leg; and the bench's RTP analyser
agrees with the figures the box wrote into the call's CDR.  About 20 s: prompts play in real
time."""

from __future__ import annotations

import asyncio
import random

import numpy as np

from firmware.appliance.control_service import CONTROL_SOCKET, query
from firmware.appliance.daemon import Daemon, FileSource
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import load_box_services
from firmware.capture import console as capture_console
from hil_tests.packets.capture_file import read_capture
from hil_tests.packets.isdn_layers import LAPD, Q931
from hil_tests.packets.rtp_analysis import analyse
from pbx_cti.cdr.reader import CdrReader
from pbx_cti.cdr.schema import records_path
from pbx_cti.pbx.model import CallEnded
from runtime.bus import EventBus
from runtime.clock import LoopClock
from tests.packets.test_capture import tshark
from tests.sip.test_sip_pbx_sipp import KEY_AT, SCENARIOS, box_config, free_udp_port, run_sipp
from tests.support.daemon_harness import run_beside, until
from tests.support.rtp_pcap import rtp_pcap

AGENT_TALKS = 3.0
# Bounds of agreement between the capture's analysis and the box's own figures.  Packets and
# loss are counted from the same datagrams (the tap copies each one the leg's socket sent or
# received), so they agree exactly.  Jitter is RFC 3550 A.8 on both sides, but the box takes
# arrival times when the line thread reads the socket and the capture when the tap copies:
# the same moments to within the copy (measured here: under 0.001 ms apart), so 0.25 ms.
JITTER_BOUND_MS = 0.25


def test_a_whole_call_captured_with_all_agrees_with_its_cdr(tmp_path):
    sip_port, carrier_port, media_port = free_udp_port(), free_udp_port(), 2 * random.randrange(17500, 18000)
    config = box_config(tmp_path, sip_port, carrier_port)
    audio = (6000 * np.sin(2 * np.pi * 1000 * np.arange(8000 * 16) / 8000)).astype(np.int16)
    rtp_pcap(tmp_path / "caller.pcap", audio, {KEY_AT: "2"})
    scenario = tmp_path / "uac_ivr.xml"
    scenario.write_text((SCENARIOS / "uac_ivr.xml").read_text().replace("RTP_CAPTURE", str(tmp_path / "caller.pcap")))
    bus = EventBus()
    ended: list[CallEnded] = []
    bus.subscribe(CallEnded, ended.append)
    state = tmp_path / "st"
    loop = asyncio.new_event_loop()
    daemon = Daemon(FileSource(str(config)), load_box_services(), clock=LoopClock(loop), bus=bus,
                    notifier=Notifier(environ={}), state_dir=str(state))
    seen = {}

    async def ask(line):
        reply = await query(state / CONTROL_SOCKET, line)
        assert "error" not in reply, reply
        return reply["lines"]

    async def scenario_run():
        await until(lambda: daemon.ctx is not None and daemon.ctx.peer("sip") is not None
                    and daemon.ctx.peer("sip").bound and daemon.ctx.peer("pbx") is not None
                    and daemon.ctx.peer("pbx").core is not None and daemon.ctx.peer("cti") is not None
                    and daemon.ctx.peer("cti").runner is not None and daemon.ctx.peer("isdn") is not None
                    and 4 in daemon.ctx.peer("isdn").spans and daemon.ctx.peer("control").path is not None,
                    10, "the sip, pbx, cti, isdn and control services")
        isdn = daemon.ctx.peer("isdn")
        await until(lambda: isdn.spans[3].in_service and isdn.spans[4].in_service, 5, "the center's PRI")
        isdn.spans[4].handler.max_call_seconds = AGENT_TALKS
        runner = daemon.ctx.peer("cti").runner
        runner("login", "lee", "2002")
        runner("ready", "lee")
        await ask("capture define all")
        seen["started"] = await ask("capture start")
        seen["sipp"] = await run_sipp(scenario, sip_port, carrier_port, media_port)
        await until(lambda: ended, 3, "the call's end")
        await asyncio.sleep(0.3)                  # the last RTCP and the BYE's answer
        seen["stopped"] = await ask("capture stop")
        seen["tap"] = daemon.ctx.peer("sip").capture_tap.stats()

    try:
        asyncio.set_event_loop(loop)
        assert loop.run_until_complete(run_beside(daemon, scenario_run)) == 0
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    code, err = seen["sipp"]
    assert code == 0, err
    assert " 0 dropped" in seen["stopped"][0] and seen["tap"]["dropped"] == 0, (seen["stopped"], seen["tap"])
    path = capture_console._control.path
    assert path.parent == state / "captures"

    # Wireshark's dissectors read every packet: 0 malformed.
    assert tshark(path, "-Y", "_ws.malformed") == ""
    protocols = tshark(path, "-T", "fields", "-e", "frame.protocols")
    assert "sip" in protocols and "rtp" in protocols and "rtcp" in protocols and "q931" in protocols

    packets = read_capture(path)
    by_kind = {name: [p for p in packets if p.interface == name] for name in ("dchannel", "sip", "rtp")}
    assert all(by_kind.values()), {k: len(v) for k, v in by_kind.items()}
    # The SIP dialogue as it crossed the box's socket, with its real ports.
    sip_lines = [bytes(p.packet.payload.payload).split(b"\r\n", 1)[0] for p in by_kind["sip"]]
    assert sip_lines[0].startswith(b"INVITE sip:07012345678@") and not by_kind["sip"][0].outbound
    assert any(line.startswith(b"SIP/2.0 200") for line in sip_lines) and any(line.startswith(b"BYE ") for line in sip_lines)
    assert {p.packet.payload.sport for p in by_kind["sip"] if p.outbound} == {sip_port}
    # The agent's call on the center's PRI: SETUP out to 2002, CONNECT, and its clearing.
    q931 = [p.packet[Q931] for p in by_kind["dchannel"] if isinstance(p.packet, LAPD) and p.packet.haslayer(Q931)]
    assert {"SETUP", "CONNECT", "DISCONNECT"} <= {m.sprintf("%message_type%") for m in q931}

    record = CdrReader(records_path(str(state))).calls()[0]
    assert record.agent == "lee" and record.cause == 16
    (leg,) = record.media
    assert leg["role"] == "in" and leg["codec"] == "PCMA"
    host, box_port = leg["local"].rsplit(":", 1)
    _, caller_port = leg["remote"].rsplit(":", 1)
    box_port, caller_port = int(box_port), int(caller_port)

    result = analyse([p.packet for p in by_kind["rtp"]])
    assert not result.not_rtp, result.not_rtp
    received = [s for s in result.streams.values() if (s.sport, s.dport) == (caller_port, box_port)]
    sent = [s for s in result.streams.values() if (s.sport, s.dport) == (box_port, caller_port)]
    assert len(received) == 1 and len(sent) == 1, list(result.streams)
    (received,), (sent,) = received, sent
    seen["figures"] = {"cdr": leg, "received": vars_of(received), "sent": vars_of(sent)}
    # The stream the box sent: its SSRC and every packet it counted.
    assert sent.ssrc == leg["ssrc"] and sent.packets == leg["packets_sent"] and sent.lost == 0
    # The stream the box received: the same packets, loss and (within the bound) jitter.
    assert received.packets == leg["packets_received"] > 100
    assert received.expected == leg["expected"] and received.lost == leg["lost"]
    assert abs(received.jitter_ms - leg["jitter_ms"]) <= JITTER_BOUND_MS, seen["figures"]
    # RTCP the box sent about the caller's stream reports what the analyser counted.
    reports = [b for r in result.rtcp if r.src == host and r.sport == box_port + 1 for b in r.reports
               if b.ssrc == received.ssrc]
    assert reports and 0 <= reports[-1].cumulative_lost <= received.lost
    print("whole call:", {"cdr": {k: leg[k] for k in ("packets_sent", "packets_received", "lost", "jitter_ms", "mos")},
                          "capture": seen["figures"]["received"], "sent": seen["figures"]["sent"]})   # -s shows it


def vars_of(stream) -> dict:
    return {name: getattr(stream, name) for name in ("ssrc", "packets", "expected", "lost", "duplicates", "jitter_ms")}
