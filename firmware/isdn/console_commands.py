"""ISDN commands on the console, from the daemon's isdn service (`ctx.services.isdn`):
`show isdn status`, `show calls`, `show channels [N]`, and the `debug isdn q921` topic fed by
each span's Q921Frame events."""

from __future__ import annotations

from firmware.console.commands import Arg, CommandTree, int_range, registry
from firmware.console.debugging import register_debug_topic
from firmware.console.span_commands import MAX_SPAN

from .q921_trace import Q921Frame
from .show import show_isdn_status
from .show_calls import show_calls, show_channels

NO_DCHANNEL = "No ISDN D-channel is running (no [[isdn]] in the configuration, or the isdn service is down)"


def _spans(ctx):
    service = getattr(ctx.services, "isdn", None)
    return getattr(service, "spans", None)


def show_isdn(ctx, args: dict) -> str:
    spans = _spans(ctx)
    if not spans:
        return NO_DCHANNEL
    return show_isdn_status(spans.values())


def show_active_calls(ctx, args: dict) -> str:
    spans = _spans(ctx)
    if not spans:
        return "No active calls (" + NO_DCHANNEL[0].lower() + NO_DCHANNEL[1:] + ")"
    return show_calls(spans.values(), ctx.services.clock.now())


def show_b_channels(ctx, args: dict) -> str:
    spans = _spans(ctx)
    if not spans:
        return NO_DCHANNEL
    return show_channels(spans.values(), args.get("N"))


def _isdn_span_numbers(ctx) -> list[str]:
    return [str(n) for n in sorted(_spans(ctx) or ())]


registry.describe("show isdn", "ISDN PRI D-channels")
registry.add("show isdn status", show_isdn, help="Layer 1, layer 2 and active calls of each PRI D-channel")
registry.add("show calls", show_active_calls,
             help="Active calls on every span: channel, numbers, Q.931 state, duration, bearer")
registry.add("show channels", show_b_channels, help="B-channel maintenance state of each PRI span (show isdn service)",
             args=[Arg("N", "span number (all spans when left out)", parse=int_range(1, MAX_SPAN), optional=True,
                       complete=_isdn_span_numbers)])


def install_q921_debug(tree: CommandTree = registry) -> None:
    register_debug_topic("isdn q921", "ISDN Q921 frames", kinds=(Q921Frame,),
                         format=lambda event: event.text, tree=tree)


install_q921_debug()
