"""Playing prompts into channels: a Python handle on the C player block (dsp/c/player.h).

    player = Player()
    player.play(store["greeting"])                 # then
    player.play(store["busy"])                     # then
    player.play(store["moh"], loops=0)             # music on hold until stopped
    player.link_barge_in_flag()                    # or link_barge_in(probe, detector_state)
    player.process(block)                          # int16 block of the channel's outgoing audio
    player.events()                                # [PlayerEvent(item, prompt, samples, reason, digit)]

`PlayerBank` runs many channels' players over one [channels, n] block in one C call;
`player.attach(batch, channel)` runs a player inside a dsp.media.MediaBatch tick, writing the
channel's to-line audio before it is encoded for the E1 line.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from dsp import ffi, lib
from dsp.prompts import Prompt

MIN_GAIN_DB = -60.0
MAX_GAIN_DB = 20.0 * math.log10(lib.PLAYER_GAIN_MAX / lib.PLAYER_GAIN_UNITY)  # +12 dB


class EndReason(enum.IntEnum):
    DONE = lib.PLAYER_END_DONE
    BARGE_IN = lib.PLAYER_END_BARGE_IN
    STOPPED = lib.PLAYER_END_STOPPED


class Mode(enum.IntEnum):
    MIX = lib.PLAYER_MIX
    REPLACE = lib.PLAYER_REPLACE


@dataclass(frozen=True)
class PlayerEvent:
    item: int
    prompt: str
    samples_played: int
    reason: EndReason
    digit: str | None


@dataclass(frozen=True)
class PlayerStatus:
    current_item: int | None
    position: int
    samples_played: int
    queued: int
    paused: bool
    mode: Mode
    gain_db: float
    lost_events: int


def _check_block(name: str, amp, ndim: int) -> np.ndarray:
    if not isinstance(amp, np.ndarray) or amp.dtype != np.int16:
        raise ValueError(f"{name}: expected a numpy int16 array, got "
                         f"{getattr(amp, 'dtype', type(amp).__name__)}")
    if amp.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimension(s), got shape {amp.shape}")
    if not amp.flags.c_contiguous or not amp.flags.writeable:
        raise ValueError(f"{name}: expected a writable C-contiguous array")
    if amp.size and amp.shape[-1] > 1 << 30:
        raise ValueError(f"{name}: a block of {amp.shape[-1]} samples is too long")
    return amp


class Player:
    """The prompt player of one channel."""

    _EVENT_BATCH = 64
    _MAX_NAMES = 1024

    def __init__(self) -> None:
        state = lib.player_new()
        if state == ffi.NULL:
            raise MemoryError("player_new: out of memory")
        self._state = ffi.gc(state, lib.player_free)
        self._playing: dict[int, tuple[Prompt, object]] = {}  # keeps borrowed samples alive
        self._names: dict[int, str] = {}
        self._probe_keepalive: object = None
        self._flag = None
        self._events = ffi.new("player_event_t[]", self._EVENT_BATCH)

    def __del__(self) -> None:
        # A media batch may keep running this state after the Player is gone: let it hold no
        # pointer into prompt samples that only this object kept alive.
        state = getattr(self, "_state", None)
        if state is not None:
            lib.player_stop(state)

    def attach(self, batch, channel: int) -> None:
        """Plays into `channel` of a dsp.media.MediaBatch: every tick, inside the batch's C call,
        after the channel's from-line taps (a DTMF receiver linked for barge-in) have run."""
        batch.attach_source(channel, ffi.addressof(lib, "player_process"), self._state)

    @property
    def state(self):
        """The C state (player_state_t *), for lib.player_process inside a media tick."""
        return self._state

    def play(self, prompt: Prompt, *, loops: int = 1, interruptible: bool = True) -> int:
        """Queues `prompt` behind what is playing; returns the item id its end event will carry.
        loops: times to play it, 0 = until stopped or barged in."""
        if not isinstance(prompt, Prompt):
            raise ValueError(f"prompt: expected a Prompt, got {type(prompt).__name__}")
        if isinstance(loops, bool) or not isinstance(loops, int) or not 0 <= loops <= 2**31 - 1:
            raise ValueError(f"loops: expected an int from 0 (forever) to {2**31 - 1}, got {loops!r}")
        self._release_finished()
        samples = ffi.from_buffer("int16_t[]", prompt.samples)
        item = ffi.new("int64_t *")
        result = lib.player_enqueue(self._state, samples, prompt.samples.size, loops,
                                    1 if interruptible else 0, item)
        if result == lib.PLAYER_ERR_QUEUE_FULL:
            raise ValueError(f"prompt {prompt.name!r}: the channel's queue already holds "
                             f"{lib.PLAYER_MAX_QUEUE} items")
        if result != 0:
            raise ValueError(f"prompt {prompt.name!r}: rejected by the player (error {result})")
        self._playing[item[0]] = (prompt, samples)
        self._names[item[0]] = prompt.name
        return item[0]

    def skip(self) -> None:
        """Ends the current item now (reason STOPPED); the queue plays on."""
        lib.player_skip(self._state)

    def stop(self) -> None:
        """Ends the current item and empties the queue (reason STOPPED), before the next sample."""
        lib.player_stop(self._state)

    def pause(self) -> None:
        lib.player_pause(self._state, 1)

    def resume(self) -> None:
        lib.player_pause(self._state, 0)

    def set_gain_db(self, gain_db: float) -> None:
        if not isinstance(gain_db, (int, float)) or not MIN_GAIN_DB <= gain_db <= MAX_GAIN_DB:
            raise ValueError(f"gain_db: expected {MIN_GAIN_DB} to {MAX_GAIN_DB:.2f} dB, got {gain_db!r}")
        q12 = min(lib.PLAYER_GAIN_MAX, round(lib.PLAYER_GAIN_UNITY * 10 ** (gain_db / 20)))
        lib.player_set_gain(self._state, q12)

    def set_mode(self, mode: Mode | str) -> None:
        """REPLACE writes the prompt over the channel's audio; MIX adds it, saturating."""
        if isinstance(mode, str) and mode.upper() in Mode.__members__:
            mode = Mode[mode.upper()]
        if not isinstance(mode, Mode):
            raise ValueError(f"mode: expected 'replace' or 'mix', got {mode!r}")
        lib.player_set_mode(self._state, int(mode))

    def link_barge_in(self, probe, probe_state) -> None:
        """probe: a C function char probe(const void *state) returning the digit heard now or 0
        (e.g. ffi.addressof(lib, 'dtmf_rx_current')); probe_state: its cdata state, kept alive."""
        if probe is None:
            self.unlink_barge_in()
            return
        if not isinstance(probe, ffi.CData) or not isinstance(probe_state, ffi.CData):
            raise ValueError("probe, probe_state: expected a C function pointer and a C state (cffi cdata)")
        kind = ffi.typeof(probe)
        if (kind.kind != "function" or kind.result.cname != "char" or len(kind.args) != 1
                or kind.args[0].kind != "pointer"):
            raise ValueError(f"probe: expected a C function char probe(const void *state), got {kind.cname}")
        wanted = kind.args[0]
        if wanted.item.kind == "void":
            wanted = ffi.typeof("char *")  # the flag probe reads one character
        got = ffi.typeof(probe_state)
        if got != wanted and not (got.kind == "array" and got.item == wanted.item):
            raise ValueError(f"probe_state: {kind.cname} reads a {wanted.cname}, got {got.cname}")
        fn = ffi.cast("player_barge_probe_fn", probe)
        self._probe_keepalive = (probe, probe_state)
        lib.player_link_barge_in(self._state, fn, ffi.cast("void *", probe_state))

    def link_barge_in_flag(self):
        """Links the ready-made flag probe and returns its one-character cell: store a digit
        (b'5') there when one is heard, b'\\0' when released.  Also for RFC 4733 events."""
        self._flag = ffi.new("char[1]")
        self._probe_keepalive = self._flag
        lib.player_link_barge_in(self._state, ffi.addressof(lib, "player_flag_probe"), self._flag)
        return self._flag

    def unlink_barge_in(self) -> None:
        lib.player_link_barge_in(self._state, ffi.NULL, ffi.NULL)
        self._probe_keepalive = None

    def process(self, amp: np.ndarray) -> None:
        """Writes the next amp.size samples of what is playing into amp (int16, 1-D)."""
        amp = _check_block("amp", amp, 1)
        lib.player_process(self._state, ffi.from_buffer("int16_t[]", amp), amp.size)

    def events(self) -> list[PlayerEvent]:
        """End events since the last call, oldest first."""
        out = []
        while True:
            count = lib.player_get_events(self._state, self._events, self._EVENT_BATCH)
            for k in range(count):
                ev = self._events[k]
                digit = ev.digit.decode("latin-1") if ev.digit != b"\0" else None
                out.append(PlayerEvent(ev.item_id, self._names.pop(ev.item_id, "?"), ev.samples_played,
                                       EndReason(ev.reason), digit))
            if count < self._EVENT_BATCH:
                break
        self._release_finished()
        return out

    def status(self) -> PlayerStatus:
        st = ffi.new("player_status_t *")
        lib.player_get_status(self._state, st)
        gain = 20 * math.log10(st.gain_q12 / lib.PLAYER_GAIN_UNITY) if st.gain_q12 else -math.inf
        return PlayerStatus(st.current_item or None, st.position, st.samples_played, st.queued,
                            bool(st.paused), Mode(st.mode), gain, st.lost_events)

    def _release_finished(self) -> None:
        # Items end in queue order, so everything before the current item is done with.
        st = ffi.new("player_status_t *")
        lib.player_get_status(self._state, st)
        first_live = st.current_item or st.next_item
        for item in [i for i in self._playing if i < first_live]:
            del self._playing[item]
        while len(self._names) > self._MAX_NAMES:  # events nobody read: forget the oldest names
            del self._names[next(iter(self._names))]


class PlayerBank:
    """Players of many channels run over one [channels, n] int16 block by one C call."""

    def __init__(self, players: list[Player]):
        if not players or not all(isinstance(p, Player) for p in players):
            raise ValueError("players: expected a non-empty list of Player")
        if len({id(p) for p in players}) != len(players):
            raise ValueError("players: a player appears twice; each plays one channel")
        self.players = list(players)
        self._states = ffi.new("player_state_t *[]", [p.state for p in self.players])

    def process(self, amp: np.ndarray) -> None:
        amp = _check_block("amp", amp, 2)
        if amp.shape[0] != len(self.players):
            raise ValueError(f"amp: expected {len(self.players)} rows (one per player), got {amp.shape[0]}")
        lib.player_process_many(self._states, len(self.players), ffi.from_buffer("int16_t[]", amp),
                                amp.shape[1])
