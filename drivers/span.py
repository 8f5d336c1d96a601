"""The span API: one E1 span, whatever is behind it (the emulated line now, DAHDI later).

Shape, and how it maps onto DAHDI:

* `open()` / `close()` — DAHDI: DAHDI_SPANCONFIG + DAHDI_STARTUP, opening the channel fds.
  Never waits for the far end: a span with nothing attached simply shows loss of signal.
* `config` (`SpanConfig`) — framing (CRC-4), clock source (DAHDI's timing priority 0 = internal,
  > 0 = line), companding law, D-channel timeslot, TE/NT side.
* `write_bearer` / `read_bearer` — all 30 B-channels as one uint8 (30, n) block of companded
  octets per call (DAHDI: one read/write per bearer channel fd, in chunks).
* `send_dchannel` / `recv_dchannel` — whole HDLC frames without FCS (DAHDI: an `hdlcfcs`
  channel, minus the 2 FCS octets).  With `dchannel_export` set the frames go to the export
  socket instead (see drivers/dchannel_export.py).
* `tick(now)` — moves the span up to `now`: paces the line for the emulated backend, polls
  DAHDI_SPANSTAT for a card.  Alarm and alignment changes are then published on the bus
  (drivers/events.py) stamped with `now`, and a `PerformanceMonitor` takes one sample a second.
* `status()` / `counters()` — DAHDI_SPANSTAT's alarms and its bpvcount/crc4count/ebitcount/
  fascount/irqmisses, plus our own.
* maintenance: `set_loopback("none"|"local"|"line")` (DAHDI_MAINT_LOCALLOOP / NETWORKLINELOOP),
  `bert_start` / `bert_stop` / `bert_result` (DAHDI's PRBS count).

Backends implement the `_`-prefixed hooks; the base class owns events and performance so every
backend reports alike.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from drivers.config import SpanConfig
from drivers.events import (SpanAlarmsChanged, SpanAlignmentChanged, SpanClosed, SpanOpened,
                            SpanSlip)
from drivers.performance import PerformanceMonitor, SecondSample
from runtime.bus import EventBus
from runtime.clock import Clock

LOOPBACK_MODES = ("none", "local", "line")


class SpanError(RuntimeError):
    """A span operation was used wrongly (not open, bad argument); the message says which span."""


@dataclass(frozen=True)
class LineState:
    """What a backend reads from its line at one instant."""

    frame_aligned: bool
    multiframe_aligned: bool
    crc4: str                      # "off" | "searching" | "aligned" | "fallback"
    los: bool
    ais: bool
    lof: bool
    rai: bool
    remote_alarm_sent: bool

    @property
    def alarms(self) -> frozenset[str]:
        return frozenset(name for name in ("los", "lof", "ais", "rai") if getattr(self, name))


@dataclass(frozen=True)
class SpanStatus:
    span_id: int
    is_open: bool
    line: LineState
    alarms: frozenset[str]
    loopback: str
    clock: str
    aligned_at: float | None       # when frame alignment was last gained, on the one clock
    multiframe_aligned_at: float | None

    @property
    def layer1_up(self) -> bool:
        """What LAPD waits for: frame aligned and no alarm of our own (a far-end RAI is fine)."""
        return self.is_open and self.line.frame_aligned and not (self.alarms - {"rai"})


# The counters fed to the performance monitor; every backend reports at least these
# (DAHDI_SPANSTAT: crc4count, fascount, ebitcount; slips from the framer).
PERFORMANCE_COUNTERS = ("crc4_errors", "fas_errors", "far_end_block_errors", "slips", "frame_alignment_losses")


class Span(abc.ABC):
    def __init__(self, config: SpanConfig, *, clock: Clock, bus: EventBus):
        if not isinstance(config, SpanConfig):
            raise TypeError(f"a span takes a SpanConfig, got {type(config).__name__}")
        self.config = config
        self.clock = clock
        self.bus = bus
        self.is_open = False
        self.opened_at: float | None = None
        self.aligned_at: float | None = None
        self.multiframe_aligned_at: float | None = None
        self.performance: PerformanceMonitor | None = None
        self._loopback = "none"
        self._last_line: LineState | None = None
        self._last_counters: dict[str, int] = {}
        self._next_second = 0.0
        self._defects = {"oof": False, "los": False, "ais": False}
        self._slips_reported = 0

    @property
    def id(self) -> int:
        return self.config.id

    def __repr__(self) -> str:
        return f"<{type(self).__name__} span {self.id} {self.config.side} {'open' if self.is_open else 'closed'}>"

    # -- life cycle ---------------------------------------------------------------------------

    def open(self) -> None:
        if self.is_open:
            raise SpanError(f"span {self.id}: already open")
        now = self.clock.now()
        self._open(now)
        self.is_open = True
        self.opened_at = now
        self.aligned_at = self.multiframe_aligned_at = None
        self._last_line = None
        self._slips_reported = 0
        self._defects = {"oof": False, "los": False, "ais": False}
        if self.performance is None:  # history outlives a close and reopen, as on a card
            self.performance = PerformanceMonitor(now)
        self._next_second = now + 1.0
        self._last_counters = self._performance_counters()
        self.bus.publish(SpanOpened(now, self.id, self.describe()))

    def close(self) -> None:
        if not self.is_open:
            return
        self._close()
        self.is_open = False
        self.bus.publish(SpanClosed(self.clock.now(), self.id))

    def __enter__(self) -> "Span":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def tick(self, now: float) -> None:
        """Run the span up to `now`, then publish what changed: the line and its control-plane
        side in one go, as lockstep tests on the virtual clock drive it."""
        self._require_open()
        self._tick(now)
        self._observe(now)

    def service(self, now: float) -> None:
        """The control plane's side alone, for a span whose line runs in the line thread
        (`realtime_port()`): housekeeping, then publish what changed since the last call."""
        self._require_open()
        self._service(now)
        self._observe(now)

    def realtime_port(self):
        """The C port the line thread advances (dsp.line_port.LinePort), or None when this
        backend's line is driven by `tick()` alone."""
        return None

    def media_port(self):
        """The span's media plane (dsp.line_port.MediaPort), enabled by this call: from then on
        its B-channels' audio runs through it in 10 ms blocks, and the bearer read/write calls are
        the media plane's.  None when this backend carries no B-channel audio."""
        return None

    # -- data -----------------------------------------------------------------------------------

    def write_bearer(self, block: np.ndarray) -> None:
        """Queue uint8 (30, n) companded octets, B-channel 1 first, for transmission."""
        self._require_open()
        if not isinstance(block, np.ndarray) or block.dtype != np.uint8 or block.ndim != 2 or block.shape[0] != 30:
            shape = getattr(block, "shape", None)
            dtype = getattr(block, "dtype", type(block).__name__)
            raise SpanError(f"span {self.id}: write_bearer takes a uint8 (30, n) block, got {dtype} {shape}")
        self._write_bearer(block)

    def read_bearer(self, n: int) -> np.ndarray:
        """The next n received octets of each B-channel, uint8 (30, n)."""
        self._require_open()
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise SpanError(f"span {self.id}: read_bearer takes a count >= 0, got {n!r}")
        return self._read_bearer(n)

    def send_dchannel(self, frame: bytes) -> bool:
        """Queue one HDLC frame (without FCS); False when the transmit queue is full."""
        self._require_open()
        if not isinstance(frame, (bytes, bytearray, memoryview)) or len(frame) == 0:
            raise SpanError(f"span {self.id}: send_dchannel takes a non-empty bytes frame, got {frame!r:.40}")
        return self._send_dchannel(bytes(frame))

    def recv_dchannel(self) -> list[bytes]:
        """HDLC frames received with a good FCS since the last call (FCS removed)."""
        self._require_open()
        return self._recv_dchannel()

    # -- state ----------------------------------------------------------------------------------

    def status(self) -> SpanStatus:
        line = self._line_state()
        return SpanStatus(self.id, self.is_open, line, line.alarms, self._loopback, self.config.clock,
                          self.aligned_at, self.multiframe_aligned_at)

    def counters(self) -> dict[str, int]:
        return self._counters()

    # -- maintenance ----------------------------------------------------------------------------

    def set_loopback(self, mode: str) -> None:
        self._require_open()
        if mode not in LOOPBACK_MODES:
            raise SpanError(f"span {self.id}: loopback {mode!r}, expected one of {', '.join(LOOPBACK_MODES)}")
        self._set_loopback(mode)
        self._loopback = mode

    def bert_start(self, timeslots: str | list[int] = "all") -> None:
        """Send and check a 2^15-1 PRBS on `timeslots` ("all" = the whole payload, TS1-31)."""
        self._require_open()
        if timeslots != "all":
            if not isinstance(timeslots, (list, tuple)) or not timeslots or not all(
                    isinstance(t, int) and not isinstance(t, bool) and 1 <= t <= 31 for t in timeslots):
                raise SpanError(f"span {self.id}: BERT timeslots must be 'all' or a list of 1..31, got {timeslots!r}")
        self._bert_start(timeslots)

    def bert_stop(self) -> None:
        self._require_open()
        self._bert_stop()

    def bert_result(self) -> dict:
        self._require_open()
        return self._bert_result()

    # -- shared machinery -----------------------------------------------------------------------

    def _require_open(self) -> None:
        if not self.is_open:
            raise SpanError(f"span {self.id}: not open")

    def _performance_counters(self) -> dict[str, int]:
        counters = self._counters()
        return {name: counters.get(name, 0) for name in PERFORMANCE_COUNTERS}

    def _observe(self, now: float) -> None:
        for when, line in self._line_changes(now):
            self._publish_line(when, line)
        slips = self._slip_count()
        if slips > self._slips_reported:
            self.bus.publish(SpanSlip(now, self.id, slips - self._slips_reported, slips))
            self._slips_reported = slips
        for end, sample in self._completed_seconds(now):
            self.performance.record_second(end, sample)

    def _publish_line(self, when: float, line: LineState) -> None:
        previous = self._last_line
        self._last_line = line
        if previous is None or line.alarms != previous.alarms:
            before = previous.alarms if previous else frozenset()
            self.bus.publish(SpanAlarmsChanged(when, self.id, line.alarms,
                                               line.alarms - before, before - line.alarms))
        if previous is None or (line.frame_aligned, line.multiframe_aligned, line.crc4) != (
                previous.frame_aligned, previous.multiframe_aligned, previous.crc4):
            if line.frame_aligned and not (previous and previous.frame_aligned):
                self.aligned_at = when
            if line.multiframe_aligned and not (previous and previous.multiframe_aligned):
                self.multiframe_aligned_at = when
            self.bus.publish(SpanAlignmentChanged(when, self.id, line.frame_aligned,
                                                  line.multiframe_aligned, line.crc4))

    # A backend whose line keeps its own queue of changes and per-second samples (the emulated
    # line's C port) overrides these two; the defaults poll the line state at each call.

    def _line_changes(self, now: float) -> list[tuple[float, LineState]]:
        line = self._line_state()
        self._defects["oof"] |= not line.frame_aligned
        self._defects["los"] |= line.los
        self._defects["ais"] |= line.ais
        if self._last_line is None or line != self._last_line:
            return [(now, line)]
        return []

    def _completed_seconds(self, now: float) -> list[tuple[float, SecondSample]]:
        samples = []
        while now >= self._next_second:
            samples.append((self._next_second, self._second_sample()))
            self._next_second += 1.0
        return samples

    def _second_sample(self) -> SecondSample:
        counters = self._performance_counters()
        delta = {name: counters[name] - self._last_counters.get(name, 0) for name in counters}
        self._last_counters = counters
        if delta["frame_alignment_losses"] > 0:  # an OOF shorter than a tick still counts
            self._defects["oof"] = True
        sample = SecondSample(crc4_errors=max(delta["crc4_errors"], 0), fas_errors=max(delta["fas_errors"], 0),
                              ebit_errors=max(delta["far_end_block_errors"], 0), slips=max(delta["slips"], 0),
                              **self._defects)
        line = self._line_state()
        # A defect still present carries into the next second; one that ended does not.
        self._defects = {"oof": not line.frame_aligned, "los": line.los, "ais": line.ais}
        return sample

    def describe(self) -> str:
        c = self.config
        return (f"E1 span {c.id} ({c.driver}, {c.side.upper()}): framing {'CRC4' if c.crc4 else 'no-CRC4'}, "
                f"clock source {c.clock}, {c.law}, D-channel TS{c.dchannel_timeslot}")

    # -- backend hooks --------------------------------------------------------------------------

    @abc.abstractmethod
    def _open(self, now: float) -> None: ...

    @abc.abstractmethod
    def _close(self) -> None: ...

    @abc.abstractmethod
    def _tick(self, now: float) -> None: ...

    def _service(self, now: float) -> None:
        """Control-plane housekeeping while the line thread runs the line."""

    @abc.abstractmethod
    def _line_state(self) -> LineState: ...

    @abc.abstractmethod
    def _counters(self) -> dict[str, int]: ...

    def _slip_count(self) -> int:
        """Slips so far; backends override with something cheaper than all counters."""
        return self._counters().get("slips", 0)

    @abc.abstractmethod
    def _write_bearer(self, block: np.ndarray) -> None: ...

    @abc.abstractmethod
    def _read_bearer(self, n: int) -> np.ndarray: ...

    @abc.abstractmethod
    def _send_dchannel(self, frame: bytes) -> bool: ...

    @abc.abstractmethod
    def _recv_dchannel(self) -> list[bytes]: ...

    @abc.abstractmethod
    def _set_loopback(self, mode: str) -> None: ...

    @abc.abstractmethod
    def _bert_start(self, timeslots) -> None: ...

    @abc.abstractmethod
    def _bert_stop(self) -> None: ...

    @abc.abstractmethod
    def _bert_result(self) -> dict: ...
