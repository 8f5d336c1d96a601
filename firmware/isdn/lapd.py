"""LAPD (Q.921) data link for PRI: point-to-point, one SAPI/TEI, modulo 128 — sans-I/O.

Frames and time go in (`receive_frame`, `handle_timer`, the DL-* requests); frames, events and
the next timer come out (`frames_to_send`, `next_event`, `get_timer`); a `trace(frame, direction,
now)` hook, if set, sees every frame both ways (`debug isdn q921`).  Nothing here reads a
clock, sleeps or touches a socket, so the same object runs in lockstep tests on a ManualClock,
under the asyncio D-channel adapter, and inside benchmarks.

States follow Q.921's SDL: released (4, TEI assigned), awaiting-establishment (5),
awaiting-release (6), established (7, multiple frame established), timer-recovery (8).

Event semantics for layer 3:
* `DlEstablished` — the link is (again) usable with sequence numbers reset.  It is also emitted
  when the peer resets an established link (SABME in state 7/8): I-frames in flight may be lost.
* `DlReleased` — the link stopped being usable (peer DISC, errors, layer 1 lost) or a
  DL-RELEASE-REQUEST / a failed establishment completed.  Reported once per outage.
* `DlData(payload)` — an I-frame's information field, in order, exactly once.
* `DlUnitData(payload)` — a UI frame's information field.
* `DlError(code)` — an MDL-ERROR indication (Q.921 Table II.1 letters A–O).

Acknowledgement (Q.921 §5.6.2): an in-sequence I-frame with P=0 only makes an acknowledgement
pending.  `frames_to_send` settles it: if an I-frame carrying the current V(R) went out since
(layer 3 answered in the same input cycle), its N(R) is the acknowledgement; otherwise one RR
response (RNR when own receiver busy) joins that same drain.  Everything Q.921 wants at once
stays immediate: RR/RNR F=1 to a poll, REJ, RNR on own-busy, and the T200/T203 enquiries.

PRI links are meant to stay up: once layer 3 asked for the link (`establish` or `send`) the
entity keeps re-establishing after errors, after a failed establishment and after layer 1
recovers, until `release` is called or the peer releases the link with DISC.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from enum import Enum
from typing import Callable

from .lapd_frames import MAX_INFO, MODULO, Frame, FrameError, Kind, decode, encode


class Role(Enum):
    USER = "user"
    NETWORK = "network"


@dataclass
class LapdTimers:
    t200: float = 1.0
    n200: int = 3
    t203: float = 10.0
    k: int = 7

    def __post_init__(self) -> None:
        if not self.t200 > 0 or not self.t203 > 0:
            raise ValueError(f"LAPD timers must be positive: T200={self.t200}, T203={self.t203}")
        if not 1 <= self.n200 <= 100:
            raise ValueError(f"LAPD N200={self.n200} out of range 1..100")
        if not 1 <= self.k < MODULO:
            raise ValueError(f"LAPD window k={self.k} out of range 1..{MODULO - 1}")


@dataclass(frozen=True, slots=True)
class DlEstablished:
    pass


@dataclass(frozen=True, slots=True)
class DlReleased:
    pass


@dataclass(frozen=True, slots=True)
class DlData:
    payload: bytes


@dataclass(frozen=True, slots=True)
class DlUnitData:
    payload: bytes


@dataclass(frozen=True, slots=True)
class DlError:
    code: str

    @property
    def description(self) -> str:
        return MDL_ERRORS.get(self.code, "unknown")


LapdEvent = DlEstablished | DlReleased | DlData | DlUnitData | DlError

# Q.921 Appendix II, Table II.1: the management error indications.
MDL_ERRORS = {
    "A": "supervisory response with F=1 received in established state",
    "B": "DM response with F=1 received in established state",
    "C": "unsolicited UA response with F=1",
    "D": "unsolicited UA response with F=0",
    "E": "DM response with F=0 received in established state (peer re-establishing)",
    "F": "SABME received in established state (peer re-establishment)",
    "G": "SABME unanswered after N200 retransmissions",
    "H": "DISC unanswered after N200 retransmissions",
    "I": "status enquiry unanswered after N200 retransmissions",
    "J": "N(R) sequence error",
    "K": "FRMR received",
    "L": "unknown control field received",
    "M": "information field not permitted",
    "N": "wrong information field length",
    "O": "information field longer than N201",
}

RELEASED = "released"
AWAITING_ESTABLISHMENT = "awaiting-establishment"
AWAITING_RELEASE = "awaiting-release"
ESTABLISHED = "established"
TIMER_RECOVERY = "timer-recovery"
_LINK_UP = (ESTABLISHED, TIMER_RECOVERY)
# Q.921 state numbers and the names field engineers know from `show isdn status`.
Q921_STATES = {
    RELEASED: (4, "TEI_ASSIGNED"),
    AWAITING_ESTABLISHMENT: (5, "AWAITING_ESTABLISHMENT"),
    AWAITING_RELEASE: (6, "AWAITING_RELEASE"),
    ESTABLISHED: (7, "MULTIPLE_FRAME_ESTABLISHED"),
    TIMER_RECOVERY: (8, "TIMER_RECOVERY"),
}

# Frame errors that Q.921 §5.8.5 reports as MDL-ERROR when they hit a link in operation.
_FRAME_ERROR_CODE = {"bad_control": "L", "info_not_permitted": "M", "too_long": "O"}


class Lapd:
    def __init__(self, role: Role, timers: LapdTimers | None = None, *, sapi: int = 0, tei: int = 0,
                 trace: Callable[[bytes, str, float], None] | None = None):
        if not isinstance(role, Role):
            raise ValueError(f"LAPD role must be Role.USER or Role.NETWORK, not {role!r}")
        if not 0 <= sapi < 64 or not 0 <= tei < 127:
            raise ValueError(f"LAPD address out of range: SAPI {sapi} (0..63), TEI {tei} (0..126)")
        self.role = role
        self.timers = timers if timers is not None else LapdTimers()
        self.sapi = sapi
        self.tei = tei
        # Commands from the network side carry C/R=1, from the user side C/R=0 (Q.921 §3.3.2);
        # a received frame is therefore a command when its C/R equals our response value.
        self._cmd_cr = 1 if role is Role.NETWORK else 0
        self._rsp_cr = 1 - self._cmd_cr
        # Address octets, precomputed for the hot path: ours as command/response, and the
        # peer's commands (which carry our response C/R value) and responses as they arrive.
        tei_octet = (tei << 1) | 1
        self._addr_cmd = bytes(((sapi << 2) | (self._cmd_cr << 1), tei_octet))
        self._addr_rsp = bytes(((sapi << 2) | (self._rsp_cr << 1), tei_octet))
        self._peer_cmd = self._addr_rsp
        self._peer_rsp = self._addr_cmd
        self.state = RELEASED
        self.counters: Counter[str] = Counter()
        self.layer1_up = True
        self.own_busy = False
        self.peer_busy = False
        self._wanted_up = False
        self._released_reported = False
        self._reject_exception = False
        self._ack_pending = False
        self._vs = self._va = self._vr = 0
        self._rc = 0
        # Payloads from V(A) on: the first (V(S)-V(A)) are sent and unacknowledged.
        self._iqueue: deque[bytes] = deque()
        self._t200: float | None = None
        self._t203: float | None = None
        self._retry: float | None = None
        self._out: list[bytes] = []
        self._events: deque[LapdEvent] = deque()
        # `trace(frame, "RX" | "TX", now)` sees every frame in and out (`debug isdn q921`); it
        # must not do I/O itself.  Sent frames are stamped with the time of the latest input,
        # which is what produced them.
        self.trace = trace
        self._now = 0.0

    # ------------------------------------------------------------------ outputs
    def frames_to_send(self) -> list[bytes]:
        # Acknowledgements are settled only now: if layer 3 answered in the meantime, its I
        # frame already carried N(R) and no RR is needed (Q.921 lets the ack be delayed).
        if self._ack_pending:
            self._ack_pending = False
            if self.state in _LINK_UP:
                self._send_s(Kind.RNR if self.own_busy else Kind.RR, self._rsp_cr, False)
        out, self._out = self._out, []
        trace = self.trace
        if trace is not None:
            for frame in out:
                trace(frame, "TX", self._now)
        return out

    def next_event(self) -> LapdEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        best = None
        for t in (self._t200, self._t203, self._retry):
            if t is not None and (best is None or t < best):
                best = t
        return best

    @property
    def established(self) -> bool:
        return self.state in _LINK_UP

    def status(self) -> dict:
        """A snapshot for consoles and logs (`show isdn status` style)."""
        number, name = Q921_STATES[self.state]
        return {
            "role": self.role.value, "sapi": self.sapi, "tei": self.tei,
            "state": self.state, "q921_state": number, "q921_state_name": name,
            "layer1": "up" if self.layer1_up else "down",
            "vs": self._vs, "va": self._va, "vr": self._vr,
            "outstanding": self.outstanding, "queued": self.queued,
            "peer_busy": self.peer_busy, "own_busy": self.own_busy,
            "t200_running": self._t200 is not None, "t203_running": self._t203 is not None,
        }

    @property
    def outstanding(self) -> int:
        """I-frames sent and not yet acknowledged."""
        return (self._vs - self._va) % MODULO

    @property
    def queued(self) -> int:
        """I-frame payloads accepted and not yet acknowledged (sent or waiting)."""
        return len(self._iqueue)

    # ------------------------------------------------------------------ DL requests
    def establish(self, now: float) -> None:
        self._now = now
        self._wanted_up = True
        self._retry = None
        if not self.layer1_up or self.state in _LINK_UP or self.state == AWAITING_ESTABLISHMENT:
            return
        self._establish_data_link(now)

    def release(self, now: float) -> None:
        self._now = now
        self._wanted_up = False
        self._retry = None
        if self.state == RELEASED:
            self._report_released(force=True)
            return
        if self.state == AWAITING_RELEASE:
            return
        self._iqueue.clear()
        self._vs = self._va
        self._rc = 0
        self._send_u(Kind.DISC, self._cmd_cr, True)
        self._t203 = None
        self._t200 = now + self.timers.t200
        self.state = AWAITING_RELEASE

    def send(self, payload: bytes, now: float) -> None:
        self._now = now
        payload = bytes(payload)
        if len(payload) > MAX_INFO:
            raise ValueError(f"LAPD I-frame payload of {len(payload)} octets exceeds N201={MAX_INFO}")
        self._iqueue.append(payload)
        self.counters["dl_data_requests"] += 1
        if self.state in _LINK_UP:
            self._push_i_frames(now)
        elif self.state != AWAITING_RELEASE:
            self.establish(now)

    def set_own_busy(self, busy: bool, now: float) -> None:
        """Own receiver busy (RNR) on or off."""
        self._now = now
        if busy == self.own_busy:
            return
        self.own_busy = busy
        if self.state in _LINK_UP:
            self._send_s(Kind.RNR if busy else Kind.RR, self._rsp_cr, False)
            self._ack_pending = False

    def layer1_changed(self, up: bool, now: float) -> None:
        self._now = now
        if up == self.layer1_up:
            return
        self.layer1_up = up
        if not up:
            self.counters["layer1_down"] += 1
            self._t200 = self._t203 = self._retry = None
            self._out.clear()
            self._ack_pending = False
            was = self.state
            if was in _LINK_UP:
                self._drop_iqueue()  # as on any re-establishment: layer 3 recovers what mattered
            self._enter_released()
            if was != RELEASED:
                self._report_released()
            return
        self.counters["layer1_up"] += 1
        if self._wanted_up:
            self._establish_data_link(now)

    def handle_timer(self, now: float) -> None:
        self._now = now
        if self._t200 is not None and now >= self._t200:
            self._t200 = None
            self._t200_expired(now)
        if self._t203 is not None and now >= self._t203:
            self._t203 = None
            if self.state == ESTABLISHED:
                self.counters["t203_expiry"] += 1
                self._rc = 0
                self._transmit_enquiry(now)
                self.state = TIMER_RECOVERY
        if self._retry is not None and now >= self._retry:
            self._retry = None
            if self.state == RELEASED and self._wanted_up and self.layer1_up:
                self._establish_data_link(now)
        self._flush(now)

    # ------------------------------------------------------------------ frames in
    def receive_frame(self, frame: bytes, now: float) -> None:
        self._now = now
        if self.trace is not None:
            self.trace(frame, "RX", now)
        counters = self.counters
        counters["rx_frames"] += 1
        if not self.layer1_up:
            counters["rx_while_layer1_down"] += 1
            return
        # Fast path for the frames a busy link is made of: I frames and supervisory frames to
        # our own SAPI/TEI, parsed in place.  Everything else goes through the full decoder.
        n = len(frame)
        if n >= 4 and self.state in _LINK_UP:
            address = frame[:2]
            c0 = frame[2]
            command = address == self._peer_cmd
            if command or address == self._peer_rsp:
                if not c0 & 1:
                    if command and n - 4 <= MAX_INFO:
                        counters["rx_I"] += 1
                        c1 = frame[3]
                        self._rx_i(c0 >> 1, c1 >> 1, c1 & 1, bytes(frame[4:]), now)
                        self._flush(now)
                        return
                elif n == 4 and c0 in _S_BY_CODE:
                    kind = _S_BY_CODE[c0]
                    counters["rx_" + kind] += 1
                    c1 = frame[3]
                    self._rx_s(kind, command, c1 & 1, c1 >> 1, now)
                    self._flush(now)
                    return
        self._receive_slow(frame, now)

    def _receive_slow(self, frame: bytes, now: float) -> None:
        counters = self.counters
        try:
            f = decode(frame)
        except FrameError as exc:
            counters["rx_" + exc.reason] += 1
            code = _FRAME_ERROR_CODE.get(exc.reason)
            if code is not None and self.state in _LINK_UP:
                self._mdl_error(code)
            return
        if f.sapi != self.sapi or f.tei != self.tei:
            counters["rx_other_address"] += 1
            return
        command = f.cr == self._rsp_cr
        kind = f.kind
        counters["rx_" + kind] += 1
        state = self.state
        if kind == Kind.I or kind in _S_KINDS:
            if kind == Kind.I and not command:
                counters["rx_wrong_cr"] += 1
                return
            if state in _LINK_UP:
                if kind == Kind.I:
                    self._rx_i(f.ns, f.nr, f.pf, f.info, now)
                else:
                    self._rx_s(kind, command, f.pf, f.nr, now)
            elif state == RELEASED and command and f.pf:
                self._send_u(Kind.DM, self._rsp_cr, True)  # tell the peer to re-establish
            else:
                counters["rx_ignored"] += 1
        elif kind in _U_HANDLERS:
            if command != (kind in _U_COMMANDS):
                counters["rx_wrong_cr"] += 1
                return
            _U_HANDLERS[kind](self, f, now)
        else:
            counters["rx_ignored"] += 1
        self._flush(now)

    # ------------------------------------------------------------------ I and S frames
    def _rx_i(self, ns: int, nr: int, pf: int, info: bytes, now: float) -> None:
        if self.own_busy:
            self.counters["rx_discarded_busy"] += 1
            if pf:
                self._send_s(Kind.RNR, self._rsp_cr, True)
                self._ack_pending = False
        elif ns == self._vr:
            self._vr = (self._vr + 1) % MODULO
            self._reject_exception = False
            self._events.append(DlData(info))
            if pf:
                self._send_s(Kind.RR, self._rsp_cr, True)
                self._ack_pending = False
            else:
                self._ack_pending = True
        else:
            self.counters["rx_out_of_sequence"] += 1
            if self._reject_exception:
                if pf:
                    self._send_s(Kind.RR, self._rsp_cr, True)
                    self._ack_pending = False
            else:
                self._reject_exception = True
                self._send_s(Kind.REJ, self._rsp_cr, pf)
                self._ack_pending = False
        if not self._nr_valid(nr):
            self._nr_error(now)
            return
        if self.state == ESTABLISHED and not self.peer_busy:
            self._ack_in_established(nr, now)
        else:
            self._acknowledge(nr)

    def _rx_s(self, kind: str, command: bool, pf: int, nr: int, now: float) -> None:
        self.peer_busy = kind == Kind.RNR
        if command and pf:
            self._send_s(Kind.RNR if self.own_busy else Kind.RR, self._rsp_cr, True)
            self._ack_pending = False
        if not self._nr_valid(nr):
            self._nr_error(now)
            return
        if self.state == ESTABLISHED:
            if not command and pf:
                self._mdl_error("A")
            if kind == Kind.RR:
                self._ack_in_established(nr, now)
            elif kind == Kind.REJ:
                self._acknowledge(nr)
                self._t200 = None
                self._t203 = now + self.timers.t203
                self._retransmit()
            else:  # RNR: stop sending, poll the busy peer when T200 runs out
                self._acknowledge(nr)
                self._t203 = None
                self._t200 = now + self.timers.t200
            return
        # timer recovery: only a final response ends it
        self._acknowledge(nr)
        if not command and pf:
            self._rc = 0
            self.state = ESTABLISHED
            if self.peer_busy:
                self._t203 = None
                self._t200 = now + self.timers.t200
            else:
                self._t200 = None
                self._t203 = now + self.timers.t203
                self._retransmit()

    def _ack_in_established(self, nr: int, now: float) -> None:
        if nr == self._vs:
            self._acknowledge(nr)
            self._t200 = None
            self._t203 = now + self.timers.t203
        elif nr != self._va:
            self._acknowledge(nr)
            self._t200 = now + self.timers.t200

    def _nr_valid(self, nr: int) -> bool:
        return (nr - self._va) % MODULO <= (self._vs - self._va) % MODULO

    def _acknowledge(self, nr: int) -> None:
        for _ in range((nr - self._va) % MODULO):
            self._iqueue.popleft()
        self._va = nr

    def _retransmit(self) -> None:
        n = (self._vs - self._va) % MODULO
        if n:
            self.counters["retransmitted"] += n
            self._vs = self._va

    def _nr_error(self, now: float) -> None:
        self.counters["rx_nr_error"] += 1
        self._mdl_error("J")
        self._reestablish(now)

    # ------------------------------------------------------------------ unnumbered frames
    def _rx_sabme(self, f: Frame, now: float) -> None:
        state = self.state
        if state == AWAITING_RELEASE:
            self._send_u(Kind.DM, self._rsp_cr, f.pf)
            return
        self._send_u(Kind.UA, self._rsp_cr, f.pf)
        if state == AWAITING_ESTABLISHMENT:
            return  # collision: our own SABME's UA completes the establishment
        if state in _LINK_UP:
            self._mdl_error("F")
            self.counters["peer_reset"] += 1
            if self._vs != self._va:
                self.counters["discarded_i"] += len(self._iqueue)
                self._iqueue.clear()
        self._wanted_up = True
        self._retry = None
        self._enter_established(now)

    def _rx_disc(self, f: Frame, now: float) -> None:
        state = self.state
        if state in (RELEASED, AWAITING_ESTABLISHMENT):
            self._send_u(Kind.DM, self._rsp_cr, f.pf)
            return
        self._send_u(Kind.UA, self._rsp_cr, f.pf)
        if state == AWAITING_RELEASE:
            return
        self._wanted_up = False
        self._drop_iqueue()
        self._enter_released()
        self._report_released()

    def _rx_ua(self, f: Frame, now: float) -> None:
        state = self.state
        if state == AWAITING_ESTABLISHMENT and f.pf:
            self._enter_established(now)
        elif state == AWAITING_RELEASE and f.pf:
            self._enter_released()
            self._report_released(force=True)
        else:
            self._mdl_error("C" if f.pf else "D")

    def _rx_dm(self, f: Frame, now: float) -> None:
        state = self.state
        if state in _LINK_UP:
            if f.pf:
                self._mdl_error("B")
                if state == TIMER_RECOVERY:
                    self._reestablish(now)
            else:
                self._mdl_error("E")
                self._reestablish(now)
        elif state == AWAITING_ESTABLISHMENT and f.pf:
            self.counters["establishment_refused"] += 1
            self._enter_released()
            self._report_released()
            if self._wanted_up:
                self._retry = now + self.timers.t200
        elif state == AWAITING_RELEASE and f.pf:
            self._enter_released()
            self._report_released(force=True)
        elif state == RELEASED and not f.pf and self._wanted_up:
            self._establish_data_link(now)

    def _rx_frmr(self, f: Frame, now: float) -> None:
        if self.state in _LINK_UP:
            self._mdl_error("K")
            self._reestablish(now)
        else:
            self.counters["rx_ignored"] += 1

    def _rx_ui(self, f: Frame, now: float) -> None:
        self._events.append(DlUnitData(f.info))

    # ------------------------------------------------------------------ procedures
    def _establish_data_link(self, now: float) -> None:
        """Q.921 'establish data link': SABME with P=1, T200 running, state 5."""
        self._retry = None
        self.peer_busy = False
        self._reject_exception = False
        self._ack_pending = False
        self._rc = 0
        self._send_u(Kind.SABME, self._cmd_cr, True)
        self._t203 = None
        self._t200 = now + self.timers.t200
        self.state = AWAITING_ESTABLISHMENT

    def _reestablish(self, now: float) -> None:
        """Recovery from an error in states 7/8: report the outage, drop the I queue, and start over."""
        self.counters["reestablishments"] += 1
        self._drop_iqueue()
        self._report_released()
        self._wanted_up = True
        self._establish_data_link(now)

    def _enter_established(self, now: float) -> None:
        self._vs = self._va = self._vr = 0
        self._rc = 0
        self.peer_busy = False
        self._reject_exception = False
        self._ack_pending = False
        self._t200 = None
        self._t203 = now + self.timers.t203
        self.state = ESTABLISHED
        self._released_reported = False
        self.counters["established"] += 1
        self._events.append(DlEstablished())

    def _enter_released(self) -> None:
        self._t200 = self._t203 = None
        self.state = RELEASED

    def _drop_iqueue(self) -> None:
        if self._iqueue:
            self.counters["discarded_i"] += len(self._iqueue)
            self._iqueue.clear()
        self._vs = self._va

    def _report_released(self, force: bool = False) -> None:
        if force or not self._released_reported:
            self._released_reported = True
            self._events.append(DlReleased())

    def _mdl_error(self, code: str) -> None:
        self.counters["mdl_error_" + code] += 1
        self._events.append(DlError(code))

    def _transmit_enquiry(self, now: float) -> None:
        self._send_s(Kind.RNR if self.own_busy else Kind.RR, self._cmd_cr, True)
        self._ack_pending = False
        self._t200 = now + self.timers.t200

    def _t200_expired(self, now: float) -> None:
        state = self.state
        self.counters["t200_expiry"] += 1
        if state == ESTABLISHED:
            self._rc = 0
            self._transmit_enquiry(now)
            self._rc = 1
            self.state = TIMER_RECOVERY
        elif state == TIMER_RECOVERY:
            if self._rc >= self.timers.n200:
                self._mdl_error("I")
                self._reestablish(now)
            else:
                self._rc += 1
                self._transmit_enquiry(now)
        elif state == AWAITING_ESTABLISHMENT:
            if self._rc >= self.timers.n200:
                self._mdl_error("G")
                self._enter_released()
                self._report_released()
                if self._wanted_up:  # PRI links stay up: keep calling, one SABME per T200
                    self._establish_data_link(now)
            else:
                self._rc += 1
                self._send_u(Kind.SABME, self._cmd_cr, True)
                self._t200 = now + self.timers.t200
        elif state == AWAITING_RELEASE:
            if self._rc >= self.timers.n200:
                self._mdl_error("H")
                self._enter_released()
                self._report_released(force=True)
            else:
                self._rc += 1
                self._send_u(Kind.DISC, self._cmd_cr, True)
                self._t200 = now + self.timers.t200

    def _push_i_frames(self, now: float) -> None:
        if self.state != ESTABLISHED or self.peer_busy:
            return
        k = self.timers.k
        while True:
            outstanding = (self._vs - self._va) % MODULO
            if outstanding >= k or outstanding >= len(self._iqueue):
                return
            payload = self._iqueue[outstanding]
            self._out.append(self._addr_cmd + bytes((self._vs << 1, self._vr << 1)) + payload)
            self.counters["tx_I"] += 1
            self._vs = (self._vs + 1) % MODULO
            self._ack_pending = False
            if self._t200 is None:
                self._t203 = None
                self._t200 = now + self.timers.t200

    def _flush(self, now: float) -> None:
        self._push_i_frames(now)

    def _send_s(self, kind: str, cr: int, pf: bool) -> None:
        if self.layer1_up:
            address = self._addr_cmd if cr == self._cmd_cr else self._addr_rsp
            self._out.append(address + bytes((_S_CODE[kind], (self._vr << 1) | (1 if pf else 0))))
            self.counters["tx_" + kind] += 1

    def _send_u(self, kind: str, cr: int, pf: bool) -> None:
        if self.layer1_up:
            self._out.append(encode(Frame(kind, cr, pf, None, None, b"", self.sapi, self.tei)))
            self.counters["tx_" + kind] += 1


_S_KINDS = (Kind.RR, Kind.RNR, Kind.REJ)
_S_CODE = {Kind.RR: 0x01, Kind.RNR: 0x05, Kind.REJ: 0x09}
_S_BY_CODE = {v: k for k, v in _S_CODE.items()}
_U_COMMANDS = (Kind.SABME, Kind.DISC, Kind.UI)
_U_HANDLERS = {
    Kind.SABME: Lapd._rx_sabme,
    Kind.DISC: Lapd._rx_disc,
    Kind.UA: Lapd._rx_ua,
    Kind.DM: Lapd._rx_dm,
    Kind.FRMR: Lapd._rx_frmr,
    Kind.UI: Lapd._rx_ui,
}
