"""One PRI span's signalling stack: LAPD (Q.921) and Q.931 composed into one sans-I/O object.

    stack = PriStack("user")                    # or "network"
    stack.start(now)                            # bring the data link up
    stack.receive_frame(frame, now)             # a D-channel frame (address field on, no FCS)
    frames = stack.frames_to_send()
    event = stack.next_event()                  # Q.931 events plus DataLinkUp / DataLinkDown
    when = stack.get_timer(); stack.handle_timer(now)
    stack.layer1_changed(up, now)

The call API (setup, proceed, alert, answer, disconnect, ...) is Q931Link's, with the same
arguments; see firmware/isdn/q931/link.py.  A `trace` callable, if given, receives one decoded
`debug isdn q931` block for every message sent or received.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable

from runtime.bus import Event

from .lapd import DlData, DlEstablished, DlReleased, Lapd, LapdTimers, Role
from .q931.calls import Q931Timers
from .q931.causes import Cause
from .q931.channels import PRI_TIMESLOTS, Hunting
from .q931.link import Q931Link


@dataclass(frozen=True)
class DataLinkUp(Event):
    pass


@dataclass(frozen=True)
class DataLinkDown(Event):
    pass


class PriStack:
    def __init__(self, role: str, *, q931_timers: Q931Timers | None = None, lapd_timers: LapdTimers | None = None,
                 timeslots=PRI_TIMESLOTS, span: str = "Se0:15", trace: Callable[[str], None] | None = None,
                 hold_inband_disconnect: bool = False, hunting: Hunting | str | None = None,
                 accept_interface_restart: bool = True):
        if role not in ("user", "network"):
            raise ValueError(f"PRI stack role must be 'user' or 'network', not {role!r}")
        self.role = role
        self.lapd = Lapd(Role(role), lapd_timers)
        self.q931 = Q931Link(role, q931_timers, timeslots=timeslots, trace=trace, span=span,
                             hold_inband_disconnect=hold_inband_disconnect, hunting=hunting,
                             accept_interface_restart=accept_interface_restart)
        self._events: deque = deque()

    # ------------------------------------------------------------------ sans-I/O surface
    def start(self, now: float) -> None:
        self.lapd.establish(now)
        self._pump(now)

    def receive_frame(self, frame: bytes, now: float) -> None:
        self.lapd.receive_frame(frame, now)
        self._pump(now)

    def frames_to_send(self) -> list[bytes]:
        return self.lapd.frames_to_send()

    def next_event(self):
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        a = self.lapd.get_timer()
        b = self.q931.get_timer()
        if a is None:
            return b
        return a if b is None or a < b else b

    def handle_timer(self, now: float) -> None:
        t = self.lapd.get_timer()
        if t is not None and t <= now:
            self.lapd.handle_timer(now)
        t = self.q931.get_timer()
        if t is not None and t <= now:
            self.q931.handle_timer(now)
        self._pump(now)

    def layer1_changed(self, up: bool, now: float) -> None:
        self.lapd.layer1_changed(up, now)
        self._pump(now)

    def _pump(self, now: float) -> None:
        """Carry DL indications up to Q.931 and Q.931's messages down to LAPD, in order."""
        lapd, q931 = self.lapd, self.q931
        if q931._out:
            self._flush(now)
        while (ev := lapd.next_event()) is not None:
            kind = type(ev)
            if kind is DlData:
                q931.receive(ev.payload, now)
            elif kind is DlEstablished:
                self._events.append(DataLinkUp(now))
                q931.dl_established(now)
            elif kind is DlReleased:
                self._events.append(DataLinkDown(now))
                q931.dl_released(now)
            if q931._out:
                self._flush(now)
        if q931._events:
            self._events.extend(q931._events)
            q931._events.clear()

    def _flush(self, now: float) -> None:
        lapd = self.lapd
        for payload in self.q931.payloads_to_send():
            lapd.send(payload, now)

    # ------------------------------------------------------------------ call API (see Q931Link)
    def setup(self, called: str, now: float, **kwargs) -> int:
        call_id = self.q931.setup(called, now, **kwargs)
        self._pump(now)
        return call_id

    def send_info(self, call_id: int, digits: str, now: float, **kwargs) -> None:
        self.q931.send_info(call_id, digits, now, **kwargs)
        self._pump(now)

    def setup_ack(self, call_id: int, now: float) -> None:
        self.q931.setup_ack(call_id, now)
        self._pump(now)

    def proceed(self, call_id: int, now: float) -> None:
        self.q931.proceed(call_id, now)
        self._pump(now)

    def alert(self, call_id: int, now: float, **kwargs) -> None:
        self.q931.alert(call_id, now, **kwargs)
        self._pump(now)

    def progress(self, call_id: int, now: float, description: int = 8) -> None:
        self.q931.progress(call_id, now, description)
        self._pump(now)

    def answer(self, call_id: int, now: float, **kwargs) -> None:
        self.q931.answer(call_id, now, **kwargs)
        self._pump(now)

    def disconnect(self, call_id: int, now: float, cause: int = Cause.NORMAL_CLEARING, **kwargs) -> None:
        self.q931.disconnect(call_id, now, cause, **kwargs)
        self._pump(now)

    def status_enquiry(self, call_id: int, now: float) -> None:
        self.q931.status_enquiry(call_id, now)
        self._pump(now)

    def notify(self, call_id: int, description: int, now: float) -> None:
        self.q931.notify(call_id, description, now)
        self._pump(now)

    def facility(self, call_id: int, body: bytes, now: float) -> None:
        self.q931.facility(call_id, body, now)
        self._pump(now)

    def restart(self, now: float, timeslots=None) -> None:
        self.q931.restart(now, timeslots)
        self._pump(now)

    @property
    def channels(self):
        return self.q931.channels

    @property
    def calls(self):
        return self.q931.calls
