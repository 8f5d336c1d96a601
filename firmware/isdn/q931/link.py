"""The Q.931 entity over one data link (one PRI span's D-channel) — sans-I/O.

Feed it what the data link delivers and what the layer above asks for; take out payloads for
the data link, events for the layer above, and the next timer::

    link = Q931Link("user", Q931Timers(), trace=print)   # or "network"; trace is optional
    link.dl_established(now)                   # DL-ESTABLISH indication/confirm
    link.receive(payload, now)                 # DL-DATA indication (one Q.931 message)
    link.handle_timer(now)                     # once get_timer() is due
    link.dl_released(now)                      # DL-RELEASE indication (T309 keeps active calls)
    payloads = link.payloads_to_send()         # each goes out as a DL-DATA request
    event = link.next_event()                  # None when drained

It is also a `Layer3` for firmware.isdn.dchannel.DChannel (`dl_event`, `messages_to_send`).

Calls are named by a local `call_id` (an int) in both directions.  The layer above drives them:

    setup(called, now, *, calling=None, redirecting=None, timeslot=None, exclusive=True,
          bearer=None, sending_complete=True, display=None, progress=None,
          called_type=TypeOfNumber.UNKNOWN, called_plan=NumberingPlan.ISDN,
          hunting=None, law=None) -> call_id      # hunting: channels.Hunting or its value;
                                     # law "alaw"/"ulaw" builds the speech bearer
    send_info(call_id, digits, now, *, sending_complete=False)   # overlap sending after
                                     # SetupAcknowledged; keypad digits once active
    setup_ack(call_id, now)          # incoming SETUP without Sending complete: ask for more digits
    proceed(call_id, now)            # CALL PROCEEDING
    alert(call_id, now, *, inband=False)
    progress(call_id, now, description=8)
    answer(call_id, now, *, connected=None)
    disconnect(call_id, now, cause=16, *, inband=False)   # also rejects an unanswered SETUP, and
                                     # ends an announcement held by hold_inband_disconnect=True
    status_enquiry(call_id, now); notify(call_id, description, now); facility(call_id, body, now)
    restart(now, timeslots=None)     # None restarts the whole interface (per channel if refused)
    set_out_of_service(timeslot, out=True)

and hears back (firmware.isdn.q931.events): IncomingCall, InfoDigits, SetupAcknowledged,
CallProceeding, Alerting, Progress, Answered, Disconnected, Released (always last for a call),
Notified, FacilityReceived, StatusReceived, RestartDone, ProtocolError.

`Q931Link(role, timers, *, hunting=None, accept_interface_restart=True, ...)`: `hunting` is the
table's own for calls placed without a timeslot (default: user down, network up); with
`accept_interface_restart=False` a whole-interface RESTART is answered with STATUS cause 100, as
switches that restart channel by channel do.  On the user side a SETUP without Channel
identification is refused with cause 96 (the network must name the B-channel on a PRI).

Asking for what a call's state does not allow raises CallStateError (a ValueError) naming the
call and its state; bad arguments raise ValueError naming the field, before any state changes.
Nothing a peer sends raises: a message Q.931 says to ignore is counted in `counters`, and a
wrong one is answered with STATUS or RELEASE COMPLETE carrying cause 81/96-101 (clause 5.8).
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Callable

from ..lapd import DlData, DlEstablished, DlReleased
from ..trace import format_message

from . import ies as ie
from .calls import (ACTIVE, IN_CONNECT_REQUEST, IN_OVERLAP, IN_PRESENT, IN_PROCEEDING,
                    IN_RECEIVED, LOCAL_DISCONNECT, NULL, OUT_DELIVERED, OUT_INITIATED, OUT_OVERLAP,
                    OUT_PROCEEDING, RELEASE_REQUEST,
                    REMOTE_DISCONNECT, Call, Q931Timers)
from .causes import Cause, Location, edge_cause
from .channels import ChannelState, ChannelTable, Hunting, PRI_TIMESLOTS
from .events import IncomingCall, ProtocolError, Released
from .messages import GLOBAL_CALL_REF, KNOWN_TYPES, MANDATORY, MessageHeaderError, decode, encode
from .messages import MessageType as MT
from .restarts import RestartProcedures

_DIAG_NO_ACTION = frozenset({MT.DISCONNECT, MT.RELEASE, MT.RELEASE_COMPLETE})
_BEARERS = frozenset({ie.TransferCapability.SPEECH, ie.TransferCapability.AUDIO_3K1,
                      ie.TransferCapability.UNRESTRICTED_DIGITAL})


class CallStateError(ValueError):
    """The layer above asked for something the call's state does not allow."""


class Q931Link(RestartProcedures):
    def __init__(self, role: str = "user", timers: Q931Timers | None = None, *,
                 timeslots=PRI_TIMESLOTS, location: int | None = None,
                 trace: Callable[[str], None] | None = None, span: str = "Se0:15",
                 hold_inband_disconnect: bool = False, hunting: Hunting | str | None = None,
                 accept_interface_restart: bool = True):
        if role not in ("user", "network"):
            raise ValueError(f"Q.931 role must be 'user' or 'network', not {role!r}")
        self.role = role
        self.is_user = role == "user"
        self.timers = timers if timers is not None else Q931Timers()
        # By default the two sides hunt from opposite ends so that they rarely pick the same channel.
        self.channels = ChannelTable(timeslots, hunt_down=self.is_user, hunting=hunting)
        # A switch that only restarts channel by channel answers a RESTART of the whole interface
        # with STATUS (cause 100, the Restart indicator); our network side plays one when False.
        self.accept_interface_restart = accept_interface_restart
        if location is None:
            location = Location.USER if self.is_user else Location.PRIVATE_NETWORK_LOCAL_USER
        self.location = location
        self.dl_up = False
        self.calls: dict[int, Call] = {}                    # call_id -> Call
        self._by_ref: dict[tuple[int, int], Call] = {}      # (call_ref, our flag) -> Call
        self._next_ref = 0
        self._next_id = 0
        self._restarts: dict = {}      # pending RESTARTs by timeslot (None: the interface)
        self._out: list[bytes] = []
        self._events: deque = deque()
        self.counters: Counter[str] = Counter()
        self.trace = trace          # receives a `debug isdn q931` block per message, both ways
        # A DISCONNECT announcing in-band information (progress 8) normally gets RELEASE at once;
        # a gateway relaying the announcement as early media sets this and hangs up itself.
        self.hold_inband_disconnect = hold_inband_disconnect
        self.span = span

    # ------------------------------------------------------------------ outputs
    def payloads_to_send(self) -> list[bytes]:
        out, self._out = self._out, []
        if self.trace is not None:
            for payload in out:
                self.trace(format_message(payload, "TX", self.span))
        return out

    # The Layer3 face that firmware.isdn.dchannel.DChannel drives.
    def messages_to_send(self) -> list[bytes]:
        return self.payloads_to_send()

    def dl_event(self, event, now: float) -> None:
        kind = type(event)
        if kind is DlData:
            self.receive(event.payload, now)
        elif kind is DlEstablished:
            self.dl_established(now)
        elif kind is DlReleased:
            self.dl_released(now)

    def next_event(self):
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        best = None
        for call in self.calls.values():
            d = call.deadline
            if d is not None and (best is None or d < best):
                best = d
        for pending in self._restarts.values():
            d = pending.deadline
            if d is not None and (best is None or d < best):
                best = d
        return best

    def handle_timer(self, now: float) -> None:
        for call in [c for c in self.calls.values() if c.deadline is not None and c.deadline <= now]:
            if call.deadline is not None and call.deadline <= now and call.id in self.calls:
                call.on_timer(now)
        for key, pending in list(self._restarts.items()):
            if pending.deadline is not None and pending.deadline <= now:
                self._restart_timeout(key, pending, now)

    # ------------------------------------------------------------------ helpers for Call
    def emit(self, event) -> None:
        self._events.append(event)

    def emit_error(self, call: Call | None, cause: int, detail: str, now: float = 0.0) -> None:
        self.counters[f"error_cause_{cause}"] += 1
        self._events.append(ProtocolError(now, call.id if call is not None else None, cause, detail))

    def send_payload(self, payload: bytes, now: float) -> None:
        self._out.append(payload)

    def send(self, call: Call, mtype: int, items, now: float) -> None:
        self._out.append(encode(mtype, call.call_ref, call.flag, items))

    def send_status(self, call: Call, cause: int, now: float, diagnostics: bytes = b"") -> None:
        self._out.append(encode(MT.STATUS, call.call_ref, call.flag,
                                (ie.Cause(cause, self.location, 0, diagnostics), ie.CallState(call.wire_state()))))

    def finish(self, call: Call, cause: int, now: float) -> None:
        """The call is over: free its channel and call reference, tell the layer above."""
        call.stop()
        call.state = NULL
        self.channels.free(call.timeslot, call.id)
        self.calls.pop(call.id, None)
        self._by_ref.pop((call.call_ref, call.flag), None)
        self._events.append(Released(now, call.id, cause))

    def report_optional_errors(self, call: Call, msg, now: float) -> None:
        """Q.931 5.8.7: act on the message, then report unknown or broken optional IEs."""
        if msg.unrecognized:
            self.send_status(call, Cause.IE_NONEXISTENT, now, bytes(msg.unrecognized[:8]))
        elif msg.invalid:
            self.send_status(call, Cause.INVALID_IE_CONTENTS, now, bytes((msg.invalid[0].ident,)))

    # ------------------------------------------------------------------ data link in
    def dl_established(self, now: float) -> None:
        was_up = self.dl_up
        self.dl_up = True
        for call in list(self.calls.values()):
            if call.timer == "t309":
                # Q.931 5.8.8: the call survived; tell the peer where we stand.
                call.stop()
                self.send_status(call, Cause.NORMAL_UNSPECIFIED, now)
            elif was_up and call.state in (IN_OVERLAP, OUT_OVERLAP):
                # 5.8.9: a spontaneous link reset loses digits in flight; overlap calls are cleared.
                call.disconnect(Cause.TEMPORARY_FAILURE, now)
        for key, pending in self._restarts.items():
            self._send_restart(key, now)

    def dl_released(self, now: float) -> None:
        self.dl_up = False
        self._out.clear()
        for call in list(self.calls.values()):
            if call.state == ACTIVE and self.timers.t309 is not None:
                call.start("t309", now)
            elif call.timer != "t309":
                self.finish(call, Cause.TEMPORARY_FAILURE, now)

    def receive(self, payload: bytes, now: float) -> None:
        """One DL-DATA indication.  Never raises for anything the peer sent."""
        if self.trace is not None:
            self.trace(format_message(payload, "RX", self.span))
        try:
            self._receive(payload, now)
        except Exception as exc:    # a bug of ours must not take the span down; the fuzz test counts these
            self.counters["internal_error"] += 1
            self._events.append(ProtocolError(now, None, Cause.PROTOCOL_ERROR,
                                              f"internal error on {bytes(payload).hex()}: {exc!r}"))

    def _receive(self, payload: bytes, now: float) -> None:
        try:
            msg = decode(payload)
        except MessageHeaderError as exc:
            self.counters["rx_ignored_header"] += 1
            self._events.append(ProtocolError(now, None, Cause.INVALID_MESSAGE, str(exc)))
            return
        self.counters["rx_messages"] += 1
        if msg.call_ref == GLOBAL_CALL_REF:
            self._receive_global(msg, now)
            return
        # The flag of a received message is 0 when the peer allocated the reference; ours is then 1.
        call = self._by_ref.get((msg.call_ref, 1 - msg.flag))
        mtype = msg.type
        if call is None:
            self._receive_unknown_ref(msg, now)
            return
        if mtype not in KNOWN_TYPES:
            self.emit_error(call, Cause.MESSAGE_TYPE_NONEXISTENT, f"message type 0x{mtype:02x}", now)
            self.send_status(call, Cause.MESSAGE_TYPE_NONEXISTENT, now, bytes((mtype,)))
            return
        if mtype == MT.SETUP:
            self.counters["rx_setup_for_active_call_ignored"] += 1     # 5.8.3.2 e)
            return
        if not self._mandatory_ok(call, msg, now):
            return
        call.receive(msg, now)

    def _mandatory_ok(self, call: Call, msg, now: float) -> bool:
        """Q.931 5.8.6 / 5.8.7.1: missing or broken mandatory IEs, unknown comprehension-required IEs."""
        mtype = msg.type
        missing = [i for i in MANDATORY.get(mtype, ()) if not msg.has(i)]
        required_unknown = [i for i in msg.unrecognized if ie.comprehension_required(i)]
        if not missing and not required_unknown:
            return True
        broken = [e.ident for e in msg.invalid if e.ident in missing]
        if broken:
            cause, diag = Cause.INVALID_IE_CONTENTS, bytes(broken[:1])
        elif missing:
            cause, diag = Cause.MANDATORY_IE_MISSING, bytes(missing[:1])
        else:
            cause, diag = Cause.MANDATORY_IE_MISSING, bytes(required_unknown[:1])
        if mtype == MT.DISCONNECT and cause == Cause.MANDATORY_IE_MISSING and not required_unknown:
            return True          # handled as cause 31 by Call.receive (5.8.6.1)
        self.emit_error(call, cause, f"{msg.name}: IE 0x{diag[0]:02x}", now)
        if mtype == MT.RELEASE_COMPLETE:
            self.finish(call, cause, now)
        elif mtype == MT.RELEASE:
            self.send(call, MT.RELEASE_COMPLETE, [ie.Cause(cause, self.location, 0, diag)], now)
            self.finish(call, cause, now)
        elif mtype == MT.DISCONNECT:
            call.release(cause, now)
        else:
            self.send_status(call, cause, now, diag)
        return False

    def _receive_unknown_ref(self, msg, now: float) -> None:
        """Q.931 5.8.3.2: a message whose call reference names no call of ours."""
        mtype = msg.type
        if mtype == MT.SETUP:
            if msg.flag == 1:
                self.counters["rx_setup_wrong_flag_ignored"] += 1
                return
            self._receive_setup(msg, now)
            return
        reply_flag = 1 - msg.flag
        if mtype == MT.RELEASE_COMPLETE:
            return
        if mtype == MT.STATUS:
            state = msg.get(ie.CallState)
            if state is not None and state.value != 0:
                self._out.append(encode(MT.RELEASE_COMPLETE, msg.call_ref, reply_flag,
                                        (ie.Cause(Cause.MESSAGE_NOT_COMPATIBLE_WITH_STATE, self.location),)))
            return
        if mtype == MT.STATUS_ENQUIRY:
            self._out.append(encode(MT.STATUS, msg.call_ref, reply_flag,
                                    (ie.Cause(Cause.RESPONSE_TO_STATUS_ENQUIRY, self.location), ie.CallState(0))))
            return
        self.counters["rx_unknown_call_ref"] += 1
        self._out.append(encode(MT.RELEASE_COMPLETE, msg.call_ref, reply_flag,
                                (ie.Cause(Cause.INVALID_CALL_REFERENCE, self.location),)))

    def _reject_setup(self, msg, cause: int, now: float, diag: bytes = b"") -> None:
        self.counters[f"setup_rejected_cause_{cause}"] += 1
        if cause >= Cause.INVALID_CALL_REFERENCE:     # the peer's fault, not a busy resource
            self._events.append(ProtocolError(now, None, cause, f"SETUP cr=0x{msg.call_ref:04x} rejected"))
        self._out.append(encode(MT.RELEASE_COMPLETE, msg.call_ref, 1, (ie.Cause(cause, self.location, 0, diag),)))

    def _receive_setup(self, msg, now: float) -> None:
        missing = [i for i in MANDATORY[MT.SETUP] if not msg.has(i)]
        if missing:
            broken = [e.ident for e in msg.invalid if e.ident in missing]
            cause = Cause.INVALID_IE_CONTENTS if broken else Cause.MANDATORY_IE_MISSING
            self._reject_setup(msg, cause, now, bytes(missing[:1]))
            return
        required_unknown = [i for i in msg.unrecognized if ie.comprehension_required(i)]
        if required_unknown:
            self._reject_setup(msg, Cause.MANDATORY_IE_MISSING, now, bytes(required_unknown[:1]))
            return
        bad_chan = [e for e in msg.invalid if e.ident == ie.CHANNEL_ID]
        if bad_chan:
            self._reject_setup(msg, Cause.INVALID_IE_CONTENTS, now, bytes((ie.CHANNEL_ID,)))
            return
        bearer = msg.get(ie.BearerCapability)
        if bearer.capability not in _BEARERS:
            self._reject_setup(msg, Cause.BEARER_CAPABILITY_NOT_IMPLEMENTED, now)
            return
        chan = msg.get(ie.ChannelId)
        if chan is None and self.is_user:
            # On a PRI the network always names the B-channel (EN 300 403-1 3.1.14, mandatory n->u):
            # a SETUP without it is refused, never given a channel of our own choosing.
            self._reject_setup(msg, Cause.MANDATORY_IE_MISSING, now, bytes((ie.CHANNEL_ID,)))
            return
        channels = self.channels
        if chan is not None and chan.interface not in (None, 0):
            self._reject_setup(msg, Cause.CHANNEL_DOES_NOT_EXIST, now)    # another interface (NFAS)
            return
        ts = None
        exclusive = chan is not None and chan.exclusive and chan.timeslot is not None
        if chan is not None and chan.timeslot is not None:
            ts = chan.timeslot
            if not channels.exists(ts):
                self._reject_setup(msg, Cause.CHANNEL_DOES_NOT_EXIST, now)
                return
            if not channels.is_idle(ts):
                holder = self.calls.get(channels.owner.get(ts, -1))
                if (self.is_user and holder is not None and holder.outgoing and holder.state == OUT_INITIATED
                        and channels.state[ts] is ChannelState.IN_USE):
                    # Glare: the network's choice wins (Q.931 5.7); our SETUP will be answered
                    # with another channel or cleared with cause 44.
                    channels.free(ts, holder.id)
                    holder.timeslot = None
                    self.counters["glare_yielded"] += 1
                elif exclusive:
                    self._reject_setup(msg, Cause.REQUESTED_CHANNEL_NOT_AVAILABLE, now)
                    return
                else:
                    ts = None
        if ts is None:
            ts = channels.pick()
            exclusive = True
            if ts is None:
                self._reject_setup(msg, Cause.NO_CIRCUIT_AVAILABLE, now)
                return
        call = self._new_call(msg.call_ref, outgoing=False)
        call.state = IN_PRESENT
        call.timeslot = ts
        call.exclusive = exclusive
        channels.claim(ts, call.id)
        called = msg.get(ie.CalledNumber)
        call.called = called.digits if called is not None else ""
        calling, redirecting = msg.get(ie.CallingNumber), msg.get(ie.RedirectingNumber)
        call.calling = calling.digits if calling is not None else ""
        call.redirecting = redirecting.digits if redirecting is not None else ""
        call.bearer = bearer
        call.setup_time = now
        display = msg.get(ie.Display)
        progress = msg.get(ie.ProgressIndicator)
        self._events.append(IncomingCall(
            now, call.id, call.called, msg.get(ie.CallingNumber), msg.get(ie.RedirectingNumber), bearer,
            ts, exclusive, msg.has(ie.SENDING_COMPLETE), display.text if display is not None else None,
            called, progress.description if progress is not None else None, ie.law_of(bearer)))

    def _new_call(self, call_ref: int, outgoing: bool) -> Call:
        self._next_id += 1
        call = Call(self, self._next_id, call_ref, outgoing)
        self.calls[call.id] = call
        self._by_ref[(call_ref, call.flag)] = call
        return call

    # ------------------------------------------------------------------ API for the layer above
    def _call(self, call_id: int, action: str, states) -> Call:
        call = self.calls.get(call_id)
        if call is None:
            raise CallStateError(f"{action}: no call {call_id} (it was released or never existed)")
        if call.state not in states:
            raise CallStateError(f"{action}: call {call_id} is in state {call.wire_state()}, "
                                 f"which does not allow it")
        return call

    def _allocate_ref(self) -> int:
        for _ in range(0x7FFF):
            self._next_ref = self._next_ref % 0x7FFF + 1
            if (self._next_ref, 0) not in self._by_ref:
                return self._next_ref
        raise CallStateError("setup: all 32767 call references are in use")

    def setup(self, called: str, now: float, *, calling: ie.CallingNumber | str | None = None,
              redirecting: ie.RedirectingNumber | None = None, timeslot: int | None = None,
              exclusive: bool = True, bearer: ie.BearerCapability | None = None,
              sending_complete: bool = True, display: str | None = None, progress: int | None = None,
              called_type: int = ie.TypeOfNumber.UNKNOWN, called_plan: int = ie.NumberingPlan.ISDN,
              hunting: Hunting | str | None = None, law: str | None = None) -> int:
        """Place a call; `progress` 3 (origination non-ISDN) marks a call coming from SIP.

        With no `timeslot` the channel is hunted by `hunting` (else the table's own); `law`
        ("alaw" / "ulaw") builds a speech Bearer capability in that law when `bearer` is None."""
        channels = self.channels
        if hunting is not None:
            try:
                hunting = Hunting(hunting)
            except ValueError:
                raise ValueError(f"setup: hunting {hunting!r} is not one of "
                                 f"{', '.join(h.value for h in Hunting)}") from None
        if bearer is not None and law is not None:
            raise ValueError("setup: give either bearer or law, not both")
        if law is not None:
            bearer = ie.bearer_for_law(law)
        if timeslot is None:
            timeslot = channels.pick(hunting)
            if timeslot is None:
                if self.restart_pending and any(s is ChannelState.RESTARTING for s in channels.state.values()):
                    raise CallStateError(f"setup: no idle B-channel (cause {Cause.NO_CIRCUIT_AVAILABLE}): "
                                         "our RESTART is not acknowledged yet")
                raise CallStateError(f"setup: no idle B-channel (cause {Cause.NO_CIRCUIT_AVAILABLE})")
        elif not channels.exists(timeslot):
            raise CallStateError(f"setup: timeslot {timeslot} is not a B-channel of this span")
        elif not channels.is_idle(timeslot):
            raise CallStateError(f"setup: timeslot {timeslot} is {channels.state[timeslot].value}")
        if isinstance(calling, str):
            calling = ie.CallingNumber(calling)
        items = []
        if sending_complete:
            items.append(ie.SendingComplete())
        if bearer is None:
            bearer = ie.BearerCapability()
        items.append(bearer)
        items.append(ie.ChannelId(timeslot, exclusive=exclusive))
        if progress is not None:
            items.append(ie.ProgressIndicator(progress, self.location))
        if display is not None:
            items.append(ie.Display(display))
        if calling is not None:
            items.append(calling)
        items.append(ie.CalledNumber(called, called_type, called_plan))
        if redirecting is not None:
            items.append(redirecting)
        call_ref = self._allocate_ref()
        payload = encode(MT.SETUP, call_ref, 0, items)      # bad arguments raise here, before any state
        if len(payload) > 260:
            raise ValueError(f"setup: the SETUP would be {len(payload)} octets, more than LAPD's N201 of 260")
        call = self._new_call(call_ref, outgoing=True)
        call.timeslot = timeslot
        call.exclusive = exclusive
        call.called = called
        call.calling = calling.digits if calling is not None else ""
        call.redirecting = redirecting.digits if redirecting is not None else ""
        call.bearer = bearer
        call.setup_time = now
        channels.claim(timeslot, call.id)
        call.setup_payload = payload
        self._out.append(payload)
        call.state = OUT_INITIATED
        call.start("t303", now)
        return call.id

    def _chan(self, call: Call) -> list:
        return [ie.ChannelId(call.timeslot, exclusive=True)]

    def send_info(self, call_id: int, digits: str, now: float, *, sending_complete: bool = False) -> None:
        call = self._call(call_id, "send_info", (OUT_OVERLAP, ACTIVE))
        items = [ie.SendingComplete()] if sending_complete else []
        if call.state == ACTIVE:
            items.append(ie.KeypadFacility(digits))
        elif digits:
            items.append(ie.CalledNumber(digits))
        self.send(call, MT.INFORMATION, items, now)
        if call.state == OUT_OVERLAP:
            call.start("t304", now)

    def setup_ack(self, call_id: int, now: float) -> None:
        call = self._call(call_id, "setup_ack", (IN_PRESENT,))
        self.send(call, MT.SETUP_ACKNOWLEDGE, self._chan(call), now)
        call.state = IN_OVERLAP
        call.start("t302", now)

    def proceed(self, call_id: int, now: float) -> None:
        call = self._call(call_id, "proceed", (IN_PRESENT, IN_OVERLAP))
        self.send(call, MT.CALL_PROCEEDING, self._chan(call), now)
        call.stop()
        call.state = IN_PROCEEDING

    def alert(self, call_id: int, now: float, *, inband: bool = False) -> None:
        call = self._call(call_id, "alert", (IN_PRESENT, IN_OVERLAP, IN_PROCEEDING))
        items = self._chan(call) if call.state != IN_PROCEEDING else []
        if inband:
            items.append(ie.ProgressIndicator(8, self.location))
        self.send(call, MT.ALERTING, items, now)
        call.stop()
        call.state = IN_RECEIVED

    def progress(self, call_id: int, now: float, description: int = 8) -> None:
        if not 1 <= int(description) <= 0x7F:
            raise ValueError(f"progress: progress description {description} out of range 1..127")
        call = self._call(call_id, "progress", (IN_PRESENT, IN_OVERLAP, IN_PROCEEDING, IN_RECEIVED, ACTIVE,
                                                OUT_OVERLAP, OUT_INITIATED))
        self.send(call, MT.PROGRESS, [ie.ProgressIndicator(description, self.location)], now)

    def answer(self, call_id: int, now: float, *, connected: ie.ConnectedNumber | None = None) -> None:
        call = self._call(call_id, "answer", (IN_PRESENT, IN_OVERLAP, IN_PROCEEDING, IN_RECEIVED))
        items = self._chan(call) if call.state in (IN_PRESENT, IN_OVERLAP) else []
        if connected is not None:
            items.append(connected)
        self.send(call, MT.CONNECT, items, now)
        if self.is_user:
            call.state = IN_CONNECT_REQUEST
            call.start("t313", now)
        else:
            call.stop()
            call.state = ACTIVE
            call.connect_time = now

    def disconnect(self, call_id: int, now: float, cause: int = Cause.NORMAL_CLEARING, *,
                   inband: bool = False) -> None:
        """Hang up.  Harmless on a call that is already clearing or gone."""
        call = self.calls.get(call_id)
        if call is None or call.state in (LOCAL_DISCONNECT, RELEASE_REQUEST):
            return
        try:
            cause = edge_cause(cause)
        except ValueError as exc:
            raise ValueError(f"disconnect: {exc}") from None
        if call.state == IN_PRESENT:
            self.send(call, MT.RELEASE_COMPLETE, [ie.Cause(cause, self.location)], now)
            self.finish(call, cause, now)
        elif call.state == REMOTE_DISCONNECT:
            call.release(call.cause, now)        # the far end's cause is why the call ended
        elif not self.dl_up:
            self.finish(call, cause, now)
        else:
            call.disconnect(cause, now, inband)

    def status_enquiry(self, call_id: int, now: float) -> None:
        call = self._call(call_id, "status_enquiry", set(range(1, 26)))
        self.send(call, MT.STATUS_ENQUIRY, (), now)

    def notify(self, call_id: int, description: int, now: float) -> None:
        """NOTIFY (EN 300 403-1 3.1.8): e.g. 0 user suspended, 1 user resumed (hold/retrieve)."""
        if not 0 <= int(description) <= 0x7F:
            raise ValueError(f"notify: notification description {description} out of range 0..127")
        call = self._call(call_id, "notify", (ACTIVE, IN_RECEIVED, IN_PROCEEDING, IN_CONNECT_REQUEST,
                                              OUT_PROCEEDING, OUT_DELIVERED))
        self.send(call, MT.NOTIFY, [ie.NotificationIndicator(description)], now)

    def facility(self, call_id: int, body: bytes, now: float) -> None:
        """FACILITY carrying `body` (a supplementary service's components, e.g. ROSE invokes) as is."""
        if not 1 <= len(body) <= 255:
            raise ValueError(f"facility: the Facility body is {len(body)} octets; 1..255 fit")
        call = self._call(call_id, "facility", set(range(1, 26)) - {RELEASE_REQUEST})
        self.send(call, MT.FACILITY, [ie.Facility(bytes(body))], now)

    def set_out_of_service(self, timeslot: int, out: bool = True) -> None:
        self.channels.set_out_of_service(timeslot, out)

    def state_of(self, call_id: int) -> int | None:
        call = self.calls.get(call_id)
        return call.wire_state() if call is not None else None
