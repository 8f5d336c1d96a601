"""`debug isdn q931`: the ISDN stack's decoded messages, live on the console.

The Q.931 layer (firmware/isdn/q931/link.py) hands every message it sends or receives, decoded
IOS-style by firmware/isdn/trace.py, to a `trace` callable.  `q931_tracer(bus, clock, span)`
is that callable: it publishes each block on the bus as a `Q931Trace` event, which the console
(and the log, a recorder...) can subscribe to.  Whoever runs a span's stack passes it:

    Q931Link(role, trace=q931_tracer(bus, clock, "Se0:15"), span="Se0:15")
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from runtime.bus import Event, EventBus
from runtime.clock import Clock

from .commands import CommandTree, registry
from .debugging import register_debug_topic


@dataclass(frozen=True)
class Q931Trace(Event):
    span: str
    text: str   # one decoded message, as `debug isdn q931` prints it (several lines)


def q931_tracer(bus: EventBus, clock: Clock, span: str = "Se0:15") -> Callable[[str], None]:
    def trace(block: str) -> None:
        bus.publish(Q931Trace(clock.now(), span, block))
    return trace


def install(tree: CommandTree) -> None:
    from firmware.isdn.events import IsdnTrace  # the daemon's isdn service traces each span with it
    register_debug_topic("isdn q931", "ISDN Q931 packets", kinds=(Q931Trace, IsdnTrace),
                         format=lambda event: event.text, tree=tree)


install(registry)
