"""One whole call captured with `all`, in real time on 127.0.0.1: E1 in, IVR, queue, an agent on
a SIP phone.  The daemon runs the embedded default (the carrier simulator's PRI on spans 1/2)
with `[[sip_phone]]` 2002; baresip registers as 2002 and agent lee logs in there over the API
and goes ready.  `pribox capture` (the control socket) defines `all` and starts before the
phone registers; the carrier calls 1588-1234 on the PRI, presses 2 in the IVR's menu (in-band)
and then talks a 1 kHz tone; the caller is queued, the box INVITEs lee's phone, baresip answers,
talks a while and hangs up.  Then: tshark reads the file with 0 malformed packets; it holds the
call's Q.931 on the D-channel, the phone's SIP dialogue and both RTP streams of the agent's leg;
and the bench's RTP analyser agrees with the figures the box wrote into the call's CDR.  About
25 s: the prompts play in real time."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import tempfile
from pathlib import Path

from firmware.appliance.control_service import CONTROL_SOCKET, query
from firmware.appliance.daemon import Daemon, FileSource
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import load_box_services
from firmware.capture import console as capture_console
from firmware.config.passwords import hash_password
from hil_tests.carrier import StackCarrier, after_answer_audio
from hil_tests.packets.capture_file import read_capture
from hil_tests.packets.isdn_layers import LAPD, Q931
from hil_tests.packets.rtp_analysis import analyse
from pbx_cti.cdr.reader import CdrReader
from pbx_cti.cdr.schema import records_path
from pbx_cti.pbx.model import CallEnded, CallUpdated
from runtime.bus import EventBus
from runtime.clock import LoopClock
from tests.packets.test_capture import tshark
from tests.sip.test_sip_pbx_baresip_agent import (BARESIP_PHONE, LEE_PASSWORD, PHONE_SECRET, login_ready,
                                                  phone_wav)
from tests.sip.test_sip_pbx_sipp import box_config, free_udp_port
from tests.sip.test_sip_ua_interop import BARESIP, BARESIP_DEBUG, BARESIP_LOG, baresip_command, free_port
from tests.support.daemon_harness import run_beside, until

KEY_AT = 4.0                 # seconds after the IVR answers: during the menu
AGENT_TALKS = 8.5         # past the first RTCP report (5 s, randomised 2.5 .. 7.5 s)
# Bounds of agreement between the capture's analysis and the box's own figures.  Packets and
# loss are counted from the same datagrams (the tap copies each one the leg's socket sent or
# received), so they agree exactly.  Jitter is RFC 3550 A.8 on both sides, but the box takes
# arrival times when the line thread reads the socket and the capture when the tap copies:
# the same moments to within the copy (measured here: 0.006 ms apart), so 0.25 ms.
JITTER_BOUND_MS = 0.25


def test_an_e1_call_to_an_agent_on_a_sip_phone_captured_with_all_agrees_with_its_cdr(tmp_path):
    sip_port, carrier_port = free_udp_port(), free_udp_port()
    config = box_config(tmp_path, sip_port, carrier_port)
    text = config.read_text().replace('id = "lee"\n', f'id = "lee"\npassword_hash = '
                                                      f'"{hash_password(LEE_PASSWORD, n=16, r=1, p=1)}"\n')
    text += f'\n[[sip_phone]]\nextension = "2002"\npassword = "{PHONE_SECRET}"\n'
    config.write_text(text)
    home = Path(tempfile.mkdtemp(dir=tmp_path))
    (home / "heard").mkdir()
    phone_wav(home / "phone.wav")
    phone_port = free_port(spacing=4)                 # baresip takes its SIP port and the next (TLS)
    ctrl = free_port(kind=socket.SOCK_STREAM)
    rtp = free_port(spacing=12) // 2 * 2 + 2
    (home / "config").write_text(BARESIP_PHONE.format(port=phone_port, ctrl=ctrl, wav=home / "phone.wav",
                                                      heard=home / "heard", rtp=rtp, rtp_end=rtp + 9))
    (home / "accounts").write_text(f"<sip:2002@127.0.0.1:{sip_port};transport=udp>;auth_pass={PHONE_SECRET};"
                                   f"answermode=auto;regint=60\n")
    bus = EventBus()
    ended: list[CallEnded] = []
    bus.subscribe(CallEnded, ended.append)
    connected: list[CallUpdated] = []
    bus.subscribe(CallUpdated, lambda u: connected.append(u) if u.fields.get("agent") == "lee" else None)
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
        ctx = lambda: daemon.ctx                                          # noqa: E731
        await until(lambda: ctx() is not None and ctx().peer("sip") is not None and ctx().peer("sip").bound
                    and ctx().peer("pbx") is not None and ctx().peer("pbx").core is not None
                    and ctx().peer("cti") is not None and ctx().peer("cti").runner is not None
                    and ctx().peer("api") is not None and ctx().peer("api").port is not None
                    and ctx().peer("isdn") is not None and 2 in ctx().peer("isdn").spans
                    and ctx().peer("control").path is not None, 10, "the box's services")
        isdn = ctx().peer("isdn")
        await until(lambda: isdn.spans[1].in_service and isdn.spans[2].in_service, 5, "the carrier's PRI")
        await ask("capture define all")
        seen["started"] = await ask("capture start")
        phone = await asyncio.create_subprocess_exec(
            BARESIP, "-f", str(home), *BARESIP_DEBUG, stdin=asyncio.subprocess.DEVNULL, stdout=BARESIP_LOG,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
        try:
            sip = ctx().peer("sip")
            await until(lambda: sip.handler.legs.registered_phone("2002") is not None, 10, "baresip registers")
            await login_ready(f"http://127.0.0.1:{ctx().peer('api').port}")
            carrier = StackCarrier(isdn.spans[2], digits="", tone_seconds=0.0, hangup_after_audio=False)
            call = carrier.place_call()
            await until(lambda: call.answered_at is not None, 5, "the IVR answers")
            await asyncio.sleep(KEY_AT)
            audio, _ = after_answer_audio("2", 30.0)          # key 2 in-band, then the caller talks
            isdn.spans[2].bearer.play(call.timeslot, audio)
            await until(lambda: connected, 25, "lee's phone answers the queued caller")
            await asyncio.sleep(AGENT_TALKS)
            await baresip_command(ctrl, "hangup", "")
            await until(lambda: ended, 5, "the call's end")
            await asyncio.sleep(0.3)                           # the last frames on the D-channel
            seen["stopped"] = await ask("capture stop")
            seen["tap"] = sip.capture_tap.stats()
        finally:
            os.killpg(phone.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(phone.wait(), 5)
            except asyncio.TimeoutError:
                os.killpg(phone.pid, signal.SIGKILL)
                await phone.wait()

    try:
        asyncio.set_event_loop(loop)
        assert loop.run_until_complete(run_beside(daemon, scenario_run)) == 0
    finally:
        asyncio.set_event_loop(None)
        loop.close()
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
    # The caller's call on the carrier's PRI (span 1, the box's side): SETUP in, CONNECT, clearing.
    q931 = [p.packet[Q931] for p in by_kind["dchannel"] if isinstance(p.packet, LAPD) and p.packet.haslayer(Q931)]
    assert {"SETUP", "CONNECT", "DISCONNECT"} <= {m.sprintf("%message_type%") for m in q931}
    # The phone's SIP as it crossed the box's socket: its registration, our INVITE (to the contact
    # it registered, sip:2002-...@), its BYE.
    sip_lines = [bytes(p.packet.payload.payload).split(b"\r\n", 1)[0] for p in by_kind["sip"]]
    assert any(line.startswith(b"REGISTER sip:") for line in sip_lines)
    invites = [p for p, line in zip(by_kind["sip"], sip_lines) if line.startswith(b"INVITE sip:2002")]
    assert invites and all(p.outbound for p in invites)
    assert {p.packet.payload.dport for p in invites} == {phone_port}
    assert any(line.startswith(b"BYE ") for line in sip_lines)

    record = CdrReader(records_path(str(state))).calls()[0]
    assert record.agent == "lee" and record.called_number == "15881234" and record.digits == "2"
    assert [leg.kind for leg in record.legs] == ["isdn", "sip"]
    (leg,) = record.media                                      # the agent's RTP leg
    assert leg["role"] == "out" and leg["codec"] in ("PCMA", "PCMU")
    host, box_port = leg["local"].rsplit(":", 1)
    _, phone_rtp = leg["remote"].rsplit(":", 1)
    box_port, phone_rtp = int(box_port), int(phone_rtp)

    result = analyse([p.packet for p in by_kind["rtp"]])
    assert not result.not_rtp, result.not_rtp
    received = [s for s in result.streams.values() if (s.sport, s.dport) == (phone_rtp, box_port)]
    sent = [s for s in result.streams.values() if (s.sport, s.dport) == (box_port, phone_rtp)]
    assert len(received) == 1 and len(sent) == 1, list(result.streams)
    (received,), (sent,) = received, sent
    figures = {"cdr": {k: leg[k] for k in ("packets_sent", "packets_received", "expected", "lost", "jitter_ms",
                                           "mos")},
               "capture_received": vars_of(received), "capture_sent": vars_of(sent)}
    # The stream the box sent the phone: its SSRC and every packet it counted.
    assert sent.ssrc == leg["ssrc"] and sent.packets == leg["packets_sent"] and sent.lost == 0, figures
    # The stream the box received from the phone: the same packets, loss and (within the bound) jitter.
    assert received.packets == leg["packets_received"] > 100, figures
    assert received.expected == leg["expected"] and received.lost == leg["lost"], figures
    assert abs(received.jitter_ms - leg["jitter_ms"]) <= JITTER_BOUND_MS, figures
    # RTCP the box sent about the phone's stream reports no more loss than the analyser counted.
    reports = [b for r in result.rtcp if r.src == host and r.sport == box_port + 1 for b in r.reports
               if b.ssrc == received.ssrc]
    assert reports and 0 <= reports[-1].cumulative_lost <= received.lost, figures
    print("whole call:", figures)                                   # -s shows it


def vars_of(stream) -> dict:
    return {name: getattr(stream, name) for name in ("ssrc", "packets", "expected", "lost", "duplicates", "jitter_ms")}
