"""B-channel maintenance state of one E1 PRI span.

Channels are named by the E1 timeslot the Channel identification IE carries on a PRI
(1-15 and 17-31); `b_channel()` / `timeslot()` convert to and from B-channel numbers 1-30.
"""

from __future__ import annotations

from enum import Enum

PRI_TIMESLOTS: tuple[int, ...] = tuple(range(1, 16)) + tuple(range(17, 32))


def timeslot(b_channel: int) -> int:
    """B-channel n rides timeslot n up to 15 and timeslot n+1 from 16 on (TS16 is the D-channel)."""
    if not 1 <= b_channel <= 30:
        raise ValueError(f"B-channel {b_channel} out of range 1..30")
    return b_channel if b_channel <= 15 else b_channel + 1


def b_channel(ts: int) -> int:
    if ts not in PRI_TIMESLOTS:
        raise ValueError(f"timeslot {ts} carries no B-channel (1-15, 17-31)")
    return ts if ts <= 15 else ts - 1


class ChannelState(Enum):
    IDLE = "idle"
    IN_USE = "in use"
    RESTARTING = "restarting"
    OUT_OF_SERVICE = "out of service"


class ChannelTable:
    """Who holds each B-channel.  `hunt_down` picks free channels from the top, which the user
    side does so that both sides choosing channels rarely meet (the network hunts upwards)."""

    def __init__(self, timeslots=PRI_TIMESLOTS, *, hunt_down: bool = False):
        self.timeslots = tuple(timeslots)
        for ts in self.timeslots:
            if ts not in PRI_TIMESLOTS:
                raise ValueError(f"timeslot {ts} carries no B-channel (1-15, 17-31)")
        self.state = {ts: ChannelState.IDLE for ts in self.timeslots}
        self.owner: dict[int, int] = {}
        self._order = tuple(sorted(self.timeslots, reverse=hunt_down))

    def exists(self, ts: int) -> bool:
        return ts in self.state

    def is_idle(self, ts: int) -> bool:
        return self.state.get(ts) is ChannelState.IDLE

    def pick(self) -> int | None:
        state = self.state
        for ts in self._order:
            if state[ts] is ChannelState.IDLE:
                return ts
        return None

    def claim(self, ts: int, call_id: int) -> None:
        self.state[ts] = ChannelState.IN_USE
        self.owner[ts] = call_id

    def free(self, ts: int | None, call_id: int) -> None:
        """Give a channel back if `call_id` still holds it (a restart may have taken it)."""
        if ts is not None and self.owner.get(ts) == call_id:
            del self.owner[ts]
            if self.state[ts] is ChannelState.IN_USE:
                self.state[ts] = ChannelState.IDLE

    def set_restarting(self, ts: int) -> None:
        self.owner.pop(ts, None)
        if self.state[ts] is not ChannelState.OUT_OF_SERVICE:
            self.state[ts] = ChannelState.RESTARTING

    def set_idle(self, ts: int) -> None:
        self.owner.pop(ts, None)
        if self.state[ts] is not ChannelState.OUT_OF_SERVICE:
            self.state[ts] = ChannelState.IDLE

    def restart_done(self, ts: int) -> None:
        """Our RESTART was acknowledged: idle again, unless a call took the channel meanwhile
        (the peer restarted it too and a new call arrived before the late acknowledgement)."""
        if self.state[ts] is ChannelState.RESTARTING:
            self.state[ts] = ChannelState.IDLE

    def set_out_of_service(self, ts: int, out: bool) -> None:
        if not self.exists(ts):
            raise ValueError(f"timeslot {ts} is not a B-channel of this span")
        if out:
            self.state[ts] = ChannelState.OUT_OF_SERVICE
        elif self.state[ts] is ChannelState.OUT_OF_SERVICE:
            self.state[ts] = ChannelState.IN_USE if ts in self.owner else ChannelState.IDLE

    def summary(self) -> dict[int, str]:
        return {ts: self.state[ts].value for ts in self.timeslots}
