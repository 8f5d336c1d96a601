"""[[span]]: the E1 spans, mirroring drivers.span.SpanConfig."""

from __future__ import annotations

from ..errors import format_path
from ..registry import register_section
from ..schema import OPTIONAL, Bool, Checker, Enum, Field, Int, Path, Section, Table, TableList

SPAN = Table({
    "id": Field(Int(min=1)),
    "driver": Field(Enum("emulated")),
    "side": Field(Enum("te", "nt")),
    "crc4": Field(Bool(), True),
    "clock": Field(Enum("line", "internal")),
    "law": Field(Enum("alaw", "ulaw")),
    "dchannel_timeslot": Field(Int(1, 31), 16),
    "wire": Field(Path("the path of the emulated E1 wire's Unix socket")),
    "wire_role": Field(Enum("listen", "connect")),
    "frames_per_datagram": Field(Int(1, 80), 8),
    "dchannel_export": Field(Path("a path to export D-channel frames to"), OPTIONAL),
})


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
