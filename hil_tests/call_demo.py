"""`pribox demo`: the box's daemon on the embedded default with the carrier simulator on the far
end of the E1 wire — layer 1 (hil_tests/line_demo.py's part), both D-channels up, calls from
the carrier answered by the box, the DTMF digits it sends detected, its test tone's level
measured, clearing with cause 16, the `debug isdn q931` trace, `show isdn status` and
`show controllers e1`.

Real time by default, with libpri (Asterisk's PRI stack) as the carrier on the NT span's
D-channel export; `--virtual` runs the same on the virtual clock with our own network-side
stack as the carrier (libpri keeps wall-clock timers, so it cannot run there).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import tempfile

from drivers.events import SpanEvent
from drivers.show import show_controller
from runtime.bus import EventBus
from runtime.clock import LoopClock, virtual_time_loop
from firmware.config.loader import default_text
from firmware.appliance.daemon import Daemon, FileSource
from firmware.isdn.events import CallAudioReport, DtmfDigit, IsdnEvent, IsdnTrace
from firmware.isdn.pcap import PcapWriter
from firmware.isdn.q931.causes import cause_name
from firmware.isdn.show import show_isdn_status
from firmware.isdn.stack import DataLinkDown, DataLinkUp
from firmware.appliance.sdnotify import Notifier
from firmware.appliance.services import load_box_services

from . import carrier as carriers
from .line_demo import _describe

BOX_SPAN = 1
CARRIER_SPAN = 2
DEFAULT_WIRE = "/run/pribox/e1-wire-1.sock"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="run at least this long (default 5); the calls finish first")
    parser.add_argument("--virtual", action="store_true",
                        help="run on the virtual clock (faster than real time) with our own network stack as carrier")
    parser.add_argument("--calls", type=int, default=1, help="calls the carrier places, one after another (default 1)")
    parser.add_argument("--digits", default=carriers.DIGITS, help=f"DTMF digits the carrier sends (default {carriers.DIGITS})")
    parser.add_argument("--carrier", choices=["libpri", "pribox"], default=None,
                        help="the far end's stack (default: libpri in real time, pribox with --virtual)")
    parser.add_argument("--pcap", metavar="FILE", help="write the box's D-channel to FILE (LINUX_LAPD, for Wireshark)")
    parser.add_argument("--no-crc4", dest="crc4", action="store_false", help="frame without CRC-4 multiframe")
    parser.add_argument("--ppm", type=float, default=0.0,
                        help="clock offset of the NT side in ppm (the TE side follows it on line clock)")
    parser.add_argument("--wire-dir", default=None, help="directory for the sockets (default: a fresh temporary one)")


def _libpri_available() -> bool:
    try:
        import hil_tests.peers.libpri  # noqa: F401
    except ImportError:
        return False
    return True


def demo_config(wire_dir: str, carrier: str, crc4: bool = True) -> str:
    text = default_text().replace(DEFAULT_WIRE, os.path.join(wire_dir, "e1.wire"))
    # The demo runs on whatever machine types `make run`: its serial port is not a box console.
    text = text.replace("[console]\nenabled = true", "[console]\nenabled = false")
    if not crc4:
        text = text.replace("crc4 = true", "crc4 = false")
    text = text.replace('[logging]\nlevel = "info"', '[logging]\nlevel = "error"')
    if carrier == "libpri":
        text = carriers.libpri_far_end_config(text, os.path.join(wire_dir, "span2.dchan"), CARRIER_SPAN)
    return text


class CallDemo:
    def __init__(self, args, out=print):
        self.args = args
        self.out = out
        self.bus = EventBus()
        self.start = 0.0
        self.failures: list[str] = []
        self.aligned = False
        self.digits: dict[int, str] = {}
        self.reports: dict[int, CallAudioReport] = {}
        self.bus.subscribe(SpanEvent, self._on_span)
        self.bus.subscribe(IsdnEvent, self._on_isdn)
        self.bus.subscribe(IsdnTrace, self._on_trace)
        self.bus.subscribe(DtmfDigit, self._on_digit)
        self.bus.subscribe(CallAudioReport, lambda e: self.reports.__setitem__(e.call_id, e))

    def _at(self, t: float) -> str:
        return f"{(t - self.start) * 1000:8.1f} ms"

    def _on_span(self, event) -> None:
        line = _describe(event, self.start)
        if line:
            self.out(line)

    def _on_isdn(self, event: IsdnEvent) -> None:
        if isinstance(event.event, (DataLinkUp, DataLinkDown)):
            state = "up (MULTIPLE_FRAME_ESTABLISHED)" if isinstance(event.event, DataLinkUp) else "down"
            self.out(f"{self._at(event.time)}  span {event.span_id}: D-channel {state}")

    def _on_trace(self, event: IsdnTrace) -> None:
        if event.span_id == BOX_SPAN:
            self.out(f"{self._at(event.time)}  {event.text}")

    def _on_digit(self, event: DtmfDigit) -> None:
        if event.span_id == BOX_SPAN:
            self.digits[event.call_id] = self.digits.get(event.call_id, "") + event.digit
            self.out(f"{self._at(event.time)}  span {event.span_id}: DTMF '{event.digit}' heard on TS{event.timeslot}")

    async def run(self, daemon: Daemon, clock) -> None:
        try:
            await self._scenario(daemon, clock)
        finally:  # whatever went wrong, the daemon must not be left running
            daemon.request_stop("demo over")

    async def _scenario(self, daemon: Daemon, clock) -> None:
        self.start = clock.now()
        def isdn_up():
            service = daemon.ctx.peer("isdn") if daemon.ctx is not None else None
            return service if service is not None and BOX_SPAN in service.spans else None

        while isdn_up() is None:
            if clock.now() - self.start > 10:
                raise RuntimeError("the daemon's isdn service did not start; see the log")
            await asyncio.sleep(0.001)
        isdn = isdn_up()
        spans = daemon.ctx.peer("spans").spans
        self.start = min(span.opened_at for span in spans.values())
        spans[CARRIER_SPAN].ppm = self.args.ppm
        box = isdn.spans[BOX_SPAN]
        pcap = PcapWriter(self.args.pcap, network_side=False) if self.args.pcap else None
        box.pcap = pcap
        if CARRIER_SPAN in isdn.spans:
            carrier = carriers.StackCarrier(isdn.spans[CARRIER_SPAN], digits=self.args.digits)
        else:
            carrier = carriers.LibpriCarrier(spans[CARRIER_SPAN], clock, digits=self.args.digits)
            carrier.start()
        self.out(f"carrier simulator on span {CARRIER_SPAN}: {carrier.kind}")
        # Everything alive now lives as long as the demo: out of the collector's sight, a full
        # collection stays short enough not to stall the 1 ms line pacing in real time.
        gc.collect()
        gc.freeze()
        try:
            await self._wait(lambda: carrier.ready and box.in_service, 5, "both D-channels up, channels restarted")
            if isinstance(carrier, carriers.LibpriCarrier):
                self.out(f"{self._at(clock.now())}  span {CARRIER_SPAN}: D-channel up (libpri reports dchannel_up)")
            for number in range(1, self.args.calls + 1):
                call = carrier.place_call()
                self.out(f"{self._at(clock.now())}  carrier: call {number}: SETUP {carriers.CALLING} -> "
                         f"{carriers.CALLED} (forwarded from {carriers.FORWARDED_FROM}) on TS{call.timeslot}")
                await self._wait(lambda: call.done, 15, f"call {number} to clear")
                await asyncio.sleep(0.05)
                self._summarise(number, call)
            remaining = self.args.seconds - (clock.now() - self.start)
            if remaining > 0:
                # half a tick more: virtual time sums float steps, and the last second must close
                await asyncio.sleep(remaining + 0.0005)
            self.out("")
            self.out(show_isdn_status(isdn.spans.values()))
            for span in spans.values():
                span.tick(clock.now())
                self.out("")
                self.out(show_controller(span))
            self.aligned = all(s.aligned_at is not None and (not self.args.crc4 or s.multiframe_aligned_at is not None)
                               for s in spans.values())
        finally:
            gc.unfreeze()
            if pcap is not None:
                box.pcap = None
                pcap.close()
            carrier.close()

    async def _wait(self, condition, timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            if loop.time() > deadline:
                self.failures.append(f"{what}: not within {timeout:g} s")
                raise RuntimeError(f"{what}: not within {timeout:g} s")
            await asyncio.sleep(0.01)

    def _summarise(self, number: int, call) -> None:
        box_call = number  # the box numbers incoming calls from 1, one per carrier call
        heard = self.digits.get(box_call, "")
        report = self.reports.get(box_call)
        answered = call.answered_at is not None
        tone = (f"{carriers.TONE_HZ:g} Hz tone heard at {report.tone_level_dbm0:.1f} dBm0 for {report.tone_seconds:.2f} s"
                if report is not None and report.tone_level_dbm0 is not None else "no tone heard")
        cause = call.released_cause
        self.out(f"call {number}: {'answered by the box' if answered else 'NOT answered'}; "
                 f"DTMF sent {self.args.digits}, detected by the box {heard or '(none)'}; {tone}; "
                 f"cleared with cause {cause} ({cause_name(cause) if cause else '?'})")
        if not answered:
            self.failures.append(f"call {number} not answered")
        if heard != self.args.digits:
            self.failures.append(f"call {number}: DTMF detected {heard!r}, sent {self.args.digits!r}")
        if cause != 16:
            self.failures.append(f"call {number}: cleared with cause {cause}, expected 16")


async def _run_demo(args, wire_dir: str, carrier: str, clock, out) -> CallDemo:
    config = os.path.join(wire_dir, "pribox.toml")
    with open(config, "w") as f:
        f.write(demo_config(wire_dir, carrier, args.crc4))
    demo = CallDemo(args, out)
    daemon = Daemon(FileSource(config), load_box_services(), clock=clock, bus=demo.bus,
                    notifier=Notifier(environ={}))
    out(f"pribox demo: the embedded default on {'virtual' if args.virtual else 'real'} time — span {BOX_SPAN} "
        f"(TE, the box, user side, line clock) and span {CARRIER_SPAN} (NT, the carrier simulator, internal clock"
        f"{f', {args.ppm:+g} ppm' if args.ppm else ''}) on {wire_dir}/e1.wire")
    scene = asyncio.ensure_future(demo.run(daemon, clock))
    code = await daemon.run(install_signals=False)
    try:
        await scene
    except RuntimeError as exc:
        demo.failures.append(str(exc))
    if code:
        demo.failures.append(f"the daemon exited with {code}")
    return demo


def run(args: argparse.Namespace, out=print) -> int:
    if args.seconds <= 0:
        out(f"pribox demo: --seconds must be more than 0, got {args.seconds}")
        return 2
    if not -1000 <= args.ppm <= 1000:
        out(f"pribox demo: --ppm must be within -1000 .. 1000, got {args.ppm:g}")
        return 2
    if args.calls < 0:
        out(f"pribox demo: --calls must be 0 or more, got {args.calls}")
        return 2
    carrier = args.carrier or ("pribox" if args.virtual or not _libpri_available() else "libpri")
    if carrier == "libpri" and args.virtual:
        out("pribox demo: libpri keeps wall-clock timers and cannot run with --virtual; use --carrier pribox")
        return 2
    logging.basicConfig(format="%(name)s %(levelname)s %(message)s")
    # The daemon sets pribox's log level from the demo's config (errors only: the demo prints
    # layer 1, layer 2 and the calls itself); the caller's level comes back afterwards.
    pribox_logger = logging.getLogger("pribox")
    saved_level = pribox_logger.level
    try:
        return _run_and_report(args, carrier, out)
    finally:
        pribox_logger.setLevel(saved_level)


def _run_and_report(args: argparse.Namespace, carrier: str, out) -> int:
    with tempfile.TemporaryDirectory(prefix="pribox-demo-") as scratch:
        wire_dir = args.wire_dir or scratch
        if args.virtual:
            loop = virtual_time_loop()
            try:
                demo = loop.run_until_complete(_run_demo(args, wire_dir, carrier, LoopClock(loop), out))
            finally:
                loop.close()
        else:
            demo = asyncio.run(_run_demo(args, wire_dir, carrier, LoopClock(), out))
    if not demo.aligned:
        demo.failures.append("a span did not reach alignment")
    if demo.failures:
        out("demo FAILED: " + "; ".join(demo.failures))
        return 1
    calls = f"{args.calls} call(s) answered, DTMF detected, cleared normally" if args.calls else "no calls"
    out(f"demo passed: {calls}; both spans aligned")
    return 0
