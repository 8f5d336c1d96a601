"""`debug ...` topics: which bus events a topic shows and how they read on the console.

A layer registers its topic once, e.g. the ISDN stack:

    register_debug_topic("isdn q931", "Q.931 messages, decoded", kinds=(Q931Message,),
                         format=lambda ev: f"Q931: {ev.direction} {ev.message} cref={ev.cref}")

which adds `debug isdn q931` and `undebug isdn q931` to the command tree.  Events are printed
between prompts, through a token bucket on the one clock so a flood cannot wedge the console.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

from runtime.bus import Event

from .commands import CommandTree, registry

# Up to BURST lines at once, then RATE lines per second; the rest is counted and reported.
RATE = 20.0
BURST = 40.0


@dataclass
class DebugTopic:
    name: str
    help: str
    kinds: tuple[type, ...]
    format: Callable[[Event], str]


debug_topics: dict[str, DebugTopic] = {}


# A command handler gets the session's CommandContext (session.py); it is not imported here so
# session.py can import this module without a circle.
def debug_handler(topic: DebugTopic):
    def handler(ctx, args: dict) -> str:
        if ctx.session.start_debug(topic):
            return f"{topic.help} debugging is on"
        return f"{topic.help} debugging is already on"
    return handler


def undebug_handler(topic: DebugTopic):
    def handler(ctx, args: dict) -> str:
        ctx.session.stop_debug(topic.name)
        return f"{topic.help} debugging is off"
    return handler


def describe_event(event: Event) -> str:
    """The generic decoding: the event's type and its fields."""
    if dataclasses.is_dataclass(event):
        fields = ", ".join(f"{f.name}={getattr(event, f.name)!r}"
                           for f in dataclasses.fields(event) if f.name != "time")
    else:
        fields = repr(event)
    return f"{type(event).__name__}: {fields}"


def register_debug_topic(name: str, help: str, *, kinds: tuple[type, ...] = (Event,),
                         format: Callable[[Event], str] = describe_event,
                         tree: CommandTree = registry) -> DebugTopic:
    topic = DebugTopic(" ".join(name.split()), help, tuple(kinds), format)
    debug_topics[topic.name] = topic
    words = topic.name.split()
    for i in range(1, len(words)):
        for verb in ("debug", "undebug"):
            prefix = " ".join([verb, *words[:i]])
            tree.describe(prefix, tree_help(tree, prefix) or f"{' '.join(words[:i])} debugging")
    tree.add(f"debug {topic.name}", debug_handler(topic), help=help)
    tree.add(f"undebug {topic.name}", undebug_handler(topic), help=f"Stop: {help}")
    return topic


def tree_help(tree: CommandTree, path: str) -> str:
    node = tree.root
    for word in path.split():
        node = node.children.get(word)
        if node is None:
            return ""
    return node.help


class RateLimiter:
    """A token bucket on the one clock."""

    def __init__(self, rate: float = RATE, burst: float = BURST, now: float = 0.0):
        self.rate, self.burst = rate, burst
        self._tokens = burst
        self._stamp = now
        self.suppressed = 0

    def allow(self, now: float) -> bool:
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self.suppressed += 1
        return False

    def take_suppressed(self) -> int:
        count, self.suppressed = self.suppressed, 0
        return count
