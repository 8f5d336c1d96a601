"""libpri as the far end of a D-channel, driven by an asyncio loop.

    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    peer = LibpriPeer(b, "network", timers={"T203": 2000})
    peer.start()                       # inside a running (real-time) loop
    await peer.wait_for("dchannel_up")
    call = peer.call("15881234", calling="0212345678", channel=1)
    ev = await peer.wait_for("answer")
    peer.hangup(call, 16)

libpri keeps its own timers on the wall clock, so the loop must run in real time (not under
virtual_time_loop()).  Events arrive in `history` and through `wait_for`/`next_event`.  The
peer lets go of libpri's call record by itself when a call is cleared (as Asterisk does), and
by default answers a DISCONNECT with RELEASE (`auto_release`).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

from ._libpri import ffi, lib

PRI_NETWORK = 1
PRI_CPE = 2
PRI_SWITCH_EUROISDN_E1 = 5
PRI_NATIONAL_ISDN = 0x21
PRI_UNKNOWN = 0x00
PRES_ALLOWED_USER_NUMBER_NOT_SCREENED = 0x00
PRI_LAYER_1_ULAW = 0x22
PRI_LAYER_1_ALAW = 0x23
_EXPLICIT = 1 << 16
# libpri numbers E1 B-channels by timeslot: 1-15 and 17-31 (16 is the D-channel).
E1_B_CHANNELS = tuple(range(1, 16)) + tuple(range(17, 32))

EVENT_KINDS = {
    1: "dchannel_up", 2: "dchannel_down", 3: "restart", 4: "config_error", 5: "ring", 6: "hangup",
    7: "ringing", 8: "answer", 9: "hangup_ack", 10: "restart_ack", 11: "facility",
    12: "info_received", 13: "proceeding", 14: "setup_ack", 15: "hangup_req", 16: "notify",
    17: "progress", 18: "keypad_digit", 19: "service", 20: "service_ack", 21: "hold",
    22: "hold_ack", 23: "hold_reject", 24: "retrieve", 25: "retrieve_ack", 26: "retrieve_reject",
    27: "connect_ack",
}
# Causes libpri answers an unanswered SETUP with by RELEASE COMPLETE (q931.c, q931_hangup).
_RELEASE_COMPLETE_CAUSES = (1, 34, 44, 81, 82)
_ROLES = {"network": PRI_NETWORK, "user": PRI_CPE, "cpe": PRI_CPE}


class PeerError(RuntimeError):
    pass


@dataclass(eq=False)
class PeerCall:
    """One call as libpri knows it; `handle` is libpri's opaque q931_call pointer."""

    handle: object
    channel: int | None = None
    cref: int | None = None
    cleared: bool = False
    incoming: bool = False
    responded: bool = False   # we sent something for an incoming call (libpri's "alive")
    events: list["PeerEvent"] = field(default_factory=list)


@dataclass(frozen=True)
class PeerEvent:
    kind: str
    time: float
    channel: int | None = None          # B-channel (timeslot number on E1), None when absent
    cause: int | None = None
    cref: int | None = None
    call: PeerCall | None = None
    called: str = ""
    calling: str = ""
    calling_name: str = ""
    redirecting: str = ""
    redirecting_reason: int = 0
    original_called: str = ""
    digits: str = ""
    complete: bool = False
    layer1: int = 0
    called_plan: int = 0
    calling_plan: int = 0
    calling_presentation: int = 0
    progress: int | None = None
    text: str = ""
    raw_type: int = 0


# PRI_DEBUG_Q921_STATE | PRI_DEBUG_Q921_DUMP | PRI_DEBUG_Q931_DUMP | PRI_DEBUG_Q931_STATE | PRI_DEBUG_Q931_ANOMALY
DEBUG_DEFAULT = 0x04 | 0x02 | 0x20 | 0x40 | 0x80


def _debug_mask(debug: bool | int) -> int:
    """True: libpri's usual trace (see DEBUG_DEFAULT); an int: its PRI_DEBUG_* bits as given."""
    if debug is True:
        return DEBUG_DEFAULT
    return int(debug or 0)


def _str(arr) -> str:
    return ffi.string(arr).decode("latin-1")


def _channel_arg(channel: int | None) -> int:
    return -1 if channel is None else channel | _EXPLICIT


class LibpriPeer:
    def __init__(self, sock: socket.socket, role: str, *, timers: dict[str, int] | None = None,
                 debug: bool | int = False, auto_release: bool = True, overlap: bool = False):
        if role not in _ROLES:
            raise ValueError(f"libpri peer role must be one of {sorted(_ROLES)}, not {role!r}")
        # A socket (the emulated span's D-channel export) or a DAHDI D-channel descriptor in
        # hdlcfcs mode (any object with fileno()), which the shim reads as chan_dahdi does.
        if isinstance(sock, socket.socket) and sock.type != socket.SOCK_SEQPACKET:
            raise ValueError(f"libpri needs a SOCK_SEQPACKET D-channel socket, got {sock.type!r}")
        self.role = role
        self.sock = sock
        self.auto_release = auto_release
        self._peer = lib.lp_new(sock.fileno(), _ROLES[role], PRI_SWITCH_EUROISDN_E1, _debug_mask(debug))
        if self._peer == ffi.NULL:
            raise PeerError("libpri refused to create a D-channel (pri_new_cb returned NULL)")
        for name, value in (timers or {}).items():
            if lib.lp_set_timer(self._peer, name.encode(), int(value)) < 0:
                raise ValueError(f"libpri has no timer named {name!r}")
        # Overlap receiving: SETUP without Sending Complete rings with complete=False, and the
        # scenario answers need_more_info() then collects info_received digits.
        lib.lp_set_overlap(self._peer, int(overlap))
        self._event = ffi.new("lp_event *")
        self._calls: dict[int, PeerCall] = {}
        self.history: list[PeerEvent] = []
        self._queue: asyncio.Queue[PeerEvent] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.dchannel_up = False
        self._closed = False

    # ------------------------------------------------------------------ driving
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._readable)
        self._arm()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._loop is not None and self.sock.fileno() >= 0:
            self._loop.remove_reader(self.sock.fileno())
        # libpri 1.6 cannot free a D-channel; the shim's record stays allocated, inert.

    @property
    def frames_in(self) -> int:
        return lib.lp_frames_in(self._peer)

    @property
    def frames_out(self) -> int:
        return lib.lp_frames_out(self._peer)

    @property
    def dahdi_events(self) -> int:
        """Events drained from a DAHDI D-channel on ELAST (alarm, noalarm, badfcs, ...)."""
        return lib.lp_dahdi_events(self._peer)

    @staticmethod
    def take_log() -> str:
        """libpri's own messages (its debug dump when debug=True) since the last call."""
        buf = ffi.new("char[65536]")
        lib.lp_take_log(buf, len(buf))
        return _str(buf)

    def _readable(self) -> None:
        if self._closed:
            return
        if lib.lp_on_readable(self._peer, self._event):
            self._dispatch()
        if lib.lp_line_closed(self._peer) and self._loop is not None:
            # The far end closed the socket: stop reading (an EOF would wake us forever) and
            # tell the scenario; libpri's own timers notice the silent link as usual.
            self._loop.remove_reader(self.sock.fileno())
            ev = PeerEvent(kind="line_closed", time=self._loop.time())
            self.history.append(ev)
            self._queue.put_nowait(ev)
        self._arm()

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed:
            return
        if lib.lp_on_timer(self._peer, self._event):
            self._dispatch()
        self._arm()

    def _arm(self) -> None:
        if self._closed or self._loop is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        ms = lib.lp_next_timeout_ms(self._peer)
        if ms >= 0:
            self._timer = self._loop.call_later(ms / 1000.0, self._on_timer)

    def _call_for(self, handle) -> PeerCall | None:
        if handle == ffi.NULL:
            return None
        key = int(ffi.cast("uintptr_t", handle))
        call = self._calls.get(key)
        if call is None:
            call = self._calls[key] = PeerCall(handle)
        return call

    def _dispatch(self) -> None:
        e = self._event
        kind = EVENT_KINDS.get(e.type, f"event_{e.type}")
        call = self._call_for(e.call)
        channel = None if e.channel < 0 else e.channel & 0xFF
        if call is not None:
            if channel is not None and channel != 0xFF:
                call.channel = channel
            if e.cref >= 0:
                call.cref = e.cref
        ev = PeerEvent(
            kind=kind, time=self._loop.time() if self._loop else 0.0, channel=channel,
            cause=None if e.cause < 0 else e.cause, cref=None if e.cref < 0 else e.cref, call=call,
            called=_str(e.callednum), calling=_str(e.callingnum), calling_name=_str(e.callingname),
            redirecting=_str(e.redirectingnum), redirecting_reason=e.redirectingreason,
            original_called=_str(e.origcallednum), digits=_str(e.digits), complete=bool(e.complete),
            layer1=e.layer1, called_plan=e.calledplan, calling_plan=e.callingplan,
            calling_presentation=e.callingpres, progress=None if e.progress < 0 else e.progress,
            text=_str(e.text), raw_type=e.type)
        if kind == "dchannel_up":
            self.dchannel_up = True
        elif kind == "dchannel_down":
            self.dchannel_up = False
        if call is not None:
            if kind == "ring":
                call.incoming = True
            call.events.append(ev)
            if kind == "hangup_req" and self.auto_release:
                lib.lp_hangup(self._peer, call.handle, ev.cause if ev.cause is not None else 16)
            elif kind in ("hangup", "hangup_ack"):
                # The call is over for libpri: let go of its record, as Asterisk does.
                if kind == "hangup":
                    lib.lp_hangup(self._peer, call.handle, ev.cause if ev.cause is not None else 16)
                call.cleared = True
                self._calls.pop(int(ffi.cast("uintptr_t", call.handle)), None)
        self.history.append(ev)
        self._queue.put_nowait(ev)

    # ------------------------------------------------------------------ waiting
    async def next_event(self, timeout: float = 5.0) -> PeerEvent:
        return await asyncio.wait_for(self._queue.get(), timeout)

    async def wait_for(self, kind: str, timeout: float = 5.0, *, call: PeerCall | None = None) -> PeerEvent:
        """The next event of `kind` (for `call`, if given); earlier other events stay in history."""
        async def _wait():
            while True:
                ev = await self._queue.get()
                if ev.kind == kind and (call is None or ev.call is call):
                    return ev
        try:
            return await asyncio.wait_for(_wait(), timeout)
        except asyncio.TimeoutError:
            seen = [e.kind for e in self.history[-10:]]
            raise PeerError(f"libpri ({self.role}) sent no {kind!r} within {timeout} s; last events {seen}") from None

    # ------------------------------------------------------------------ actions
    def _check(self, what: str, result: int) -> None:
        self._arm()
        if result != 0:
            raise PeerError(f"libpri refused {what} (returned {result})")

    def call(self, called: str, *, calling: str = "", channel: int | None = 1, exclusive: bool = True,
             redirecting: str = "", redirecting_reason: int = 0, complete: bool = True, alaw: bool = True,
             called_plan: int = PRI_NATIONAL_ISDN, calling_plan: int = PRI_NATIONAL_ISDN,
             calling_presentation: int = PRES_ALLOWED_USER_NUMBER_NOT_SCREENED) -> PeerCall:
        """Send SETUP; `complete=False` leaves Sending Complete out (overlap sending follows with
        `information`)."""
        handle = lib.lp_new_call(self._peer)
        if handle == ffi.NULL:
            raise PeerError("libpri could not create a call (D-channel down or out of call references)")
        call = self._call_for(handle)
        call.channel = channel
        self._check("SETUP", lib.lp_setup(self._peer, handle, -1 if channel is None else channel, int(exclusive),
                                          called.encode(), called_plan, calling.encode(), calling_plan,
                                          calling_presentation, redirecting.encode(), redirecting_reason,
                                          int(complete), PRI_LAYER_1_ALAW if alaw else PRI_LAYER_1_ULAW))
        return call

    def _chan(self, call: PeerCall, channel: int | None) -> int:
        call.responded = True
        return _channel_arg(channel if channel is not None else call.channel)

    def proceeding(self, call: PeerCall, channel: int | None = None, inband: bool = False) -> None:
        self._check("CALL PROCEEDING", lib.lp_proceeding(self._peer, call.handle, self._chan(call, channel), int(inband)))

    def progress(self, call: PeerCall, channel: int | None = None, inband: bool = True) -> None:
        self._check("PROGRESS", lib.lp_progress(self._peer, call.handle, self._chan(call, channel), int(inband)))

    def alerting(self, call: PeerCall, channel: int | None = None, inband: bool = False) -> None:
        self._check("ALERTING", lib.lp_acknowledge(self._peer, call.handle, self._chan(call, channel), int(inband)))

    acknowledge = alerting  # libpri's name for sending ALERTING

    def need_more_info(self, call: PeerCall, channel: int | None = None) -> None:
        """SETUP ACKNOWLEDGE: ask for more digits (overlap receiving)."""
        self._check("SETUP ACKNOWLEDGE", lib.lp_need_more_info(self._peer, call.handle, self._chan(call, channel)))

    def information(self, call: PeerCall, digits: str) -> None:
        self._check("INFORMATION", lib.lp_information(self._peer, call.handle, digits.encode()))

    def answer(self, call: PeerCall, channel: int | None = None) -> None:
        self._check("CONNECT", lib.lp_answer(self._peer, call.handle, self._chan(call, channel)))

    def hangup(self, call: PeerCall, cause: int = 16) -> None:
        """Clear the call with a Q.850 cause.  libpri 1.6 silently drops the hangup of an
        incoming call it has not answered at all, so such a call first gets CALL PROCEEDING and
        then DISCONNECT — except for causes 1, 34, 44, 81 and 82, which libpri sends as RELEASE
        COMPLETE straight away."""
        if call.incoming and not call.responded and cause not in _RELEASE_COMPLETE_CAUSES:
            self.proceeding(call)
        self._check("hangup", lib.lp_hangup(self._peer, call.handle, cause))

    def restart(self, channel: int) -> None:
        """RESTART one B-channel (libpri cannot send an interface-wide RESTART; it does answer one)."""
        self._check(f"RESTART (channel {channel})", lib.lp_reset_channel(self._peer, _channel_arg(channel)))

    def restart_all(self, channels=E1_B_CHANNELS) -> None:
        """Restart a whole interface the way Asterisk does with libpri: one RESTART per channel."""
        for channel in channels:
            self.restart(channel)


def cause_name(cause: int) -> str:
    return ffi.string(lib.lp_cause_name(cause)).decode()


def bench_libpri_calls(count: int) -> tuple[int, float]:
    """Sequential call setups and clears between two libpri instances in this process over a
    socketpair: (calls completed, seconds).  The same-run reference for bench/q931_calls.py."""
    completed = ffi.new("int *")
    elapsed = lib.lp_bench_calls(count, completed)
    if elapsed < 0:
        raise PeerError(f"libpri call benchmark stalled after {completed[0]} of {count} calls")
    return completed[0], elapsed
