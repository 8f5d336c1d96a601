"""Two PriStacks (user and network) joined back to back on a ManualClock, for lockstep tests.

Frames cross instantly; time moves only to the next timer of either side.  `drop(direction,
frame)` lets a test lose frames ("un" user->network, "nu" network->user); `log` keeps every
Q.931 message as (direction, name) in the order it went on the wire."""

from __future__ import annotations

from runtime.clock import ManualClock
from firmware.isdn.q931.messages import TRACE_NAMES, decode
from firmware.isdn.stack import PriStack


class StackPair:
    def __init__(self, *, user_kwargs=None, network_kwargs=None, trace=False):
        self.clock = ManualClock()
        self.lines: list[str] = []
        tracer = self.lines.append if trace else None
        self.user = PriStack("user", trace=tracer, **(user_kwargs or {}))
        self.net = PriStack("network", trace=tracer, **(network_kwargs or {}))
        self.events = {"user": [], "network": []}
        self.log: list[tuple[str, str]] = []
        self.drop = lambda direction, frame: False

    @property
    def now(self) -> float:
        return self.clock.now()

    def side(self, name: str) -> PriStack:
        return self.user if name == "user" else self.net

    def up(self) -> None:
        self.user.start(self.now)
        self.net.start(self.now)
        self.run_for(0.5)
        assert self.user.lapd.established and self.net.lapd.established

    def pump(self) -> None:
        moved = True
        while moved:
            moved = False
            for direction, src, dst in (("un", self.user, self.net), ("nu", self.net, self.user)):
                for frame in src.frames_to_send():
                    moved = True
                    if self.drop(direction, frame):
                        continue
                    # An I-frame (control octet bit 1 = 0) carries one Q.931 message after the 4-octet header.
                    if len(frame) > 4 and not frame[2] & 1:
                        try:
                            msg = decode(frame[4:])
                            self.log.append((direction, TRACE_NAMES.get(msg.type, hex(msg.type))))
                        except ValueError:
                            self.log.append((direction, "undecodable"))
                    dst.receive_frame(frame, self.now)
        for name in ("user", "network"):
            side = self.side(name)
            while (ev := side.next_event()) is not None:
                self.events[name].append(ev)

    def run_for(self, seconds: float) -> None:
        until = self.now + seconds
        self.pump()
        while True:
            due = [t for t in (self.user.get_timer(), self.net.get_timer()) if t is not None]
            when = min(due) if due else None
            if when is None or when > until:
                break
            self.clock.run_until(max(when, self.now))
            for side in (self.user, self.net):
                t = side.get_timer()
                if t is not None and t <= self.now:
                    side.handle_timer(self.now)
            self.pump()
        self.clock.run_until(until)

    def take(self, name: str, kind=None) -> list:
        """Events of one side not taken yet (of `kind` only, when given; the others stay)."""
        evs = self.events[name]
        taken = [e for e in evs if kind is None or isinstance(e, kind)]
        self.events[name] = [e for e in evs if not (kind is None or isinstance(e, kind))]
        return taken

    def messages(self) -> list[tuple[str, str]]:
        out, self.log = self.log, []
        return out
