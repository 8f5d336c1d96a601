"""The softphone through the agent API, aiortc playing the browser, on 127.0.0.1 in real time:
an agent logs in at extension 2001, opens the softphone's WebSocket with its token, offers,
its contact registers with the box's registrar, a call to 2001 rings the page, the page answers,
a tone goes each way (the box's tone detector on its leg; numpy on the page's received track),
and the page hangs up.  Then what goes wrong: a browser that vanishes mid-call, garbage at the
ICE port, stale and wrong tokens."""

from __future__ import annotations

import asyncio
import json
import os
import socket

from pbx_cti.webrtc.endpoint import EndpointConfig, WebRtcEndpoint
from pbx_cti.webrtc.signalling import EndpointThread, install
from tests.api.api_world import World
from tests.webrtc.harness import HOST, PASSWORDS, BrowserPeer, Box, DialToneEar, play_tone, record, wait_for

UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "x3JJHMbDL1EzLkh9GBhXDw=="}


class Page:
    """The page's side of the softphone socket: what it was told, in order."""

    def __init__(self, ws):
        self.ws = ws
        self.messages: list[dict] = []
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            self.messages.append(json.loads(message.data))

    def seen(self, kind: str) -> dict | None:
        return next((m for m in self.messages if m["type"] == kind), None)

    async def until(self, kind: str, timeout: float = 5.0) -> dict:
        assert await wait_for(lambda: self.seen(kind) is not None, timeout), f"no {kind!r}: {self.messages}"
        return self.seen(kind)

    async def send(self, **message) -> None:
        await self.ws.send_str(json.dumps(message))


def softphone_world(world: World, box: Box) -> EndpointThread:
    runner = EndpointThread(lambda: WebRtcEndpoint(EndpointConfig(registrar=(HOST, box.port), domain=HOST),
                                                   PASSWORDS.get)).start()
    install(world.api, runner)
    return runner


async def connect(world: World, box: Box, agent: str, extension: str):
    token = await world.login(agent, extension)
    ws = await world.client.ws_connect(f"/api/v1/softphone?token={token}")
    page = Page(ws)
    hello = await page.until("hello")
    assert hello == {"type": "hello", "agent": agent, "extension": extension}
    browser = BrowserPeer()
    await page.send(type="offer", sdp=await browser.offer())
    answer = await page.until("answer")
    assert "PCMA/8000" in answer["sdp"] and "opus" not in answer["sdp"].lower()
    await browser.accept(answer["sdp"])
    await page.until("registered")
    assert box.registered(extension)
    return token, page, browser


def test_a_call_to_the_agents_extension_rings_the_page_which_answers_with_audio_both_ways():
    async def scenario():
        box = await Box().start()
        world = World()
        runner = softphone_world(world, box)
        async with world:
            try:
                token, page, browser = await connect(world, box, "alice", "2001")
                call_id, leg = box.ring("2001", runner.endpoint.sessions["alice"].relay.local)
                incoming = await page.until("incoming")
                assert incoming["caller"] == "0212345678" and incoming["called"] == "2001"
                await page.send(type="answer-call")
                await page.until("answered")
                assert await wait_for(lambda: box.answered(call_id), 3)
                record(leg)
                play_tone(leg, seconds=6.0)
                ear = DialToneEar(leg)
                assert await wait_for(ear.heard, 5), f"the box's tone detector did not hear the page: {ear.debug()}"
                assert await wait_for(lambda: browser.tone_level() > 30.0, 3), "the page's track lacks the box's 1 kHz"
                stats = leg.stats()
                assert stats["packets_received"] > 50 and stats["lost"] == 0
                await page.send(type="hangup")
                ended = await page.until("ended")
                assert ended["cause"] == 16
                assert await wait_for(lambda: box.released(call_id) is not None, 3)
                await page.ws.close()
                assert await wait_for(lambda: not box.registered("2001"), 3), "the contact stayed registered"
                await browser.close()
            finally:
                await asyncio.get_running_loop().run_in_executor(None, runner.stop)
                await box.stop()
    asyncio.run(scenario())


def test_a_browser_that_vanishes_mid_call_clears_it_with_cause_41_and_its_contact_goes():
    async def scenario():
        box = await Box().start()
        world = World()
        runner = softphone_world(world, box)
        async with world:
            try:
                token, page, browser = await connect(world, box, "bob", "2002")
                call_id, leg = box.ring("2002", runner.endpoint.sessions["bob"].relay.local)
                await page.until("incoming")
                await page.send(type="answer-call")
                assert await wait_for(lambda: box.answered(call_id), 3)
                # The tab is closed: its peer connection and its socket go at once, without a BYE.
                await browser.close()
                await page.ws.close()
                assert await wait_for(lambda: box.released(call_id) is not None, 3)
                gone = next(e for e in box.events if type(e).__name__ == "Disconnected" and e.call_id == call_id)
                assert gone.cause == 41
                assert await wait_for(lambda: not box.registered("2002"), 3)
                assert runner.endpoint.counters.browsers_gone == 1
            finally:
                await asyncio.get_running_loop().run_in_executor(None, runner.stop)
                await box.stop()
    asyncio.run(scenario())


def test_garbage_at_the_ice_port_is_counted_and_dropped_and_the_call_goes_on():
    async def scenario():
        box = await Box().start()
        world = World()
        runner = softphone_world(world, box)
        async with world:
            try:
                token, page, browser = await connect(world, box, "alice", "2001")
                session = runner.endpoint.sessions["alice"]
                ice = session.pc.getTransceivers()[0].sender.transport.transport
                ports = [c.port for c in ice.iceGatherer.getLocalCandidates()]
                before = runner.endpoint.dropped()
                stun_header = bytes([0, 1, 0, 0]) + bytes.fromhex("2112a442") + os.urandom(12)
                garbage = [os.urandom(3) + b"\x00" * 30,               # first octet 0..255: mostly not WebRTC
                           b"\x00\x01\x00\x08" + b"\x21\x12\xa4\x42",   # STUN cut short
                           stun_header,                                  # a binding request, no integrity
                           b"\x16\xfe\xfd" + os.urandom(40),             # DTLS from a stranger
                           b"\x80\x00" + os.urandom(30)]                 # RTP from a stranger
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
                    for port in ports:
                        for datagram in garbage * 20:
                            stranger.sendto(datagram, (HOST, port))
                await asyncio.sleep(0.3)
                after = runner.endpoint.dropped()
                dropped = {k: after.get(k, 0) - before.get(k, 0) for k in after}
                assert dropped.get("stun_malformed", 0) >= 20 and dropped.get("stun_unauthenticated", 0) >= 20
                assert dropped.get("unknown_source", 0) >= 40
                assert sum(dropped.values()) >= len(garbage) * 20 * len(ports) - 5
                # the softphone still works
                call_id, leg = box.ring("2001", session.relay.local)
                await page.until("incoming")
                await page.send(type="answer-call")
                assert await wait_for(lambda: box.answered(call_id), 3)
                play_tone(leg, seconds=2.0)
                await asyncio.sleep(1.0)
                assert browser.tone_level() > 30.0
                await page.ws.close()
                await browser.close()
            finally:
                await asyncio.get_running_loop().run_in_executor(None, runner.stop)
                await box.stop()
    asyncio.run(scenario())


def test_stale_wrong_and_unfit_tokens_are_refused_before_the_upgrade():
    async def scenario():
        box = await Box().start()
        world = World()
        runner = softphone_world(world, box)
        async with world:
            try:
                async def status(token):
                    response = await world.client.get("/api/v1/softphone", params={"token": token} if token else {},
                                                      headers=UPGRADE)
                    return response.status, (await response.json())["error"]

                assert await status("") == (401, "no token: log in and send Authorization: Bearer <token>")
                assert await status("made-up") == (401, "unknown token: log in again")
                supervisor = await world.supervisor()
                code, error = await status(supervisor)
                assert code == 403 and "agent's" in error
                token = await world.login("carol", "2003")
                world.now += 8 * 3600
                assert await status(token) == (401, "token expired: log in again")
                assert not runner.endpoint.sessions and not box.registered("2003")
                # a page that sends nonsense is told what was wrong and stays connected
                token = await world.login("carol", "2003")
                ws = await world.client.ws_connect(f"/api/v1/softphone?token={token}")
                page = Page(ws)
                await page.until("hello")
                await ws.send_str("{not json")
                await page.send(type="offer", sdp="v=0\r\n")
                await page.send(type="answer-call")
                await page.send(type="dial")
                assert await wait_for(lambda: len([m for m in page.messages if m["type"] == "error"]) == 4, 3)
                errors = [m["error"] for m in page.messages if m["type"] == "error"]
                assert errors[0].startswith("not a JSON message")
                assert errors[1] == "the offer has no audio stream (m=audio)"
                assert errors[2] == "answer: no call on this softphone"
                assert errors[3].startswith("unknown message type 'dial'")
                await ws.close()
            finally:
                await asyncio.get_running_loop().run_in_executor(None, runner.stop)
                await box.stop()
    asyncio.run(scenario())


def test_a_browser_whose_network_goes_silent_loses_ice_consent_and_is_handled_as_gone(monkeypatch):
    """No socket closes and no DTLS alert comes: the page's network just goes quiet (a laptop
    that sleeps, a cable pulled).  The endpoint's ICE consent checks (RFC 7675) go unanswered; the
    session ends as for a vanished browser.  The consent interval is shortened from 5 s here."""
    import aioice.ice
    monkeypatch.setattr(aioice.ice, "CONSENT_INTERVAL", 0.2)

    async def scenario():
        box = await Box().start()
        world = World()
        runner = softphone_world(world, box)
        async with world:
            try:
                token, page, browser = await connect(world, box, "alice", "2001")
                call_id, leg = box.ring("2001", runner.endpoint.sessions["alice"].relay.local)
                await page.until("incoming")
                await page.send(type="answer-call")
                assert await wait_for(lambda: box.answered(call_id), 3)
                # the browser's network goes silent: nothing it sends leaves, nothing reaches it
                ice = browser.pc.getTransceivers()[0].sender.transport.transport
                for protocol in ice._connection._protocols:
                    protocol.transport.sendto = lambda *args, **kwargs: None
                    protocol.datagram_received = lambda *args, **kwargs: None
                assert await wait_for(lambda: box.released(call_id) is not None, 10), "consent never expired"
                gone = next(e for e in box.events if type(e).__name__ == "Disconnected" and e.call_id == call_id)
                assert gone.cause == 41
                assert await wait_for(lambda: not box.registered("2001"), 3)
                closed = await page.until("closed")
                assert closed["reason"].startswith("the browser's connection")
                assert runner.endpoint.counters.browsers_gone == 1
                await page.ws.close()
                await browser.close()
            finally:
                await asyncio.get_running_loop().run_in_executor(None, runner.stop)
                await box.stop()
    asyncio.run(scenario())


def test_a_second_page_is_refused_while_the_first_is_in_a_call_and_a_page_that_says_bye_is_not_gone():
    async def scenario():
        box = await Box().start()
        world = World()
        runner = softphone_world(world, box)
        async with world:
            try:
                token, page, browser = await connect(world, box, "alice", "2001")
                call_id, leg = box.ring("2001", runner.endpoint.sessions["alice"].relay.local)
                await page.until("incoming")
                await page.send(type="answer-call")
                assert await wait_for(lambda: box.answered(call_id), 3)
                # the agent opens the desktop in a second tab: refused, the call goes on
                second = Page(await world.client.ws_connect(f"/api/v1/softphone?token={token}"))
                assert await wait_for(lambda: second.seen("error") is not None, 3)
                assert "in a call on the softphone of another page" in second.seen("error")["error"]
                assert await wait_for(lambda: second.ws.closed, 3) and second.ws.close_code == 4009
                assert box.released(call_id) is None and box.registered("2001")
                # the first page logs out properly: the call ends normally (16), not as a lost device
                await page.send(type="bye")
                assert await wait_for(lambda: box.released(call_id) is not None, 3)
                ended = next(e for e in box.events if type(e).__name__ == "Disconnected" and e.call_id == call_id)
                assert ended.cause == 16
                assert await wait_for(lambda: not box.registered("2001"), 3)
                assert runner.endpoint.counters.browsers_gone == 0
                await browser.close()
                # an idle softphone is replaced by the newer page
                token, page, browser = await connect(world, box, "alice", "2001")
                token2, page2, browser2 = await connect(world, box, "alice", "2001")
                assert (await page.until("closed"))["reason"] == "replaced by a newer page"
                assert box.registered("2001")
                for p, b in ((page, browser), (page2, browser2)):
                    await p.ws.close()
                    await b.close()
            finally:
                await asyncio.get_running_loop().run_in_executor(None, runner.stop)
                await box.stop()
    asyncio.run(scenario())
