"""Whatever a page sends as its offer, the endpoint answers with an SDP or a SoftphoneError that
says what was wrong, leaving nothing open (the page may offer again): mutations of a real
offer (hypothesis)."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings, strategies as st

from pbx_cti.webrtc.endpoint import EndpointConfig, SoftphoneError, WebRtcEndpoint
from tests.webrtc.harness import HOST, BrowserPeer


def real_offer() -> str:
    async def make():
        peer = BrowserPeer()
        try:
            return await peer.offer()
        finally:
            await peer.close()
    return asyncio.run(make())


OFFER = real_offer()
LINES = OFFER.split("\r\n")


@st.composite
def mutated(draw) -> str:
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 4))):
        k = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["drop", "garble", "duplicate", "truncate", "swap"]))
        if kind == "drop":
            del lines[k]
        elif kind == "garble":
            lines[k] = lines[k][:2] + draw(st.text(max_size=40))
        elif kind == "duplicate":
            lines.insert(k, lines[k])
        elif kind == "truncate":
            lines[k] = lines[k][: draw(st.integers(0, len(lines[k])))]
        else:
            j = draw(st.integers(0, len(lines) - 1))
            lines[k], lines[j] = lines[j], lines[k]
        if not lines:
            break
    return "\r\n".join(lines)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_a_mutated_offer_is_answered_or_refused_with_a_reason(offer):
    async def scenario():
        endpoint = WebRtcEndpoint(EndpointConfig(registrar=(HOST, 9), domain=HOST), lambda extension: None)
        told = []
        session = endpoint.open("alice", "2001", told.append)
        try:
            answer = await session.start(offer)
            assert "PCMA/8000" in answer
        except SoftphoneError as exc:
            assert str(exc)
            # nothing left open, and the page may offer again
            assert session.pc is None and session.relay is None
            await asyncio.sleep(0.01)            # what aiortc does as it closes: the session stays
            assert not session.closed
        finally:
            await endpoint.close()
        assert session.relay is None or session.relay.transport is None
    asyncio.run(scenario())
