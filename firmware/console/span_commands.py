"""Span commands: `show span [N]` (Cisco `show controllers e1`), `loopback`, `bert`, and the
`debug span` topic, over the span driver API (docs/span-api.md).

The spans come from `ctx.services.spans`: a mapping of span id to span, a list of spans, or
a service object holding either in its `spans` attribute.  The driver package is imported only
when a command runs, so the console starts even on a box whose C core is missing.
"""

from __future__ import annotations

from typing import Any

from .commands import Arg, CommandTree, int_range, registry
from .debugging import register_debug_topic
from .session import CommandContext

MAX_SPAN = 64
LOOPBACK_MODES = ("none", "local", "line")


def spans_of(ctx: CommandContext) -> dict[int, Any]:
    found = getattr(ctx.services, "spans", None)
    if found is not None and not isinstance(found, (dict, list, tuple)):
        found = getattr(found, "spans", None)
    if isinstance(found, dict):
        return dict(found)
    if isinstance(found, (list, tuple)):
        return {span.id: span for span in found}
    return {}


def failed_of(ctx: CommandContext) -> dict[int, str]:
    """Spans configured but not open (a DAHDI card that did not come up), with the reason."""
    found = getattr(ctx.services, "spans", None)
    failed = getattr(found, "failed", None)
    return dict(failed) if isinstance(failed, dict) else {}


def _span(ctx: CommandContext, number: int):
    spans = spans_of(ctx)
    if number not in spans:
        known = ", ".join(str(n) for n in sorted(spans)) or "none configured"
        raise ValueError(f"No span {number} (spans: {known})")
    return spans[number]


def _span_numbers(ctx: CommandContext) -> list[str]:
    return [str(n) for n in sorted(spans_of(ctx))]


def _driver_call(action):
    """Span driver errors (SpanError, a RuntimeError) carry a message naming the span."""
    try:
        return action()
    except RuntimeError as exc:
        raise ValueError(str(exc)) from None


def show_span(ctx: CommandContext, args: dict) -> str:
    from drivers.show import show_controller
    failed = failed_of(ctx)
    numbers = [args["N"]] if args["N"] is not None else sorted(set(spans_of(ctx)) | set(failed))
    if not numbers:
        return "No E1 spans are configured"
    return "\n\n".join(f"E1 {n} is down.\n  Not open: {failed[n]}" if n in failed and n not in spans_of(ctx)
                        else _driver_call(lambda n=n: show_controller(_span(ctx, n))) for n in numbers)


def loopback(ctx: CommandContext, args: dict) -> str:
    span = _span(ctx, args["N"])
    _driver_call(lambda: span.set_loopback(args["mode"]))
    if args["mode"] == "none":
        return f"E1 {args['N']}: loopback removed"
    return f"E1 {args['N']}: {args['mode']} loopback on (the span carries no traffic meanwhile)"


def parse_timeslots(text: str) -> str | list[int]:
    """`all`, or timeslots 1-31 as a list with ranges: `1-15,17-31`."""
    if text == "all":
        return "all"
    slots: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ValueError(f"expected 'all' or timeslots like 1-15,17-31, got {part!r}") from None
        if not 1 <= first <= last <= 31:
            raise ValueError(f"timeslots run from 1 to 31, got {part!r}")
        slots.update(range(first, last + 1))
    return sorted(slots)


def bert_start(ctx: CommandContext, args: dict) -> str:
    span = _span(ctx, args["N"])
    timeslots = args["timeslots"] if args["timeslots"] is not None else "all"
    _driver_call(lambda: span.bert_start(timeslots))
    which = "all timeslots" if timeslots == "all" else f"timeslots {_ranges(timeslots)}"
    return f"E1 {args['N']}: BERT started, 2^15-1 pattern on {which}"


def bert_stop(ctx: CommandContext, args: dict) -> str:
    span = _span(ctx, args["N"])
    _driver_call(span.bert_stop)
    return f"E1 {args['N']}: BERT stopped\n" + _bert_line(args["N"], _driver_call(span.bert_result))


def bert_show(ctx: CommandContext, args: dict) -> str:
    numbers = [args["N"]] if args["N"] is not None else sorted(spans_of(ctx))
    if not numbers:
        return "No E1 spans are configured"
    return "\n".join(_bert_line(n, _driver_call(lambda n=n: _span(ctx, n).bert_result()))
                     for n in numbers)


def _bert_line(number: int, result: dict) -> str:
    bits, errors = result.get("bits_checked", 0), result.get("bit_errors", 0)
    state = "running" if result.get("active") else "stopped"
    sync = "in sync" if result.get("in_sync") else "NOT in sync"
    ber = f"{errors / bits:.1e}" if bits else "-"
    return (f"E1 {number} BERT {state}, {sync}: {bits} bits checked, {errors} bit errors "
            f"(BER {ber}), {result.get('resyncs', 0)} resyncs")


def _ranges(slots: list[int]) -> str:
    parts, start = [], None
    for i, slot in enumerate(slots):
        if start is None:
            start = slot
        if i + 1 == len(slots) or slots[i + 1] != slot + 1:
            parts.append(f"{start}-{slot}" if slot != start else str(slot))
            start = None
    return ",".join(parts)


def describe_span_event(event) -> str:
    name = type(event).__name__
    span = f"E1 {event.span_id}"
    if name == "SpanAlarmsChanged":
        alarms = ", ".join(sorted(a.upper() for a in event.alarms)) or "none"
        change = [f"raised {', '.join(sorted(a.upper() for a in event.raised))}" if event.raised else "",
                  f"cleared {', '.join(sorted(a.upper() for a in event.cleared))}" if event.cleared else ""]
        return f"{span}: alarms {alarms} ({'; '.join(c for c in change if c)})"
    if name == "SpanAlignmentChanged":
        if not event.frame_aligned:
            return f"{span}: lost frame alignment, searching"
        return f"{span}: frame aligned, CRC-4 {event.crc4}"
    if name == "SpanSlip":
        return f"{span}: {event.count} frame slip{'s' if event.count != 1 else ''} (total {event.total})"
    if name == "SpanOpened":
        return f"{span}: opened, {event.description}"
    if name == "SpanClosed":
        return f"{span}: closed"
    return f"{span}: {name}"


def install(tree: CommandTree) -> None:
    span_arg = dict(parse=int_range(1, MAX_SPAN), complete=_span_numbers)
    tree.add("show span", show_span, help="E1 span state, alarms, G.826 counters (show controllers e1)",
             args=[Arg("N", "span number (all spans when left out)", optional=True, **span_arg)])
    tree.add("loopback", loopback, admin=True, help="Loop a span for testing, or remove the loop",
             args=[Arg("N", "span number", **span_arg),
                   Arg("mode", "local: our transmit to our receive; line: the far end's signal "
                               "back to it; none: normal", choices=LOOPBACK_MODES)])
    tree.describe("bert", "Bit error rate test with a 2^15-1 pattern")
    tree.add("bert start", bert_start, admin=True, help="Send and check the test pattern",
             args=[Arg("N", "span number", **span_arg),
                   Arg("timeslots", "all (default) or a list like 1-15,17-31",
                       parse=parse_timeslots, optional=True)])
    tree.add("bert stop", bert_stop, admin=True, help="Stop the test and show the result",
             args=[Arg("N", "span number", **span_arg)])
    tree.add("bert show", bert_show, help="Bits checked, errors and sync of the test",
             args=[Arg("N", "span number (all spans when left out)", optional=True, **span_arg)])
    from drivers.events import SpanEvent  # plain dataclasses: no C core behind this import
    register_debug_topic("span", "E1 span alarms, alignment and slips", kinds=(SpanEvent,),
                         format=describe_span_event, tree=tree)


install(registry)
