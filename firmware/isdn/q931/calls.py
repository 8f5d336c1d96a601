"""Per-call state machine of Q.931 basic call control (ETSI EN 300 403-1 clause 5).

A `Call` keeps its state in the user-side numbering (U0-U25) whatever our role; `wire_state()`
gives the number the Call state IE carries, which on the network side is the matching N state
(our U1 "call initiated" by us is N6 "call present" seen from the network, and so on).
The call owns one running timer at a time, as Q.931's state machines do.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import ies as ie
from .causes import Cause
from .events import (Alerting, Answered, CallProceeding, Disconnected, FacilityReceived, InfoDigits,
                     Notified, Progress, SetupAcknowledged, StatusReceived)
from .messages import MessageType as MT

# ------------------------------------------------------------------ states (user numbering)
NULL = 0
OUT_INITIATED = 1          # U1 / N6: our SETUP sent
OUT_OVERLAP = 2            # U2 / N25: SETUP ACKNOWLEDGE received, we send digits
OUT_PROCEEDING = 3         # U3 / N9
OUT_DELIVERED = 4          # U4 / N7: far end alerting
IN_PRESENT = 6             # U6 / N1: SETUP received
IN_RECEIVED = 7            # U7 / N4: we sent ALERTING
IN_CONNECT_REQUEST = 8     # U8: user sent CONNECT, waits for CONNECT ACKNOWLEDGE
IN_PROCEEDING = 9          # U9 / N3
ACTIVE = 10
LOCAL_DISCONNECT = 11      # U11 / N12: we sent DISCONNECT
REMOTE_DISCONNECT = 12     # U12 / N11: DISCONNECT received
RELEASE_REQUEST = 19       # U19 / N19: we sent RELEASE
IN_OVERLAP = 25            # U25 / N2: we sent SETUP ACKNOWLEDGE, digits arrive

NETWORK_NUMBER = {0: 0, 1: 6, 2: 25, 3: 9, 4: 7, 6: 1, 7: 4, 8: 8, 9: 3, 10: 10, 11: 12, 12: 11, 19: 19, 25: 2}
FROM_NETWORK_NUMBER = {v: k for k, v in NETWORK_NUMBER.items()}
USER_STATES = frozenset(NETWORK_NUMBER)

STATE_NAMES = {0: "Null", 1: "Call initiated", 2: "Overlap sending", 3: "Outgoing call proceeding",
               4: "Call delivered", 6: "Call present", 7: "Call received", 8: "Connect request",
               9: "Incoming call proceeding", 10: "Active", 11: "Disconnect request",
               12: "Disconnect indication", 19: "Release request", 25: "Overlap receiving"}

OUTGOING_SETUP_STATES = frozenset({OUT_INITIATED, OUT_OVERLAP, OUT_PROCEEDING, OUT_DELIVERED})
INCOMING_SETUP_STATES = frozenset({IN_PRESENT, IN_OVERLAP, IN_PROCEEDING, IN_RECEIVED, IN_CONNECT_REQUEST})
CLEARING_STATES = frozenset({LOCAL_DISCONNECT, REMOTE_DISCONNECT, RELEASE_REQUEST})
EARLY_STATES = frozenset({OUT_INITIATED, OUT_OVERLAP, IN_PRESENT, IN_OVERLAP})

# Messages the far end may send in each of our states (RELEASE, RELEASE COMPLETE, STATUS,
# STATUS ENQUIRY and DISCONNECT are handled in every state before this table is consulted).
_EXPECTED: dict[int, frozenset[int]] = {
    OUT_INITIATED: frozenset({MT.SETUP_ACKNOWLEDGE, MT.CALL_PROCEEDING, MT.ALERTING, MT.CONNECT, MT.PROGRESS,
                              MT.NOTIFY, MT.FACILITY, MT.INFORMATION}),
    OUT_OVERLAP: frozenset({MT.CALL_PROCEEDING, MT.ALERTING, MT.CONNECT, MT.PROGRESS, MT.INFORMATION,
                            MT.NOTIFY, MT.FACILITY}),
    OUT_PROCEEDING: frozenset({MT.ALERTING, MT.CONNECT, MT.PROGRESS, MT.INFORMATION, MT.NOTIFY, MT.FACILITY}),
    OUT_DELIVERED: frozenset({MT.CONNECT, MT.PROGRESS, MT.INFORMATION, MT.NOTIFY, MT.FACILITY}),
    IN_PRESENT: frozenset({MT.INFORMATION, MT.NOTIFY, MT.FACILITY, MT.PROGRESS}),
    IN_OVERLAP: frozenset({MT.INFORMATION, MT.NOTIFY, MT.FACILITY, MT.PROGRESS}),
    IN_PROCEEDING: frozenset({MT.INFORMATION, MT.NOTIFY, MT.FACILITY, MT.PROGRESS}),
    IN_RECEIVED: frozenset({MT.INFORMATION, MT.NOTIFY, MT.FACILITY, MT.PROGRESS}),
    IN_CONNECT_REQUEST: frozenset({MT.CONNECT_ACKNOWLEDGE, MT.INFORMATION, MT.NOTIFY, MT.FACILITY, MT.PROGRESS}),
    ACTIVE: frozenset({MT.CONNECT_ACKNOWLEDGE, MT.CONNECT, MT.INFORMATION, MT.NOTIFY, MT.FACILITY, MT.PROGRESS}),
    # A CONNECT ACKNOWLEDGE crossing our DISCONNECT is no error; it changes nothing.
    LOCAL_DISCONNECT: frozenset({MT.CONNECT_ACKNOWLEDGE, MT.INFORMATION, MT.NOTIFY, MT.FACILITY, MT.PROGRESS}),
    REMOTE_DISCONNECT: frozenset({MT.INFORMATION, MT.NOTIFY, MT.FACILITY, MT.PROGRESS}),
    RELEASE_REQUEST: frozenset(),
}


def _inband(msg, descriptions) -> bool:
    """Whether any Progress indicator (a message may carry up to three) says in-band tones flow."""
    for item in msg.ies:
        if type(item) is ie.ProgressIndicator and item.description in descriptions:
            return True
    return False


@dataclass
class Q931Timers:
    """Layer-3 timers in seconds (EN 300 403-1 table 9-1/9-2; libpri defaults where they differ).
    None switches a timer off."""

    t301: float | None = 180.0
    t302: float | None = 15.0
    t303: float | None = 4.0
    t304: float | None = 30.0
    t305: float | None = 30.0
    t308: float | None = 4.0
    t309: float | None = 6.0
    t310: float | None = 30.0
    t313: float | None = 4.0
    t316: float | None = 120.0
    n316: int = 2            # RESTART retransmissions before the channels go out of service

    def __post_init__(self) -> None:
        for name in ("t301", "t302", "t303", "t304", "t305", "t308", "t309", "t310", "t313", "t316"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"Q.931 timer {name.upper()} must be a positive number of seconds or None, "
                                 f"not {value!r}")
        if not isinstance(self.n316, int) or not 0 <= self.n316 <= 10:
            raise ValueError(f"Q.931 N316 must be an integer 0..10, not {self.n316!r}")


class Call:
    __slots__ = ("id", "call_ref", "flag", "outgoing", "state", "timeslot", "exclusive", "timer", "deadline",
                 "retries", "cause", "setup_payload", "called", "link", "calling", "redirecting", "bearer",
                 "setup_time", "connect_time")

    def __init__(self, link, call_id: int, call_ref: int, outgoing: bool):
        self.link = link
        self.id = call_id
        self.call_ref = call_ref
        self.flag = 0 if outgoing else 1      # the flag bit of the messages we send
        self.outgoing = outgoing
        self.state = NULL
        self.timeslot: int | None = None
        self.exclusive = True
        self.timer: str | None = None
        self.deadline: float | None = None
        self.retries = 0
        self.cause = Cause.NORMAL_CLEARING
        self.setup_payload = b""
        self.called = ""
        # What `show calls` reports: the numbers and bearer of the SETUP, and when it went up.
        self.calling = ""
        self.redirecting = ""
        self.bearer: ie.BearerCapability | None = None
        self.setup_time: float | None = None
        self.connect_time: float | None = None

    def __repr__(self) -> str:
        return (f"<Call {self.id} cr=0x{self.call_ref:04x} {'out' if self.outgoing else 'in'} "
                f"state {self.wire_state()} ts={self.timeslot}>")

    def wire_state(self) -> int:
        return self.state if self.link.is_user else NETWORK_NUMBER[self.state]

    # ------------------------------------------------------------------ timers
    def start(self, name: str, now: float, *, retry: bool = False) -> None:
        """Run timer `name`; `retry` keeps the count of expiries (T303 and T308 run twice)."""
        seconds = getattr(self.link.timers, name)
        self.timer = name
        self.deadline = None if seconds is None else now + seconds
        if not retry:
            self.retries = 0

    def stop(self) -> None:
        self.timer = None
        self.deadline = None

    def on_timer(self, now: float) -> None:
        name = self.timer
        self.stop()
        link = self.link
        network = not link.is_user
        if name == "t303":
            if self.retries == 0:
                self.retries = 1
                link.send_payload(self.setup_payload, now)
                self.start("t303", now, retry=True)
                return
            cause = Cause.NO_USER_RESPONDING if network else Cause.RECOVERY_ON_TIMER_EXPIRY
            link.send(self, MT.RELEASE_COMPLETE, [ie.Cause(cause, link.location)], now)
            link.finish(self, cause, now)
        elif name == "t308":
            if self.retries == 0:
                self.retries = 1
                link.send(self, MT.RELEASE, [ie.Cause(self.cause, link.location)], now)
                self.start("t308", now, retry=True)
                return
            # Q.931 5.3.4: the channel goes to maintenance; a RESTART brings it back to idle.
            ts = self.timeslot
            link.finish(self, Cause.RECOVERY_ON_TIMER_EXPIRY, now)
            if ts is not None and link.dl_up:
                link.restart(now, [ts])
        elif name == "t309":
            link.finish(self, Cause.DESTINATION_OUT_OF_ORDER, now)
        elif name == "t305":
            self.release(Cause.RECOVERY_ON_TIMER_EXPIRY if network else self.cause, now)
        elif name == "t301":
            self.disconnect(Cause.NO_ANSWER if network else Cause.RECOVERY_ON_TIMER_EXPIRY, now)
        elif name == "t302" or (name == "t304" and network):
            self.disconnect(Cause.INVALID_NUMBER_FORMAT, now)
        elif name is not None:            # t304 (user), t310, t313
            self.disconnect(Cause.RECOVERY_ON_TIMER_EXPIRY, now)

    # ------------------------------------------------------------------ clearing we start
    def disconnect(self, cause: int, now: float, inband: bool = False) -> None:
        self.cause = cause
        items = [ie.Cause(cause, self.link.location)]
        if inband:
            items.append(ie.ProgressIndicator(8, self.link.location))
        self.link.send(self, MT.DISCONNECT, items, now)
        self.state = LOCAL_DISCONNECT
        self.start("t305", now)

    def release(self, cause: int, now: float) -> None:
        self.cause = cause
        self.link.send(self, MT.RELEASE, [ie.Cause(cause, self.link.location)], now)
        self.state = RELEASE_REQUEST
        self.start("t308", now)

    # ------------------------------------------------------------------ messages in
    def receive(self, msg, now: float) -> None:
        """A decoded message for this call whose mandatory IEs the link has already checked."""
        link = self.link
        mtype = msg.type
        state = self.state
        if mtype == MT.RELEASE:
            cause = msg.get(ie.Cause)
            if state != RELEASE_REQUEST:   # not a clear collision: confirm
                link.send(self, MT.RELEASE_COMPLETE, (), now)
            link.finish(self, cause.value if cause else self.cause, now)
            return
        if mtype == MT.RELEASE_COMPLETE:
            cause = msg.get(ie.Cause)
            link.finish(self, cause.value if cause else self.cause, now)
            return
        if mtype == MT.DISCONNECT:
            if state == RELEASE_REQUEST or state == REMOTE_DISCONNECT:
                return
            cause = msg.get(ie.Cause)
            value = cause.value if cause is not None else Cause.NORMAL_UNSPECIFIED
            if state != LOCAL_DISCONNECT:
                inband = _inband(msg, (8,))
                link.emit(Disconnected(now, self.id, value, inband))
                if inband and link.hold_inband_disconnect and cause is not None:
                    # The far end plays an announcement: stay on the B-channel until the layer
                    # above hangs up (disconnect() then sends RELEASE) or the far end's T305 does.
                    self.stop()
                    self.cause = value
                    self.state = REMOTE_DISCONNECT
                    return
            # Missing cause: answer as for cause 31 but say what was wrong (Q.931 5.8.6.1).
            self.release(value if cause is not None else Cause.MANDATORY_IE_MISSING, now)
            return
        if mtype == MT.STATUS_ENQUIRY:
            link.send_status(self, Cause.RESPONSE_TO_STATUS_ENQUIRY, now)
            return
        if mtype == MT.STATUS:
            self._receive_status(msg, now)
            return
        if mtype not in _EXPECTED[state]:
            if state == RELEASE_REQUEST:      # we are letting go: only RELEASE (COMPLETE) matters now
                link.counters["rx_ignored_in_release_request"] += 1
                return
            link.send_status(self, Cause.MESSAGE_NOT_COMPATIBLE_WITH_STATE, now, bytes((mtype,)))
            return
        if mtype == MT.CONNECT:
            if state == ACTIVE:             # a repeated CONNECT: confirm again, nothing changes
                link.send(self, MT.CONNECT_ACKNOWLEDGE, (), now)
                return
            if not self._take_channel(msg, now):
                return
            self.stop()
            link.send(self, MT.CONNECT_ACKNOWLEDGE, (), now)
            self.state = ACTIVE
            self.connect_time = now
            link.emit(Answered(now, self.id, msg.get(ie.ConnectedNumber)))
        elif mtype == MT.ALERTING:
            if not self._take_channel(msg, now):
                return
            self.state = OUT_DELIVERED
            self.start("t301", now)
            link.emit(Alerting(now, self.id, _inband(msg, (1, 8))))
        elif mtype == MT.CALL_PROCEEDING:
            if not self._take_channel(msg, now):
                return
            self.state = OUT_PROCEEDING
            self.start("t310", now)
            link.emit(CallProceeding(now, self.id, self.timeslot))
        elif mtype == MT.SETUP_ACKNOWLEDGE:
            if not self._take_channel(msg, now):
                return
            self.state = OUT_OVERLAP
            self.start("t304", now)
            link.emit(SetupAcknowledged(now, self.id, self.timeslot))
        elif mtype == MT.CONNECT_ACKNOWLEDGE:
            if state == IN_CONNECT_REQUEST:
                self.stop()
                self.state = ACTIVE
                self.connect_time = now
        elif mtype == MT.PROGRESS:
            progress = msg.get(ie.ProgressIndicator)
            if state == OUT_PROCEEDING and progress.description in (1, 2, 8):
                self.stop()               # T310 stops once in-band information flows
            link.emit(Progress(now, self.id, progress.description))
        elif mtype == MT.INFORMATION:
            called = msg.get(ie.CalledNumber)
            keypad = msg.get(ie.KeypadFacility)
            complete = msg.has(ie.SENDING_COMPLETE)
            digits = called.digits if called is not None else (keypad.text if keypad is not None else "")
            if state == IN_OVERLAP:
                self.called += digits
                if complete:
                    self.stop()
                else:
                    self.start("t302", now)
            if digits or complete:
                link.emit(InfoDigits(now, self.id, digits, complete))
        elif mtype == MT.NOTIFY:
            link.emit(Notified(now, self.id, msg.get(ie.NotificationIndicator).description))
        elif mtype == MT.FACILITY:
            link.emit(FacilityReceived(now, self.id, msg.raw(ie.FACILITY).body))
        link.report_optional_errors(self, msg, now)

    def _take_channel(self, msg, now: float) -> bool:
        """The first answer to our SETUP names the channel; accept it or clear the call."""
        chan = msg.get(ie.ChannelId)
        link = self.link
        if chan is None or chan.timeslot is None:
            if self.timeslot is None and msg.type != MT.SETUP_ACKNOWLEDGE and self.state == OUT_INITIATED:
                self._clear_after_answer(Cause.MANDATORY_IE_MISSING, now)
                return False
            return True
        ts = chan.timeslot
        if ts == self.timeslot:
            return True
        if self.exclusive and self.timeslot is not None:
            self._clear_after_answer(Cause.CHANNEL_UNACCEPTABLE, now)
            return False
        if not link.channels.is_idle(ts):
            self._clear_after_answer(Cause.REQUESTED_CHANNEL_NOT_AVAILABLE if link.channels.exists(ts)
                                     else Cause.CHANNEL_DOES_NOT_EXIST, now)
            return False
        link.channels.free(self.timeslot, self.id)
        link.channels.claim(ts, self.id)
        self.timeslot = ts
        return True

    def _clear_after_answer(self, cause: int, now: float) -> None:
        self.stop()
        link = self.link
        link.emit_error(self, cause, "channel in the answer to our SETUP is unusable")
        self.disconnect(cause, now)

    def _receive_status(self, msg, now: float) -> None:
        """Q.931 5.8.11: a STATUS tells us the far end's state; act when it cannot match ours."""
        link = self.link
        cause = msg.get(ie.Cause)
        peer_wire = msg.get(ie.CallState).value
        link.emit(StatusReceived(now, self.id, cause.value, peer_wire))
        if peer_wire == 0:
            link.finish(self, cause.value if cause.value != Cause.RESPONSE_TO_STATUS_ENQUIRY
                        else Cause.NORMAL_UNSPECIFIED, now)
            return
        peer = FROM_NETWORK_NUMBER.get(peer_wire) if link.is_user else peer_wire
        if peer is None or peer not in USER_STATES:
            self.release(Cause.MESSAGE_NOT_COMPATIBLE_WITH_STATE, now)
            return
        state = self.state
        if state in CLEARING_STATES or peer in CLEARING_STATES:
            return
        if (state == ACTIVE and peer in EARLY_STATES) or (peer == ACTIVE and state in EARLY_STATES):
            self.release(Cause.MESSAGE_NOT_COMPATIBLE_WITH_STATE, now)
