"""Our PriStack facing real libpri over a SOCK_SEQPACKET socketpair, in real time (libpri keeps
its own wall-clock timers), for interop tests.

libpri reads and writes frames with DAHDI hdlcfcs semantics (two FCS octets at the end of every
frame), so two placeholder octets are added on the way to libpri and cut on the way back.
`tap` keeps every frame with its direction ("tx" from us, "rx" to us) for pcap captures."""

from __future__ import annotations

import select
import socket
import time

from firmware.isdn.stack import PriStack
from hil_tests.peers._libpri import ffi, lib

PRI_NETWORK, PRI_CPE, PRI_SWITCH_EUROISDN_E1 = 1, 2, 5
EV = {"DCHAN_UP": 1, "DCHAN_DOWN": 2, "RESTART": 3, "RING": 5, "HANGUP": 6, "RINGING": 7, "ANSWER": 8,
      "HANGUP_ACK": 9, "RESTART_ACK": 10, "INFO_RECEIVED": 12, "PROCEEDING": 13, "SETUP_ACK": 14,
      "HANGUP_REQ": 15, "NOTIFY": 16, "PROGRESS": 17}
NAMES = {v: k for k, v in EV.items()}
ALAW = 0x23
NATIONAL_ISDN = 0x21


class LpEvent:
    def __init__(self, raw):
        self.type = NAMES.get(raw.type, str(raw.type))
        self.channel = raw.channel & 0xFF if raw.channel >= 0 else None
        self.cause = raw.cause
        self.call = raw.call
        self.complete = raw.complete
        self.layer1 = raw.layer1
        self.callednum = ffi.string(raw.callednum).decode()
        self.callingnum = ffi.string(raw.callingnum).decode()
        self.redirectingnum = ffi.string(raw.redirectingnum).decode()
        self.redirectingreason = raw.redirectingreason
        self.digits = ffi.string(raw.digits).decode()

    def __repr__(self):
        return f"<libpri {self.type} ch={self.channel} cause={self.cause} called={self.callednum!r}>"


class LibpriLink:
    def __init__(self, our_role: str, **stack_kwargs):
        self.ours, self.theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.ours.setblocking(False)
        self.peer = lib.lp_new(self.theirs.fileno(), PRI_CPE if our_role == "network" else PRI_NETWORK,
                               PRI_SWITCH_EUROISDN_E1, 0)
        assert self.peer != ffi.NULL, "libpri refused to start"
        self.stack = PriStack(our_role, **stack_kwargs)
        self.lp_events: list[LpEvent] = []
        self.events: list = []
        self.tap: list[tuple[str, float, bytes]] = []
        self.cut = False
        self._raw = ffi.new("lp_event *")
        self.started = time.monotonic()

    def close(self) -> None:
        self.ours.close()
        self.theirs.close()
        lib.lp_free(self.peer)

    @staticmethod
    def now() -> float:
        return time.monotonic()

    def libpri_log(self) -> str:
        buf = ffi.new("char[]", 65536)
        lib.lp_take_log(buf, 65536)
        return ffi.string(buf).decode(errors="replace")

    # ------------------------------------------------------------------ the loop
    def _flush(self) -> None:
        for frame in self.stack.frames_to_send():
            self.tap.append(("tx", self.now(), frame))
            if not self.cut:
                try:
                    self.ours.send(frame + b"\x00\x00")
                except BlockingIOError:
                    pass

    def _collect(self) -> None:
        while (ev := self.stack.next_event()) is not None:
            self.events.append(ev)

    def step(self, max_wait: float = 0.05) -> None:
        self._flush()
        now = self.now()
        waits = [max_wait]
        t = self.stack.get_timer()
        if t is not None:
            waits.append(max(0.0, t - now))
        ms = lib.lp_next_timeout_ms(self.peer)
        if ms >= 0:
            waits.append(ms / 1000.0)
        readable, _, _ = select.select([self.ours, self.theirs], [], [], min(waits))
        if self.theirs in readable:
            while select.select([self.theirs], [], [], 0)[0]:
                if lib.lp_on_readable(self.peer, self._raw):
                    self._libpri_event()
        if self.ours in readable:
            while True:
                try:
                    data = self.ours.recv(4096)
                except BlockingIOError:
                    break
                if not data:
                    break
                frame = data[:-2]
                self.tap.append(("rx", self.now(), frame))
                if not self.cut:
                    self.stack.receive_frame(frame, self.now())
        if lib.lp_next_timeout_ms(self.peer) == 0:
            if lib.lp_on_timer(self.peer, self._raw):
                self._libpri_event()
        t = self.stack.get_timer()
        if t is not None and t <= self.now():
            self.stack.handle_timer(self.now())
        self._flush()
        self._collect()

    def _libpri_event(self) -> None:
        ev = LpEvent(self._raw)
        self.lp_events.append(ev)
        # What chan_dahdi does: a DISCONNECT or RELEASE from the far end is answered by hanging up.
        if ev.type in ("HANGUP", "HANGUP_REQ") and ev.call != ffi.NULL:
            lib.lp_hangup(self.peer, ev.call, ev.cause if ev.cause > 0 else 16)

    def run_for(self, seconds: float) -> None:
        until = self.now() + seconds
        while self.now() < until:
            self.step(min(0.05, max(0.0, until - self.now())))

    def wait_libpri(self, kind: str, timeout: float = 5.0) -> LpEvent:
        """The first not yet taken libpri event of `kind`, waiting for it if need be."""
        deadline = self.now() + timeout
        while True:
            for i, ev in enumerate(self.lp_events):
                if ev.type == kind:
                    return self.lp_events.pop(i)
            if self.now() > deadline:
                raise AssertionError(f"libpri gave no {kind} within {timeout} s; it gave {self.lp_events}\n"
                                     f"{self.libpri_log()}")
            self.step()

    def wait_ours(self, kind, timeout: float = 5.0):
        deadline = self.now() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if isinstance(ev, kind):
                    return self.events.pop(i)
            if self.now() > deadline:
                raise AssertionError(f"our stack gave no {kind.__name__} within {timeout} s; it gave {self.events}")
            self.step()

    def up(self) -> None:
        from firmware.isdn.stack import DataLinkUp
        self.stack.start(self.now())
        self.wait_ours(DataLinkUp)
        self.wait_libpri("DCHAN_UP")

    # ------------------------------------------------------------------ libpri actions
    def lp_setup(self, called: str, channel: int, *, exclusive=True, calling="0212345678", redirecting="",
                 reason=0, complete=True):
        call = lib.lp_new_call(self.peer)
        assert call != ffi.NULL
        res = lib.lp_setup(self.peer, call, channel, int(exclusive), called.encode(), NATIONAL_ISDN,
                           calling.encode(), NATIONAL_ISDN, 0, redirecting.encode(), reason, int(complete), ALAW)
        assert res == 0, f"pri_setup failed: {self.libpri_log()}"
        return call
