"""Agent lee on a real SIP phone, in real time on 127.0.0.1: the daemon on the embedded default
plus the 070 SIP trunk and `[[sip_phone]]` 2002; baresip (installed by `make deps`) registers as
2002 with digest; lee logs in over the HTTP API at 2002 and goes ready; SIPp, as the carrier,
calls 070-1234-5678 with Diversion and a capture of RTP (key 2 as an RFC 4733 event during the
menu, then a 1 kHz tone).  The IVR queues the caller for lee's group, the box INVITEs baresip
(not the PRI: the extension has a registered contact), baresip answers by itself and plays a
600 Hz WAV; its `sndfile` module keeps what it decoded.  Asserted: baresip heard the caller's
1 kHz, the box sent baresip's 600 Hz on to the caller's leg, the box saw baresip's RFC 4733
key, and the phone unregistering makes lee NOT_READY device-unavailable.  About 25 s."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import tempfile
import wave
from pathlib import Path

import aiohttp
import numpy as np

from firmware.appliance.daemon import Daemon, FileSource
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import load_box_services
from firmware.config.passwords import hash_password
from pbx_cti.cdr.reader import CdrReader
from pbx_cti.cdr.schema import records_path
from pbx_cti.pbx.media import TO_LINE
from pbx_cti.pbx.model import CallEnded, CallUpdated
from pbx_cti.pbx.presence import ExtensionPresence
from runtime.bus import EventBus
from runtime.clock import LoopClock
from tests.sip.test_sip_pbx_baresip import heard_wavs
from tests.sip.test_sip_pbx_sipp import SCENARIOS, TONE, box_config, free_udp_port, run_sipp
from tests.sip.test_sip_ua_interop import BARESIP, BARESIP_DEBUG, BARESIP_LOG, baresip_command, free_port
from tests.support.daemon_harness import run_beside, until
from tests.support.rtp_pcap import rtp_pcap

LEE_PASSWORD = "lee-api-pass"
PHONE_SECRET = "phone-2002-secret"
PHONE_HZ = 600.0
KEY_AT = 4.0
AGENT_TALKS = 4.0            # seconds baresip stays in the call before hanging up

BARESIP_PHONE = """\
sip_listen 127.0.0.1:{port}
net_interface 127.0.0.1
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module sndfile.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl}
audio_source aufile,{wav}
snd_path {heard}
rtp_ports {rtp}-{rtp_end}
"""


def phone_wav(path: Path, seconds: float = 40.0) -> None:
    t = np.arange(int(8000 * seconds)) / 8000
    audio = (6000 * np.sin(2 * np.pi * PHONE_HZ * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(audio.tobytes())


def strongest_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(float)))
    return float(np.argmax(spectrum[1:]) + 1) * 8000 / len(samples)


def loud_part(samples: np.ndarray) -> np.ndarray:
    """The stretch of 20 ms blocks above -40 dBFS or so: the audio, not the silence around it."""
    blocks = samples[: len(samples) // 160 * 160].reshape(-1, 160).astype(float)
    loud = np.sqrt(np.mean(blocks ** 2, axis=1)) > 300
    return blocks[loud].reshape(-1)


async def login_ready(base: str) -> tuple[int, int]:
    async with aiohttp.ClientSession() as http:
        async with http.post(base + "/api/v1/login", json={"agent": "lee", "password": LEE_PASSWORD,
                                                          "extension": "2002"}) as response:
            answer = await response.json()
            assert response.status == 200, answer
        headers = {"Authorization": f"Bearer {answer['token']}"}
        async with http.post(base + "/api/v1/agents/lee/ready", headers=headers) as response:
            ready = await response.json()
            assert response.status == 200 and ready["state"] == "READY", ready
    return 200, 200


def test_baresip_as_agent_lees_phone_takes_a_queued_070_call_with_audio_both_ways(tmp_path):
    sip_port, carrier_port, media_port = free_udp_port(), free_udp_port(), 2 * random.randrange(17500, 18000)
    config = box_config(tmp_path, sip_port, carrier_port)
    text = config.read_text().replace('id = "lee"\n', f'id = "lee"\npassword_hash = '
                                                      f'"{hash_password(LEE_PASSWORD, n=16, r=1, p=1)}"\n')
    text += f'\n[[sip_phone]]\nextension = "2002"\npassword = "{PHONE_SECRET}"\n'
    config.write_text(text)
    start, end, hz, amplitude = TONE
    audio = np.zeros(int(8000 * end), np.int16)
    t = np.arange(int(8000 * (end - start))) / 8000
    audio[int(8000 * start):] = (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.int16)
    rtp_pcap(tmp_path / "caller.pcap", audio, {KEY_AT: "2"})
    scenario = tmp_path / "uac_ivr.xml"
    scenario.write_text((SCENARIOS / "uac_ivr.xml").read_text().replace("RTP_CAPTURE", str(tmp_path / "caller.pcap")))

    home = Path(tempfile.mkdtemp(dir=tmp_path))
    heard = home / "heard"
    heard.mkdir()
    phone_wav(home / "phone.wav")
    phone_port = free_port(spacing=4)                 # baresip takes its SIP port and the next (TLS)
    ctrl = free_port(kind=socket.SOCK_STREAM)
    rtp = free_port(spacing=12) // 2 * 2 + 2
    (home / "config").write_text(BARESIP_PHONE.format(port=phone_port, ctrl=ctrl, wav=home / "phone.wav",
                                                      heard=heard, rtp=rtp, rtp_end=rtp + 9))
    (home / "accounts").write_text(f"<sip:2002@127.0.0.1:{sip_port};transport=udp>;auth_pass={PHONE_SECRET};"
                                   f"answermode=auto;regint=60\n")

    bus = EventBus()
    ended: list[CallEnded] = []
    bus.subscribe(CallEnded, ended.append)
    presence: list[ExtensionPresence] = []
    bus.subscribe(ExtensionPresence, presence.append)
    connected: list[CallUpdated] = []
    bus.subscribe(CallUpdated, lambda u: connected.append(u) if u.fields.get("agent") == "lee" else None)
    loop = asyncio.new_event_loop()
    daemon = Daemon(FileSource(str(config)), load_box_services(), clock=LoopClock(loop), bus=bus,
                    notifier=Notifier(environ={}), state_dir=str(tmp_path / "state"))
    seen: dict = {}

    async def scenario_run():
        ctx = lambda: daemon.ctx                                          # noqa: E731
        await until(lambda: ctx() is not None and ctx().peer("sip") is not None and ctx().peer("sip").bound
                    and ctx().peer("pbx") is not None and ctx().peer("pbx").core is not None
                    and ctx().peer("cti") is not None and ctx().peer("cti").runner is not None
                    and ctx().peer("api") is not None and ctx().peer("api").port is not None,
                    10, "the sip, pbx, cti and api services")
        sip, pbx = ctx().peer("sip"), ctx().peer("pbx").core
        phone = await asyncio.create_subprocess_exec(
            BARESIP, "-f", str(home), *BARESIP_DEBUG, stdin=asyncio.subprocess.DEVNULL, stdout=BARESIP_LOG,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
        try:
            await until(lambda: sip.handler.legs.registered_phone("2002") is not None, 10, "baresip registers")
            await login_ready(f"http://127.0.0.1:{ctx().peer('api').port}")
            sipp = asyncio.ensure_future(run_sipp(scenario, sip_port, carrier_port, media_port))
            await until(lambda: connected, 25, "lee's phone answers the queued caller")
            call_id = connected[0].call_id
            caller, agent = pbx.agent_leg_media(call_id)
            caller.record(6.0, TO_LINE)                     # what the box sends the caller: the agent
            await asyncio.sleep(1.5)
            await baresip_command(ctrl, "sndcode", "5")     # RFC 4733 from the phone
            await asyncio.sleep(AGENT_TALKS - 1.5)
            seen["agent_digits"] = agent.digits()
            seen["to_caller"] = caller.recorded(TO_LINE)
            seen["health"] = sip.health().detail
            await baresip_command(ctrl, "hangup", "")
            seen["sipp"] = await sipp
            await until(lambda: ended, 3, "the call's end")
            seen["lee_during"] = ctx().peer("cti").runner.engine.agents["lee"].state.name
        finally:
            os.killpg(phone.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(phone.wait(), 5)
            except asyncio.TimeoutError:
                os.killpg(phone.pid, signal.SIGKILL)
                await phone.wait()
        # baresip unregisters as it exits: lee's device is gone
        await until(lambda: any(not p.available for p in presence), 5, "the phone's unregistration")
        await asyncio.sleep(0.1)
        agent_state = ctx().peer("cti").runner.engine.agents["lee"]
        seen["lee_after"] = (agent_state.state.name, agent_state.reason)

    try:
        asyncio.set_event_loop(loop)
        assert loop.run_until_complete(run_beside(daemon, scenario_run)) == 0
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    code, err = seen["sipp"]
    assert code == 0, err                                   # SIPp had its 200, then our BYE
    summary = ended[0].summary
    assert summary["trunk"] == "sip070" and summary["numbers_in"]["redirecting"] == "15881234"
    assert summary["digits"] == "2" and summary["data"]["agent"] == "lee"
    assert summary["cleared_by"] == "called" and summary["cause"] == 16
    assert connected[0].fields["out_sip"].startswith("sip:2002@127.0.0.1")
    # the caller's 1 kHz reached baresip, decoded by the phone itself
    decoded = [pcm for name, pcm in heard_wavs(heard).items() if "dec" in name]
    assert decoded, f"no decoded recording from baresip's sndfile: {sorted(heard_wavs(heard))}"
    tone_heard = loud_part(max(decoded, key=len))
    assert len(tone_heard) > 8000 * 2 and abs(strongest_hz(tone_heard[-16000:]) - 1000) < 20
    # baresip's 600 Hz went from its RTP through the bridge onto the caller's leg
    to_caller = loud_part(seen["to_caller"])
    assert len(to_caller) > 8000 * 2 and abs(strongest_hz(to_caller[-16000:]) - PHONE_HZ) < 20
    assert "5" in seen["agent_digits"]
    record = CdrReader(records_path(str(tmp_path / "state"))).calls()[0]
    assert [leg.kind for leg in record.legs] == ["sip", "sip"] and record.agent == "lee"
    assert [(p.extension, p.available) for p in presence][:1] == [("2002", True)]
    assert seen["lee_after"] == ("NOT_READY", "device-unavailable")
    assert "2 RTP leg(s)" in seen["health"] and seen["health"].endswith("phones registered: 1")
