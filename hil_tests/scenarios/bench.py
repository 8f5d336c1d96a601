"""Where the scenarios run: the box and the simulator as daemons on emulated E1 wires.

The simulator is itself a pribox daemon (the spans and ISDN services) whose spans face the
box's: `carrier` spans (NT, network role: the PSTN calling in) and `pbx` spans (TE, user role:
a center's existing PBX with phones, which the box calls).  With the `pribox` engine the
simulator's `[[isdn]]` entries run our PriStack on them; with `libpri` each of its spans
exports its D-channel and libpri drives it.

    config = bench_config(wire_dir, engine="pribox", carrier_spans=4, side="both")   # one process
    async with Simulator.in_process(...) / Simulator.on_wire(...) as sim: sim.carrier, sim.pbx

Span numbers in the generated files: the box's carrier-facing spans 1..n (TE, user role), the
simulator's carrier spans 11.. (NT), the box's PBX-facing spans 21.. (NT, network role), the
simulator's PBX spans 31.. (TE).  On the embedded default (one pair) the box is span 1 and the
carrier span 2.
"""

from __future__ import annotations

import asyncio
import gc
import os
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from firmware.appliance.daemon import Daemon, FileSource
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import load_box_services
from firmware.config.loader import default_text
from firmware.isdn.events import DtmfDigit
from hil_tests import carrier as carriers
from runtime.bus import EventBus

from .trunks import LibpriTrunk, Leg, StackTrunk, Trunk

BOX_CARRIER_SPAN, SIM_CARRIER_SPAN, BOX_PBX_SPAN, SIM_PBX_SPAN = 1, 11, 21, 31
START_TIMEOUT = 10.0


def _span(span_id: int, side: str, wire: str, role: str, export: str | None = None) -> str:
    text = (f'[[span]]\nid = {span_id}\ndriver = "emulated"\nside = "{side}"\ncrc4 = true\n'
            f'clock = "{"line" if side == "te" else "internal"}"\nlaw = "alaw"\ndchannel_timeslot = 16\n'
            f'wire = "{wire}"\nwire_role = "{role}"\nframes_per_datagram = 8\n')
    if export:
        text += f'dchannel_export = "{export}"\n'
    return text + "\n"


def _isdn(span_id: int, role: str, handler: str = "answer") -> str:
    return f'[[isdn]]\nspan = {span_id}\nswitchtype = "euroisdn_e1"\nrole = "{role}"\nhandler = "{handler}"\n\n'


TAIL = '[console]\nenabled = false\n\n[logging]\nlevel = "error"\n'


@dataclass
class Layout:
    """Which span faces which, and the files that describe each side."""

    carrier_wires: list[str]
    pbx_wires: list[str] = field(default_factory=list)

    def carrier_pairs(self) -> list[tuple[int, int]]:
        return [(BOX_CARRIER_SPAN + i, SIM_CARRIER_SPAN + i) for i in range(len(self.carrier_wires))]

    def pbx_pairs(self) -> list[tuple[int, int]]:
        return [(BOX_PBX_SPAN + i, SIM_PBX_SPAN + i) for i in range(len(self.pbx_wires))]


def layout(wire_dir: str, carrier_spans: int = 1, pbx_spans: int = 0) -> Layout:
    return Layout([os.path.join(wire_dir, f"carrier{i + 1}.wire") for i in range(carrier_spans)],
                  [os.path.join(wire_dir, f"pbx{i + 1}.wire") for i in range(pbx_spans)])


def box_config(lay: Layout, *, wire_role: str = "connect", handler: str = "pbx") -> str:
    """The box's side: TE spans toward the carrier, NT spans toward the center's PBX.  With the
    PBX (the default) it carries the embedded default's call path: the carrier's 1588-1234 to
    route point 7000, the IVR flow `main`, and the spans toward the center as the extensions'
    trunk group; with "answer", the bring-up handler on every span."""
    text = '[box]\nhostname = "pribox"\ntimezone = "UTC"\n\n'
    for (box, _), wire in zip(lay.carrier_pairs(), lay.carrier_wires):
        text += _span(box, "te", wire, wire_role)
    for (box, _), wire in zip(lay.pbx_pairs(), lay.pbx_wires):
        text += _span(box, "nt", wire, wire_role)
    for box, _ in lay.carrier_pairs():
        text += _isdn(box, "user", handler)
    for box, _ in lay.pbx_pairs():
        text += _isdn(box, "network", handler)
    if handler == "pbx":
        text += _pbx_sections([box for box, _ in lay.carrier_pairs()], [box for box, _ in lay.pbx_pairs()])
    return text + TAIL


def _pbx_sections(carrier_spans: list[int], center_spans: list[int]) -> str:
    text = (f'[[trunk_group]]\nname = "carrier"\nspans = {carrier_spans}\ndirection = "both"\n'
            f'translation_in = "carrier-in"\n\n'
            '[[translation_profile]]\nname = "carrier-in"\ncalled = "carrier-called"\n\n'
            '[[translation_rule]]\nname = "carrier-called"\n\n'
            "[[translation_rule.rule]]\nmatch = '/^15881234$/'\nreplace = '/7000/'\n\n"
            '[[dialplan]]\nname = "route point 7000"\npattern = "7000"\ntarget = "ivr:main"\n\n')
    if center_spans:
        text += (f'[[trunk_group]]\nname = "center"\nspans = {center_spans}\ndirection = "out"\n\n'
                 '[pbx]\nextension_trunk = "center"\n\n')
    return text


def simulator_config(lay: Layout, engine: str, *, wire_role: str = "listen", export_dir: str | None = None) -> str:
    """The simulator's side: NT spans (network role) toward the box's TE spans, TE spans (user
    role) toward the box's NT spans; libpri drives each through a D-channel export."""
    text = ""
    exports = export_dir or os.path.dirname(lay.carrier_wires[0])
    for (_, sim), wire in zip(lay.carrier_pairs(), lay.carrier_wires):
        text += _span(sim, "nt", wire, wire_role, os.path.join(exports, f"span{sim}.dchan") if engine == "libpri" else None)
    for (_, sim), wire in zip(lay.pbx_pairs(), lay.pbx_wires):
        text += _span(sim, "te", wire, wire_role, os.path.join(exports, f"span{sim}.dchan") if engine == "libpri" else None)
    if engine == "pribox":
        for _, sim in lay.carrier_pairs():
            text += _isdn(sim, "network")
        for _, sim in lay.pbx_pairs():
            text += _isdn(sim, "user")
    return text + TAIL


def both_config(lay: Layout, engine: str) -> str:
    """Box and simulator in one daemon (one process, one clock): each wire joins a box span
    (connecting) and a simulator span (listening)."""
    box = box_config(lay, handler="answer").replace(TAIL, "")
    sim = simulator_config(lay, engine).replace(TAIL, "")
    spans = [block for block in (box + sim).split("\n\n") if block.startswith("[[span]]")]
    rest = [block for block in (box + sim).split("\n\n") if block.strip() and not block.startswith("[[span]]")]
    return "\n\n".join(spans + rest) + "\n\n" + TAIL


def embedded_default(wire_dir: str, engine: str) -> str:
    """The box's embedded default (span 1 TE toward span 2, the carrier's NT; span 3 NT toward
    span 4, the center's PBX in the user role) as the in-process run uses it: on wires of its
    own, no console, the API on any free port, libpri on spans 2 and 4 if asked."""
    text = default_text(wire_dir) + "\n[api]\nport = 0\n"      # beside a box's own API on 8088
    text = text.replace("[console]\nenabled = true", "[console]\nenabled = false")
    text = text.replace('[logging]\nlevel = "info"', '[logging]\nlevel = "error"')
    if engine == "libpri":
        text = carriers.libpri_far_end_config(text, os.path.join(wire_dir, "span2.dchan"), 2)
        text = carriers.libpri_far_end_config(text, os.path.join(wire_dir, "span4.dchan"), 4)
    return text


class Simulator:
    """The simulator's trunks on a running daemon (the box's own, or one of its own)."""

    def __init__(self, daemon: Daemon, clock, engine: str, carrier_spans: dict[int, int], pbx_spans: dict[int, int],
                 box_spans: dict[int, int] | None = None):
        self.daemon = daemon
        self.clock = clock
        self.engine = engine
        self.carrier_spans = carrier_spans        # scenario span number -> simulator span id
        self.pbx_spans = pbx_spans
        self.box_spans = box_spans or {}          # scenario carrier span number -> box span id (in process)
        self.carrier: dict[int, Trunk] = {}
        self.pbx: dict[int, Trunk] = {}
        self.digits: list[tuple[float, int, int, str]] = []   # (time, box span, timeslot, digit)
        daemon.bus.subscribe(DtmfDigit, lambda e: self.digits.append((e.time, e.span_id, e.timeslot, e.digit)))

    async def attach(self) -> None:
        deadline = self.clock.now() + START_TIMEOUT
        wanted = list(self.carrier_spans.values()) + list(self.pbx_spans.values())
        while True:
            ctx = self.daemon.ctx
            spans = ctx.peer("spans") if ctx is not None else None
            isdn = ctx.peer("isdn") if ctx is not None else None
            if spans is not None and all(s in spans.spans for s in wanted) and (
                    self.engine == "libpri" or (isdn is not None and all(s in isdn.spans for s in wanted))):
                break
            if self.clock.now() > deadline:
                raise RuntimeError(f"the simulator's spans {wanted} did not start within {START_TIMEOUT:g} s")
            await asyncio.sleep(0.005)
        for role, numbers, target in (("network", self.carrier_spans, self.carrier), ("user", self.pbx_spans, self.pbx)):
            for number, span_id in numbers.items():
                if self.engine == "pribox":
                    trunk = StackTrunk(number, isdn.spans[span_id])
                else:
                    trunk = LibpriTrunk(number, spans.spans[span_id], self.clock, role)
                trunk.start()
                target[number] = trunk

    def close(self) -> None:
        for trunk in list(self.carrier.values()) + list(self.pbx.values()):
            trunk.close()

    def box_heard(self, leg: Leg) -> str | None:
        """The digits the box detected on the leg's channel while the leg lasted (in process)."""
        box_span = self.box_spans.get(leg.trunk.number)
        if box_span is None or leg.placed_at is None:
            return None
        end = leg.released_at if leg.released_at is not None else float("inf")
        return "".join(d for t, span, ts, d in self.digits
                       if span == box_span and ts == leg.timeslot and leg.placed_at <= t <= end)


@asynccontextmanager
async def running_daemon(config_path: str, clock, bus: EventBus | None = None, state_dir: str | None = None):
    """A daemon on `config_path` for the length of the block (stopped however the block ends)."""
    daemon = Daemon(FileSource(config_path), load_box_services(), clock=clock, bus=bus or EventBus(),
                    notifier=Notifier(environ={}), state_dir=state_dir)
    task = asyncio.ensure_future(daemon.run(install_signals=False))
    try:
        yield daemon
    finally:
        daemon.request_stop("scenario over")
        code = await task
        if code:
            raise RuntimeError(f"the daemon on {config_path} exited with {code}")


def freeze_heap() -> None:
    """What lives now lives as long as the run: out of the collector's sight, so a full
    collection stays short enough not to stall the line's 1 ms pacing in real time."""
    gc.collect()
    gc.freeze()
