"""baresip (a real SIP user agent, installed by `make deps`) as the caller on the 070 trunk, on
127.0.0.1 in real time: the box's user agent on UDP, the switching core with the embedded
default's plan and IVR, RTP legs run by the line thread.  baresip's microphone is a WAV file
(silence, then key 2 as in-band DTMF during the menu); its `sndfile` module keeps what it heard.
The IVR answers, baresip hears the greeting, the IVR hears the key; baresip hangs up.  ~8 s."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import tempfile
import wave
from pathlib import Path

import numpy as np

from dsp.dtmf import DtmfGenerator
from dsp.line_port import LineThread
from firmware.sip.binding import SipCalls
from firmware.sip.dialog import LocalEndpoint
from firmware.sip.trunks import trunks_from_config
from firmware.sip.useragent import SipUserAgent
from pbx_cti.ivr.prompts_setup import make_prompts
from pbx_cti.pbx.core import Pbx
from pbx_cti.pbx.model import CallAnswered, CallEnded, CallUpdated
from pbx_cti.pbx.service import build_plan
from pbx_cti.pbx.sip_legs import PbxSipHandler, RtpLegPool
from runtime.bus import EventBus
from runtime.clock import LoopClock
from tests.sip.test_sip_ua_interop import BARESIP, BARESIP_DEBUG, BARESIP_LOG, baresip_command, free_port
from tests.support.pbx_line import pbx_config
from tests.support.sip_pbx import SIP070

KEY_AT = 4.5          # seconds into baresip's WAV: the greeting is over, the menu is playing

BARESIP_CALLER = """\
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


def caller_wav(path: Path) -> None:
    keys = DtmfGenerator(level_dbm0=-10.0, on_ms=120, off_ms=120)
    keys.put("2")
    audio = np.concatenate([np.zeros(int(8000 * KEY_AT), np.int16), keys.generate(1920),
                            np.zeros(8000 * 4, np.int16)])
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(audio.astype("<i2").tobytes())


def heard_wavs(directory: Path) -> dict[str, np.ndarray]:
    found = {}
    for path in directory.glob("*.wav"):
        with wave.open(str(path), "rb") as wav:
            found[path.name] = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
    return found


def test_baresip_calls_the_070_number_hears_the_ivr_and_its_inband_key_is_heard(tmp_path):
    prompts = tmp_path / "prompts"
    make_prompts(prompts, report=lambda line: None)
    phone_port = free_port(spacing=4)             # baresip takes its SIP port and the next (TLS)
    config = pbx_config(prompts, SIP070.replace('host = "127.0.0.2"', f'host = "127.0.0.1"\nport = {phone_port}'))
    plan = build_plan(config, None)

    async def scenario():
        loop = asyncio.get_running_loop()
        clock, bus = LoopClock(loop), EventBus()
        ended, updates, answered = [], [], []
        bus.subscribe(CallEnded, ended.append)
        bus.subscribe(CallUpdated, updates.append)
        bus.subscribe(CallAnswered, answered.append)
        pbx = Pbx(lambda: plan, clock, bus)
        box_port = free_port(spacing=3)
        calls = SipCalls(SipUserAgent(LocalEndpoint("127.0.0.1", box_port), trunks_from_config(config)),
                         clock=clock, bus=bus)
        thread = LineThread(0.001)
        pool = RtpLegPool("127.0.0.1", now=clock.now, started=thread.attach_rtp)
        calls.handler = PbxSipHandler(calls, pbx, pool)
        thread.start(realtime_priority=False)
        await calls.start("127.0.0.1", box_port, tcp=False)
        rtp = free_port(spacing=12) // 2 * 2 + 2
        ctrl = free_port(kind=socket.SOCK_STREAM)
        home = Path(tempfile.mkdtemp(dir=tmp_path))
        heard = home / "heard"
        heard.mkdir()
        caller_wav(home / "caller.wav")
        (home / "config").write_text(BARESIP_CALLER.format(port=phone_port, ctrl=ctrl, wav=home / "caller.wav",
                                                            heard=heard, rtp=rtp, rtp_end=rtp + 9))
        (home / "accounts").write_text(f"<sip:0212345678@127.0.0.1:{phone_port};transport=udp>;regint=0\n")
        phone = await asyncio.create_subprocess_exec(
            BARESIP, "-f", str(home), *BARESIP_DEBUG, stdin=asyncio.subprocess.DEVNULL, stdout=BARESIP_LOG,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
        try:
            for _ in range(100):                   # its control socket comes up
                try:
                    await baresip_command(ctrl, "reginfo", "")
                    break
                except OSError:
                    await asyncio.sleep(0.05)
            await baresip_command(ctrl, "dial", f"sip:07012345678@127.0.0.1:{box_port}")
            for _ in range(int(15 / 0.05)):
                if any(u.fields.get("digits") for u in updates if "digits" in u.fields):
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            await baresip_command(ctrl, "hangup", "")
            for _ in range(60):
                if ended:
                    break
                await asyncio.sleep(0.05)
        finally:
            os.killpg(phone.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(phone.wait(), 5)
            except asyncio.TimeoutError:
                os.killpg(phone.pid, signal.SIGKILL)
                await phone.wait()
            await calls.stop()
            thread.stop()
            pool.close()
        return ended, answered, heard_wavs(heard)

    ended, answered, wavs = asyncio.run(scenario())
    assert answered and ended
    summary = ended[0].summary
    assert summary["trunk"] == "sip070" and summary["numbers"]["called"] == "7000"
    assert summary["digits"] == "2" and summary["ivr_path"][:2] == ["greeting", "menu"]
    assert summary["cleared_by"] == "caller" and summary["cause"] == 16
    # what baresip decoded from the box: the greeting, not silence
    decoded = [pcm for name, pcm in wavs.items() if "dec" in name]
    assert decoded, f"no decoded recording from baresip's sndfile: {sorted(wavs)}"
    loudest = max(decoded, key=len)
    assert len(loudest) > 8000 * 3 and np.sqrt(np.mean(loudest[:8000 * 3].astype(float) ** 2)) > 300
