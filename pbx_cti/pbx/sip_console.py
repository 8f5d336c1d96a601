"""`show sip calls` on the console: every SIP call of the box's user agent with its trunk or
phone, SIP state, negotiated codec, RTP ports and the leg's figures (packets, loss, jitter,
MOS), and the PBX's lines for it (mapping, route, IVR node, queue) — beside `show calls`,
which lists the spans' calls."""

from __future__ import annotations

from firmware.console.commands import registry

NO_SIP = ("No SIP user agent is running (no [[sip_trunk]] or [[sip_phone]] in the configuration, "
          "or the sip service is down)")


def show_sip_calls(calls, handler) -> str:
    """The table for a `SipCalls` and its `PbxSipHandler` (None when calls go elsewhere)."""
    ua = calls.ua
    if not ua.calls:
        return "No active SIP calls"
    lines = [f"{'Call':>5} {'Dir':3} {'Trunk/phone':14} {'State':10} {'Peer':21} {'Codec':5} "
             f"{'RTP local':>9} {'remote':>21} {'Pkts in/out':>13} {'Loss':>5} {'Jit ms':>6} {'MOS':>4}"]
    for call_id, call in sorted(ua.calls.items()):
        owner = call.trunk.name if call.trunk is not None else (call.phone or "-")
        media = call.negotiated
        leg = handler.legs.media.get(call_id) if handler is not None else None
        stats = leg.stats() if leg is not None and leg.session is not None else None
        local = str(leg.session.local[1]) if stats is not None else "-"
        remote = f"{media.remote_address}:{media.remote_port}" if media is not None else "-"
        figures = (f"{stats['packets_received']}/{stats['packets_sent']}", f"{100 * stats['loss']:.1f}%",
                   f"{stats['jitter']:.1f}", f"{stats['mos']:.1f}") if stats is not None else ("-", "-", "-", "-")
        lines.append(f"{call_id:>5} {call.direction:3} {owner[:14]:14} {call.state[:10]:10} "
                     f"{call.peer[0] + ':' + str(call.peer[1]):21} {(media.codec if media else '-'):5} "
                     f"{local:>9} {remote:>21} {figures[0]:>13} {figures[1]:>5} {figures[2]:>6} {figures[3]:>4}")
        if handler is not None:
            lines += ["      " + line for line in handler.describe_call(call_id)]
    return "\n".join(lines)


def show_sip_registrations(registrar, now: float) -> str:
    """Every address of record with its live contacts: where the extension rings, from where
    it registered, how long it has left and when it was last heard from."""
    if registrar is None:
        return "No registrar: no [[sip_phone]] in the configuration"
    rows = [(aor, binding) for aor in registrar.aors() for binding in registrar.lookup(aor, now)]
    if not rows:
        return "No SIP phone is registered"
    presence = registrar.presence(now)
    lines = [f"{'Extension':10} {'Reachable':9} {'Contact':40} {'Source':21} {'Via':4} {'Expires':>7} {'Heard':>7}"]
    for aor, binding in rows:
        extension = aor.split(":", 1)[-1].split("@", 1)[0]
        reachable = "yes" if presence.get(aor) and presence[aor].reachable else "no"
        source = f"{binding.source[0]}:{binding.source[1]}"
        lines.append(f"{extension[:10]:10} {reachable:9} {str(binding.uri)[:40]:40} {source[:21]:21} "
                     f"{binding.transport[:4]:4} {int(binding.expires_at - now):>6}s {int(now - binding.last_seen):>5}s ago")
    return "\n".join(lines)


def _show_registrations(ctx, args: dict) -> str:
    service = getattr(ctx.services, "sip", None)
    if service is None or getattr(service, "calls", None) is None:
        return NO_SIP
    return show_sip_registrations(service.calls.ua.registrar, service.calls.clock.now())


def _show(ctx, args: dict) -> str:
    service = getattr(ctx.services, "sip", None)
    if service is None or getattr(service, "calls", None) is None:
        return NO_SIP
    return show_sip_calls(service.calls, service.handler)


registry.describe("show sip", "SIP user agent")
registry.add("show sip calls", _show, help="Active SIP calls: trunk, state, codec, RTP ports and figures, PBX route")
registry.add("show sip registrations", _show_registrations,
             help="Registered SIP phones: extension, contact, source, expiry, last heard")
