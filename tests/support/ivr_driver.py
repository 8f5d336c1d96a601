"""Drives an IvrSession on a ManualClock the way the PBX will: actions are collected after each
event and the session's timer is kept on the clock."""

from __future__ import annotations

from runtime.clock import ManualClock
from pbx_cti.ivr.actions import Play
from pbx_cti.ivr.session import IvrSession


class Driver:
    def __init__(self, flow, call_data=None, start: float = 100.0):
        self.clock = ManualClock(start)
        self.trace = []
        self.seen = []      # every action the session ever gave
        self.pending = []   # actions since the last take()
        self._handle = None
        self.session = IvrSession(flow, call_data or {"call_id": "c1", "calling": "0212345678"}, self.clock.now(),
                                  trace=self.trace.append)
        self._pump()

    def _pump(self) -> None:
        while (action := self.session.next_action()) is not None:
            self.seen.append(action)
            self.pending.append(action)
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        when = self.session.get_timer()
        if when is not None:
            self._handle = self.clock.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self.session.handle_timer(self.clock.now())
        self._pump()

    def take(self) -> list:
        out, self.pending = self.pending, []
        return out

    def event(self, name: str, *args) -> list:
        getattr(self.session, name)(*args, self.clock.now())
        self._pump()
        return self.take()

    def press(self, keys: str) -> list:
        out = []
        for key in keys:
            out += self.event("digit", key)
        return out

    def finish_prompt(self) -> list:
        """The last Play the session asked for has ended."""
        return self.event("prompt_finished", self.last(Play).id)

    def last(self, kind):
        return [a for a in self.seen if isinstance(a, kind)][-1]

    def advance(self, seconds: float) -> list:
        self.clock.advance(seconds)
        return self.take()
