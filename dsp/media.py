"""The per-tick media batch for Python callers: configure channels, then one `run()` per tick
moves every channel through its codecs in one C call (GIL released).  See dsp/c/media.h for
the data path and buffer layout.

    batch = MediaBatch(channels=30, frames_per_tick=2)          # 20 ms ticks
    batch.configure(0, line_law=Codec.ALAW, net_codec=Codec.G729, vad=True)
    buffers = batch.new_buffers()
    ... fill buffers.line_in from the span, buffers.net_in/net_in_lengths from RTP ...
    batch.run(buffers)
    ... buffers.line_out to the span, buffers.net_out/net_out_lengths to RTP ...
    batch.pcm_from_line[0]   # linear audio of channel 0 this tick, for probes and recording

Detectors plug into the tick as taps: a C process function `void f(state *, const int16_t *, int)`
(spandsp's shape, e.g. dtmf_rx) and its state, run on a channel's linear audio inside the same
C call; results stay in the state for Python to read after the tick:

    batch.attach_tap(ch, Direction.FROM_LINE, ffi.addressof(lib, "dtmf_rx"), detector_state)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from dsp import ffi, lib
from dsp._buffers import c_buffer, require_array
from dsp.codecs import FRAME_SAMPLES, Codec


class Direction(enum.IntEnum):
    FROM_LINE = lib.MEDIA_FROM_LINE   # E1 -> network: audio the caller on the line speaks
    TO_LINE = lib.MEDIA_TO_LINE       # network -> E1: audio sent down the line


_ERRORS = {
    lib.MEDIA_ERR_ARGUMENT: "invalid argument",
    lib.MEDIA_ERR_CHANNEL: "no such channel",
    lib.MEDIA_ERR_CODEC: "unknown codec",
    lib.MEDIA_ERR_NO_MEMORY: "out of memory",
    lib.MEDIA_ERR_TAPS_FULL: f"already {lib.MEDIA_MAX_TAPS} taps on this channel and direction",
    lib.MEDIA_ERR_DIRECTION: "unknown direction",
    lib.MEDIA_ERR_SOURCES_FULL: f"already {lib.MEDIA_MAX_SOURCES} sources on this channel",
}

STATS_FIELDS = ("ticks", "frames_in", "frames_missing", "frames_bad", "sid_in", "sid_out", "untransmitted_out")


def _check(result: int, what: str) -> int:
    if result < 0:
        raise ValueError(f"{what}: {_ERRORS.get(result, f'error {result}')}")
    return result


@dataclass
class TickBuffers:
    """One tick's worth of every channel, both directions; reuse the same object every tick."""
    line_in: np.ndarray          # uint8 [channels, samples]  E1 octets received (line law)
    line_out: np.ndarray         # uint8 [channels, samples]  E1 octets to send
    net_in: np.ndarray           # uint8 [channels, samples]  G.711 octets or G.729 frame slots
    net_in_lengths: np.ndarray   # uint8 [channels, frames]   octets per 10 ms frame (0 = missing)
    net_out: np.ndarray          # uint8 [channels, samples]
    net_out_lengths: np.ndarray  # uint8 [channels, frames]

    def g729_out(self, channel: int) -> tuple[np.ndarray, np.ndarray]:
        """(slots, lengths) of a G.729 channel's output, ready for codecs.g729_frames_to_payloads."""
        frames = self.net_out_lengths.shape[1]
        return self.net_out[channel, :frames * 10].reshape(frames, 10), self.net_out_lengths[channel]

    def g729_in(self, channel: int) -> tuple[np.ndarray, np.ndarray]:
        """Writable (slots, lengths) views of a G.729 channel's input, for the RTP receiver."""
        frames = self.net_in_lengths.shape[1]
        return self.net_in[channel, :frames * 10].reshape(frames, 10), self.net_in_lengths[channel]


class MediaBatch:
    def __init__(self, channels: int, frames_per_tick: int = 2):
        if not isinstance(channels, int) or not 1 <= channels <= lib.MEDIA_MAX_CHANNELS:
            raise ValueError(f"channels: expected an int in 1..{lib.MEDIA_MAX_CHANNELS}, got {channels!r}")
        if not isinstance(frames_per_tick, int) or not 1 <= frames_per_tick <= lib.MEDIA_MAX_FRAMES_PER_TICK:
            raise ValueError(f"frames_per_tick: expected an int in 1..{lib.MEDIA_MAX_FRAMES_PER_TICK} "
                             f"(10 ms frames), got {frames_per_tick!r}")
        handle = lib.media_batch_new(channels, frames_per_tick)
        if handle == ffi.NULL:
            raise MemoryError("media batch: out of memory")
        self._handle = ffi.gc(handle, lib.media_batch_free)
        self.channels = channels
        self.frames_per_tick = frames_per_tick
        self.samples_per_tick = frames_per_tick * FRAME_SAMPLES
        self._pcm_from_line = np.zeros((channels, self.samples_per_tick), np.int16)
        self._pcm_to_line = np.zeros((channels, self.samples_per_tick), np.int16)
        self._taps: dict[tuple[int, int], list] = {}
        self._config: dict[int, tuple[Codec, Codec | None, bool]] = {}

    # --- control plane ---------------------------------------------------------------------

    def _channel(self, channel) -> int:
        if not isinstance(channel, (int, np.integer)) or not 0 <= channel < self.channels:
            raise ValueError(f"channel: expected an int in 0..{self.channels - 1}, got {channel!r}")
        return int(channel)

    def configure(self, channel: int, *, line_law: Codec = Codec.ALAW, net_codec: Codec | None = None,
                  vad: bool = False) -> None:
        """Start (or restart) a channel; net_codec None makes it idle.  Codec state and
        statistics start afresh; taps stay attached."""
        channel = self._channel(channel)
        if line_law not in (Codec.ALAW, Codec.ULAW):
            raise ValueError(f"line_law: expected Codec.ALAW or Codec.ULAW, got {line_law!r}")
        if net_codec is not None and net_codec not in tuple(Codec):
            raise ValueError(f"net_codec: expected a Codec or None, got {net_codec!r}")
        code = lib.MEDIA_CODEC_IDLE if net_codec is None else int(net_codec)
        _check(lib.media_batch_configure(self._handle, channel, int(line_law), code, 1 if vad else 0),
               f"configure channel {channel}")
        self._config[channel] = (Codec(line_law), None if net_codec is None else Codec(net_codec), bool(vad))

    def idle(self, channel: int) -> None:
        line_law = self._config.get(self._channel(channel), (Codec.ALAW,))[0]
        self.configure(channel, line_law=line_law, net_codec=None)

    def attach_tap(self, channel: int, direction: Direction, process, state) -> None:
        """Run C function `process(state, samples, n)` on the channel's linear audio each tick.
        `process` is a cffi function pointer (e.g. ffi.addressof(lib, "level_meter_process"));
        the batch keeps `state` alive until the taps are cleared."""
        channel = self._channel(channel)
        direction = self._direction(direction)
        if not isinstance(process, ffi.CData) or ffi.typeof(process).kind != "function":
            raise ValueError("process: expected a cffi function pointer such as ffi.addressof(lib, 'name')")
        if not isinstance(state, ffi.CData):
            raise ValueError(f"state: expected a cffi pointer to the block's state, got {type(state).__name__}")
        _check(lib.media_batch_attach_tap(self._handle, channel, direction, ffi.cast("media_tap_fn", process),
                                          ffi.cast("void *", state)),
               f"attach tap to channel {channel}")
        self._taps.setdefault((channel, direction), []).append((process, state))

    def clear_taps(self, channel: int, direction: Direction) -> None:
        channel = self._channel(channel)
        direction = self._direction(direction)
        _check(lib.media_batch_clear_taps(self._handle, channel, direction), f"clear taps of channel {channel}")
        self._taps.pop((channel, direction), None)

    def attach_source(self, channel: int, process, state) -> None:
        """Run C function `process(state, samples, n)` on the channel's to-line audio each tick,
        before it is encoded for the line, to write into it (e.g. lib.player_process)."""
        channel = self._channel(channel)
        if not isinstance(process, ffi.CData) or ffi.typeof(process).kind != "function":
            raise ValueError("process: expected a cffi function pointer such as ffi.addressof(lib, 'name')")
        if not isinstance(state, ffi.CData):
            raise ValueError(f"state: expected a cffi pointer to the block's state, got {type(state).__name__}")
        _check(lib.media_batch_attach_source(self._handle, channel, ffi.cast("media_source_fn", process),
                                             ffi.cast("void *", state)),
               f"attach source to channel {channel}")
        self._taps.setdefault((channel, "source"), []).append((process, state))

    def clear_sources(self, channel: int) -> None:
        channel = self._channel(channel)
        _check(lib.media_batch_clear_sources(self._handle, channel), f"clear sources of channel {channel}")
        self._taps.pop((channel, "source"), None)

    @staticmethod
    def _direction(direction) -> int:
        try:
            return int(Direction(direction))
        except ValueError:
            raise ValueError(f"direction: expected Direction.FROM_LINE or Direction.TO_LINE, got {direction!r}") from None

    def stats(self, channel: int) -> dict[str, int]:
        channel = self._channel(channel)
        out = ffi.new("media_channel_stats_t *")
        _check(lib.media_batch_stats(self._handle, channel, out), f"stats of channel {channel}")
        return {name: int(getattr(out, name)) for name in STATS_FIELDS}

    # --- data plane ------------------------------------------------------------------------

    def new_buffers(self) -> TickBuffers:
        samples = (self.channels, self.samples_per_tick)
        frames = (self.channels, self.frames_per_tick)
        return TickBuffers(np.zeros(samples, np.uint8), np.zeros(samples, np.uint8), np.zeros(samples, np.uint8),
                           np.zeros(frames, np.uint8), np.zeros(samples, np.uint8), np.zeros(frames, np.uint8))

    def run(self, buffers: TickBuffers) -> int:
        """One tick for every channel.  Returns how many channels were active."""
        if not isinstance(buffers, TickBuffers):
            raise ValueError(f"buffers: expected TickBuffers (from new_buffers()), got {type(buffers).__name__}")
        samples = (self.channels, self.samples_per_tick)
        frames = (self.channels, self.frames_per_tick)
        line_in = require_array("line_in", buffers.line_in, np.uint8, shape=samples)
        line_out = require_array("line_out", buffers.line_out, np.uint8, shape=samples, writable=True)
        net_in = require_array("net_in", buffers.net_in, np.uint8, shape=samples)
        net_in_lengths = require_array("net_in_lengths", buffers.net_in_lengths, np.uint8, shape=frames)
        net_out = require_array("net_out", buffers.net_out, np.uint8, shape=samples, writable=True)
        net_out_lengths = require_array("net_out_lengths", buffers.net_out_lengths, np.uint8, shape=frames,
                                        writable=True)
        return _check(lib.media_batch_run(self._handle, c_buffer(line_in), c_buffer(line_out), c_buffer(net_in),
                                          c_buffer(net_in_lengths), c_buffer(net_out), c_buffer(net_out_lengths),
                                          c_buffer(self._pcm_from_line), c_buffer(self._pcm_to_line)),
                      "media tick")

    @property
    def pcm_from_line(self) -> np.ndarray:
        """[channels, samples] int16 linear audio received from the line this tick (read-only)."""
        view = self._pcm_from_line.view()
        view.flags.writeable = False
        return view

    @property
    def pcm_to_line(self) -> np.ndarray:
        """[channels, samples] int16 linear audio sent to the line this tick (read-only)."""
        view = self._pcm_to_line.view()
        view.flags.writeable = False
        return view
