"""The emulated span: the software E1 line (dsp/line.py) behind the span API, on a wire.

Pacing.  The span keeps a frame clock: the number of frame periods its clock has run since
open.  Each `tick(now)` moves it forward and then

1. takes what arrived on the wire, passes it through the receive impairment (BER, bursts, cut,
   AIS) and writes it into the elastic store;
2. reads the frames now due out of the elastic store into the deframer;
3. has the framer fill the frames now due, in whole datagrams, and sends them.

Clock source "internal": the frame clock runs at 8000 frames/s x (1 + ppm/1e6), so a far end
at another rate makes the elastic store slip, one whole frame at a time.

Clock source "line": the frame clock is recovered from the received frames by a first-order
loop that steers it to hold the elastic store half full, so it runs at the far end's rate and
never slips; transmit runs on the same recovered clock (loop timing), so the far end gets its
own rate back and does not slip either.  Without a received signal it free-runs.

No signal (no far end attached, or nothing received for `HOLDOVER`): the deframer gets
all-zero frames, which is loss of signal, and the elastic store is started afresh when frames
come back, so an unplugged cable is LOS and not thousands of slips.
"""

from __future__ import annotations

import logging

import numpy as np

from drivers.config import SpanConfig
from drivers.dchannel_export import DChannelExport
from drivers.span import LineState, Span, SpanError
from drivers.wire import FRAME_OCTETS, FRAMES_PER_SECOND, UnixSeqpacketWire, Wire
from dsp import line as e1
from runtime.bus import EventBus
from runtime.clock import Clock

log = logging.getLogger("pribox.span")

HOLDOVER = 0.05           # seconds without received frames before the span declares no signal
MAX_CATCH_UP = 0.25       # a tick never processes more than this much line at once
LOOP_GAIN = 2.0           # per second: how hard line timing steers toward a half-full store
# What an idle B-channel carries: the code for silence (positive zero) in each law.
IDLE_OCTET = {"alaw": 0xD5, "ulaw": 0xFF}
PULL_RANGE = 0.01         # line timing follows a far end within 1 % of nominal


class EmulatedSpan(Span):
    def __init__(self, config: SpanConfig, *, clock: Clock, bus: EventBus, wire: Wire | None = None,
                 ppm: float = 0.0, elastic_depth: int | None = None, seed: int = 0):
        super().__init__(config, clock=clock, bus=bus)
        if config.driver != "emulated":
            raise SpanError(f"span {config.id}: driver {config.driver!r} is not the emulated backend")
        self.wire = wire if wire is not None else UnixSeqpacketWire(
            config.wire, config.wire_role, config.frames_per_datagram)
        if self.wire.frames_per_datagram != config.frames_per_datagram:
            raise SpanError(f"span {config.id}: the wire carries {self.wire.frames_per_datagram} frames "
                            f"per datagram, the config says {config.frames_per_datagram}")
        if not -1000 <= ppm <= 1000:
            raise SpanError(f"span {config.id}: clock offset {ppm} ppm outside -1000..1000")
        self.ppm = ppm
        # Deep enough to ride out scheduling jitter of an asyncio loop (32 ms at the default).
        self.elastic_depth = elastic_depth or max(256, 8 * config.frames_per_datagram)
        if self.elastic_depth < config.frames_per_datagram + 2:
            raise SpanError(f"span {config.id}: an elastic store of {self.elastic_depth} frames cannot "
                            f"absorb datagrams of {config.frames_per_datagram} frames")
        self.rx_impairment = e1.LineImpairment(seed=seed)
        self.core: e1.SpanCore | None = None
        self.store: e1.ElasticStore | None = None
        self.dchannel_export = DChannelExport(config.dchannel_export) if config.dchannel_export else None
        self.signal = False          # frames are arriving from a far end
        self.line_locked = False     # line timing is following the far end
        self._store_primed = False
        self._slips_before = 0       # slips of elastic stores replaced after a loss of signal
        self._frame_clock = 0.0
        self._frames_read = 0
        self._frames_sent = 0
        self._last_now = 0.0
        self._last_arrival = float("-inf")
        self._rx_buffer = np.zeros((0, FRAME_OCTETS), np.uint8)
        self._tx_buffer = np.zeros((0, FRAME_OCTETS), np.uint8)

    @property
    def rate(self) -> float:
        """Frames per second of this span's own (internal) clock."""
        return FRAMES_PER_SECOND * (1.0 + self.ppm * 1e-6)

    # -- life cycle -------------------------------------------------------------------------

    def _open(self, now: float) -> None:
        self.core = e1.SpanCore(crc4=self.config.crc4, dchannel_timeslot=self.config.dchannel_timeslot)
        self.core.set_bearer_idle(IDLE_OCTET[self.config.law])
        self.store = e1.ElasticStore(depth_frames=self.elastic_depth)
        self.wire.open()
        if self.dchannel_export is not None:
            try:
                self.dchannel_export.open()
            except Exception:
                self.wire.close()
                raise
        self._frame_clock = 0.0
        self._frames_read = self._frames_sent = 0
        self._last_now = now
        self.signal = self.line_locked = self._store_primed = False
        self._slips_before = 0
        self._last_arrival = float("-inf")

    def _close(self) -> None:
        self.wire.close()
        if self.dchannel_export is not None:
            self.dchannel_export.close()

    # -- pacing ------------------------------------------------------------------------------

    def _tick(self, now: float) -> None:
        elapsed = min(max(now - self._last_now, 0.0), MAX_CATCH_UP)
        self._last_now = now
        self.wire.poll(now)
        arrived = self.wire.receive()
        if len(arrived):
            if not self.signal:
                self._restart_store()
            self.signal = True
            self._last_arrival = now
            arrived = np.array(arrived)  # writable: the impairment works in place
            self.rx_impairment.apply(arrived)
        elif self.signal and (not self.wire.connected or now - self._last_arrival > HOLDOVER):
            self.signal = False
            log.info("span %d: no signal from the wire", self.id)
        self._advance_frame_clock(elapsed, len(arrived))
        # The epsilon keeps float rounding from turning 8.0 frames due into 7 plus 9 next tick.
        due = int(self._frame_clock + 1e-6)
        self._receive(arrived, due - self._frames_read)
        self._transmit(due - self._frames_sent)
        if self.dchannel_export is not None:
            self._serve_dchannel_export()

    def _restart_store(self) -> None:
        self._slips_before += self.store.slips
        self.store = e1.ElasticStore(depth_frames=self.elastic_depth)
        self._store_primed = False

    @property
    def _step(self) -> int:
        """Frames written or read at a time: a late tick's backlog goes through the store in
        steps, alternating, as the frames would have on time, instead of overflowing it."""
        return max(8, self.config.frames_per_datagram)

    def _advance_frame_clock(self, elapsed: float, arrived: int) -> None:
        rate = self.rate
        self.line_locked = self.config.clock == "line" and self.signal and self._store_primed
        if self.line_locked:
            # Steer on the fill in the middle of a step, between a write and a read.
            error = self.store.fill + min(arrived, self._step) / 2 - self.elastic_depth / 2
            steer = max(-PULL_RANGE, min(PULL_RANGE, LOOP_GAIN * error / FRAMES_PER_SECOND))
            rate = FRAMES_PER_SECOND * (1.0 + steer)
        self._frame_clock += elapsed * rate

    def _receive(self, arrived: np.ndarray, n: int) -> None:
        n = max(n, 0)
        if len(self._rx_buffer) < n:
            self._rx_buffer = np.zeros((n, FRAME_OCTETS), np.uint8)
        if not self.signal:
            if n:
                frames = self._rx_buffer[:n]
                frames.fill(0)  # no pulses on the line: loss of signal
                self.core.receive(frames)
                self._frames_read += n
            return
        if not len(arrived) and self._store_primed and n > self.store.fill:
            # Starved with nothing arriving: the far end may be late (a scheduling hiccup on
            # its side) or gone.  Read what is stored and owe the rest: a late far end's
            # backlog pays it back without a slip; a gone one turns into LOS after HOLDOVER.
            n = self.store.fill
        step, written, read = self._step, 0, 0
        half = self.elastic_depth // 2
        while written < len(arrived) or read < n:
            if written < len(arrived):
                self.store.write(arrived[written:written + step])
                written += step
                # The store reads from the moment it is first half full (dsp/line.py).
                self._store_primed = self._store_primed or self.store.fill >= half
            if read < n:
                k = min(step, n - read)
                frames = self._rx_buffer[read:read + k]
                self.store.read(frames)
                read += k
        if n:
            self.core.receive(self._rx_buffer[:n])
            self._frames_read += n

    def _transmit(self, n: int) -> None:
        per = self.config.frames_per_datagram
        n -= n % per
        if n <= 0:
            return
        if len(self._tx_buffer) < n:
            self._tx_buffer = np.zeros((n, FRAME_OCTETS), np.uint8)
        frames = self._tx_buffer[:n]
        self.core.transmit(frames)
        self.wire.send(frames)
        self._frames_sent += n

    def _serve_dchannel_export(self) -> None:
        export = self.dchannel_export
        export.poll()
        for frame in export.take_from_stack():
            if not self.core.send_dchannel(frame):
                export.stats["tx_queue_full"] += 1
        export.deliver_to_stack(self.core.recv_dchannel())

    # -- state -------------------------------------------------------------------------------

    def _line_state(self) -> LineState:
        if self.core is None:
            return LineState(False, False, "off" if not self.config.crc4 else "searching",
                             True, False, True, False, False)
        s = self.core.status()
        return LineState(frame_aligned=bool(s.frame_aligned), multiframe_aligned=bool(s.multiframe_aligned),
                         crc4=str(s.crc4), los=bool(s.los), ais=bool(s.ais), lof=bool(s.lof),
                         rai=bool(s.rai), remote_alarm_sent=bool(s.remote_alarm_sent))

    def _counters(self) -> dict[str, int]:
        if self.core is None:
            return {}
        counters = dict(self.core.counters())
        counters["far_end_block_errors"] = counters.get("ebits_received", 0)
        counters["slips"] = self._slips_before + int(self.store.slips)
        counters["elastic_fill"] = int(self.store.fill)
        for name, value in self.wire.stats.as_dict().items():
            counters[f"wire_{name}"] = value
        if self.dchannel_export is not None:
            for name, value in self.dchannel_export.stats.items():
                counters[f"export_{name}"] = value
        return counters

    # -- data and maintenance ------------------------------------------------------------------

    def _slip_count(self) -> int:
        return self._slips_before + int(self.store.slips) if self.store is not None else 0

    def _write_bearer(self, block: np.ndarray) -> None:
        self.core.write_bearer(block)

    def _read_bearer(self, n: int) -> np.ndarray:
        return self.core.read_bearer(n)

    def _send_dchannel(self, frame: bytes) -> bool:
        if self.dchannel_export is not None:
            raise SpanError(f"span {self.id}: the D-channel is exported on {self.config.dchannel_export}")
        return self.core.send_dchannel(frame)

    def _recv_dchannel(self) -> list[bytes]:
        if self.dchannel_export is not None:
            return []
        return self.core.recv_dchannel()

    def _set_loopback(self, mode: str) -> None:
        self.core.set_loopback(mode)
        if mode == "line":
            # The loop starts empty, but transmit lags receive by up to a datagram; skip those
            # frame slots once so the loop never runs dry (the far end's store absorbs it).
            self._frames_sent = max(self._frames_sent, self._frames_read)

    def _bert_start(self, timeslots) -> None:
        self.core.prbs_start(timeslots)

    def _bert_stop(self) -> None:
        self.core.prbs_stop()

    def _bert_result(self) -> dict:
        return dict(self.core.prbs_result())
