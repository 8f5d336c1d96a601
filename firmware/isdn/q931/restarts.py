"""RESTART procedures and the global call reference (Q.931 5.5, 5.8.3.2 f), as a part of
Q931Link: restarting one B-channel or the whole interface, either side asking.

Some switches restart only channel by channel: they answer a RESTART of the whole interface with
STATUS on the global call reference, or not at all.  Either way (a STATUS, or T316 running out
N316 times) our whole-interface RESTART falls back to one RESTART per channel, so every channel
still ends idle or, if those go unanswered too, out of service (`RestartDone` says which)."""

from __future__ import annotations

from . import ies as ie
from .causes import Cause
from .channels import ChannelState
from .events import RestartDone
from .messages import encode
from .messages import MessageType as MT

# Global call state values (Q.931 4.5.7): REST 0 null, REST 1 restart request, REST 2 restart.
_REST_NULL, _REST_REQUEST = 0, 0x3D


class _PendingRestart:
    __slots__ = ("timeslot", "deadline", "retries")

    def __init__(self, timeslot: int | None, deadline: float | None):
        self.timeslot = timeslot
        self.deadline = deadline
        self.retries = 0


class RestartProcedures:
    """Mixed into Q931Link; uses its channels, calls, timers, _out, _events and finish()."""

    @property
    def restart_pending(self) -> bool:
        """Whether a RESTART of ours still waits for its acknowledgement."""
        return bool(self._restarts)

    def restart(self, now: float, timeslots=None) -> None:
        """RESTART the given timeslots (one message each) or, with None, the whole interface.
        Calls on them are released at once; RestartDone follows the acknowledgement."""
        keys = [None] if timeslots is None else list(timeslots)
        for key in keys:
            if key is not None and not self.channels.exists(key):
                raise ValueError(f"restart: timeslot {key} is not a B-channel of this span")
        for key in keys:
            targets = self.channels.timeslots if key is None else (key,)
            self._clear_channels(targets, whole=key is None, now=now)
            for t in targets:
                self.channels.set_restarting(t)
            t316 = self.timers.t316
            self._restarts[key] = _PendingRestart(key, None if t316 is None else now + t316)
            if self.dl_up:                  # otherwise dl_established() sends it
                self._send_restart(key, now)

    # ------------------------------------------------------------------ global call reference
    def _receive_global(self, msg, now: float) -> None:
        mtype = msg.type
        reply_flag = 1 - msg.flag
        if mtype == MT.RESTART:
            self._receive_restart(msg, now)
        elif mtype == MT.RESTART_ACKNOWLEDGE:
            self._receive_restart_ack(msg, now)
        elif mtype == MT.STATUS:
            self.counters["rx_global_status"] += 1
            if None in self._restarts:
                cause = msg.get(ie.Cause)
                self._interface_restart_refused(
                    f"STATUS cause {cause.value if cause is not None else 'missing'}", now)
        else:
            # 5.8.3.2 f): only RESTART, RESTART ACKNOWLEDGE and STATUS use the global reference.
            state = _REST_REQUEST if self._restarts else _REST_NULL
            self._out.append(encode(MT.STATUS, 0, reply_flag,
                                    (ie.Cause(Cause.INVALID_CALL_REFERENCE, self.location), ie.CallState(state))))

    def _global_status(self, msg, cause: int, diag: bytes) -> None:
        self._out.append(encode(MT.STATUS, 0, 1 - msg.flag,
                                (ie.Cause(cause, self.location, 0, diag), ie.CallState(_REST_NULL))))

    def _restart_targets(self, msg, now: float):
        indicator = msg.get(ie.RestartIndicator)
        if indicator is None:
            broken = any(e.ident == ie.RESTART_INDICATOR for e in msg.invalid)
            self._global_status(msg, Cause.INVALID_IE_CONTENTS if broken else Cause.MANDATORY_IE_MISSING,
                                bytes((ie.RESTART_INDICATOR,)))
            return None
        chan = msg.get(ie.ChannelId)
        if indicator.restart_class == ie.RestartClass.INDICATED_CHANNELS:
            if chan is None or chan.timeslot is None:
                broken = any(e.ident == ie.CHANNEL_ID for e in msg.invalid)
                self._global_status(msg, Cause.INVALID_IE_CONTENTS if broken else Cause.MANDATORY_IE_MISSING,
                                    bytes((ie.CHANNEL_ID,)))
                return None
            if not self.channels.exists(chan.timeslot) or chan.interface not in (None, 0):
                self._global_status(msg, Cause.CHANNEL_DOES_NOT_EXIST, b"")
                return None
            return chan.timeslot, indicator, chan
        return None, indicator, None

    def _receive_restart(self, msg, now: float) -> None:
        targets = self._restart_targets(msg, now)
        if targets is None:
            return
        ts, indicator, chan = targets
        if ts is None and not self.accept_interface_restart:
            self.counters["rx_interface_restart_refused"] += 1
            self._global_status(msg, Cause.INVALID_IE_CONTENTS, bytes((ie.RESTART_INDICATOR,)))
            return
        timeslots = (ts,) if ts is not None else self.channels.timeslots
        self._clear_channels(timeslots, whole=ts is None, now=now)
        for t in timeslots:
            self.channels.set_idle(t)
        items = [chan, indicator] if chan is not None else [indicator]
        self._out.append(encode(MT.RESTART_ACKNOWLEDGE, 0, 1 - msg.flag, items))
        self._events.append(RestartDone(now, tuple(timeslots), ts is None, True))

    def _receive_restart_ack(self, msg, now: float) -> None:
        indicator = msg.get(ie.RestartIndicator)
        chan = msg.get(ie.ChannelId)
        if indicator is None:
            self._global_status(msg, Cause.MANDATORY_IE_MISSING, bytes((ie.RESTART_INDICATOR,)))
            return
        key = chan.timeslot if indicator.restart_class == ie.RestartClass.INDICATED_CHANNELS and chan else None
        pending = self._restarts.pop(key, None)
        if pending is None:
            self.counters["rx_unexpected_restart_ack"] += 1
            return
        timeslots = (key,) if key is not None else self.channels.timeslots
        for t in timeslots:
            self.channels.restart_done(t)
        self._events.append(RestartDone(now, tuple(timeslots), key is None, False))

    def _clear_channels(self, timeslots, whole: bool, now: float) -> None:
        wanted = set(timeslots)
        for call in list(self.calls.values()):
            if (call.timeslot in wanted) or (whole and call.timeslot is None):
                self.finish(call, Cause.TEMPORARY_FAILURE, now)

    def _send_restart(self, key: int | None, now: float) -> None:
        indicator = ie.RestartIndicator(ie.RestartClass.ALL_INTERFACES if key is None
                                        else ie.RestartClass.INDICATED_CHANNELS)
        items = [indicator] if key is None else [ie.ChannelId(key, exclusive=True), indicator]
        self._out.append(encode(MT.RESTART, 0, 0, items))

    def _restart_timeout(self, key, pending: _PendingRestart, now: float) -> None:
        if pending.retries < self.timers.n316:
            pending.retries += 1
            pending.deadline = now + self.timers.t316
            self._send_restart(key, now)
            return
        if key is None:
            self._interface_restart_refused("T316 expired", now)
            return
        del self._restarts[key]
        timeslots = (key,) if key is not None else self.channels.timeslots
        for t in timeslots:
            self.channels.set_out_of_service(t, True)
        self.emit_error(None, Cause.RECOVERY_ON_TIMER_EXPIRY, "RESTART unanswered; channels out of service", now)
        self._events.append(RestartDone(now, tuple(timeslots), key is None, False, acknowledged=False))

    def _interface_restart_refused(self, why: str, now: float) -> None:
        """The far end will not restart the whole interface: restart each channel instead."""
        del self._restarts[None]
        self.counters["interface_restart_fallback"] += 1
        self.emit_error(None, Cause.RECOVERY_ON_TIMER_EXPIRY if why.startswith("T316") else Cause.INVALID_IE_CONTENTS,
                        f"RESTART of the whole interface refused ({why}); restarting channel by channel", now)
        targets = [ts for ts in self.channels.timeslots
                   if self.channels.state[ts] is not ChannelState.OUT_OF_SERVICE and ts not in self._restarts]
        self.restart(now, targets)
