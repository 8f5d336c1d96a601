"""[[span]]: the E1 spans, key for key drivers.config.SpanConfig (span-driver branch), so a
validated entry builds one directly: `SpanConfig(**config.span[0])`.  frames_per_datagram is
capped at 80 (10 ms) here although the driver accepts up to 160."""

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


SPAN = Table({
    "id": Field(Int(min=1)),
    "driver": Field(Enum("emulated")),
    "side": Field(Enum("te", "nt")),
    "crc4": Field(Bool(), True),
    "clock": Field(Enum("line", "internal")),
    "law": Field(Enum("alaw", "ulaw")),
    "dchannel_timeslot": Field(Int(1, 31), 16),
    "wire": Field(Str(what="the path of the emulated E1 wire's Unix socket", min_len=1, check=_socket_path_problem)),
    "wire_role": Field(Enum("listen", "connect")),
    "frames_per_datagram": Field(Int(1, 80), 8),
    "dchannel_export": Field(Str(what="a Unix socket path to export D-channel frames on", min_len=1,
                                 check=_socket_path_problem), OPTIONAL),
}, checks=[_export_is_not_the_wire])


def _check_wires(config, checker: Checker) -> None:
    """Two spans of this box on one wire are its two ends: one listens, the other connects."""
    by_wire: dict[str, list[int]] = {}
    for index, span in enumerate(config.span):
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


SPANS = register_section(Section(
    "span", TableList(SPAN, unique=("id",), noun="span"),
    doc="E1 spans", checks=[_check_wires]))


def span_by_id(config, span_id: int):
    for span in config.span:
        if span.id == span_id:
            return span
    raise KeyError(f"no span with id {span_id} in {config.source}")
