"""Benchmark: whole calls between two SIP user agents (firmware/sip/useragent.py), both in this
process with no sockets: INVITE with SDP offer, 100, 180, 200 with the answer, ACK, BYE, 200,
with trunk IP authentication, caller and Diversion parsing, session-timer negotiation and every
call event.  One such call is one leg of a B2BUA call.

The reference measured in the same run is bench/sip_core.py's `calls()`: the same message
exchange driven straight on the transaction and dialog layers (no SDP negotiation, no call
state), so the ratio is what the user agent costs on top of the core.

    python bench/sip_ua.py [--calls 2000]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.sip_core import calls as core_calls  # noqa: E402
from firmware.sip import events as ev  # noqa: E402
from firmware.sip.dialog import LocalEndpoint  # noqa: E402
from firmware.sip.sdp import AudioConfig  # noqa: E402
from firmware.sip.trunks import SipTrunk  # noqa: E402
from firmware.sip.useragent import SipUserAgent  # noqa: E402

BOX, CARRIER = ("192.0.2.10", 5060), ("192.0.2.20", 5060)


def ua_calls(count: int) -> float:
    box = SipUserAgent(LocalEndpoint(*BOX), [SipTrunk("carrier", *CARRIER, keepalive=0)])
    carrier = SipUserAgent(LocalEndpoint(*CARRIER), [SipTrunk("box", *BOX, keepalive=0)])
    agents = {BOX: box, CARRIER: carrier}

    def wire(now):
        moved = True
        while moved:
            moved = False
            for here, agent in agents.items():
                for data, dest, transport in agent.datagrams_to_send(now):
                    agents[dest].receive(data, here, now, transport)
                    moved = True

    def drain(agent, kind):
        found = None
        while (event := agent.next_event()) is not None:
            if isinstance(event, kind):
                found = event
        return found

    start = time.perf_counter()
    for i in range(count):
        now = i * 0.005
        cid = carrier.setup("15881234", now, trunk="box", calling="0212345678", redirecting="07012345678",
                            media=AudioConfig("192.0.2.20", 20000 + 2 * (i % 1000)))
        wire(now)
        incoming = drain(box, ev.IncomingCall)
        box.alert(incoming.call_id, now)
        box.answer(incoming.call_id, now, media=AudioConfig("192.0.2.10", 30000 + 2 * (i % 1000)))
        wire(now)
        assert drain(carrier, ev.Answered) is not None
        carrier.disconnect(cid, now)
        wire(now)
        assert drain(box, ev.Released) is not None and drain(carrier, ev.Released) is not None
    elapsed = time.perf_counter() - start
    if box.active_calls() or carrier.active_calls():
        raise SystemExit("calls left behind")
    return count / elapsed


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args(argv)
    rate = ua_calls(args.calls)
    reference = core_calls(args.calls)
    print(f"whole calls between two user agents (both ends in this process): {rate:,.0f}/s; "
          f"the same exchange on the bare transaction and dialog layers: {reference:,.0f}/s")
    print(json.dumps({"sip_ua_calls_per_s_both_ends": round(rate),
                      "reference_core_calls_per_s_both_ends": round(reference),
                      "ua_to_core_ratio": round(rate / reference, 2)}))


if __name__ == "__main__":
    main()
