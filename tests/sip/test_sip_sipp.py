"""Interop with SIPp (Debian sip-tester) on 127.0.0.1: OPTIONS and REGISTER with digest auth
against the registrar core behind the asyncio UDP adapter.  Bounded: a few calls, 20 s cap."""

import asyncio
import shutil
import socket
from pathlib import Path

from firmware.sip.digest import DigestChallenger
from firmware.sip.message import make_response
from firmware.sip.registrar import Registrar
from firmware.sip.transaction import TransactionLayer
from firmware.sip.tcp import SipTcpTransport
from firmware.sip.uas import RegistrarUas
from firmware.sip.udp import open_udp_endpoint

SCENARIOS = Path(__file__).parent / "sipp"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"   # installed by `make` (APT_PACKAGES: sip-tester)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run_sipp(scenario: str, target_port: int, calls: int, *extra: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        SIPP, "-sf", str(SCENARIOS / scenario), "-m", str(calls), "-r", "10",
        "-i", "127.0.0.1", "-p", str(free_udp_port()), "-timeout", "20s", "-nostdin",
        *extra, f"127.0.0.1:{target_port}",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 25)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode


def box(algorithms=("MD5",)):
    layer = TransactionLayer()
    registrar = Registrar(("127.0.0.1",), DigestChallenger("127.0.0.1", algorithms=algorithms),
                          {"100": "secret100"}.get)
    return layer, registrar, RegistrarUas(layer, registrar)


def test_sipp_options_and_digest_register():
    async def scenario():
        layer, registrar, uas = box()
        endpoint = await open_udp_endpoint("127.0.0.1", 0, layer, uas.handle)
        port = endpoint.transport.get_extra_info("sockname")[1]
        try:
            assert await run_sipp("options.xml", port, 3) == 0
            assert await run_sipp("register_auth.xml", port, 2, "-s", "100",
                                  "-au", "100", "-ap", "secret100") == 0
            bindings = registrar.lookup("sip:100@127.0.0.1", endpoint.clock.now())
            assert len(bindings) >= 1 and bindings[0].uri.host == "127.0.0.1"
            assert registrar.presence(endpoint.clock.now())["sip:100@127.0.0.1"].reachable
            assert uas.answered[200] == 3 + 2 and uas.answered[401] == 2
            # a wrong password: challenged again, the scenario fails, the failure is counted
            assert await run_sipp("register_auth.xml", port, 1, "-s", "100",
                                  "-au", "100", "-ap", "wrong") != 0
            assert registrar.auth_failures == 1
        finally:
            endpoint.close()

    asyncio.run(scenario())


def test_sipp_over_tcp():
    async def scenario():
        layer, registrar, uas = box()
        endpoint = await open_udp_endpoint("127.0.0.1", 0, layer, uas.handle)
        tcp = SipTcpTransport(endpoint)
        port = await tcp.listen("127.0.0.1", 0)
        try:
            assert await run_sipp("options.xml", port, 2, "-t", "t1") == 0
            assert await run_sipp("register_auth.xml", port, 1, "-t", "t1", "-s", "100",
                                  "-au", "100", "-ap", "secret100") == 0
            binding = registrar.lookup("sip:100@127.0.0.1", endpoint.clock.now())[0]
            assert binding.transport == "TCP"
        finally:
            await tcp.close()
            endpoint.close()

    asyncio.run(scenario())


class AnsweringUas:
    """A test transaction user that answers calls: 180, then 200 with an SDP answer; BYE ends
    them.  (The real call model comes later; this proves transactions, dialogs and offer/
    answer against SIPp's own UAC.)"""

    def __init__(self, layer, local):
        self.layer, self.local = layer, local
        self.dialogs = {}
        self.acked = self.ended = 0

    def handle(self, event, now):
        from firmware.sip.dialog import Dialog, dialog_id
        from firmware.sip.sdp import AudioConfig, answer_offer, parse_sdp
        from firmware.sip.transaction import RequestReceived
        if not isinstance(event, RequestReceived):
            return
        request = event.request
        if request.method == "ACK":
            if dialog_id(request, we_sent_it=False) in self.dialogs:
                self.acked += 1
            return
        if request.method == "INVITE" and request.to.tag is None:
            dialog = Dialog.as_uas(request, self.local)
            self.dialogs[dialog.id] = dialog
            answer, _ = answer_offer(parse_sdp(request.body), AudioConfig("127.0.0.1", 40000), 1)
            self.layer.send_response(event.transaction, dialog.respond(request, 180), now)
            self.layer.send_response(event.transaction,
                                     dialog.respond(request, 200, body=answer.to_bytes()), now)
        elif request.method == "BYE":
            dialog = self.dialogs.pop(dialog_id(request, we_sent_it=False), None)
            status = 481 if dialog is None or dialog.on_request(request) else 200
            self.ended += status == 200
            self.layer.send_response(event.transaction, make_response(request, status), now)


def test_sipp_uac_calls_are_answered_acked_and_hung_up():
    from firmware.sip.dialog import LocalEndpoint

    async def scenario():
        layer = TransactionLayer()
        holder = {}
        endpoint = await open_udp_endpoint("127.0.0.1", 0, layer,
                                           lambda e, now: holder["uas"].handle(e, now))
        port = endpoint.transport.get_extra_info("sockname")[1]
        holder["uas"] = uas = AnsweringUas(layer, LocalEndpoint("127.0.0.1", port, user="box"))
        try:
            code = await run_sipp_builtin("uac", port, 3, "-d", "100", "-s", "200")
        finally:
            endpoint.close()
        return code, uas

    code, uas = asyncio.run(scenario())
    assert code == 0
    assert uas.acked == 3 and uas.ended == 3 and uas.dialogs == {}


async def run_sipp_builtin(name: str, target_port: int, calls: int, *extra: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        SIPP, "-sn", name, "-m", str(calls), "-r", "10", "-i", "127.0.0.1",
        "-p", str(free_udp_port()), "-mp", str(free_udp_port()), "-timeout", "20s", "-nostdin",
        *extra, f"127.0.0.1:{target_port}",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.wait_for(proc.wait(), 25)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode
