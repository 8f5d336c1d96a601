"""Span drivers: one API for an E1 span (drivers/span.py) and its backends.

`make_span(config, clock=..., bus=...)` builds the backend a `SpanConfig` names; the backend is
imported only when used, so a box without the emulated line's C core (or, later, without DAHDI)
still loads the others.  The dahdi backend (drivers/dahdi.py) needs DAHDI configured first:
`drivers.dahdi.configure_system(configs)` does it for all DAHDI spans of the box at once.
"""

from __future__ import annotations

from drivers.config import SpanConfig, SpanConfigError  # noqa: F401


def make_span(config: SpanConfig, *, clock, bus, **backend_options):
    """A closed span for `config`; call `open()` on it.  `backend_options` go to the backend
    (emulated: wire, ppm, elastic_depth, seed; dahdi: device, layout, block)."""
    if config.driver == "emulated":
        from drivers.emulated import EmulatedSpan
        return EmulatedSpan(config, clock=clock, bus=bus, **backend_options)
    if config.driver == "dahdi":
        from drivers.dahdi import DahdiSpan
        return DahdiSpan(config, clock=clock, bus=bus, **backend_options)
    raise SpanConfigError("driver", f"no backend for {config.driver!r}")
