"""linphone-daemon (a real SIP user agent, Debian linphone-cli) as the carrier's caller on the
070 trunk, on 127.0.0.1 in real time: G.729 only (the box answers annexb=no), the IVR answers,
linphone plays a WAV into the call, and its key goes as SIP INFO (application/dtmf-relay),
which the IVR takes as the caller's digit.  The box's RTP leg carries G.729 both ways.  ~10 s."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np

from firmware.sip import events as sip
from tests.sip.linphone import LinphoneDaemon
from tests.sip.live_box import LiveBox, free_port, until
from tests.support.sip_pbx import SIP070

MENU_AT = 4.0        # seconds after the answer: the greeting is over, the menu is playing


def tone_wav(path: Path, seconds: float = 8.0, hz: float = 700.0) -> None:
    t = np.arange(int(8000 * seconds)) / 8000
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes((6000 * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes())


def test_linphone_g729_call_reaches_the_ivr_and_its_sip_info_key_is_heard(tmp_path):
    phone_port = free_port(spacing=2)
    trunk = SIP070.replace('host = "127.0.0.2"', f'host = "127.0.0.1"\nport = {phone_port}\n'
                                                  f'codecs = ["G729"]\ndtmf = "info"')
    tone_wav(tmp_path / "caller.wav")

    async def scenario():
        async with LiveBox(tmp_path, trunk) as box:
            async with LinphoneDaemon(tmp_path / "linphone", phone_port, free_port(spacing=4) // 2 * 2 + 2,
                                      user="0212345678") as phone:
                await phone.command("ipv6 disable")          # else it offers the host's IPv6 address
                await phone.only_codec(18)
                answer = await phone.command(f"call sip:07012345678@127.0.0.1:{box.port}")
                assert "Status: Ok" in answer, answer
                await until(lambda: box.answered, 10, "the IVR's answer")
                await phone.command(f"incall-player-start {tmp_path / 'caller.wav'}")
                await asyncio.sleep(MENU_AT)
                assert "Status: Ok" in await phone.command("dtmf 2")
                await until(lambda: any(u.fields.get("digits") for u in box.updates), 5, "the IVR hearing the key")
                await asyncio.sleep(0.5)
                call_id = next(e.call_id for e in box.sip_events if isinstance(e, sip.IncomingCall))
                stats = box.handler.legs.media[call_id].stats()
                await phone.command("terminate")
                await until(lambda: box.ended, 5, "the call's end")
                return box, stats, phone.log_text()

    box, stats, linphone_log = asyncio.run(scenario())
    incoming = next(e for e in box.sip_events if isinstance(e, sip.IncomingCall))
    assert incoming.offer.codec == "G729" and incoming.offer.payload_type == 18
    assert not incoming.offer.g729_annexb                       # the box's answer: annexb=no
    assert "application/dtmf-relay" in linphone_log            # linphone sent the key as SIP INFO ...
    assert any(isinstance(e, sip.DtmfDigit) and e.digit == "2" for e in box.sip_events)   # ... and it arrived so
    summary = box.ended[0].summary
    assert summary["trunk"] == "sip070" and summary["digits"] == "2"
    assert summary["ivr_path"][:2] == ["greeting", "menu"]
    assert summary["cleared_by"] == "caller"
    # G.729 both ways on the box's leg: 20 ms packets from linphone's tone, the greeting out
    assert stats["packets_received"] > 150 and stats["packets_sent"] > 150, stats
    # two G.729 frames (10 octets each) a packet: linphone's own frames, not annex B's 2-octet SIDs
    assert stats["octets_received"] == 20 * stats["packets_received"], stats
