"""The box's PBX on span 1 and the carrier simulator on span 2, on one lockstep E1 line and a
ManualClock: the call path end to end in virtual time."""

from __future__ import annotations

from pathlib import Path

from drivers.lockstep import LockstepLine
from firmware.config.loader import default_text, load_text
from firmware.isdn.binding import IsdnSpan
from firmware.isdn.events import IsdnEvent
from firmware.isdn.stack import PriStack
from hil_tests.carrier import StackCarrier
from pbx_cti.pbx.core import Pbx, PbxSpanHandler
from pbx_cti.pbx.service import build_plan
from runtime.bus import Event


def pbx_config(prompt_dir: Path, extra: str = "", replace: dict | None = None):
    text = default_text() + f'\n[ivr]\nprompt_dir = "{prompt_dir}"\n'
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    return load_text(text + extra, "pbx-test.toml")


class PbxAndCarrier:
    def __init__(self, config, *, state_dir: str | None = None, **carrier_options):
        # As in the embedded default: span 1 is the box's TE side, span 2 the carrier's NT side.
        self.line = LockstepLine(nt_config={"id": 2}, te_config={"id": 1}).open()
        self.clock = self.line.clock
        self.bus = self.line.bus
        self.events: list[Event] = []
        self.bus.subscribe(Event, self.events.append)
        self.plan = build_plan(config, state_dir)
        self.pbx = Pbx(lambda: self.plan, self.clock, self.bus)
        self.box = IsdnSpan(self.line.te, PriStack("user"), clock=self.clock, bus=self.bus)
        self.box.handler = PbxSpanHandler(self.box, self.pbx)
        self.net = IsdnSpan(self.line.nt, PriStack("network"), clock=self.clock, bus=self.bus)
        self.carrier = StackCarrier(self.net, **carrier_options)
        self.box.start()
        self.net.start()

    def up(self, timeout: float = 3.0) -> float:
        return self.line.run_until(lambda: self.box.in_service and self.net.in_service, timeout)

    def run(self, seconds: float) -> None:
        self.line.run(seconds)

    def run_until(self, condition, timeout: float) -> float:
        return self.line.run_until(condition, timeout, step=0.01)

    def of(self, kind) -> list:
        out = []
        for e in self.events:
            if isinstance(e, IsdnEvent) and isinstance(e.event, kind):
                out.append(e.event)
            elif isinstance(e, kind):
                out.append(e)
        return out

    def close(self) -> None:
        self.box.stop()
        self.net.stop()
        self.line.close()
