"""Interop on 127.0.0.1, in real time: the daemon on the embedded default plus a 070 SIP trunk
(its `sip` service on UDP, RTP legs run by the line thread beside the E1 spans) and SIPp as the
carrier's trunk.  Agent lee is logged in and ready at extension 2002 behind the center's PRI
(span 4's simulated phones answer after a ring and listen).  SIPp calls 070-1234-5678 with a
capture of RTP: key 2 as an RFC 4733 event during the menu, then a 1 kHz tone.  The box's IVR
answers, hears the key, queues the caller for lee's skill group, rings 2002 on the PRI and
bridges the RTP leg to the B-channel: the phone hears the caller's tone.  The phone hangs up
after a few seconds, so the box sends SIPp a BYE, which SIPp expects and answers.  About 20 s:
the prompts play in real time."""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
from pathlib import Path

import numpy as np

from firmware.appliance.daemon import Daemon, FileSource
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import load_box_services
from firmware.config.loader import default_text
from firmware.isdn.events import CallAudioReport
from pbx_cti.cdr.reader import CdrReader
from pbx_cti.cdr.schema import records_path
from pbx_cti.ivr.prompts_setup import make_prompts
from pbx_cti.pbx.model import CallAnswered, CallEnded
from runtime.bus import EventBus
from runtime.clock import LoopClock
from tests.support.daemon_harness import run_beside, until
from tests.support.rtp_pcap import rtp_pcap
from tests.support.sip_pbx import SIP070

SCENARIOS = Path(__file__).parent / "sipp"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"   # installed by `make` (APT_PACKAGES: sip-tester)
KEY_AT = 4.0                                       # seconds into the call: during the menu
TONE = (5.0, 16.0, 1000.0, 6000.0)                 # from, to (s), Hz, amplitude: about -11.6 dBm0
AGENT_TALKS = 3.0                                  # seconds the agent's phone stays after answering


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def box_config(tmp_path: Path, sip_port: int, carrier_port: int) -> Path:
    prompts = tmp_path / "prompts"
    make_prompts(prompts, report=lambda line: None)
    text = default_text().replace("/run/pribox/e1-wire-1.sock", str(tmp_path / "e1.wire")) \
        .replace("/run/pribox/e1-wire-2.sock", str(tmp_path / "e1.wire") + "-2") \
        .replace("[console]\nenabled = true", "[console]\nenabled = false") \
        .replace('handler = "none"             # the built-in simulator plays the center\'s PBX and its phones',
                 'handler = "answer"')
    rtp = 2 * random.randrange(15000, 16000)         # an even base well away from the ephemeral range
    text += "\n[api]\nport = 0\n"
    text += f'\n[ivr]\nprompt_dir = "{prompts}"\n'
    text += SIP070.replace('host = "127.0.0.2"', f'host = "127.0.0.1"\nport = {carrier_port}')
    text += f'\n[sip]\naddress = "127.0.0.1"\nport = {sip_port}\nrtp_port_min = {rtp}\nrtp_port_max = {rtp + 58}\n'
    path = tmp_path / "box.toml"
    path.write_text(text)
    return path


async def run_sipp(scenario: Path, box_port: int, own_port: int, media_port: int) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        SIPP, "-sf", str(scenario), "-s", "07012345678", "-m", "1", "-i", "127.0.0.1", "-p", str(own_port),
        "-mi", "127.0.0.1", "-mp", str(media_port), "-timeout", "45s", "-nostdin", "-trace_err",
        f"127.0.0.1:{box_port}", cwd=scenario.parent,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 50)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, err.decode(errors="replace")


def test_sipp_070_trunk_call_through_the_ivr_and_queue_to_an_agent_behind_the_pri(tmp_path):
    sip_port, carrier_port, media_port = free_udp_port(), free_udp_port(), 2 * random.randrange(16500, 17000)
    config = box_config(tmp_path, sip_port, carrier_port)
    start, end, hz, amplitude = TONE
    audio = np.zeros(int(8000 * end), np.int16)
    t = np.arange(int(8000 * (end - start))) / 8000
    audio[int(8000 * start):] = (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    rtp_pcap(tmp_path / "caller.pcap", audio, {KEY_AT: "2"})
    scenario = tmp_path / "uac_ivr.xml"
    scenario.write_text((SCENARIOS / "uac_ivr.xml").read_text().replace("RTP_CAPTURE", str(tmp_path / "caller.pcap")))
    bus = EventBus()
    ended: list[CallEnded] = []
    bus.subscribe(CallEnded, ended.append)
    heard: list[CallAudioReport] = []
    bus.subscribe(CallAudioReport, heard.append)
    loop = asyncio.new_event_loop()
    daemon = Daemon(FileSource(str(config)), load_box_services(), clock=LoopClock(loop), bus=bus,
                    notifier=Notifier(environ={}), state_dir=str(tmp_path / "state"))
    seen = {}

    async def scenario_run():
        await until(lambda: daemon.ctx is not None and daemon.ctx.peer("sip") is not None
                    and daemon.ctx.peer("sip").bound and daemon.ctx.peer("pbx") is not None
                    and daemon.ctx.peer("pbx").core is not None and daemon.ctx.peer("cti") is not None
                    and daemon.ctx.peer("cti").runner is not None and daemon.ctx.peer("isdn") is not None
                    and 4 in daemon.ctx.peer("isdn").spans, 10, "the sip, pbx, cti and isdn services")
        isdn = daemon.ctx.peer("isdn")
        await until(lambda: isdn.spans[3].in_service and isdn.spans[4].in_service, 5, "the center's PRI")
        isdn.spans[4].handler.max_call_seconds = AGENT_TALKS
        runner = daemon.ctx.peer("cti").runner
        runner("login", "lee", "2002")               # as the agent's application does over the API
        runner("ready", "lee")
        seen["sipp"] = await run_sipp(scenario, sip_port, carrier_port, media_port)
        await until(lambda: ended, 3, "the call's end")
        seen["health"] = daemon.ctx.peer("sip").health()

    try:
        asyncio.set_event_loop(loop)
        assert loop.run_until_complete(run_beside(daemon, scenario_run)) == 0
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    code, err = seen["sipp"]
    assert code == 0, err                                    # SIPp got its 200 with SDP, then our BYE
    summary = ended[0].summary
    assert summary["trunk"] == "sip070" and summary["numbers"]["called"] == "7000"
    assert summary["numbers_in"]["redirecting"] == "15881234"
    assert summary["route"]["kind"] == "ivr" and summary["ivr_path"][:3] == ["greeting", "menu", "service"]
    assert summary["digits"] == "2" and summary["data"]["agent"] == "lee"
    assert summary["route"]["kind"] == "ivr" and summary["cause"] == 16 and summary["cleared_by"] == "called"
    # the agent's phone heard the caller's tone: RTP in, through the media plane, out on the E1
    report = next(r for r in heard if r.span_id == 4)
    assert report.tone_level_dbm0 is not None and abs(report.tone_level_dbm0 - (-11.6)) < 2.0
    assert report.tone_seconds >= AGENT_TALKS - 1.0
    assert seen["health"].ok and "0 call(s), 0 RTP leg(s)" in seen["health"].detail
    record = CdrReader(records_path(str(tmp_path / "state"))).calls()[0]
    assert record.legs[0].kind == "sip" and record.legs[0].trunk_group == "sip070"
    assert record.called_number == "07012345678" and record.called_mapped == "7000" and record.agent == "lee"
    assert [leg.kind for leg in record.legs] == ["sip", "isdn"] and record.legs[1].span == 3


def test_a_daemon_stop_clears_a_sip_call_with_a_bye_and_cause_41_and_closes_its_record(tmp_path):
    sip_port, carrier_port, media_port = free_udp_port(), free_udp_port(), 2 * random.randrange(17000, 17500)
    config = box_config(tmp_path, sip_port, carrier_port)
    rtp_pcap(tmp_path / "caller.pcap", np.zeros(8000 * 3, np.int16), {})
    scenario = tmp_path / "uac_ivr.xml"
    scenario.write_text((SCENARIOS / "uac_ivr.xml").read_text().replace("RTP_CAPTURE", str(tmp_path / "caller.pcap")))
    bus = EventBus()
    ended: list[CallEnded] = []
    bus.subscribe(CallEnded, ended.append)
    answered: list = []
    bus.subscribe(CallAnswered, answered.append)
    loop = asyncio.new_event_loop()
    daemon = Daemon(FileSource(str(config)), load_box_services(), clock=LoopClock(loop), bus=bus,
                    notifier=Notifier(environ={}), state_dir=str(tmp_path / "state"))
    seen = {}

    async def scenario_run():
        await until(lambda: daemon.ctx is not None and daemon.ctx.peer("sip") is not None
                    and daemon.ctx.peer("sip").bound and daemon.ctx.peer("pbx") is not None
                    and daemon.ctx.peer("pbx").core is not None, 10, "the sip and pbx services")
        sipp = asyncio.ensure_future(run_sipp(scenario, sip_port, carrier_port, media_port))
        await until(lambda: answered, 5, "the IVR answers")
        await asyncio.sleep(1.0)
        daemon.request_stop("test")                  # the box goes down mid-call
        seen["sipp"] = await sipp

    async def main():
        scene = asyncio.ensure_future(scenario_run())
        code = await daemon.run(install_signals=False)
        await scene
        return code

    try:
        asyncio.set_event_loop(loop)
        assert loop.run_until_complete(main()) == 0
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    code, err = seen["sipp"]
    assert code == 0, err                             # SIPp had its BYE and answered it
    assert ended and ended[0].summary["cause"] == 41 and ended[0].summary["cleared_by"] == "box"
    record = CdrReader(records_path(str(tmp_path / "state"))).calls()[0]
    assert record.state == "closed" and record.cause == 41 and record.legs[0].kind == "sip"
