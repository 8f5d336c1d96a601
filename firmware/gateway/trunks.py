"""Trunk groups: one or more PRI spans toward the same carrier, and which B-channel of which
span an outgoing call seizes.

The order of channels within one span is the span's own (`ChannelTable.pick(hunting)` in
firmware/isdn/q931/channels.py), because the Q.931 link hunts there too and the table already
keeps what every scheme needs (state, seizures per channel, the last one seized).  Choosing the
span is the group's business, since Q.931 knows only its own span:

    ascending    spans in the order written, lowest free channel first
    descending   spans in reverse order, highest free channel first
    round_robin  the span after the one seized last, wrapping, and in it the channel after its
                 last seizure (calls spread over every span and channel in turn)
    least_used   the span with the most free channels (Cisco's least-used), earliest written on
                 a tie; in it the channel that has carried the fewest calls
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from firmware.isdn.q931.channels import ChannelTable, Hunting

DIRECTIONS = ("in", "out", "both")


@dataclass(frozen=True)
class TrunkGroup:
    name: str
    spans: tuple[int, ...]
    hunting: Hunting = Hunting.ASCENDING
    direction: str = "both"
    profile_in: str | None = None
    profile_out: str | None = None
    kind: str = "span"          # "span": a [[trunk_group]] of PRI spans; "sip": a [[sip_trunk]]

    def takes(self, direction: str) -> bool:
        return self.direction in (direction, "both")

    def profile(self, direction: str) -> str | None:
        return self.profile_in if direction == "in" else self.profile_out


class TrunkHunter:
    """Picks (span, timeslot) for an outgoing call over a trunk group's channel tables.  Pure:
    it reads the tables and remembers only which span it handed out last."""

    def __init__(self, group: TrunkGroup):
        self.group = group
        self.last_span: int | None = None

    def pick(self, tables: Mapping[int, ChannelTable]) -> tuple[int, int] | None:
        """The span and timeslot to seize, or None when every channel of the group is busy
        (the caller clears with cause 34, no circuit/channel available).  A span of the group
        with no table (its D-channel is down) is passed over."""
        spans = [s for s in self.group.spans if s in tables]
        hunting = self.group.hunting
        if hunting is Hunting.DESCENDING:
            spans.reverse()
        elif hunting is Hunting.ROUND_ROBIN and self.last_span in spans:
            start = spans.index(self.last_span) + 1
            spans = spans[start:] + spans[:start]
        elif hunting is Hunting.LEAST_USED:
            spans.sort(key=lambda s: -tables[s].idle_count())  # stable: written order on a tie
        for span in spans:
            timeslot = tables[span].pick(hunting)
            if timeslot is not None:
                self.last_span = span
                return span, timeslot
        return None
