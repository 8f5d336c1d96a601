"""Line faults with calls up, each with the outcome G.704/G.775, Q.921 and Q.931 promise: the box's
user-side PRI stack against the carrier simulator's network-side stack on a lockstep E1 line, on
the virtual clock (a 30 s outage takes well under a second of real time).

Each function returns a FaultResult; `LINE_FAULTS` lists them with their arguments in the order
the bench runs them."""

from __future__ import annotations

from drivers.lockstep import LockstepLine
from firmware.isdn.answer import AnswerAndListen
from firmware.isdn.binding import IsdnSpan
from firmware.isdn.events import IsdnEvent
from firmware.isdn.q931.causes import Cause
from firmware.isdn.q931.events import Answered, Released, RestartDone, StatusReceived
from firmware.isdn.stack import DataLinkDown, DataLinkUp, PriStack
from hil_tests.bench.audio_quality import AudioPath, span_audio_end, verify_path
from hil_tests.bench.fault_result import FaultResult, Outcome
from hil_tests.carrier import StackCarrier
from runtime.bus import Event

T309 = 6.0          # ETSI EN 300 403 / libpri default


class LineRig:
    """The box (span 2, user side, answering every call) and the carrier (span 1, network side)."""

    def __init__(self, **line_options):
        self.line = LockstepLine(**line_options).open()
        self.clock, self.bus = self.line.clock, self.line.bus
        self.events: list[Event] = []
        self.bus.subscribe(Event, self.events.append)
        self.box = IsdnSpan(self.line.te, PriStack("user"), clock=self.clock, bus=self.bus,
                            restart_on_first_link_up=True)              # as the daemon runs it
        self.box.handler = AnswerAndListen(self.box, max_call_seconds=3600)
        self.net = IsdnSpan(self.line.nt, PriStack("network"), clock=self.clock, bus=self.bus)
        self.carrier = StackCarrier(self.net, hangup_after_audio=False, ring_seconds=0.2)
        self.box.start()
        self.net.start()

    def in_service(self, timeout: float = 5.0) -> float:
        return self.line.run_until(lambda: self.box.in_service and self.net.in_service, timeout, step=0.01)

    def run(self, seconds: float) -> None:
        self.line.run(seconds)

    def run_until(self, condition, timeout: float) -> float:
        return self.line.run_until(condition, timeout, step=0.01)

    def of(self, kind, span_id: int | None = None) -> list:
        out = []
        for e in self.events:
            inner = e.event if isinstance(e, IsdnEvent) else e
            sid = e.span_id if isinstance(e, IsdnEvent) else getattr(e, "span_id", None)
            if isinstance(inner, kind) and (span_id is None or sid == span_id):
                out.append(inner)
        return out

    def calls_up(self, timeslots, timeout: float = 5.0) -> list:
        calls = [self.carrier.place_call(timeslot=ts) for ts in timeslots]
        self.run_until(lambda: all(c.answered_at is not None or c.done for c in calls), timeout)
        self.run(1.5)                      # the carrier's after-answer audio (DTMF, tone) is over
        return calls

    def path(self, timeslot: int) -> AudioPath:
        # The box's in-band listener drains the channel's recorder; the check takes it over.
        for call_id, call in list(self.box.stack.calls.items()):
            if call.timeslot == timeslot:
                self.box.handler.listener.stop(call_id)
        return AudioPath(span_audio_end(self.net.bearer, timeslot), span_audio_end(self.box.bearer, timeslot), self.run)

    def idle(self) -> bool:
        return not self.box.stack.calls and all(self.box.stack.channels.is_idle(ts)
                                                for ts in self.box.stack.channels.timeslots)

    def close(self) -> None:
        self.box.stop()
        self.net.stop()
        self.line.close()


def _with_rig(name: str, expected: str, body, **line_options) -> FaultResult:
    outcome = Outcome(name, expected)
    rig = LineRig(**line_options)
    try:
        rig.in_service()
        body(rig, outcome)
    except Exception as exc:   # a fault run that crashes is a failed fault, reported, not a crashed bench
        outcome.check(False, f"the run raised {type(exc).__name__}: {exc}")
    finally:
        rig.close()
    return outcome.result()


def _path_ok(rig: LineRig, outcome: Outcome, timeslot: int, when: str) -> None:
    check = verify_path(rig.path(timeslot))
    outcome.figures[f"path_{when}_dbm0"] = [check.level_a_to_b_dbm0, check.level_b_to_a_dbm0]
    outcome.check(check.ok, f"TS{timeslot} audio heard both ways {when}" + ("" if check.ok else f" ({check.notes})"))


# ---------------------------------------------------------------- bit errors

def ber_burst(ber: float, seconds: float = 5.0) -> FaultResult:
    def body(rig: LineRig, out: Outcome) -> None:
        (first,) = rig.calls_up([3])
        before = rig.line.te.counters()
        for span in rig.line.spans:
            span.rx_impairment.set_ber(ber)
        during = [rig.carrier.place_call(timeslot=ts) for ts in (5, 6, 7)]
        rig.run(seconds)
        for span in rig.line.spans:
            span.rx_impairment.set_ber(0.0)
        rig.run_until(lambda: all(c.answered_at is not None or c.done for c in during), 10.0)
        rig.run(1.5)
        after = rig.line.te.counters()
        delta = {k: after[k] - before[k] for k in ("crc4_errors", "fas_errors", "hdlc_bad_fcs", "hdlc_short",
                                                   "hdlc_misaligned", "los_events", "frame_alignment_losses")}
        out.figures.update(ber=ber, seconds=seconds, **delta)
        out.check(not first.done, "the call up before the burst is still up")
        out.check(all(c.answered_at is not None and not c.done for c in during),
                  "3 calls set up during the burst were answered (LAPD retransmits what the errors broke)")
        out.check(delta["crc4_errors"] > 0, f"CRC-4 counted the errors ({delta['crc4_errors']} blocks)")
        out.check(delta["los_events"] == 0 and delta["frame_alignment_losses"] == 0,
                  "no LOS and no loss of frame alignment at this error rate")
        _path_ok(rig, out, 3, "after the burst")
    return _with_rig(f"line: bit errors {ber:g} for {seconds:g} s",
                     "calls up stay up, calls set up during the burst complete, CRC-4 counts the errors, "
                     "frame alignment holds", body)


# ---------------------------------------------------------------- loss of signal, AIS

def _outage(name: str, apply, seconds: float, alarm: str) -> FaultResult:
    keeps = seconds < T309
    def body(rig: LineRig, out: Outcome) -> None:
        calls = rig.calls_up([3, 17])
        box_span = rig.box.span_id
        released_before = len(rig.of(Released))
        cut_at = rig.clock.now()
        apply(rig, True)
        rig.run(min(seconds, 0.05))
        alarms = rig.line.te.status().alarms
        out.check(alarm in alarms, f"the box reports {alarm.upper()} ({sorted(alarms)})")
        out.check("rai" in rig.line.nt.status().alarms, "the box sends RAI: the carrier sees a remote alarm")
        rig.run(max(seconds - 0.05, 0.0))
        apply(rig, False)
        restored = rig.clock.now()
        back = rig.run_until(lambda: rig.box.layer2_up and rig.net.layer2_up, 5.0)
        out.figures.update(outage_s=seconds, d_channel_back_after_s=round(back - restored, 3),
                           d_channel_went_down=bool(rig.of(DataLinkDown, box_span)))
        rig.run(1.0)
        released = rig.of(Released)[released_before:]
        downs = rig.of(DataLinkDown, box_span)
        if keeps:
            out.check(not any(c.done for c in calls) and not released,
                      f"both calls kept: the outage ({seconds:g} s) is shorter than T309 ({T309:g} s)")
            if seconds >= 1.0:
                out.check(bool(downs), "the D-channel went down with layer 1")
                out.check(bool(rig.of(StatusReceived)), "call states compared with STATUS ENQUIRY / STATUS after")
            for ts in (3, 17):
                _path_ok(rig, out, ts, "after the outage")
        else:
            causes = sorted({r.cause for r in rig.of(Released, box_span)[:]})
            out.check(causes == [Cause.DESTINATION_OUT_OF_ORDER],
                      f"the box cleared both calls with cause 27 when T309 ran out (causes {causes})")
            carrier_causes = sorted({c.released_cause for c in calls})
            out.figures["carrier_causes"] = [int(c) for c in carrier_causes if c is not None]
            out.check(all(c.done for c in calls), "the carrier's calls are over too (its own T309: 27, or the "
                      f"box's RESTART: 41; causes {carrier_causes})")
            times = [r.time for r in released if hasattr(r, "time")]
            if times:
                out.figures["cleared_after_s"] = round(min(times) - cut_at, 2)
            out.check(rig.idle(), "every channel idle afterwards")
            out.check(not rig.net.stack.calls,
                      "the carrier holds no channel either: the box restarted the ones it cleared while down")
            (again,) = rig.calls_up([3])
            out.check(again.answered_at is not None, "a new call on the same channel is answered once the line is back")
    return _with_rig(name, f"{alarm.upper()} raised and RAI sent; D-channel back within seconds of the line; "
                           + ("calls kept (shorter than T309)" if keeps else "calls cleared with cause 27 by T309, "
                              "channels idle, new calls taken after"), body)


def _cut(rig: LineRig, on: bool) -> None:
    rig.line.te.rx_impairment.set_cut(on)          # the carrier's signal lost at the box


def _ais(rig: LineRig, on: bool) -> None:
    rig.line.te.rx_impairment.set_ais(on)


def los(seconds: float) -> FaultResult:
    return _outage(f"line: LOS {seconds * 1000:g} ms" if seconds < 1 else f"line: LOS {seconds:g} s", _cut, seconds, "los")


def ais(seconds: float) -> FaultResult:
    return _outage(f"line: AIS {seconds:g} s", _ais, seconds, "ais")


# ---------------------------------------------------------------- slips

def slips(ppm: float = 50.0, seconds: float = 20.0) -> FaultResult:
    def body(rig: LineRig, out: Outcome) -> None:
        (call,) = rig.calls_up([9])
        before = rig.line.te.counters()["slips"]
        rig.run(seconds)
        total = rig.line.te.counters()["slips"]
        implied = ppm * 1e-6 * 8000 * seconds
        out.figures.update(ppm=ppm, seconds=seconds, slips=total - before, implied=round(implied, 1))
        out.check(0.5 * implied <= total - before <= 1.5 * implied,
                  f"{total - before} controlled slips in {seconds:g} s, the offset implies {implied:.1f}")
        out.check(not call.done and rig.box.layer2_up, "the call and the D-channel stay up through the slips")
        _path_ok(rig, out, 9, "while slipping")
    # Both sides on their own clocks, one 50 ppm fast; one-frame datagrams and a shallow store so
    # slips come at the rate the offset implies (see tests/line/test_span_lockstep.py).
    return _with_rig(f"line: slips from a {ppm:g} ppm clock offset for {seconds:g} s", "controlled slips at the rate the offset "
                     "implies; calls and the D-channel unaffected; audio still passes", body,
                     te_clock="internal", period=0.004, frames_per_datagram=1,
                     nt_options=dict(ppm=ppm, elastic_depth=10), te_options=dict(elastic_depth=10))


# ---------------------------------------------------------------- D-channel down, layer 1 up

def dchannel_down(seconds: float) -> FaultResult:
    """The carrier's D-channel dies (it neither sends nor takes a frame) while layer 1 stays up:
    the box notices only through LAPD (T203, then N200 × T200), then Q.931 runs T309."""
    detect = 10.0 + 4 * 1.0                    # T203 + (N200 + 1) × T200 with libpri's defaults
    keeps = seconds < detect + T309

    def body(rig: LineRig, out: Outcome) -> None:
        calls = rig.calls_up([4, 20])
        stack = rig.net.stack
        real_receive = stack.receive_frame
        stack.receive_frame = lambda frame, now: None
        real_send = stack.frames_to_send
        stack.frames_to_send = lambda: (real_send(), [])[1]
        dead_at = rig.clock.now()
        rig.run(seconds)
        stack.receive_frame, stack.frames_to_send = real_receive, real_send
        restored = rig.clock.now()
        back = rig.run_until(lambda: rig.box.layer2_up and rig.net.layer2_up, 20.0) - restored
        rig.run(1.0)
        downs = [d.time for d in rig.of(DataLinkDown, rig.box.span_id) if hasattr(d, "time")]
        out.figures.update(outage_s=seconds, d_channel_back_after_s=round(back, 2))
        if downs:
            out.figures["box_noticed_after_s"] = round(downs[0] - dead_at, 2)
        released = rig.of(Released)
        if keeps:
            out.check(not any(c.done for c in calls) and not released,
                      f"calls kept: the D-channel came back before the box's T309 ran out")
            for ts in (4, 20):
                _path_ok(rig, out, ts, "after the D-channel came back")
        else:
            out.check(bool(downs), "the box noticed the dead D-channel through LAPD")
            causes = sorted({r.cause for r in released})
            out.check(all(c.done for c in calls) and Cause.DESTINATION_OUT_OF_ORDER in causes,
                      f"calls cleared with cause 27 after T309 (causes {causes})")
            out.check(rig.idle(), "every channel idle on the box")
            out.check(not rig.net.stack.calls,
                      "the carrier holds no channel either: the box restarted the ones it cleared while down")
            (again,) = rig.calls_up([4])
            out.check(again.answered_at is not None, "a new call is answered once the D-channel is back")
    return _with_rig(f"line: D-channel down {seconds:g} s with calls up",
                     "layer 1 up, LAPD notices (T203, N200×T200); " +
                     ("calls kept, being back before T309 runs out" if keeps else
                      "T309 clears the calls with cause 27; the link re-establishes and calls are taken after"), body)


# ---------------------------------------------------------------- RESTART storm

def restart_storm(restarts: int = 30, seconds: float = 3.0) -> FaultResult:
    def body(rig: LineRig, out: Outcome) -> None:
        calls = rig.calls_up(range(1, 11))
        b_channels = list(rig.net.stack.channels.timeslots)
        done_before = len(rig.of(RestartDone, rig.net.span_id))
        for i in range(restarts):
            if i % 3 == 0:
                rig.net.restart(None)                             # the whole interface
            else:
                rig.net.restart([b_channels[(i * 7) % len(b_channels)]])
            rig.run(seconds / restarts)
        rig.run(5.0)
        acknowledged = len(rig.of(RestartDone, rig.net.span_id)) - done_before
        causes = sorted({r.cause for r in rig.of(Released, rig.box.span_id)})
        out.figures.update(restarts=restarts, acknowledged=acknowledged, causes=[int(c) for c in causes],
                           box_faults=rig.box.counters["faults"])
        out.check(acknowledged >= restarts, f"every RESTART acknowledged ({acknowledged} of {restarts})")
        out.check(all(c.done for c in calls), "the 10 calls on the restarted channels are released")
        out.check(rig.idle(), "no channel or call left behind on the box")
        out.check(rig.box.counters["faults"] == 0, "no fault counted in the box's stack")
        again = rig.calls_up(range(1, 6))
        out.check(all(c.answered_at is not None for c in again), "5 new calls answered right after the storm")
    return _with_rig(f"line: RESTART storm ({restarts} in {seconds:g} s) from the carrier",
                     "each RESTART acknowledged, calls on the restarted channels released, channels idle, "
                     "calls taken right after", body)


# ---------------------------------------------------------------- glare

def glare_every_channel() -> FaultResult:
    def body(rig: LineRig, out: Outcome) -> None:
        timeslots = [ts for ts in rig.box.stack.channels.timeslots]
        box_calls = []
        for ts in timeslots:
            box_calls.append(rig.box.setup("0212345678", timeslot=ts, exclusive=True))
        carrier_calls = [rig.carrier.place_call(timeslot=ts) for ts in timeslots]
        rig.run_until(lambda: all(c.answered_at is not None or c.done for c in carrier_calls), 10.0)
        rig.run(2.0)
        box_released = {r.call_id: r.cause for r in rig.of(Released, rig.box.span_id) if r.call_id in box_calls}
        answered = sum(c.answered_at is not None and not c.done for c in carrier_calls)
        causes = sorted(set(box_released.values()))
        out.figures.update(channels=len(timeslots), carrier_calls_answered=answered,
                           box_calls_refused=len(box_released), causes=[int(c) for c in causes])
        out.check(answered == len(timeslots), f"the network's call wins every channel ({answered} of {len(timeslots)})")
        out.check(len(box_released) == len(box_calls) and set(causes) <= {Cause.REQUESTED_CHANNEL_NOT_AVAILABLE,
                                                                          Cause.NO_CIRCUIT_AVAILABLE},
                  f"every outgoing call of the box refused with cause 44 or 34 ({causes})")
        for call in carrier_calls:
            rig.carrier.hangup(call, 16)
        rig.run(3.0)
        out.check(rig.idle(), "every channel idle once the calls clear")
    return _with_rig("line: glare on every channel",
                     "the network side wins each collision (Q.931 5.7 / EN 300 403): its 30 calls are answered, the "
                     "box's 30 SETUPs are refused (cause 44 or 34), nothing stuck", body)


LINE_FAULTS = [
    (ber_burst, (1e-6,)), (ber_burst, (1e-5,)), (ber_burst, (1e-4,)), (ber_burst, (1e-3,)),
    (los, (0.05,)), (los, (2.0,)), (los, (30.0,)),
    (ais, (2.0,)), (ais, (10.0,)),
    (slips, ()),
    (dchannel_down, (5.0,)), (dchannel_down, (30.0,)),
    (restart_storm, ()),
    (glare_every_channel, ()),
]
