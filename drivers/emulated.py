"""The emulated span: the software E1 line behind the span API, on a wire.

The line itself — wire I/O, receive impairment, elastic store, framer/deframer with CRC-4 and
HDLC, bearer rings and their pacing — is one C port (`dsp.line_port.LinePort`, dsp/c/line_port.c,
whose header tells the pacing rules: internal clock with a ppm offset, line timing that holds the
elastic store half full, loss of signal without frames).  It runs either

* in the line's own thread (`realtime_port()` handed to `drivers.realtime.LineThreadPacer`), on
  CLOCK_MONOTONIC with no Python in the loop — the running box; the control plane then calls
  `service(now)` a few times a second to accept or reconnect the wire, serve the D-channel
  export and publish what the port queued (line changes stamped with their time, one
  performance sample per second); or
* from `tick(now)` on the virtual clock (drivers/pacing.py), the same C code, for lockstep tests.

D-channel frames and bearer octets cross between the control plane and the port through the
port's bounded queues, under its lock.
"""

from __future__ import annotations

import logging

import numpy as np

from drivers.config import SpanConfig
from drivers.dchannel_export import DChannelExport
from drivers.performance import SecondSample
from drivers.span import LineState, Span, SpanError
from drivers.wire import FRAMES_PER_SECOND, UnixSeqpacketWire, Wire
from dsp import lib
from dsp import line as e1
from dsp.line_port import LinePort, MediaPort
from runtime.bus import EventBus
from runtime.clock import Clock

log = logging.getLogger("pribox.span")

HOLDOVER = 0.05           # seconds without received frames before the span declares no signal
MAX_CATCH_UP = 0.25       # an advance never processes more than this much line at once
# What an idle B-channel carries: the code for silence (positive zero) in each law.
IDLE_OCTET = {"alaw": 0xD5, "ulaw": 0xFF}
_LOOPBACK_CODES = {"none": 0, "local": 1, "line": 2}


class ReceiveImpairment:
    """What the wire does to frames on their way in: bit errors, bursts, AIS, a cut."""

    def __init__(self, port: LinePort):
        self._port = port

    def set_ber(self, p: float) -> None:
        p = float(p)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"bit-error rate: expected 0..1, got {p}")
        self._port.impair_ber(p)

    def burst(self, nbits: int) -> None:
        """Invert the next nbits bits that pass."""
        if not isinstance(nbits, int) or not 0 <= nbits < 2**32:
            raise ValueError(f"nbits: expected 0..2**32-1, got {nbits!r}")
        self._port.impair_burst(nbits)

    def set_ais(self, on: bool) -> None:
        self._port.impair_ais(on)

    def set_cut(self, on: bool) -> None:
        self._port.impair_cut(on)

    @property
    def errors_injected(self) -> int:
        return self._port.impair_errors


class ElasticStoreView:
    """The port's receive elastic store, as counters."""

    def __init__(self, port: LinePort):
        self._port = port

    @property
    def slips(self) -> int:
        return self._port.state()["slips"]

    @property
    def overflow_slips(self) -> int:
        return self._port.state()["overflow_slips"]

    @property
    def underflow_slips(self) -> int:
        return self._port.state()["underflow_slips"]

    @property
    def fill(self) -> int:
        return self._port.state()["elastic_fill"]

    @property
    def primed(self) -> bool:
        return bool(self._port.state()["store_primed"])


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
        # Deep enough to ride out a far end's scheduling jitter (32 ms at the default).
        self.elastic_depth = elastic_depth or max(256, 8 * config.frames_per_datagram)
        if self.elastic_depth < config.frames_per_datagram + 2:
            raise SpanError(f"span {config.id}: an elastic store of {self.elastic_depth} frames cannot "
                            f"absorb datagrams of {config.frames_per_datagram} frames")
        self.port = LinePort(self.wire.end, crc4=config.crc4, dchannel_timeslot=config.dchannel_timeslot,
                             clock_line=config.clock == "line", ppm=ppm, elastic_depth=self.elastic_depth,
                             idle_octet=IDLE_OCTET[config.law], seed=seed, holdover=HOLDOVER,
                             max_catch_up=MAX_CATCH_UP)
        self._ppm = ppm
        self.rx_impairment = ReceiveImpairment(self.port)
        self.store = ElasticStoreView(self.port)
        self.dchannel_export = DChannelExport(config.dchannel_export) if config.dchannel_export else None
        self._had_signal = False
        self._media: MediaPort | None = None

    @property
    def ppm(self) -> float:
        return self._ppm

    @ppm.setter
    def ppm(self, ppm: float) -> None:
        if not -1000 <= ppm <= 1000:
            raise SpanError(f"span {self.id}: clock offset {ppm} ppm outside -1000..1000")
        self._ppm = ppm
        self.port.set_ppm(ppm)

    @property
    def rate(self) -> float:
        """Frames per second of this span's own (internal) clock."""
        return FRAMES_PER_SECOND * (1.0 + self._ppm * 1e-6)

    @property
    def core(self) -> LinePort | None:
        return self.port if self.is_open else None

    @property
    def signal(self) -> bool:
        """Frames are arriving from a far end."""
        return bool(self.port.state()["signal"])

    @property
    def line_locked(self) -> bool:
        """Line timing is following the far end."""
        return bool(self.port.state()["line_locked"])

    def realtime_port(self) -> LinePort:
        return self.port

    def media_port(self) -> MediaPort:
        if self._media is None:       # idle channels send the span's own silence, in its law
            self._media = self.port.media()
            self._media.set_idle_law(lib.MEDIA_CODEC_ALAW if self.config.law == "alaw" else lib.MEDIA_CODEC_ULAW)
        return self._media

    # -- life cycle -------------------------------------------------------------------------

    def _open(self, now: float) -> None:
        self.wire.open()
        if self.dchannel_export is not None:
            try:
                self.dchannel_export.open()
            except Exception:
                self.wire.close()
                raise
        self.port.start(now)
        self._had_signal = False

    def _close(self) -> None:
        self.wire.close()
        if self.dchannel_export is not None:
            self.dchannel_export.close()

    # -- running -----------------------------------------------------------------------------

    def _tick(self, now: float) -> None:
        self.wire.poll(now)
        self.port.advance(now)
        if self.dchannel_export is not None:
            self._serve_dchannel_export()

    def _service(self, now: float) -> None:
        self.wire.poll(now)
        if self.dchannel_export is not None:
            self._serve_dchannel_export()

    def _serve_dchannel_export(self) -> None:
        export = self.dchannel_export
        export.poll()
        for frame in export.take_from_stack():
            if not self.port.send_dchannel(frame):
                export.stats["tx_queue_full"] += 1
        export.deliver_to_stack(self.port.recv_dchannel())

    # -- state -------------------------------------------------------------------------------

    def _line_changes(self, now: float) -> list[tuple[float, LineState]]:
        signal = self.signal
        if self._had_signal and not signal:
            log.info("span %d: no signal from the wire", self.id)
        self._had_signal = signal
        return [(when, _line_state(st)) for when, st in self.port.changes()]

    def _completed_seconds(self, now: float) -> list[tuple[float, SecondSample]]:
        return [(s.end, SecondSample(crc4_errors=s.crc4_errors, fas_errors=s.fas_errors, ebit_errors=s.ebit_errors,
                                     slips=s.slips, oof=s.oof, los=s.los, ais=s.ais))
                for s in self.port.seconds()]

    def _line_state(self) -> LineState:
        if self.opened_at is None:
            return LineState(False, False, "off" if not self.config.crc4 else "searching",
                             True, False, True, False, False)
        return _line_state(self.port.status())

    def _counters(self) -> dict[str, int]:
        if self.opened_at is None:
            return {}
        counters = self.port.counters()
        state = self.port.state()
        counters["far_end_block_errors"] = counters.get("ebits_received", 0)
        counters["slips"] = state["slips"]
        counters["elastic_fill"] = state["elastic_fill"]
        for name, value in self.wire.stats.as_dict().items():
            counters[f"wire_{name}"] = value
        if self.dchannel_export is not None:
            for name, value in self.dchannel_export.stats.items():
                counters[f"export_{name}"] = value
        return counters

    # -- data and maintenance ------------------------------------------------------------------

    def _slip_count(self) -> int:
        return self.port.state()["slips"] if self.opened_at is not None else 0

    def _write_bearer(self, block: np.ndarray) -> None:
        self.port.write_bearer(block)

    def _read_bearer(self, n: int) -> np.ndarray:
        return self.port.read_bearer(n)

    def _send_dchannel(self, frame: bytes) -> bool:
        if self.dchannel_export is not None:
            raise SpanError(f"span {self.id}: the D-channel is exported on {self.config.dchannel_export}")
        return self.port.send_dchannel(frame)

    def _recv_dchannel(self) -> list[bytes]:
        if self.dchannel_export is not None:
            return []
        return self.port.recv_dchannel()

    def _set_loopback(self, mode: str) -> None:
        self.port.set_loopback(_LOOPBACK_CODES[mode])

    def _bert_start(self, timeslots) -> None:
        if timeslots == "all":
            timeslots = list(range(1, 32))
        mask = 0
        for ts in timeslots:
            mask |= 1 << ts
        self.port.prbs_start(mask)

    def _bert_stop(self) -> None:
        self.port.prbs_stop()

    def _bert_result(self) -> dict:
        return self.port.prbs_result()


def _line_state(s: e1.LineStatus) -> LineState:
    return LineState(frame_aligned=s.frame_aligned, multiframe_aligned=s.multiframe_aligned, crc4=s.crc4,
                     los=s.los, ais=s.ais, lof=s.lof, rai=s.rai, remote_alarm_sent=s.remote_alarm_sent)
