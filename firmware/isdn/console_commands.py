"""`show isdn status` on the console, from the daemon's isdn service (`ctx.services.isdn`)."""

from __future__ import annotations

from firmware.console.commands import registry

from .show import show_isdn_status


def show_isdn(ctx, args: dict) -> str:
    service = getattr(ctx.services, "isdn", None)
    spans = getattr(service, "spans", None)
    if not spans:
        return "No ISDN D-channel is running (no [[isdn]] in the configuration, or the isdn service is down)"
    return show_isdn_status(spans.values())


registry.describe("show isdn", "ISDN PRI D-channels")
registry.add("show isdn status", show_isdn, help="Layer 1, layer 2 and active calls of each PRI D-channel")
