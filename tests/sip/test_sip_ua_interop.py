"""The SIP user agent against real user agents on 127.0.0.1 (installed by `make deps`):
SIPp (Debian sip-tester) as a carrier calling in on a trunk with Diversion and as a peer
answering the box's call, and baresip as an agent's phone that registers with digest
authentication and answers a call from the box.  Signalling and SDP only (no RTP here).
Each test is bounded (SIPp -timeout, baresip killed at the end), about 2-4 s each."""

import asyncio
import json
import os
import shutil
import signal
import socket
import tempfile
import wave
from pathlib import Path

import pytest

from firmware.sip import events as ev
from firmware.sip.binding import SipCalls
from firmware.sip.dialog import LocalEndpoint
from firmware.sip.digest import DigestChallenger
from firmware.sip.registrar import Registrar
from firmware.sip.sdp import AudioConfig
from firmware.sip.trunks import SipTrunk
from firmware.sip.useragent import SipUserAgent
from runtime.bus import EventBus

SCENARIOS = Path(__file__).parent / "sipp"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"            # APT_PACKAGES: sip-tester
BARESIP = shutil.which("baresip") or "/usr/bin/baresip"   # APT_PACKAGES: baresip
BARESIP_DEBUG = ("-v",) if os.environ.get("PRIBOX_SIP_DEBUG") else ()
BARESIP_LOG = open("/tmp/pribox-baresip.log", "w") if os.environ.get("PRIBOX_SIP_DEBUG") else asyncio.subprocess.DEVNULL


def free_port(kind=socket.SOCK_DGRAM, spacing: int = 1) -> int:
    """A UDP port with `spacing - 1` free ports after it (baresip takes its SIP port and the next)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + spacing < 65535 and all(_free(port + i) for i in range(1, spacing)):
            return port
    raise RuntimeError("no free port range")


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class Recorder:
    """A call handler that records the events and runs the test's reactions."""

    def __init__(self):
        self.events = []
        self.reactions = {}
        self.changed = asyncio.Event()

    def on_event(self, event):
        self.events.append(event)
        reaction = self.reactions.get(type(event))
        if reaction is not None:
            reaction(event)
        self.changed.set()

    async def wait_for(self, kind, timeout=10.0):
        async def until():
            while not any(isinstance(e, kind) for e in self.events):
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(until(), timeout)
        return [e for e in self.events if isinstance(e, kind)]


async def sipp(*args: str):
    proc = await asyncio.create_subprocess_exec(
        SIPP, *args, "-m", "1", "-i", "127.0.0.1", "-timeout", "15s", "-nostdin", "-mp", str(free_port(spacing=4)),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    return proc


async def finish(proc, timeout=20.0) -> int:
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_carrier_calls_in_with_diversion_and_gets_183_then_200(transport):
    async def scenario():
        sipp_port, box_port = free_port(), free_port(spacing=2)
        ua = SipUserAgent(LocalEndpoint("127.0.0.1", box_port),
                          [SipTrunk("carrier", "127.0.0.1", sipp_port, keepalive=0, transport=transport)])
        bus = EventBus()
        on_bus = []
        bus.subscribe(ev.Released, on_bus.append)
        sip = SipCalls(ua, bus=bus)
        handler = sip.handler = Recorder()
        loop = asyncio.get_running_loop()

        def ring_then_answer(incoming):
            sip.alert(incoming.call_id, inband=True, media=AudioConfig("127.0.0.1", 40000))
            loop.call_later(0.2, sip.answer, incoming.call_id)

        handler.reactions[ev.IncomingCall] = ring_then_answer
        await sip.start("127.0.0.1", box_port, tcp=transport == "tcp")
        try:
            proc = await sipp("-sf", str(SCENARIOS / "uac_diversion.xml"), "-s", "15881234",
                              "-p", str(sipp_port), "-t", "u1" if transport == "udp" else "t1",
                              f"127.0.0.1:{box_port}")
            released = await handler.wait_for(ev.Released, 15)
            assert await finish(proc) == 0
        finally:
            await sip.stop()
        incoming = [e for e in handler.events if isinstance(e, ev.IncomingCall)][0]
        assert incoming.trunk == "carrier" and incoming.called == "15881234"
        assert incoming.calling.digits == "0212345678" and incoming.calling.display == "Carrier"
        assert incoming.redirecting.digits == "07012345678" and incoming.redirecting.reason == ev.REASON_NO_REPLY
        assert incoming.offer.codec == "PCMA" and incoming.offer.remote_address == "127.0.0.1"
        assert [type(e) for e in handler.events] == [ev.IncomingCall, ev.Disconnected, ev.Released]
        assert released[0].cause == 16 and on_bus == released

    asyncio.run(scenario())


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_peer_answers_a_call_from_the_box(transport):
    async def scenario():
        sipp_port, box_port = free_port(kind=socket.SOCK_STREAM), free_port(spacing=2)
        ua = SipUserAgent(LocalEndpoint("127.0.0.1", box_port),
                          [SipTrunk("peer", "127.0.0.1", sipp_port, keepalive=0, transport=transport)])
        sip = SipCalls(ua)
        handler = sip.handler = Recorder()
        await sip.start("127.0.0.1", box_port, tcp=transport == "tcp")
        try:
            proc = await sipp("-sf", str(SCENARIOS / "uas_answer.xml"), "-p", str(sipp_port),
                              "-t", "u1" if transport == "udp" else "t1")
            await asyncio.sleep(0.3)                    # SIPp binds its socket
            call_id = sip.setup("0212345678", trunk="peer", calling="15881234",
                                media=AudioConfig("127.0.0.1", 40000))
            answered = (await handler.wait_for(ev.Answered))[0]
            assert answered.media.codec == "PCMU" and answered.media.remote_address == "127.0.0.1"
            assert sip.law_of(call_id) == "ulaw"
            sip.disconnect(call_id, 16)
            released = await handler.wait_for(ev.Released)
            assert await finish(proc) == 0
        finally:
            await sip.stop()
        kinds = [type(e) for e in handler.events]
        assert kinds == [ev.Alerting, ev.Answered, ev.Released]    # SIPp sends no 100 Trying
        assert released[0].cause == 16

    asyncio.run(scenario())


BARESIP_CONFIG = """\
sip_listen 127.0.0.1:{port}
net_interface 127.0.0.1
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen 127.0.0.1:{ctrl}
audio_source aufile,{wav}
audio_alert aufile,{wav}
rtp_ports {rtp}-{rtp_end}
"""


async def baresip_command(port: int, command: str, params: str) -> None:
    """One command on baresip's ctrl_tcp socket (a JSON object framed as a netstring)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"command": command, "params": params, "token": "t1"}).encode()
    writer.write(str(len(body)).encode() + b":" + body + b",")
    await writer.drain()
    await asyncio.wait_for(reader.read(4096), 5)        # its answer
    writer.close()


def test_baresip_registers_with_digest_answers_a_call_and_calls_in_with_digest():
    async def scenario():
        box_port = free_port(spacing=3)
        phone_port = free_port(spacing=4)      # baresip takes its SIP port and the next (TLS)
        rtp = free_port(spacing=12) // 2 * 2 + 2   # RTP ports are even: start the range on one
        ctrl = free_port(kind=socket.SOCK_STREAM)
        registrar = Registrar(("127.0.0.1",), DigestChallenger("127.0.0.1", algorithms=("MD5",)),
                              {"100": "secret100"}.get, min_expires=30)
        ua = SipUserAgent(LocalEndpoint("127.0.0.1", box_port), [], registrar=registrar)
        sip = SipCalls(ua)
        handler = sip.handler = Recorder()
        await sip.start("127.0.0.1", box_port, tcp=False)
        with tempfile.TemporaryDirectory() as home:
            wav = Path(home, "silence.wav")
            with wave.open(str(wav), "wb") as out:       # what the phone's microphone plays
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(8000)
                out.writeframes(b"\0\0" * 8000)
            Path(home, "config").write_text(BARESIP_CONFIG.format(port=phone_port, rtp=rtp, rtp_end=rtp + 9, wav=wav, ctrl=ctrl))
            Path(home, "accounts").write_text(
                f"<sip:100@127.0.0.1:{box_port};transport=udp>;auth_pass=secret100;answermode=auto;regint=60\n")
            phone = await asyncio.create_subprocess_exec(
                BARESIP, "-f", home, *BARESIP_DEBUG, stdin=asyncio.subprocess.DEVNULL, stdout=BARESIP_LOG,
                stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
            try:
                for _ in range(100):
                    if registrar.lookup("sip:100@127.0.0.1", sip.clock.now()):
                        break
                    await asyncio.sleep(0.05)
                binding = registrar.lookup("sip:100@127.0.0.1", sip.clock.now())
                assert binding and binding[0].uri.port == phone_port
                call_id = sip.setup("100", phone="100", calling="0212345678", media=AudioConfig("127.0.0.1", 40000))
                outcome = (await handler.wait_for((ev.Answered, ev.Released)))[0]
                assert isinstance(outcome, ev.Answered), f"baresip did not answer: {handler.events}"
                answered = outcome
                assert answered.media.codec in ("PCMA", "PCMU") and answered.media.remote_address == "127.0.0.1"
                assert rtp <= answered.media.remote_port <= rtp + 9
                assert answered.connected.digits == "100"        # the phone's address of record
                sip.disconnect(call_id, 16)
                released = (await handler.wait_for(ev.Released))[0]
                assert released.cause == 16

                # the phone calls the box: challenged (401), it answers with its credentials
                handler.events.clear()
                handler.reactions[ev.IncomingCall] = lambda e: sip.answer(
                    e.call_id, media=AudioConfig("127.0.0.1", 40002))
                await baresip_command(ctrl, "dial", f"sip:7000@127.0.0.1:{box_port}")
                incoming = (await handler.wait_for(ev.IncomingCall))[0]
                assert incoming.phone == "100" and incoming.trunk is None and incoming.called == "7000"
                assert incoming.offer.remote_address == "127.0.0.1" and rtp <= incoming.offer.remote_port <= rtp + 9
                await asyncio.sleep(0.2)                       # the ACK
                sip.disconnect(incoming.call_id, 16)
                assert (await handler.wait_for(ev.Released))[0].cause == 16
            finally:
                os.killpg(phone.pid, signal.SIGTERM)
                try:
                    await asyncio.wait_for(phone.wait(), 5)
                except asyncio.TimeoutError:
                    os.killpg(phone.pid, signal.SIGKILL)
                    await phone.wait()
                await sip.stop()
        # baresip answered the registrar's digest challenge right the first time
        assert ua.counters["auth_failures"] == 0 and registrar.auth_failures == 0

    asyncio.run(scenario())
