"""[[span]]: the E1 spans, key for key drivers.config.SpanConfig (span-driver branch), so a
validated entry builds one directly: `SpanConfig(**config.span[0])`.  frames_per_datagram is
capped at 80 (10 ms) here although the driver accepts up to 160.  A span with driver "emulated"
has a wire; one with driver "dahdi" names its DAHDI span and the card's line settings."""

from __future__ import annotations

from ..errors import format_path
from ..registry import register_section
from ..schema import OPTIONAL, Bool, Checker, Enum, Field, Int, Section, Str, Table, TableList

# sun_path holds 108 octets including the terminating NUL.
UNIX_PATH_MAX = 107


def _socket_path_problem(path: str) -> str | None:
    if "\0" in path:
        return "a Unix socket path cannot contain a NUL character"
    if len(path.encode("utf-8")) > UNIX_PATH_MAX:
        return f"a Unix socket path is at most {UNIX_PATH_MAX} bytes, this one is {len(path.encode('utf-8'))}"
    return None


def _export_is_not_the_wire(span, path: tuple, checker: Checker) -> None:
    if span.dchannel_export is not None and span.dchannel_export == span.wire:
        checker.report(path + ("dchannel_export",), f'"{span.dchannel_export}" is also the wire socket')


EMULATED_ONLY = ("wire", "wire_role", "dchannel_export")
DAHDI_DEFAULTS = {"line_code": "hdb3", "framing": "ccs", "line_build_out": 0}


def _keys_of_the_driver(span, path: tuple, checker: Checker) -> None:
    """The emulated line has a wire; a DAHDI span has a DAHDI span number and a card's settings."""
    if span.driver == "emulated":
        for key in ("wire", "wire_role"):
            if span[key] is None:
                checker.report(path + (key,), f"missing required key ({SPAN.fields[key].type.expected})")
        for key in ("dahdi_span", "timing_priority"):
            if span[key] is not None:
                checker.report(path + (key,), 'only a span with driver "dahdi" takes this key')
        return
    if span.dahdi_span is None:
        checker.report(path + ("dahdi_span",), "missing required key (a dahdi span names its DAHDI span number)")
    for key in EMULATED_ONLY:
        if span[key] is not None:
            checker.report(path + (key,), 'belongs to the emulated line; a span with driver "dahdi" has a card instead')
    if span.framing == "cas" and span.dchannel_timeslot != 16:
        checker.report(path + ("dchannel_timeslot",), "CAS framing keeps timeslot 16 for the ABCD bits")
    if span.timing_priority is not None and (span.timing_priority > 0) != (span.clock == "line"):
        checker.report(path + ("timing_priority",),
                       f'{span.timing_priority} disagrees with clock "{span.clock}" '
                       f'(0 = internal clock, 1 or more = clock from this line)')


SPAN = Table({
    "id": Field(Int(min=1)),
    "driver": Field(Enum("emulated", "dahdi")),
    "side": Field(Enum("te", "nt")),
    "crc4": Field(Bool(), True),
    "clock": Field(Enum("line", "internal")),
    "law": Field(Enum("alaw", "ulaw")),
    "dchannel_timeslot": Field(Int(1, 31), 16),
    "wire": Field(Str(what="the path of the emulated E1 wire's Unix socket", min_len=1, check=_socket_path_problem),
                  OPTIONAL),
    "wire_role": Field(Enum("listen", "connect"), OPTIONAL),
    "frames_per_datagram": Field(Int(1, 80), 8),
    "dchannel_export": Field(Str(what="a Unix socket path to export D-channel frames on", min_len=1,
                                 check=_socket_path_problem), OPTIONAL),
    # driver "dahdi": the card's span (drivers/dahdi.py writes system.conf's span= line from these)
    "dahdi_span": Field(Int(1, 128), OPTIONAL),
    "line_code": Field(Enum("hdb3", "ami"), "hdb3"),
    "framing": Field(Enum("ccs", "cas"), "ccs"),
    "line_build_out": Field(Int(0, 7), 0),
    "timing_priority": Field(Int(0, 128), OPTIONAL),
}, checks=[_export_is_not_the_wire, _keys_of_the_driver])


def _check_wires(config, checker: Checker) -> None:
    """Two spans of this box on one wire are its two ends: one listens, the other connects."""
    by_wire: dict[str, list[int]] = {}
    for index, span in enumerate(config.span):
        if span.wire is not None:
            by_wire.setdefault(span.wire, []).append(index)
    for wire, indices in by_wire.items():
        if len(indices) > 2:
            checker.report(("span", indices[2], "wire"),
                           f'wire "{wire}" already joins {format_path(("span", indices[0]))} and '
                           f'{format_path(("span", indices[1]))}; a wire has two ends')
        elif len(indices) == 2:
            a, b = (config.span[i] for i in indices)
            if a.wire_role == b.wire_role:
                checker.report(("span", indices[1], "wire_role"),
                               f'both ends of wire "{wire}" are "{a.wire_role}"; one must listen and the other connect')


def _check_timing(config, checker: Checker) -> None:
    """DAHDI timing priorities rank the box's DAHDI spans: 1 the primary source, 2 the next, ...;
    so a priority beyond the number of DAHDI spans, or one given twice, names no real order."""
    dahdi = [(i, s) for i, s in enumerate(config.span) if s.driver == "dahdi"]
    first_at: dict[int, int] = {}
    for index, span in dahdi:
        if span.timing_priority is None:
            continue
        if span.timing_priority > len(dahdi):
            checker.report(("span", index, "timing_priority"),
                           f"{span.timing_priority} is out of range: this box has {len(dahdi)} DAHDI span"
                           f"{'s' if len(dahdi) != 1 else ''}, so 0..{len(dahdi)} (0 = never a timing source)")
        elif span.timing_priority > 0 and span.timing_priority in first_at:
            checker.report(("span", index, "timing_priority"),
                           f"timing priority {span.timing_priority} is already "
                           f"{format_path(('span', first_at[span.timing_priority]))}'s; each line ranks once")
        elif span.timing_priority > 0:
            first_at[span.timing_priority] = index


SPANS = register_section(Section(
    "span", TableList(SPAN, unique=("id", "dahdi_span"), noun="span"),
    doc="E1 spans", checks=[_check_wires, _check_timing]))


def span_by_id(config, span_id: int):
    for span in config.span:
        if span.id == span_id:
            return span
    raise KeyError(f"no span with id {span_id} in {config.source}")
