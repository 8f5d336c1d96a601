"""Whether an extension's phone can be rung: the registrar's presence of an address of record
(firmware/sip/registrar.py `AorPresenceChanged`) as the contact center sees it, by extension.

`ExtensionPresence` is on the bus whenever an extension gains its first reachable contact or
loses its last (registration, unregistration, expiry, keepalives gone quiet).  The contact
center (pbx_cti/acd) turns it into the engine's `endpoint_presence` (an agent whose phone goes
away is NOT_READY `device-unavailable`); the console shows the registrar itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware.sip.registrar import AorPresenceChanged
from runtime.bus import Event, EventBus


@dataclass(frozen=True)
class ExtensionPresence(Event):
    extension: str                 # the AOR's user part: the agent's extension (endpoint) in [cti]
    available: bool
    contacts: tuple[str, ...] = ()


def extension_of(aor: str) -> str:
    """sip:2002@box -> 2002."""
    return aor.split(":", 1)[-1].split("@", 1)[0]


class PresenceRelay:
    """Republishes the registrar's presence changes as `ExtensionPresence`, on the same bus."""

    def __init__(self, bus: EventBus):
        self.bus = bus
        self._subscription = bus.subscribe(AorPresenceChanged, self._changed)

    def _changed(self, event: AorPresenceChanged) -> None:
        self.bus.publish(ExtensionPresence(event.time, extension_of(event.aor), event.reachable, event.contacts))

    def close(self) -> None:
        self._subscription.cancel()
