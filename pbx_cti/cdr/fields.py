"""CDR fields from what the PBX already holds: the gateway's `Number`s (before and after
mapping) and the IVR session.  Kept here so every caller names types and presentations the way
`pribox numbers test` does.

    store.open(CallRecord(call_id, legs=..., **number_fields(called=c, calling=k, redirecting=r)))
    store.update(call_id, **number_fields(called=c2, calling=k2, redirecting=r2, mapped=True))
    store.update(call_id, **ivr_fields(session))
"""

from __future__ import annotations

from typing import Any

from firmware.gateway.numbers import Number, presentation_name, type_name


def number_fields(*, called: Number | None = None, calling: Number | None = None,
                  redirecting: Number | None = None, mapped: bool = False) -> dict[str, str]:
    """`called_number`/`called_ton`... (as received) or `called_mapped`/`called_mapped_ton`...
    (after mapping, `mapped=True`).  An anonymous number is recorded as "anonymous"."""
    out: dict[str, str] = {}
    for role, number in (("called", called), ("calling", calling), ("redirecting", redirecting)):
        if number is None:
            continue
        prefix = f"{role}_mapped" if mapped else role
        out[prefix if mapped else f"{role}_number"] = "anonymous" if number.anonymous else number.digits
        out[f"{prefix}_ton"] = type_name(number.type_of_number)
        if role != "called":
            out[f"{prefix}_presentation"] = presentation_name(number.presentation)
    return out


def ivr_fields(session: Any) -> dict[str, Any]:
    """The IVR's part of the record from an `IvrSession`: the nodes visited in order, every
    digit pressed and the variables that travel with the call."""
    return {"ivr_path": tuple(session.path), "digits": session.digits, "ivr_data": session.call_data}
