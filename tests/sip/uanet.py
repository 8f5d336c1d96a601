"""A virtual network of sans-I/O SIP user agents on one virtual clock, for the call-flow tests:
datagrams are delivered by address, timers fire in order, nothing touches a socket."""

from __future__ import annotations

from firmware.sip.dialog import LocalEndpoint
from firmware.sip.message import parse_message
from firmware.sip.sdp import AudioConfig
from firmware.sip.trunks import SipTrunk
from firmware.sip.useragent import SipUserAgent


class Net:
    def __init__(self):
        self.now = 0.0
        self.nodes: dict[tuple[str, int], SipUserAgent] = {}
        self.events: dict[tuple[str, int], list] = {}
        self.wire: list[tuple[tuple[str, int], tuple[str, int], bytes]] = []   # (from, to, data)
        self.drop = None   # a predicate (source, dest, data) -> True to lose a datagram

    def add(self, ua: SipUserAgent) -> SipUserAgent:
        addr = (ua.local.host, ua.local.port)
        self.nodes[addr] = ua
        self.events[addr] = []
        return ua

    def pump(self) -> None:
        for _ in range(1000):
            moved = False
            for addr, ua in self.nodes.items():
                while (event := ua.next_event()) is not None:
                    self.events[addr].append(event)
                for data, dest, _transport in ua.datagrams_to_send(self.now):
                    moved = True
                    self.wire.append((addr, dest, data))
                    if self.drop is not None and self.drop(addr, dest, data):
                        continue
                    if dest in self.nodes:
                        self.nodes[dest].receive(data, addr, self.now)
            if not moved:
                for addr, ua in self.nodes.items():
                    while (event := ua.next_event()) is not None:
                        self.events[addr].append(event)
                return
        raise AssertionError("the agents never went quiet")

    def advance(self, seconds: float) -> None:
        end = self.now + seconds
        while True:
            due = [t for t in (ua.get_timer() for ua in self.nodes.values()) if t is not None]
            nxt = min(due) if due else None
            if nxt is None or nxt > end:
                break
            self.now = max(self.now, nxt)
            for ua in self.nodes.values():
                timer = ua.get_timer()
                if timer is not None and timer <= self.now:
                    ua.handle_timer(self.now)
            self.pump()
        self.now = end
        self.pump()

    def take(self, ua: SipUserAgent, kind=None) -> list:
        """The agent's events so far (of one kind, the others kept for later)."""
        addr = (ua.local.host, ua.local.port)
        got = self.events[addr]
        taken = [e for e in got if kind is None or isinstance(e, kind)]
        self.events[addr] = [e for e in got if not (kind is None or isinstance(e, kind))]
        return taken

    def messages(self, source=None, dest=None):
        """Parsed messages seen on the wire, optionally between two addresses."""
        return [parse_message(d) for s, t, d in self.wire
                if (source is None or s == source) and (dest is None or t == dest) and d.strip()]


BOX = ("127.0.0.1", 5060)
CARRIER = ("127.0.0.2", 5060)


def media(port: int = 40000, host: str = "127.0.0.1", **kw) -> AudioConfig:
    return AudioConfig(host, port, **kw)


def box_and_carrier(box_trunk: dict | None = None, carrier_trunk: dict | None = None, **box_kw):
    net = Net()
    box = net.add(SipUserAgent(LocalEndpoint(*BOX), [SipTrunk("carrier", CARRIER[0], CARRIER[1],
                                                              **{"keepalive": 0, **(box_trunk or {})})], **box_kw))
    carrier = net.add(SipUserAgent(LocalEndpoint(*CARRIER), [SipTrunk("box", BOX[0], BOX[1],
                                                                       **{"keepalive": 0, **(carrier_trunk or {})})]))
    return net, box, carrier
