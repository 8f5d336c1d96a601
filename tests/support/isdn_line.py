"""A box and a carrier on one lockstep E1 line: the box's user-side stack with AnswerAndListen
on the TE span, the carrier simulator's network-side stack on the NT span, all on a ManualClock."""

from __future__ import annotations

from drivers.lockstep import LockstepLine
from runtime.bus import Event
from firmware.isdn.answer import AnswerAndListen
from firmware.isdn.binding import IsdnSpan
from firmware.isdn.events import IsdnEvent
from firmware.isdn.stack import PriStack
from hil_tests.carrier import StackCarrier


class BoxAndCarrier:
    def __init__(self, *, max_call_seconds: float = 60.0, **carrier_options):
        self.line = LockstepLine().open()
        self.clock = self.line.clock
        self.bus = self.line.bus
        self.events: list[Event] = []
        self.bus.subscribe(Event, self.events.append)
        self.box = IsdnSpan(self.line.te, PriStack("user"), clock=self.clock, bus=self.bus)
        self.box.handler = AnswerAndListen(self.box, max_call_seconds=max_call_seconds)
        self.net = IsdnSpan(self.line.nt, PriStack("network"), clock=self.clock, bus=self.bus)
        self.carrier = StackCarrier(self.net, **carrier_options)
        self.box.start()
        self.net.start()

    def up(self, timeout: float = 3.0) -> float:
        return self.line.run_until(lambda: self.box.layer2_up and self.net.layer2_up, timeout)

    def run(self, seconds: float) -> None:
        self.line.run(seconds)

    def run_until(self, condition, timeout: float) -> float:
        return self.line.run_until(condition, timeout, step=0.01)

    def of(self, kind, span_id: int | None = None) -> list:
        out = []
        for e in self.events:
            if isinstance(e, IsdnEvent):
                if isinstance(e.event, kind) and (span_id is None or e.span_id == span_id):
                    out.append(e.event)
            elif isinstance(e, kind) and (span_id is None or getattr(e, "span_id", None) == span_id):
                out.append(e)
        return out

    def cut(self, on: bool) -> None:
        self.line.te.rx_impairment.set_cut(on)
        self.line.nt.rx_impairment.set_cut(on)

    def close(self) -> None:
        self.box.stop()
        self.net.stop()
        self.line.close()
