"""Who decides what happens to the calls of a span: the call handlers by name.

An `[[isdn]]` entry names its handler (`handler = "pbx"`, `"answer"` or `"none"`); the ISDN
service asks this registry for it when the span's stack starts.  Layers above the ISDN stack
register theirs by name when their module is imported (the PBX registers "pbx"), so the stack
never imports them.  `"none"` leaves the span to whoever attaches a handler later (the carrier
simulator, a test).
"""

from __future__ import annotations

from typing import Callable

from .answer import AnswerAndListen

# name -> factory(isdn_span, ctx) -> CallHandler | None
CALL_HANDLERS: dict[str, Callable] = {
    "answer": lambda isdn, ctx: AnswerAndListen(isdn),
    "none": lambda isdn, ctx: None,
}


def register_call_handler(name: str, factory: Callable) -> None:
    CALL_HANDLERS[name] = factory


def call_handler_for(name: str, isdn, ctx):
    try:
        factory = CALL_HANDLERS[name]
    except KeyError:
        raise RuntimeError(f"span {isdn.span_id}: no call handler {name!r} is loaded "
                           f"(loaded: {', '.join(sorted(CALL_HANDLERS))})") from None
    return factory(isdn, ctx)
