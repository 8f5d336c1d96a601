"""Where a leg the box places goes: the one place that decides it.

An agent's or supervisor's extension rings the SIP contacts registered for it in the box's
registrar when it has any (a desk phone, a softphone, a browser registering as that user: a
registered contact is the whole contract), else the `[pbx] extension_trunk` (the center's PBX
behind a PRI), as before.  A trunk target is a `[[sip_trunk]]` when one has that name (the
call goes out over SIP), else a `[[trunk_group]]` of spans.  `offer`, `supervise`, `call_back`,
transfers and dial-plan routes all ask here, so a new kind of endpoint is added once.
"""

from __future__ import annotations

from dataclasses import dataclass

PHONE = "phone"              # a registered SIP contact of the extension
SIP_TRUNK = "sip_trunk"      # out on a [[sip_trunk]]
SPANS = "spans"              # out on a [[trunk_group]] of E1 spans


@dataclass(frozen=True)
class Destination:
    kind: str                 # PHONE, SIP_TRUNK or SPANS
    number: str               # the digits to call (before a trunk's outbound mapping)
    group: str | None = None  # the trunk group or SIP trunk; None for a phone
    phone: str | None = None  # the address of record rung (PHONE)
    extension: bool = False   # an extension (on a phone or behind the extension trunk)

    @property
    def mapped_out(self) -> bool:
        """A call toward a trunk's far end: the gateway's outbound number mapping applies."""
        return not self.extension

    def describe(self) -> str:
        if self.kind == PHONE:
            return f"SIP phone {self.phone}"
        return f"{'SIP trunk' if self.kind == SIP_TRUNK else 'trunk group'} {self.group}"


def extension(sip, plan, number: str) -> Destination | str:
    """Where extension `number` rings: its registered SIP contacts, else the extension trunk
    (None of both: why it cannot ring).  `sip` is the box's SIP legs (sip_legs.SipLegs) or None."""
    aor = sip.registered_phone(number) if sip is not None else None
    if aor is not None:
        return Destination(PHONE, number, None, aor, extension=True)
    if not plan.extension_trunk:
        return (f"extension {number} has no registered SIP phone and there is no [pbx] extension_trunk "
                f"to reach it")
    return Destination(SPANS, number, plan.extension_trunk, extension=True)


def trunk(sip, plan, group: str | None, number: str) -> Destination | str:
    """Out on the named trunk: a `[[sip_trunk]]` by that name, else a `[[trunk_group]]`."""
    if group is not None and plan.gateway.sip_trunk(group) is not None:
        if sip is None or not sip.has_trunk(group):
            return f'SIP trunk "{group}" is not running (the sip service is down)'
        return Destination(SIP_TRUNK, number, group)
    return Destination(SPANS, number, group)
