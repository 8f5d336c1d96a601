"""`pribox console`: serve the field engineer's console on a serial device.

    pribox console --device /dev/ttyS0                 # the appliance's UART
    pribox console --null-modem                        # try it: prints a pty for screen/minicom

With --null-modem two pseudo-terminals are joined like a null-modem cable: the console opens
one end with pyserial exactly as it opens a UART, and `screen /dev/pts/N` (or minicom, or
`sb` through minicom) is the laptop on the other end.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tty
from pathlib import Path

from runtime.bus import EventBus
from runtime.clock import LoopClock

from .services import StandaloneServices
from .session import IDLE_TIMEOUT, ConsoleSession
from .transport import SerialConsole
from .users import UserError, UserStore

DEFAULT_USERS = "/var/lib/pribox/console-users.json"
DEFAULT_UPLOADS = "/var/lib/pribox/uploads"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--device", help="serial device to serve, e.g. /dev/ttyS0")
    where.add_argument("--null-modem", action="store_true",
                       help="make a pseudo-terminal pair and print the end to connect to")
    parser.add_argument("--baud", type=int, default=115200, help="line speed (default 115200)")
    parser.add_argument("--users", default=DEFAULT_USERS,
                        help=f"user file (default {DEFAULT_USERS}); created on first boot")
    parser.add_argument("--upload-dir", default=DEFAULT_UPLOADS,
                        help=f"where X/YMODEM uploads land (default {DEFAULT_UPLOADS})")
    parser.add_argument("--config", help="configuration file shown by `show running-config`")
    parser.add_argument("--hostname", help="name in the prompt (default: the host name)")
    parser.add_argument("--emulated-spans", action="store_true",
                        help="run two emulated E1 spans (NT and TE on a software wire) for "
                             "`show span`, `loopback`, `bert` and `debug span` to work on")
    parser.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT,
                        help=f"seconds of no input before logout (default {IDLE_TIMEOUT:.0f})")


class EmulatedLine:
    """Two emulated spans, NT and TE, on a software wire paced by the loop clock (as
    `pribox demo` runs them), so span commands have a real line to look at."""

    def __init__(self, clock, bus):
        import tempfile

        from drivers import make_span
        from drivers.config import SpanConfig
        from drivers.pacing import SpanPacer
        self._scratch = tempfile.TemporaryDirectory(prefix="pribox-console-")
        wire = os.path.join(self._scratch.name, "e1.wire")
        common = dict(driver="emulated", law="alaw", crc4=True, wire=wire)
        nt = make_span(SpanConfig(id=1, side="nt", clock="internal", wire_role="listen", **common),
                       clock=clock, bus=bus)
        te = make_span(SpanConfig(id=2, side="te", clock="line", wire_role="connect", **common),
                       clock=clock, bus=bus)
        self.spans = {1: nt, 2: te}
        for span in self.spans.values():
            span.open()
        self._pacer = SpanPacer(clock, list(self.spans.values()), period=0.001)
        self._pacer.start()

    def close(self) -> None:
        self._pacer.stop()
        for span in self.spans.values():
            span.close()
        self._scratch.cleanup()


class NullModem:
    """Two pseudo-terminals whose masters are relayed into each other."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.box_master, box_slave = os.openpty()
        self.laptop_master, laptop_slave = os.openpty()
        for fd in (box_slave, laptop_slave):
            tty.setraw(fd)
        self.box_path, self.laptop_path = os.ttyname(box_slave), os.ttyname(laptop_slave)
        self._slaves = (box_slave, laptop_slave)  # held open so neither end sees a hang-up
        for src, dst in ((self.box_master, self.laptop_master),
                         (self.laptop_master, self.box_master)):
            os.set_blocking(src, False)
            loop.add_reader(src, self._relay, src, dst)

    def _relay(self, src: int, dst: int) -> None:
        try:
            data = os.read(src, 65536)
            while data:
                try:
                    data = data[os.write(dst, data):]
                except BlockingIOError:
                    return  # the far side is not reading: drop, as a real line would
        except OSError:
            return

    def close(self) -> None:
        for fd in (self.box_master, self.laptop_master):
            self.loop.remove_reader(fd)
        for fd in (self.box_master, self.laptop_master, *self._slaves):
            os.close(fd)


async def serve(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    clock = LoopClock(loop)
    stop = asyncio.Event()
    try:
        users = UserStore(args.users)
    except UserError as exc:
        print(f"pribox console: {exc}", file=sys.stderr)
        return 2
    services = StandaloneServices(bus=EventBus(), clock=clock, upload_dir=Path(args.upload_dir),
                                  config_path=Path(args.config) if args.config else None,
                                  # a moment for "Reloading..." to reach the screen
                                  on_reload=lambda: loop.call_later(0.5, stop.set))
    if args.hostname:
        services.hostname = args.hostname
    line = None
    if args.emulated_spans:
        line = EmulatedLine(clock, services.bus)
        services.spans = line.spans
    null_modem = NullModem(loop) if args.null_modem else None
    device = null_modem.box_path if null_modem else args.device
    console = SerialConsole(
        device,
        lambda pending, wakeup: ConsoleSession(services, users, idle_timeout=args.idle_timeout,
                                               pending_output=pending, wakeup=wakeup),
        clock=clock, baudrate=args.baud)
    console.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if null_modem:
        print(f"console on {device}; connect with:  screen {null_modem.laptop_path} {args.baud}",
              flush=True)
    else:
        print(f"console on {device} at {args.baud} baud", flush=True)
    try:
        await stop.wait()
    finally:
        console.close()
        if null_modem:
            null_modem.close()
        if line:
            line.close()
    return 0


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    return asyncio.run(serve(args))
