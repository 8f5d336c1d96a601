"""The box as an E1 <-> SIP gateway, in real time on 127.0.0.1 with SIPp as the SIP peer: the
daemon on the embedded default plus the 070 trunk and a `[[sip_trunk]] peer` (a PBX behind the
box), the carrier simulator on span 2 of the emulated E1.

E1 -> SIP: the carrier calls 0519-999-0000 forwarded from 1588-1234; the dial plan's
`_0519X. -> trunk:peer` sends it to SIPp (scenario uas_peer_pbx.xml checks P-Asserted-Identity,
Diversion and PCMA first), which answers with early media first (183 -> progress indicator 8 on
the E1) and echoes the RTP it gets (-rtp_echo): the carrier hears its own 1 kHz tone back through
E1 -> RTP -> SIPp -> RTP -> E1.  The carrier hangs up: SIPp gets BYE with Reason cause 16.

SIP -> E1: SIPp calls 031-123-4567 on the 070 trunk with a capture of a 1 kHz tone; the dial
plan's `_031X. -> trunk:carrier` places it on span 1; the carrier's in-band ringback is early
media to SIPp (183), then it answers, hears the tone on its B-channel, and hangs up: SIPp gets
the BYE.  About 25 s."""

from __future__ import annotations

import asyncio
import random

import numpy as np

from firmware.appliance.daemon import Daemon, FileSource
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import load_box_services
from firmware.isdn.q931.events import Alerting, Progress
from hil_tests.carrier import TONE_HZ, StackCarrier
from pbx_cti.cdr.reader import CdrReader
from pbx_cti.cdr.schema import records_path
from pbx_cti.pbx.model import CallEnded
from runtime.bus import EventBus
from runtime.clock import LoopClock
from tests.sip.test_sip_pbx_sipp import SCENARIOS, SIPP, box_config, free_udp_port
from tests.support.daemon_harness import run_beside, until
from tests.support.rtp_pcap import rtp_pcap

ROUTES = '''
[[sip_trunk]]
name = "peer"
host = "127.0.0.1"
port = {peer_port}
keepalive = 0
caller_header = "pai"

[[dialplan]]
pattern = "_0519X."
target = "trunk:peer"

[[dialplan]]
pattern = "_031X."
target = "trunk:carrier"
'''


def strongest_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(float)))
    return float(np.argmax(spectrum[1:]) + 1) * 8000 / len(samples)


def loud_part(samples: np.ndarray) -> np.ndarray:
    blocks = samples[: len(samples) // 160 * 160].reshape(-1, 160).astype(float)
    return blocks[np.sqrt(np.mean(blocks ** 2, axis=1)) > 300].reshape(-1)


async def sipp(*args: str, cwd) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        SIPP, *args, "-m", "1", "-i", "127.0.0.1", "-timeout", "40s", "-nostdin", "-trace_err", cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)


async def finished(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 45)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, err.decode(errors="replace")


def test_e1_to_a_sip_peer_and_a_sip_trunk_call_out_on_the_pri(tmp_path):
    sip_port, carrier_port, peer_port = free_udp_port(), free_udp_port(), free_udp_port()
    peer_media, caller_media = 2 * random.randrange(18000, 18500), 2 * random.randrange(18500, 19000)
    config = box_config(tmp_path, sip_port, carrier_port)
    config.write_text(config.read_text() + ROUTES.format(peer_port=peer_port))
    start, end = 0.5, 8.0
    t = np.arange(int(8000 * (end - start))) / 8000
    audio = np.zeros(int(8000 * end), np.int16)
    audio[int(8000 * start):] = (6000 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    rtp_pcap(tmp_path / "caller.pcap", audio, {})
    uac = tmp_path / "uac.xml"
    uac.write_text((SCENARIOS / "uac_ivr.xml").read_text().replace("RTP_CAPTURE", str(tmp_path / "caller.pcap")))
    bus = EventBus()
    ended: list[CallEnded] = []
    bus.subscribe(CallEnded, ended.append)
    loop = asyncio.new_event_loop()
    daemon = Daemon(FileSource(str(config)), load_box_services(), clock=LoopClock(loop), bus=bus,
                    notifier=Notifier(environ={}), state_dir=str(tmp_path / "state"))
    seen: dict = {}

    async def scenario_run():
        await until(lambda: daemon.ctx is not None and daemon.ctx.peer("sip") is not None
                    and daemon.ctx.peer("sip").bound and daemon.ctx.peer("pbx") is not None
                    and daemon.ctx.peer("pbx").core is not None and daemon.ctx.peer("isdn") is not None
                    and 2 in daemon.ctx.peer("isdn").spans, 10, "the sip, pbx and isdn services")
        isdn = daemon.ctx.peer("isdn")
        box, net = isdn.spans[1], isdn.spans[2]
        await until(lambda: box.in_service and net.in_service, 5, "the carrier's PRI")
        carrier = StackCarrier(net, digits="", tone_seconds=3.0, hangup_after_audio=True)
        progress: list = []
        handle = carrier.on_event
        carrier.on_event = lambda event: (progress.append(event) if isinstance(event, (Alerting, Progress))
                                          else None, handle(event))
        net.handler = carrier

        # -- E1 -> SIP ---------------------------------------------------------------------
        peer = await sipp("-sf", str(SCENARIOS / "uas_peer_pbx.xml"), "-p", str(peer_port), "-mp", str(peer_media),
                          "-rtp_echo", cwd=tmp_path)
        await asyncio.sleep(0.5)                         # SIPp listens
        call = carrier.place_call(called="05199990000", calling="0212345678", forwarded_from="15881234")
        await until(lambda: call.answered_at is not None, 10, "the peer answers the E1 call")
        channel = net.bearer.channel(call.timeslot)
        net.bearer.media.record(channel, seconds=4.0)    # what comes back to the carrier on its B-channel
        await asyncio.sleep(3.2)                         # its tone plays from 0.5 s to 3.5 s
        seen["echo"] = net.bearer.media.recorded(channel)
        seen["peer"] = await finished(peer)              # the carrier hangs up after its tone
        seen["early"] = [type(e).__name__ + str(getattr(e, "inband", getattr(e, "description", None)))
                         for e in progress]
        await until(lambda: len(ended) == 1, 3, "the E1 call's end")

        # -- SIP -> E1 ---------------------------------------------------------------------
        heard: dict = {}
        answered = carrier._answered

        def answer_and_listen(box_call):
            answered(box_call)
            if not box_call.outgoing:                    # the box's call to us: listen to the caller
                ch = net.bearer.channel(box_call.timeslot)
                net.bearer.media.record(ch, seconds=4.0)
                heard["channel"] = ch
        carrier._answered = answer_and_listen
        caller = await sipp("-sf", str(uac), "-s", "0311234567", "-p", str(carrier_port), "-mp", str(caller_media),
                            f"127.0.0.1:{sip_port}", cwd=tmp_path)
        await until(lambda: "channel" in heard, 10, "the carrier answers the SIP call")
        await asyncio.sleep(2.5)
        seen["heard_on_e1"] = net.bearer.media.recorded(heard["channel"])
        seen["caller"] = await finished(caller)          # the carrier hangs up after its tone: BYE
        await until(lambda: len(ended) == 2, 3, "the SIP call's end")
        seen["box_call"] = carrier.calls[-1]

    try:
        asyncio.set_event_loop(loop)
        assert loop.run_until_complete(run_beside(daemon, scenario_run)) == 0
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    code, err = seen["peer"]
    assert code == 0, err            # PAI, Diversion, PCMA first; then the BYE with cause 16
    assert seen["early"][0] == "Progress8", seen["early"]      # 183 with SDP -> PROGRESS, indicator 8
    echo = loud_part(seen["echo"])
    assert len(echo) > 8000 and abs(strongest_hz(echo) - TONE_HZ) < 20   # the carrier's tone came back
    first = ended[0].summary
    assert first["route"]["kind"] == "trunk" and first["route"]["out_sip"] == "peer"
    assert first["cleared_by"] == "caller" and first["cause"] == 16

    code, err = seen["caller"]
    assert code == 0, err            # 200 with PCMA, then the box's BYE
    tone = loud_part(seen["heard_on_e1"])
    assert len(tone) > 8000 and abs(strongest_hz(tone) - 1000) < 20      # SIPp's tone on the B-channel
    assert seen["box_call"].called == "0311234567"
    second = ended[1].summary
    assert second["trunk"] == "sip070" and second["route"]["kind"] == "trunk" and second["route"]["out_span"] == 1
    records = CdrReader(records_path(str(tmp_path / "state"))).calls()
    kinds = sorted(tuple(leg.kind for leg in r.legs) for r in records)
    assert kinds == [("isdn", "sip"), ("sip", "isdn")]
