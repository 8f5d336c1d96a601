"""One PRI span's signalling stack bound straight to its span object, on the one clock.

    isdn = IsdnSpan(span, PriStack("user"), clock=clock, bus=bus, restart_on_first_link_up=True)
    isdn.handler = AnswerAndListen(isdn)     # who decides what to do with calls
    isdn.start()
    call_id = isdn.setup("15881234", calling="0212345678")   # the call API, `now` filled in
    isdn.stop()

This is the ISDN endpoint the PBX drives; docs/isdn-service.md ("The call API") lists every
method with the events that answer it.  Each method takes `now` from the one clock, acts on the
stack, then delivers the resulting events (bus first, then the handler) and sends the frames,
before it returns.  A method the call's state does not allow raises `CallStateError` (a
ValueError) naming the call and its state; bad arguments raise ValueError before anything is sent.

Every `poll` seconds: the span's received D-channel frames go into the stack, a change of the
span's layer 1 goes to `stack.layer1_changed`, a due stack timer fires, and then the stack's
events go to the bus (as `IsdnEvent`) and to the handler, and its frames (with what the handler
answered) go out through `span.send_dchannel`.  Nothing a peer sends can stop this: a frame the stack chokes on is counted,
published as `IsdnFault` and dropped.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

from runtime.bus import EventBus
from runtime.clock import Clock, TimerHandle

from .bearer import SpanAudio
from .events import IsdnEvent, IsdnFault, IsdnTrace
from .q921_trace import Q921Frame
from .q931.causes import Cause
from .q931.channels import ChannelState
from .q931.ies import law_of
from .q931.link import CallStateError
from .stack import DataLinkDown, DataLinkUp, PriStack

log = logging.getLogger("pribox.isdn")

RESTART_SCOPES = ("interface", "channels")
POLL_PERIOD = 0.002  # the D-channel carries 16 octets in 2 ms: at most one short frame waits


def trace_name(span_id: int) -> str:
    """The interface name in traces: Cisco calls an E1 PRI's D-channel Serial<n>:15."""
    return f"Se{span_id}:15"


class CallHandler(Protocol):
    """The policy deciding what happens to calls on a span: the PBX later, `AnswerAndListen` now."""

    def on_event(self, event) -> None:
        """One stack event (IncomingCall, Answered, Released, ...), after the bus has it."""

    def close(self) -> None:
        """The span's stack is stopping."""


class IsdnSpan:
    def __init__(self, span, stack: PriStack, *, clock: Clock, bus: EventBus, poll: float = POLL_PERIOD,
                 pcap=None, wall_offset: float | None = None, restart_on_first_link_up: bool = False,
                 restart_scope: str = "interface"):
        if restart_scope not in RESTART_SCOPES:
            raise ValueError(f"restart_scope must be one of {', '.join(RESTART_SCOPES)}, not {restart_scope!r}")
        self.span = span
        self.stack = stack
        self.clock = clock
        self.bus = bus
        self.poll = poll
        self.pcap = pcap
        self.handler: CallHandler | None = None
        self.bearer = SpanAudio(span, clock)
        self.counters = {"frames_in": 0, "frames_out": 0, "tx_queue_full": 0, "faults": 0}
        self.layer1_up = False
        self.layer2_up = False
        self._handle: TimerHandle | None = None
        self._dispatching = False
        # After a crash or a reboot the far end may still think calls hold our channels: the
        # first time the D-channel comes up we restart them all (Q.931 5.5), once per start().
        self.restart_on_first_link_up = restart_on_first_link_up
        self.restart_scope = restart_scope
        self._first_link_up_seen = False
        # Timeslots that held calls when the D-channel went down: a call the box clears while
        # the link is down (T309, cause 27) cannot be told to the far end, which may hold its
        # channel for good; those channels are restarted when the link comes back.
        self._held_when_link_lost: set[int] = set()
        # pcap records want wall time; the one clock may be virtual.
        self._wall_offset = time.time() - clock.now() if wall_offset is None else wall_offset
        stack.q931.trace = self._trace
        stack.q931.span = trace_name(span.id)
        stack.lapd.trace = self._trace_q921

    @property
    def span_id(self) -> int:
        return self.span.id

    @property
    def role(self) -> str:
        return self.stack.role

    # -- life -------------------------------------------------------------------------------
    def start(self) -> None:
        now = self.clock.now()
        self._first_link_up_seen = False
        self.layer1_up = self.span.status().layer1_up
        self.stack.layer1_changed(self.layer1_up, now)
        self.stack.start(now)
        self.bearer.start()
        self._flush(now)
        self._handle = self.clock.call_later(self.poll, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.bearer.stop()
        if self.handler is not None:
            try:
                self.handler.close()
            except Exception:
                log.exception("span %d: call handler failed while closing", self.span_id)

    @property
    def running(self) -> bool:
        return self._handle is not None

    def _tick(self) -> None:
        now = self.clock.now()
        self._handle = self.clock.call_later(self.poll, self._tick)
        self.service(now)

    def service(self, now: float) -> None:
        """Do all that is due at `now` (the poll timer calls this; a lockstep test may too)."""
        if not self.span.is_open:
            return
        for frame in self.span.recv_dchannel():
            self.counters["frames_in"] += 1
            if self.pcap is not None:
                self.pcap.write(frame, sent=False, timestamp=now + self._wall_offset)
            self._guarded("frame " + frame[:16].hex(), self.stack.receive_frame, frame, now)
        up = self.span.status().layer1_up
        if up != self.layer1_up:
            self.layer1_up = up
            log.info("span %d: layer 1 %s", self.span_id, "up" if up else "down")
            self._guarded("layer 1 change", self.stack.layer1_changed, up, now)
        due = self.stack.get_timer()
        if due is not None and due <= now:
            self._guarded("timer", self.stack.handle_timer, now)
        self._flush(now)

    def _guarded(self, what: str, action, *args) -> None:
        try:
            action(*args)
        except Exception as exc:
            self._fault(f"{what}: {type(exc).__name__}: {exc}", exc)

    def _fault(self, detail: str, exc: BaseException | None = None) -> None:
        self.counters["faults"] += 1
        log.error("span %d: ISDN stack fault, span goes on: %s", self.span_id, detail, exc_info=exc)
        self.bus.publish(IsdnFault(self.clock.now(), self.span_id, detail))

    def _flush(self, now: float) -> None:
        """Events to the bus and the handler (whose actions queue more), then the frames out.

        Events go first so that a handler answering at once (CALL PROCEEDING to a SETUP) lets
        LAPD acknowledge the received I-frame with its own I-frame's N(R) rather than a separate
        RR (Q.921 §5.6.2); when nobody answers, LAPD puts the RR in this same drain."""
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while True:
                event = self.stack.next_event()
                if event is None:
                    self._send_frames(now)  # draining frames raises no event: nothing left
                    break
                if isinstance(event, (DataLinkUp, DataLinkDown)):
                    self.layer2_up = isinstance(event, DataLinkUp)
                    log.info("span %d: D-channel %s", self.span_id, "up" if self.layer2_up else "down")
                    if not self.layer2_up:
                        self._held_when_link_lost.update(
                            call.timeslot for call in self.stack.calls.values() if call.timeslot is not None)
                    elif not self._first_link_up_seen:
                        self._first_link_up_seen = True
                        self._held_when_link_lost.clear()
                        if self.restart_on_first_link_up:
                            self._guarded("restart on first link-up", self._restart_all, now)
                    elif self._held_when_link_lost:
                        self._guarded("restart after link loss", self._restart_cleared_while_down, now)
                self.bus.publish(IsdnEvent(event.time, self.span_id, event))
                if self.handler is not None:
                    try:
                        self.handler.on_event(event)
                    except Exception as exc:
                        self._fault(f"call handler on {type(event).__name__}: {type(exc).__name__}: {exc}", exc)
        finally:
            self._dispatching = False

    def _send_frames(self, now: float) -> None:
        for frame in self.stack.frames_to_send():
            if self.pcap is not None:
                self.pcap.write(frame, sent=True, timestamp=now + self._wall_offset)
            try:
                sent = self.span.is_open and self.span.send_dchannel(frame)
            except ValueError as exc:  # SpanError too: a frame the span refuses is dropped, not fatal
                self._fault(f"frame {frame[:16].hex()} refused by the span: {exc}", exc)
                continue
            if sent:
                self.counters["frames_out"] += 1
            else:
                self.counters["tx_queue_full"] += 1

    def _trace(self, text: str) -> None:
        self.bus.publish(IsdnTrace(self.clock.now(), self.span_id, text))

    def _trace_q921(self, frame: bytes, direction: str, now: float) -> None:
        self.bus.publish(Q921Frame(now, self.span_id, trace_name(self.span_id), self.role, direction, bytes(frame)))

    # -- the call API, with `now` from the one clock ----------------------------------------
    def _done(self, now: float, result=None):
        self._flush(now)
        return result

    def setup(self, called: str, **kwargs) -> int:
        """Place a call (SETUP); the call id.  Keywords as Q931Link.setup: calling, redirecting,
        timeslot / exclusive, hunting ("ascending", "descending", "round_robin", "least_used"),
        law ("alaw" / "ulaw", else the span's; or a whole `bearer`), sending_complete (False:
        overlap sending, SetupAcknowledged then send_info), display, progress, called_type,
        called_plan.  No idle channel raises CallStateError naming cause 34."""
        now = self.clock.now()
        if kwargs.get("bearer") is None:
            kwargs.pop("bearer", None)
            if kwargs.get("law") is None:
                kwargs["law"] = self.law
        return self._done(now, self.stack.setup(called, now, **kwargs))

    def proceed(self, call_id: int) -> None:
        now = self.clock.now()
        self._done(now, self.stack.proceed(call_id, now))

    def alert(self, call_id: int, **kwargs) -> None:
        now = self.clock.now()
        self._done(now, self.stack.alert(call_id, now, **kwargs))

    def answer(self, call_id: int, **kwargs) -> None:
        now = self.clock.now()
        self._done(now, self.stack.answer(call_id, now, **kwargs))

    def progress(self, call_id: int, description: int = 8) -> None:
        now = self.clock.now()
        self._done(now, self.stack.progress(call_id, now, description))

    def disconnect(self, call_id: int, cause: int = Cause.NORMAL_CLEARING, **kwargs) -> None:
        now = self.clock.now()
        self._done(now, self.stack.disconnect(call_id, now, cause, **kwargs))
        # Whoever cleared from this side (the handler, the service stopping), the handler learns
        # the box cleared the call and with which cause, for its record.
        cleared = getattr(self.handler, "cleared_locally", None)
        if cleared is not None:
            cleared(call_id, cause)

    def restart(self, timeslots=None) -> None:
        """RESTART the given timeslots (one message each) or, with None, the whole interface
        (falling back to one per channel if the far end refuses).  Calls on them are released
        (cause 41); `RestartDone` follows each acknowledgement."""
        now = self.clock.now()
        self._done(now, self.stack.restart(now, timeslots))

    def _restart_all(self, now: float) -> None:
        channels = self.stack.channels
        if self.restart_scope == "interface":
            self.stack.restart(now, None)
        else:
            self.stack.restart(now, [ts for ts in channels.timeslots
                                     if channels.state[ts] is not ChannelState.OUT_OF_SERVICE])
        log.info("span %d: first D-channel link-up: restarting the B-channels (%s)", self.span_id, self.restart_scope)

    def _restart_cleared_while_down(self, now: float) -> None:
        held, self._held_when_link_lost = self._held_when_link_lost, set()
        if not self.restart_on_first_link_up:
            return
        stale = sorted(ts for ts in held if self.stack.channels.is_idle(ts))
        if stale:
            log.info("span %d: D-channel back: restarting %s, cleared while it was down", self.span_id, stale)
            self.stack.restart(now, stale)

    @property
    def in_service(self) -> bool:
        """The D-channel is up and no RESTART of ours is pending: calls can be placed and taken.
        Wait for this, not `layer2_up`, before the first call after start (the first link-up
        restarts the channels)."""
        return self.layer2_up and not self.restarting

    @property
    def restarting(self) -> bool:
        """A RESTART of ours waits for its acknowledgement: its channels take no calls yet."""
        return self.stack.q931.restart_pending

    # -- overlap and supplementary signalling -----------------------------------------------
    def setup_ack(self, call_id: int) -> None:
        """SETUP ACKNOWLEDGE to an IncomingCall without sending complete: the far end sends the
        rest of the number as InfoDigits (T302 runs between them; its expiry clears with 28)."""
        now = self.clock.now()
        self._done(now, self.stack.setup_ack(call_id, now))

    def send_info(self, call_id: int, digits: str = "", *, sending_complete: bool = False) -> None:
        """INFORMATION: more called digits after SetupAcknowledged (overlap sending; T304 runs),
        or keypad digits once the call is active; `sending_complete` adds Sending complete."""
        now = self.clock.now()
        self._done(now, self.stack.send_info(call_id, digits, now, sending_complete=sending_complete))

    def notify(self, call_id: int, description: int) -> None:
        """NOTIFY with a notification description (0 user suspended, 1 user resumed, ...)."""
        now = self.clock.now()
        self._done(now, self.stack.notify(call_id, description, now))

    def facility(self, call_id: int, body: bytes) -> None:
        """FACILITY carrying one Facility IE body (supplementary service components) as given."""
        now = self.clock.now()
        self._done(now, self.stack.facility(call_id, body, now))

    def status_enquiry(self, call_id: int) -> None:
        now = self.clock.now()
        self._done(now, self.stack.status_enquiry(call_id, now))

    # -- companding -------------------------------------------------------------------------
    @property
    def law(self) -> str:
        """The span's own law ("alaw" / "ulaw"): calls placed without one carry it."""
        return self.span.config.law

    def law_of(self, call_id: int) -> str:
        """The law of a call: its Bearer capability's layer-1 protocol, else the span's."""
        call = self.stack.calls.get(call_id)
        if call is None:
            raise CallStateError(f"law_of: no call {call_id} (it was released or never existed)")
        return law_of(call.bearer) or self.law

    def timeslot_of(self, call_id: int) -> int | None:
        """The call's B-channel timeslot (None while an outbound call has none yet)."""
        call = self.stack.calls.get(call_id)
        if call is None:
            raise CallStateError(f"timeslot_of: no call {call_id} (it was released or never existed)")
        return call.timeslot

    def open_audio(self, call_id: int) -> int:
        """Open the call's B-channel in the media plane in the call's law; the timeslot."""
        call = self.stack.calls.get(call_id)
        if call is None or call.timeslot is None:
            raise CallStateError(f"open_audio: call {call_id} has no B-channel (released, or not yet given one)")
        self.bearer.open(call.timeslot, self.law_of(call_id))
        return call.timeslot

    def try_disconnect(self, call_id: int, cause: int) -> bool:
        """Hang up if the call still allows it; False when it is already gone."""
        try:
            self.disconnect(call_id, cause)
            return True
        except CallStateError:
            return False

    # -- state for consoles -----------------------------------------------------------------
    def active_calls(self) -> int:
        return len(self.stack.calls)

    def status(self) -> dict:
        lapd = self.stack.lapd.status()
        return {"span": self.span_id, "role": self.role, "layer1": "ACTIVE" if self.layer1_up else "DEACTIVATED",
                "layer2": lapd["q921_state_name"], "q921_state": lapd["q921_state"],
                "calls": {cid: call.wire_state() for cid, call in self.stack.calls.items()},
                "channels_in_use": sum(1 for s in self.stack.channels.summary().values() if s != "idle")}
