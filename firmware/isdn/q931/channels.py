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


class Hunting(str, Enum):
    """How a free B-channel is chosen for a new call.

    ascending / descending: the lowest / highest free timeslot (the network side hunts up and
    the user side down, so that both sides choosing at once rarely meet).
    round_robin: the first free timeslot after the one seized last, wrapping, so a channel just
    released is not seized again at once (some carriers still guard it for a moment).
    least_used: the free timeslot that has carried the fewest calls, lowest first on a tie,
    which spreads wear and makes a faulty channel show in every day's traffic."""

    ASCENDING = "ascending"
    DESCENDING = "descending"
    ROUND_ROBIN = "round_robin"
    LEAST_USED = "least_used"


class ChannelTable:
    """Who holds each B-channel, and how many calls each has carried (for least-used hunting).
    `hunt_down` is the older spelling of `hunting=Hunting.DESCENDING`."""

    def __init__(self, timeslots=PRI_TIMESLOTS, *, hunt_down: bool = False, hunting: Hunting | str | None = None):
        self.timeslots = tuple(timeslots)
        for ts in self.timeslots:
            if ts not in PRI_TIMESLOTS:
                raise ValueError(f"timeslot {ts} carries no B-channel (1-15, 17-31)")
        self.state = {ts: ChannelState.IDLE for ts in self.timeslots}
        self.owner: dict[int, int] = {}
        self.seizures = {ts: 0 for ts in self.timeslots}
        self.last_seized: int | None = None
        self.hunting = Hunting(hunting) if hunting is not None else (
            Hunting.DESCENDING if hunt_down else Hunting.ASCENDING)
        self._order = tuple(sorted(self.timeslots, reverse=self.hunting is Hunting.DESCENDING))

    def exists(self, ts: int) -> bool:
        return ts in self.state

    def is_idle(self, ts: int) -> bool:
        return self.state.get(ts) is ChannelState.IDLE

    def idle_count(self) -> int:
        return sum(1 for s in self.state.values() if s is ChannelState.IDLE)

    def pick(self, hunting: Hunting | None = None) -> int | None:
        """A free timeslot by this table's hunting (or `hunting` for this one pick); None when
        every channel is busy.  Picking claims nothing: `claim` does, once the call has it."""
        hunting = self.hunting if hunting is None else hunting
        state = self.state
        if hunting is Hunting.LEAST_USED:
            idle = [ts for ts in self.timeslots if state[ts] is ChannelState.IDLE]
            return min(idle, key=lambda ts: (self.seizures[ts], ts)) if idle else None
        if hunting is Hunting.ROUND_ROBIN:
            order = sorted(self.timeslots)
            if self.last_seized in order:
                start = order.index(self.last_seized) + 1
                order = order[start:] + order[:start]
        elif hunting is self.hunting:
            order = self._order
        else:
            order = sorted(self.timeslots, reverse=hunting is Hunting.DESCENDING)
        for ts in order:
            if state[ts] is ChannelState.IDLE:
                return ts
        return None

    def claim(self, ts: int, call_id: int) -> None:
        self.state[ts] = ChannelState.IN_USE
        self.owner[ts] = call_id
        self.seizures[ts] += 1
        self.last_seized = ts

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
