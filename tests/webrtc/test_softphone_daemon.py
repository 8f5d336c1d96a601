"""Agent lee on the browser softphone, in the daemon, in real time on 127.0.0.1: the embedded
default plus the 070 SIP trunk, `[[sip_phone]]` 2002 and `[webrtc] enabled` with an HTTPS port.
lee logs in over the API at 2002, opens the softphone's socket with the token (aiortc plays the
browser), its contact registers with the box's registrar, lee goes ready; SIPp, as the carrier,
calls 070-1234-5678 (key 2 during the menu, then 1 kHz).  The IVR queues the caller, the core
INVITEs the softphone's contact, the page is told and answers.  Asserted: the caller's 1 kHz is
in the page's received track, the page's dial tone is on the caller's leg (the box's tone
detector); then the browser vanishes mid-call (its peer connection and socket gone at once):
the softphone's leg is cleared with cause 41, its contact unregisters, and lee is NOT_READY
(device-unavailable) once the call is over.  The HTTPS port answers with the box's own
certificate.  About 20 s."""

from __future__ import annotations

import asyncio
import json
import random
import ssl

import aiohttp
import numpy as np

from dsp.tones import CallProgressDetector
from firmware.appliance.daemon import Daemon, FileSource
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import load_box_services
from firmware.config.passwords import hash_password
from firmware.sip import events as sip_events
from pbx_cti.pbx.media import TO_LINE
from pbx_cti.pbx.model import CallUpdated
from runtime.bus import EventBus
from runtime.clock import LoopClock
from tests.sip.test_sip_pbx_sipp import SCENARIOS, TONE, box_config, free_udp_port, run_sipp
from tests.support.daemon_harness import run_beside, until
from tests.support.rtp_pcap import rtp_pcap
from tests.webrtc.harness import BrowserPeer

LEE_PASSWORD = "lee-api-pass"
PHONE_SECRET = "phone-2002-secret"
KEY_AT = 4.0


def test_a_queued_070_call_rings_lees_browser_which_answers_then_vanishes(tmp_path):
    sip_port, carrier_port, media_port = free_udp_port(), free_udp_port(), 2 * random.randrange(18000, 18500)
    config = box_config(tmp_path, sip_port, carrier_port)
    text = config.read_text().replace('id = "lee"\n', f'id = "lee"\npassword_hash = '
                                                      f'"{hash_password(LEE_PASSWORD, n=16, r=1, p=1)}"\n')
    text += f'\n[[sip_phone]]\nextension = "2002"\npassword = "{PHONE_SECRET}"\n'
    text += '\n[webrtc]\nenabled = true\nhttps_port = 0\n'
    config.write_text(text.replace("https_port = 0", f"https_port = {free_tcp_port()}"))
    start, end, hz, amplitude = TONE
    audio = np.zeros(int(8000 * end), np.int16)
    t = np.arange(int(8000 * (end - start))) / 8000
    audio[int(8000 * start):] = (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    rtp_pcap(tmp_path / "caller.pcap", audio, {KEY_AT: "2"})
    scenario = tmp_path / "uac_ivr.xml"
    scenario.write_text((SCENARIOS / "uac_ivr.xml").read_text().replace("RTP_CAPTURE", str(tmp_path / "caller.pcap")))

    bus = EventBus()
    connected: list[CallUpdated] = []
    bus.subscribe(CallUpdated, lambda u: connected.append(u) if u.fields.get("agent") == "lee" else None)
    sip_ends: list = []
    bus.subscribe(sip_events.Disconnected, sip_ends.append)
    loop = asyncio.new_event_loop()
    daemon = Daemon(FileSource(str(config)), load_box_services(), clock=LoopClock(loop), bus=bus,
                    notifier=Notifier(environ={}), state_dir=str(tmp_path / "state"))
    seen: dict = {}

    async def scenario_run():
        ctx = lambda: daemon.ctx                                          # noqa: E731
        await until(lambda: ctx() is not None and ctx().peer("sip") is not None and ctx().peer("sip").bound
                    and ctx().peer("pbx") is not None and ctx().peer("pbx").core is not None
                    and ctx().peer("api") is not None and ctx().peer("api").port is not None,
                    10, "the sip, pbx, cti and api services")
        sip, pbx, api = ctx().peer("sip"), ctx().peer("pbx").core, ctx().peer("api")
        base = f"http://127.0.0.1:{api.port}"
        browser = BrowserPeer()
        async with aiohttp.ClientSession() as http:
            async with http.post(base + "/api/v1/login", json={"agent": "lee", "password": LEE_PASSWORD,
                                                              "extension": "2002"}) as response:
                token = (await response.json())["token"]
            page = await http.ws_connect(f"{base}/api/v1/softphone?token={token}")
            told: list[dict] = []

            async def read():
                async for message in page:
                    told.append(json.loads(message.data))
                    if told[-1]["type"] == "answer":
                        await browser.accept(told[-1]["sdp"])
                    elif told[-1]["type"] == "incoming":
                        await page.send_str(json.dumps({"type": "answer-call"}))

            reader = asyncio.ensure_future(read())
            await page.send_str(json.dumps({"type": "offer", "sdp": await browser.offer()}))
            await until(lambda: sip.handler.legs.registered_phone("2002") is not None, 10, "the softphone registers")
            async with http.post(base + "/api/v1/agents/lee/ready", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200, await r.json()
            sipp = asyncio.ensure_future(run_sipp(scenario, sip_port, carrier_port, media_port))
            await until(lambda: connected, 25, "lee's softphone answers the queued caller")
            call_id = connected[0].call_id
            caller, agent = pbx.agent_leg_media(call_id)
            caller.record(4.0, TO_LINE)                     # what the box sends the caller: the page
            await asyncio.sleep(2.5)
            seen["page_heard_1khz_db"] = browser.tone_level(1000.0, last_seconds=1.0)
            seen["to_caller"] = caller.recorded(TO_LINE)
            seen["told"] = [m["type"] for m in told]
            # The tab dies: no BYE, no goodbye; its peer connection and socket are gone at once.
            await browser.close()
            await page.close()
            reader.cancel()
            await until(lambda: sip.handler.legs.registered_phone("2002") is None, 5, "the contact to go")
            seen["sip_ends"] = [(e.cause, e.status) for e in sip_ends]
            seen["sipp"] = await sipp
            await asyncio.sleep(0.2)
            lee = ctx().peer("cti").runner.engine.agents["lee"]
            seen["lee_after"] = (lee.state.name, lee.reason)
            seen["health"] = api.health().detail
            # HTTPS with the box's own certificate on the second port
            context = ssl.create_default_context(cafile=str(api.softphone.certificate))
            async with http.get(f"https://127.0.0.1:{api.softphone.https_port}/api/v1/queues", ssl=context) as r:
                seen["https_status"] = r.status

    try:
        asyncio.set_event_loop(loop)
        assert loop.run_until_complete(run_beside(daemon, scenario_run)) == 0
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    assert seen["told"][:5] == ["hello", "answer", "registered", "incoming", "answered"], seen["told"]
    assert seen["page_heard_1khz_db"] > 30.0, "the caller's 1 kHz did not reach the page"
    detector = CallProgressDetector("KR")
    assert any(r.name == "dial" for r in detector.process(seen["to_caller"])), "the page's dial tone missed the caller"
    assert (41, None) in seen["sip_ends"] or any(cause == 41 for cause, _ in seen["sip_ends"]), seen["sip_ends"]
    assert seen["lee_after"] == ("NOT_READY", "device-unavailable"), seen["lee_after"]
    assert seen["https_status"] == 401          # the API, over TLS: no token, refused as over HTTP
    assert "0 softphone(s), 1 browser(s) lost" in seen["health"], seen["health"]


def free_tcp_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
