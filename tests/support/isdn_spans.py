"""The box's IsdnSpan (user side, TE span) facing our network-side IsdnSpan (NT span) on one
lockstep E1 line and a ManualClock, with no call policy on either side: the test drives both
through the IsdnSpan call API and reads what each side heard (`box.events` / `net.events`).
Options: `box_law` / `net_law` set each span's companding, `box` / `net` keyword arguments go
to the IsdnSpan (restart_on_first_link_up, restart_scope), `box_stack` / `net_stack` to its
PriStack (q931_timers, hunting, accept_interface_restart)."""

from __future__ import annotations

from drivers.lockstep import LockstepLine
from firmware.isdn.binding import IsdnSpan
from firmware.isdn.stack import PriStack


class Recorder:
    """A CallHandler that only keeps what its span told it."""

    def __init__(self):
        self.events: list = []

    def on_event(self, event) -> None:
        self.events.append(event)

    def close(self) -> None:
        pass


class SpanPair:
    def __init__(self, *, box_law: str = "alaw", net_law: str = "alaw", box=None, net=None,
                 box_stack=None, net_stack=None):
        self.line = LockstepLine(te_config={"law": box_law}, nt_config={"law": net_law}).open()
        self.clock = self.line.clock
        self.box = IsdnSpan(self.line.te, PriStack("user", **(box_stack or {})), clock=self.clock,
                            bus=self.line.bus, **(box or {}))
        self.net = IsdnSpan(self.line.nt, PriStack("network", **(net_stack or {})), clock=self.clock,
                            bus=self.line.bus, **(net or {}))
        self.box_seen, self.net_seen = Recorder(), Recorder()
        self.box.handler, self.net.handler = self.box_seen, self.net_seen
        self.box.start()
        self.net.start()

    def up(self, timeout: float = 3.0) -> None:
        self.line.run_until(lambda: self.box.layer2_up and self.net.layer2_up, timeout, step=0.01)

    def run(self, seconds: float) -> None:
        self.line.run(seconds)

    def wait(self, side: str, kind, timeout: float = 2.0, **match):
        """The first event of `kind` (with the given attribute values) `side` ("box"/"net") heard,
        waiting on the line for it; it is taken out so that the next wait finds the next one."""
        seen = self.box_seen if side == "box" else self.net_seen
        found = []

        def look() -> bool:
            for i, event in enumerate(seen.events):
                if isinstance(event, kind) and all(getattr(event, k) == v for k, v in match.items()):
                    found.append(seen.events.pop(i))
                    return True
            return False

        try:
            self.line.run_until(look, timeout, step=0.005)
        except TimeoutError:
            raise AssertionError(f"{side} heard no {kind.__name__} {match or ''} within {timeout} s; "
                                 f"it heard {seen.events}") from None
        return found[0]

    def of(self, side: str, kind) -> list:
        seen = self.box_seen if side == "box" else self.net_seen
        return [e for e in seen.events if isinstance(e, kind)]

    def close(self) -> None:
        self.box.stop()
        self.net.stop()
        self.line.close()
