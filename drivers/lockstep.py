"""Two emulated spans joined by an in-process wire on the virtual clock: an NT side and a TE
side, ticked in lockstep by a ManualClock, so tests run seconds of line in milliseconds and
get the same result every time.  Higher layers (LAPD, Q.931) use it as their layer 1 in tests.
"""

from __future__ import annotations

from typing import Callable

from drivers.config import SpanConfig
from drivers.emulated import EmulatedSpan
from drivers.pacing import SpanPacer
from drivers.wire import LockstepWire
from runtime.bus import EventBus
from runtime.clock import ManualClock


class LockstepLine:
    def __init__(self, *, crc4: bool = True, period: float = 0.001, frames_per_datagram: int = 8,
                 nt_clock: str = "internal", te_clock: str = "line", clock: ManualClock | None = None,
                 bus: EventBus | None = None, nt_options: dict | None = None, te_options: dict | None = None,
                 nt_config: dict | None = None, te_config: dict | None = None):
        """`*_options` go to EmulatedSpan (ppm, elastic_depth, seed); `*_config` override
        SpanConfig fields (dchannel_export, law, dchannel_timeslot ...)."""
        self.clock = clock or ManualClock()
        self.bus = bus or EventBus()
        nt_wire, te_wire = LockstepWire.pair(frames_per_datagram)
        common = dict(driver="emulated", law="alaw", crc4=crc4, wire="lockstep",
                      frames_per_datagram=frames_per_datagram)
        self.nt = EmulatedSpan(SpanConfig(**{**common, "id": 1, "side": "nt", "clock": nt_clock,
                                             "wire_role": "listen", **(nt_config or {})}),
                               clock=self.clock, bus=self.bus, wire=nt_wire, **(nt_options or {}))
        self.te = EmulatedSpan(SpanConfig(**{**common, "id": 2, "side": "te", "clock": te_clock,
                                             "wire_role": "connect", **(te_config or {})}),
                               clock=self.clock, bus=self.bus, wire=te_wire, **(te_options or {}))
        self.pacer = SpanPacer(self.clock, [self.nt, self.te], period)

    @property
    def spans(self) -> tuple[EmulatedSpan, EmulatedSpan]:
        return self.nt, self.te

    def open(self) -> "LockstepLine":
        self.nt.open()
        self.te.open()
        self.pacer.start()
        return self

    def close(self) -> None:
        self.pacer.stop()
        self.nt.close()
        self.te.close()

    def __enter__(self) -> "LockstepLine":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def run_until(self, condition: Callable[[], bool], timeout: float, step: float = 0.001) -> float:
        """Advance until `condition()` holds; returns the clock time then.  Raises TimeoutError
        naming the time waited if it never does."""
        deadline = self.clock.now() + timeout
        while not condition():
            if self.clock.now() >= deadline:
                raise TimeoutError(f"condition not met within {timeout} s of line")
            self.clock.advance(step)
        return self.clock.now()

    def aligned(self) -> bool:
        return all(s.status().line.frame_aligned and not s.status().alarms
                   and (not s.config.crc4 or s.status().line.multiframe_aligned) for s in self.spans)
