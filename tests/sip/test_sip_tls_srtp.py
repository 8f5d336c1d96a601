"""baresip (a real SIP user agent) calls the 070 number with SRTP required (`mediaenc=srtp-mand`:
RTP/SAVP with SDES keys), on 127.0.0.1 in real time; the trunk's `srtp = "mandatory"`.  The box
answers with its own key, its C leg protects and authenticates every packet (libsrtp2), and the
greeting baresip decrypts and records is the IVR's; what baresip sends authenticates at the box.
Then the same over SIP over TLS (a certificate the test makes with openssl; baresip verifies it),
where the SDES keys travel encrypted as they should.  About 6 s each."""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
import os
import signal
import socket
import subprocess
import tempfile
import wave
from pathlib import Path

import pytest

import numpy as np

from firmware.sip.tls import SipTlsError, tls_settings
from tests.sip.live_box import LiveBox, free_port, until
from tests.sip.test_sip_ua_interop import BARESIP, BARESIP_DEBUG, BARESIP_LOG, baresip_command
from tests.support.sip_pbx import SIP070

BARESIP_SRTP_CALLER = """\
sip_listen 127.0.0.1:{port}
net_interface 127.0.0.1
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module sndfile.so
module srtp.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl}
audio_source aufile,{wav}
snd_path {heard}
rtp_ports {rtp}-{rtp_end}
{tls}"""


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the box's, and the authority baresip trusts)."""
    cert, key = directory / "box-cert.pem", directory / "box-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def silence_wav(path: Path, seconds: float = 8.0) -> None:
    t = np.arange(int(8000 * seconds)) / 8000
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes((3000 * np.sin(2 * np.pi * 500 * t)).astype("<i2").tobytes())


def decoded_recordings(directory: Path) -> list[np.ndarray]:
    found = []
    for path in directory.glob("*dec*.wav"):
        with wave.open(str(path), "rb") as wav:
            found.append(np.frombuffer(wav.readframes(wav.getnframes()), "<i2"))
    return found


async def baresip_caller(home: Path, phone_port: int, account: str, tls: str = ""):
    ctrl = free_port(kind=socket.SOCK_STREAM)
    rtp = free_port(spacing=12) // 2 * 2 + 2
    heard = home / "heard"
    heard.mkdir(parents=True)
    silence_wav(home / "caller.wav")
    (home / "config").write_text(BARESIP_SRTP_CALLER.format(port=phone_port, ctrl=ctrl, wav=home / "caller.wav",
                                                            heard=heard, rtp=rtp, rtp_end=rtp + 9, tls=tls))
    (home / "accounts").write_text(account + "\n")
    phone = await asyncio.create_subprocess_exec(
        BARESIP, "-f", str(home), *BARESIP_DEBUG, stdin=asyncio.subprocess.DEVNULL, stdout=BARESIP_LOG,
        stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
    for _ in range(100):                   # its control socket comes up
        try:
            await baresip_command(ctrl, "reginfo", "")
            break
        except OSError:
            await asyncio.sleep(0.05)
    return phone, ctrl, heard


async def stop_baresip(phone) -> None:
    os.killpg(phone.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(phone.wait(), 5)
    except asyncio.TimeoutError:
        os.killpg(phone.pid, signal.SIGKILL)
        await phone.wait()


@pytest.mark.parametrize("transport", ["udp", "tls"])
def test_baresip_with_srtp_mandatory_hears_the_ivr_through_the_box_srtp_leg(tmp_path, transport):
    phone_port = free_port(spacing=4)
    trunk = SIP070.replace('host = "127.0.0.1"', "").replace(
        'host = "127.0.0.2"', f'host = "127.0.0.1"\nport = {phone_port}\nsrtp = "mandatory"\ntransport = "{transport}"')
    tls, baresip_tls, target = None, "", ""
    if transport == "tls":
        cert, key = make_certificate(tmp_path)
        tls = tls_settings(free_port(kind=socket.SOCK_STREAM), str(cert), str(key), str(cert))
        (tmp_path / "baresip-cert.pem").write_text(key.read_text() + cert.read_text())
        baresip_tls = f"sip_certificate {tmp_path / 'baresip-cert.pem'}\nsip_cafile {cert}\n"

    async def scenario():
        async with LiveBox(tmp_path, trunk, tls=tls) as box:
            home = Path(tempfile.mkdtemp(dir=tmp_path))
            phone, ctrl, heard = await baresip_caller(
                home, phone_port, f"<sip:0212345678@127.0.0.1:{phone_port};transport={transport}>;regint=0;"
                                  f"mediaenc=srtp-mand", baresip_tls)
            port = tls.port if tls is not None else box.port
            stats = {}
            try:
                await baresip_command(ctrl, "dial", f"sip:07012345678@127.0.0.1:{port};transport={transport}")
                await until(lambda: box.answered, 10, "the IVR's answer")
                for _ in range(45):
                    for leg in box.handler.legs.media.values():
                        stats.update(leg.stats(), srtp=leg.session.srtp)
                    for call in box.ua.calls.values():
                        stats["signalling"] = call.transport
                    await asyncio.sleep(0.05)
                await baresip_command(ctrl, "hangup", "")
                await until(lambda: box.ended, 5, "the call's end")
            finally:
                await stop_baresip(phone)
            return box, stats, decoded_recordings(heard)

    box, stats, decoded = asyncio.run(scenario())
    incoming = next(e for e in box.sip_events if type(e).__name__ == "IncomingCall")
    assert box.ua.counters["calls_in"] == 1
    assert incoming.offer.srtp_receive_key is not None                 # baresip's SDES key
    assert stats["signalling"] == transport.upper()                      # the call's SIP came over TLS
    assert stats["srtp"], stats
    assert stats["packets_received"] > 80 and stats["srtp_failures"] == 0, stats   # baresip's SRTP authenticates
    assert stats["packets_sent"] > 80
    assert decoded, "no decoded recording from baresip's sndfile"
    loudest = max(decoded, key=len)                  # the greeting, decrypted by baresip
    assert len(loudest) > 8000 * 2 and np.sqrt(np.mean(loudest[:8000 * 2].astype(float) ** 2)) > 300
    assert box.ended[0].summary["trunk"] == "sip070"


def test_tls_files_that_cannot_be_used_are_named(tmp_path):
    cert, key = make_certificate(tmp_path)
    (tmp_path / "other").mkdir()
    other_cert, _ = make_certificate(tmp_path / "other")
    with pytest.raises(SipTlsError, match="missing.pem: no such file"):
        tls_settings(5061, str(tmp_path / "missing.pem"), str(key))
    with pytest.raises(SipTlsError, match=r"tls_certificate .*other/box-cert.pem with tls_key"):
        tls_settings(5061, str(other_cert), str(key))          # a certificate that is not the key's
    with pytest.raises(SipTlsError, match="tls_ca .*no-ca.pem"):
        tls_settings(5061, str(cert), str(key), str(tmp_path / "no-ca.pem"))
    assert tls_settings(5061, str(cert), str(key), str(cert)).port == 5061


def test_a_sips_invite_over_tls_is_answered_with_a_sips_contact_and_srtp(tmp_path):
    """A carrier's SIPS call over TLS (Python's ssl as the client, checking the box's certificate):
    the box answers 200 with a SIPS Contact and an RTP/SAVP answer keyed by SDES."""
    cert, key = make_certificate(tmp_path)
    tls = tls_settings(free_port(kind=socket.SOCK_STREAM), str(cert), str(key), str(cert))
    trunk = SIP070.replace('host = "127.0.0.2"', 'host = "127.0.0.1"\nsrtp = "mandatory"\ntransport = "tls"')
    client = ssl.create_default_context(cafile=str(cert))
    their_key = os.urandom(30)
    sdp = ("v=0\r\no=carrier 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio 40000 RTP/SAVP 8\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"
           + base64.b64encode(their_key).decode() + "\r\n")

    async def scenario():
        async with LiveBox(tmp_path, trunk, tls=tls) as box:
            reader, writer = await asyncio.open_connection("127.0.0.1", tls.port, ssl=client)
            local = writer.get_extra_info("sockname")
            invite = (f"INVITE sips:07012345678@127.0.0.1:{tls.port} SIP/2.0\r\n"
                      f"Via: SIP/2.0/TLS 127.0.0.1:{local[1]};branch=z9hG4bK-sips-1;rport\r\n"
                      f"Max-Forwards: 70\r\nFrom: <sips:0212345678@127.0.0.1>;tag=sips\r\n"
                      f"To: <sips:07012345678@127.0.0.1>\r\nCall-ID: sips-1@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
                      f"Contact: <sips:0212345678@127.0.0.1:{local[1]}>\r\nContent-Type: application/sdp\r\n"
                      f"Content-Length: {len(sdp)}\r\n\r\n{sdp}")
            writer.write(invite.encode())
            received = b""
            while b"SIP/2.0 200" not in received:
                received += await asyncio.wait_for(reader.read(65536), 10)
            while b"a=crypto" not in received[received.index(b"SIP/2.0 200"):]:
                received += await asyncio.wait_for(reader.read(65536), 5)   # the body may come later
            writer.close()
            return received

    received = asyncio.run(scenario()).decode(errors="replace")
    ok = received[received.index("SIP/2.0 200"):]
    assert re.search(r"Contact: <sips:127\.0\.0\.1:\d+>", ok), ok
    assert "m=audio " in ok and " RTP/SAVP 8" in ok and "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" in ok
