"""Interop on 127.0.0.1, in real time: the daemon on the embedded default plus a 070 SIP trunk
(its `sip` service on UDP, RTP legs run by the line thread beside the E1 spans) and SIPp as the
carrier's trunk.  SIPp calls 070-1234-5678 with a capture of RTP (audio, then key 2 as an RFC
4733 event); the box's IVR answers, hears the key, takes the caller through the menu to the
skill group and, with no agent, the all-busy prompt, then sends BYE, which SIPp expects and
answers.  About 15 s: the flow's prompts play in real time."""

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
from pbx_cti.cdr.reader import CdrReader
from pbx_cti.cdr.schema import records_path
from pbx_cti.ivr.prompts_setup import make_prompts
from pbx_cti.pbx.model import CallEnded
from runtime.bus import EventBus
from runtime.clock import LoopClock
from tests.support.daemon_harness import run_beside, until
from tests.support.rtp_pcap import rtp_pcap
from tests.support.sip_pbx import SIP070

SCENARIOS = Path(__file__).parent / "sipp"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"   # installed by `make` (APT_PACKAGES: sip-tester)
KEY_AT = 4.0                                       # seconds into the call: during the menu


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def box_config(tmp_path: Path, sip_port: int, carrier_port: int) -> Path:
    prompts = tmp_path / "prompts"
    make_prompts(prompts, report=lambda line: None)
    text = default_text().replace("/run/pribox/e1-wire-1.sock", str(tmp_path / "e1.wire")) \
        .replace("/run/pribox/e1-wire-2.sock", str(tmp_path / "e1.wire") + "-2") \
        .replace("[console]\nenabled = true", "[console]\nenabled = false")
    rtp = 2 * random.randrange(15000, 16000)         # an even base well away from the ephemeral range
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


def test_sipp_070_trunk_call_reaches_the_ivr_which_hears_its_rfc4733_key_and_hangs_up(tmp_path):
    sip_port, carrier_port, media_port = free_udp_port(), free_udp_port(), 2 * random.randrange(16500, 17000)
    config = box_config(tmp_path, sip_port, carrier_port)
    quiet = np.zeros(int(8000 * (KEY_AT + 1.0)), np.int16)
    rtp_pcap(tmp_path / "caller.pcap", quiet, {KEY_AT: "2"})
    scenario = tmp_path / "uac_ivr.xml"
    scenario.write_text((SCENARIOS / "uac_ivr.xml").read_text().replace("RTP_CAPTURE", str(tmp_path / "caller.pcap")))
    bus = EventBus()
    ended: list[CallEnded] = []
    bus.subscribe(CallEnded, ended.append)
    loop = asyncio.new_event_loop()
    daemon = Daemon(FileSource(str(config)), load_box_services(), clock=LoopClock(loop), bus=bus,
                    notifier=Notifier(environ={}), state_dir=str(tmp_path / "state"))
    seen = {}

    async def scenario_run():
        await until(lambda: daemon.ctx is not None and daemon.ctx.peer("sip") is not None
                    and daemon.ctx.peer("sip").bound and daemon.ctx.peer("pbx") is not None
                    and daemon.ctx.peer("pbx").core is not None, 10, "the sip and pbx services")
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
    assert summary["digits"] == "2" and summary["ivr_path"][-1] == "all_busy"
    assert summary["cause"] == 16 and summary["cleared_by"] == "box"
    assert seen["health"].ok and "0 call(s), 0 RTP leg(s)" in seen["health"].detail
    record = CdrReader(records_path(str(tmp_path / "state"))).calls()[0]
    assert record.legs[0].kind == "sip" and record.legs[0].trunk_group == "sip070"
    assert record.called_number == "07012345678" and record.called_mapped == "7000"
