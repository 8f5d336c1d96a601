"""Captures at the console, in the manner of IOS `monitor capture`:

    monitor capture define all span 1 packets 10k seconds 5m
    monitor capture start
    show monitor capture
    monitor capture stop
    monitor capture export /media/usb/call.pcapng

One capture at a time, written as pcapng to the box's capture folder (beside the upload folder,
or `ctx.services.capture_dir`), where `show monitor capture` names the file.  D-channel frames
come from the bus (each span's Q921Frame events); RTP and RTCP from the data plane's capture taps
(dsp/capture_tap.py, registered with `add_data_plane_tap`), drained by a feed thread while a
capture that wants RTP runs; SIP from `sip_message`, the SIP adapter's trace hook.  A call is
named as `show calls` lists it, "SPAN/CALL"; its D-channel frames are those with its call
reference (RTP and SIP carry no call yet: a capture filtered by call holds its D-channel only).
`pribox capture` runs these same commands through the daemon's control socket (control.py).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from firmware.console.commands import Arg, registry

from .capture import Capture
from .data_plane import DataPlaneFeed
from .pcapng import Flow
from .definition import CaptureDefinitionError, parse_definition, WHATS

_KEYWORDS = {"span": "span", "call": "call", "packets": "packets", "bytes": "bytes_", "seconds": "seconds"}


class CaptureControl:
    """The console's one capture: its definition, the running Capture and the bus subscription."""

    def __init__(self) -> None:
        self.definition = None
        self.capture: Capture | None = None
        self.path: Path | None = None
        self._subscription = None
        self._call_ref: tuple[int, int] | None = None      # (span, call reference) of a call filter
        self.taps: list = []                 # the data plane's capture taps (dsp.capture_tap.CaptureTap)
        self._feeds: list[DataPlaneFeed] = []

    def define(self, definition, call_ref: tuple[int, int] | None) -> None:
        if self.capture is not None and self.capture.running:
            raise ValueError("A capture is running; stop it before defining a new one")
        self._stop_feeds()   # a capture that ended at its limit left its feeds draining
        self.definition, self._call_ref, self.capture, self.path = definition, call_ref, None, None

    def start(self, folder: Path, bus) -> Path:
        if self.definition is None:
            raise ValueError("No capture defined (monitor capture define ...)")
        if self.capture is not None and self.capture.running:
            raise ValueError(f"The capture is already running, writing {self.path}")
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / time.strftime("capture-%Y%m%d-%H%M%S.pcapng", time.gmtime())
        self.capture = Capture(self.definition, self.path)
        self.capture.start()
        if bus is not None and "dchannel" in self.definition.kinds:
            from firmware.isdn.q921_trace import Q921Frame
            self._subscription = bus.subscribe(Q921Frame, self._on_frame)
        if "rtp" in self.definition.kinds:
            self._feeds = [DataPlaneFeed(tap, self.capture) for tap in self.taps]
            for feed in self._feeds:
                feed.start()
        return self.path

    def stop(self) -> dict:
        if self.capture is None:
            raise ValueError("No capture has been started")
        self._unsubscribe()
        self._stop_feeds()   # the taps' last copies reach the capture before it closes
        self.capture.stop()
        return self.capture.status()

    def _stop_feeds(self) -> None:
        for feed in self._feeds:
            feed.stop()
        self._feeds = []

    def _unsubscribe(self) -> None:
        if self._subscription is not None:
            self._subscription.active = False
            self._subscription = None

    def _on_frame(self, event) -> None:
        capture = self.capture
        if capture is None or not capture.running:
            self._unsubscribe()
            return
        call = None
        if self._call_ref is not None and event.span_id == self._call_ref[0]:
            frame = event.frame
            # An I (or UI) frame carrying Q.931 with a 2-octet call reference: compare it.
            if len(frame) >= 9 and frame[4] == 0x08 and frame[5] == 2 and \
                    ((frame[6] & 0x7F) << 8 | frame[7]) == self._call_ref[1]:
                call = self.definition.call
        capture.dchannel(event.span_id, event.frame, sent=event.direction == "TX",
                         network_side=event.role == "network", call=call)


_control = CaptureControl()


def add_data_plane_tap(tap) -> None:
    """Let captures take RTP and RTCP from `tap`, which the data plane's RTP ports copy into."""
    if tap not in _control.taps:
        _control.taps.append(tap)


def remove_data_plane_tap(tap) -> None:
    """The tap's port is going (its service stops): captures started later leave it out."""
    if tap in _control.taps:
        _control.taps.remove(tap)


def sip_message(data: bytes, local: tuple, remote: tuple, sent: bool, transport: str = "udp") -> None:
    """A SIP message (a UDP datagram, or TCP stream bytes) as it crossed the box's socket:
    the SIP adapter's trace hook (firmware/sip/udp.py `trace`)."""
    capture = active()
    if capture is None:
        return
    src, dst = (local, remote) if sent else (remote, local)
    capture.sip(Flow(src[0], src[1], dst[0], dst[1], transport), data, sent=sent)


def active() -> Capture | None:
    """The running capture, for the SIP and RTP producers; None when nothing is captured."""
    capture = _control.capture
    return capture if capture is not None and capture.running else None


def _isdn_spans(ctx) -> dict:
    service = getattr(ctx.services, "isdn", None)
    return dict(getattr(service, "spans", None) or {})


def _known_spans(ctx) -> set[int]:
    from firmware.console.span_commands import spans_of
    return set(spans_of(ctx)) | set(_isdn_spans(ctx))


def _known_calls(ctx) -> dict[str, tuple[int, int]]:
    calls = {}
    for span_id, binding in _isdn_spans(ctx).items():
        for call_id, call in getattr(getattr(binding, "stack", None), "calls", {}).items():
            calls[f"{span_id}/{call_id}"] = (span_id, call.call_ref)
    return calls


def parse_options(words: list[str]) -> dict:
    """`span 1 packets 10k` -> {"span": "1", "packets": "10k"}; errors name the word."""
    options: dict = {}
    i = 0
    while i < len(words):
        key = words[i].lower()
        if key not in _KEYWORDS:
            raise CaptureDefinitionError(key, f"unknown option; expected one of {', '.join(_KEYWORDS)}")
        if i + 1 >= len(words):
            raise CaptureDefinitionError(key, "needs a value")
        if _KEYWORDS[key] in options:
            raise CaptureDefinitionError(key, "given twice")
        options[_KEYWORDS[key]] = words[i + 1]
        i += 2
    return options


def define(ctx, args) -> str:
    options = parse_options((args.get("OPTIONS") or "").split())
    calls = _known_calls(ctx)
    try:
        definition = parse_definition(args["WHAT"], known_spans=_known_spans(ctx), known_calls=calls, **options)
    except CaptureDefinitionError as exc:
        raise ValueError(str(exc)) from None
    _control.define(definition, calls.get(definition.call) if definition.call else None)
    return f"Capture defined: {describe(definition)}"


def describe(definition) -> str:
    parts = ["what " + ",".join(sorted(definition.kinds))]
    if definition.span is not None:
        parts.append(f"span {definition.span}")
    if definition.call is not None:
        parts.append(f"call {definition.call}")
    limits = [f"{n} {v:g}" for n, v in (("packets", definition.max_packets), ("bytes", definition.max_bytes),
                                        ("seconds", definition.max_seconds)) if v is not None]
    return ", ".join(parts + (["limits " + ", ".join(limits)] if limits else ["no limits"]))


def capture_folder(ctx) -> Path:
    folder = getattr(ctx.services, "capture_dir", None)
    if folder is not None:
        return Path(folder)
    return Path(ctx.services.upload_dir).parent / "captures"


def start(ctx, args) -> str:
    path = _control.start(capture_folder(ctx), getattr(ctx.services, "bus", None))
    return f"Started capture to {path}"


def stop(ctx, args) -> str:
    status = _control.stop()
    return f"Stopped capture: {status['packets']} packets, {status['bytes']} bytes, {status['dropped']} dropped " \
           f"-> {_control.path}"


def show(ctx, args) -> list[str]:
    if _control.definition is None:
        return ["No capture defined"]
    lines = [f"Capture: {describe(_control.definition)}"]
    if _control.capture is None:
        return lines + ["  state defined (monitor capture start)"]
    s = _control.capture.status()
    lines.append(f"  state {s['state']}" + (f" ({s['stop_reason']})" if s["stop_reason"] else ""))
    lines.append(f"  file {_control.path}")
    lines.append(f"  {s['packets']} packets, {s['bytes']} bytes in {s['seconds']:.1f} s; {s['dropped']} dropped, "
                 f"{s['queued']} queued of {s['ring_capacity']}")
    if s["error"]:
        lines.append(f"  error: {s['error']}")
    return lines


def export_file(source: Path, destination: str) -> Path:
    """Copy a finished capture to `destination` (a file name, or a folder to put it in) on
    writable storage: written beside it under a temporary name, fsynced, then renamed, so a
    full or pulled stick never leaves half a capture under the final name."""
    target = Path(destination).expanduser()
    if not target.is_absolute():
        raise ValueError(f"export {destination}: give an absolute path (a file or a folder on writable storage)")
    if target.is_dir():
        target = target / source.name
    if target.exists():
        raise ValueError(f"export {target}: already exists; give another name")
    if not target.parent.is_dir():
        raise ValueError(f"export {target}: no folder {target.parent}")
    partial = target.with_name(f".{target.name}.partial")
    try:
        with open(source, "rb") as src, open(partial, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ValueError(f"export {target}: {exc.strerror or exc}") from None
    return target


def export(ctx, args):
    """`monitor capture export PATH`: the last capture's file, once stopped, copied off the
    capture folder (a USB stick, a shared mount).  The copy runs off the event loop."""
    from firmware.console.session import OffLoop

    if _control.capture is None or _control.path is None:
        raise ValueError("No capture has been started; nothing to export")
    if _control.capture.running:
        raise ValueError(f"The capture is still running ({_control.path}); stop it before exporting")
    source, destination = _control.path, args["PATH"]
    size = source.stat().st_size if source.exists() else None
    if size is None:
        raise ValueError(f"export: the capture file {source} is gone")
    return OffLoop(work=lambda: export_file(source, destination),
                   then=lambda target: f"Exported {source.name} ({size} bytes) to {target}")


registry.describe("monitor", "Packet captures")
registry.describe("monitor capture", "Define, start and stop a capture (pcapng)")
registry.add("monitor capture define", define, admin=True,
             help="What to capture: dchannel|sip|rtp|all [span N] [call S/N] [packets N] [bytes N] [seconds N]",
             args=[Arg("WHAT", "what to capture", choices=WHATS),
                   Arg("OPTIONS", "span N, call S/N, packets 10k, bytes 64M, seconds 5m", optional=True, rest=True)])
registry.add("monitor capture start", start, admin=True, help="Start the defined capture")
registry.add("monitor capture stop", stop, admin=True, help="Stop the capture and close its file")
registry.add("monitor capture export", export, admin=True,
             help="Copy the stopped capture's file to PATH (a file or folder on writable storage)",
             args=[Arg("PATH", "absolute path of a file or folder", rest=True)])
registry.add("show monitor capture", show, help="The capture's state, file, packets, bytes and drops")
