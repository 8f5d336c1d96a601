"""Fuzz: random and mutated Q.931 messages into both roles.  Nothing raises, everything we send
back is a well-formed message, the channel table stays consistent, and once the layer above
hangs up everything returns to idle (no call stuck).

The suite runs 100,000 frames per role (a few seconds); set Q931_FUZZ_FRAMES (and Q931_FUZZ_SEED) for a longer run."""

import os
import random

import pytest

from firmware.isdn.q931 import ies as ie
from firmware.isdn.q931.channels import ChannelState
from firmware.isdn.q931.events import IncomingCall
from firmware.isdn.q931.link import CallStateError, Q931Link
from firmware.isdn.q931.messages import MessageType as MT, decode, encode

FRAMES = int(os.environ.get("Q931_FUZZ_FRAMES", "100000"))
SEED = os.environ.get("Q931_FUZZ_SEED", "")


def corpus():
    items = [
        (MT.SETUP, [ie.SendingComplete(), ie.BearerCapability(), ie.ChannelId(3), ie.CallingNumber("021234"),
                    ie.CalledNumber("1588"), ie.RedirectingNumber("0701234", reason=15)]),
        (MT.SETUP, [ie.BearerCapability(ie.TransferCapability.AUDIO_3K1, ie.Layer1.ULAW),
                    ie.ChannelId(17, exclusive=False), ie.CalledNumber("12")]),
        (MT.SETUP, [ie.BearerCapability(), ie.ChannelId(None, any_channel=True), ie.Display("hi")]),
        (MT.SETUP_ACKNOWLEDGE, [ie.ChannelId(3)]), (MT.CALL_PROCEEDING, [ie.ChannelId(3)]),
        (MT.ALERTING, [ie.ProgressIndicator(8)]), (MT.CONNECT, [ie.ConnectedNumber("99")]),
        (MT.CONNECT_ACKNOWLEDGE, []), (MT.PROGRESS, [ie.ProgressIndicator(1)]),
        (MT.INFORMATION, [ie.CalledNumber("5")]), (MT.INFORMATION, [ie.SendingComplete(), ie.CalledNumber("6")]),
        (MT.DISCONNECT, [ie.Cause(16), ie.ProgressIndicator(8)]), (MT.RELEASE, [ie.Cause(16)]),
        (MT.RELEASE_COMPLETE, [ie.Cause(17)]), (MT.STATUS, [ie.Cause(30), ie.CallState(10)]),
        (MT.STATUS, [ie.Cause(30), ie.CallState(0)]), (MT.STATUS_ENQUIRY, []),
        (MT.NOTIFY, [ie.NotificationIndicator(0)]), (MT.FACILITY, [ie.Facility(b"\x91\xa1\x03\x02\x01\x01")]),
    ]
    out = []
    for mtype, items_ in items:
        for ref in (1, 2, 3):
            for flag in (0, 1):
                out.append(encode(mtype, ref, flag, items_))
    out.append(encode(MT.RESTART, 0, 0, [ie.ChannelId(3), ie.RestartIndicator(0)]))
    out.append(encode(MT.RESTART, 0, 0, [ie.RestartIndicator(7)]))
    out.append(encode(MT.RESTART_ACKNOWLEDGE, 0, 1, [ie.RestartIndicator(7)]))
    return out


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    kind = rng.random()
    if kind < 0.1:
        return rng.randbytes(rng.randrange(0, 40))
    data = bytearray(rng.choice(seeds))
    if kind < 0.2:
        return bytes(b"\x08\x02" + rng.randbytes(rng.randrange(0, 30)))
    if kind < 0.4:
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif kind < 0.55:
        data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind < 0.65:
        del data[rng.randrange(3, len(data) + 1):]
    elif kind < 0.75:
        i = rng.randrange(5, len(data) + 1)
        data[i:i] = bytes((rng.randrange(256), rng.randrange(6))) + rng.randbytes(rng.randrange(6))
    elif kind < 0.85:
        other = rng.choice(seeds)
        data = data[:rng.randrange(5, len(data) + 1)] + other[rng.randrange(5, len(other) + 1):]
    # else: the message unchanged, so calls progress through real states
    return bytes(data)


def check_consistent(link: Q931Link) -> None:
    channels = link.channels
    for ts, state in channels.state.items():
        owner = channels.owner.get(ts)
        if state is ChannelState.IN_USE:
            assert owner in link.calls, f"timeslot {ts} in use by vanished call {owner}"
    for call in link.calls.values():
        assert call.state != 0
        if call.timeslot is not None:
            assert channels.owner.get(call.timeslot) == call.id, f"{call} lost its channel"


def drive_upper_layer(link: Q931Link, rng: random.Random, now: float) -> None:
    while (ev := link.next_event()) is not None:
        if isinstance(ev, IncomingCall) and rng.random() < 0.7:
            action = rng.choice(("proceed", "alert", "answer", "setup_ack", "reject"))
            if action == "reject":
                link.disconnect(ev.call_id, now, 17)
            else:
                getattr(link, action)(ev.call_id, now)
    if rng.random() < 0.02 and link.calls:
        call_id = rng.choice(list(link.calls))
        action = rng.choice(("alert", "answer", "disconnect", "status_enquiry", "send_info", "progress"))
        try:
            if action == "send_info":
                link.send_info(call_id, "7", now)
            else:
                getattr(link, action)(call_id, now)
        except CallStateError:
            pass
    if rng.random() < 0.01:
        try:
            link.setup("123", now)
        except CallStateError:
            pass


@pytest.mark.parametrize("role", ["user", "network"])
def test_fuzzed_messages_never_raise_and_leave_no_call_stuck(role):
    rng = random.Random(f"q931-{role}{SEED}")
    seeds = corpus()
    link = Q931Link(role, hold_inband_disconnect=role == "user")
    link.dl_established(0.0)
    now = 0.0
    answered = 0
    for i in range(FRAMES):
        link.receive(mutate(rng, seeds), now)
        if link.counters["internal_error"]:
            raise AssertionError(link.next_event())
        drive_upper_layer(link, rng, now)
        for payload in link.payloads_to_send():
            msg = decode(payload)                 # our own output is always well formed
            assert not msg.invalid and not msg.unrecognized
            answered += 1
        if i % 64 == 0:
            check_consistent(link)
            now += rng.choice((0.01, 0.5, 5.0))
            t = link.get_timer()
            if t is not None and t <= now:
                link.handle_timer(now)
        if i % 5000 == 0 and rng.random() < 0.3:
            link.dl_released(now)
            link.dl_established(now + 1)
    assert link.counters["internal_error"] == 0, [e for e in iter(link.next_event, None)]
    assert answered > FRAMES // 10
    # The layer above hangs up everything; with a silent peer, timers finish the job.
    for call_id in list(link.calls):
        link.disconnect(call_id, now)
    for _ in range(50):
        t = link.get_timer()
        if t is None:
            break
        now = max(now, t)
        link.handle_timer(now)
        link.payloads_to_send()
        while link.next_event() is not None:
            pass
    assert not link.calls, link.calls
    assert link.get_timer() is None
    assert not any(s is ChannelState.IN_USE for s in link.channels.state.values())


STACK_FRAMES = int(os.environ.get("Q931_FUZZ_STACK_FRAMES", "20000"))


@pytest.mark.parametrize("role", ["user", "network"])
def test_fuzzed_messages_through_lapd_into_the_whole_stack(role):
    """The same mutations carried in real I-frames by a far-end LAPD, into a PriStack."""
    from firmware.isdn.lapd import Lapd, Role
    from firmware.isdn.stack import PriStack

    rng = random.Random(f"stack-{role}{SEED}")
    seeds = corpus()
    stack = PriStack(role)
    far = Lapd(Role.NETWORK if role == "user" else Role.USER)
    now = 0.0
    stack.start(now)
    far.establish(now)

    def pump():
        moved = True
        while moved:
            moved = False
            for frame in stack.frames_to_send():
                moved = True
                far.receive_frame(frame, now)
            for frame in far.frames_to_send():
                moved = True
                stack.receive_frame(frame, now)
        while far.next_event() is not None:
            pass

    pump()
    assert stack.lapd.established
    for i in range(STACK_FRAMES):
        far.send(mutate(rng, seeds), now)
        pump()
        drive_upper_layer(stack, rng, now)
        pump()
        if i % 64 == 0:
            check_consistent(stack.q931)
            now += rng.choice((0.01, 0.5, 5.0))
            for side in (stack, far):
                t = side.get_timer()
                if t is not None and t <= now:
                    side.handle_timer(now)
            pump()
    assert stack.q931.counters["internal_error"] == 0
    assert stack.lapd.established
    assert stack.q931.counters["rx_messages"] > STACK_FRAMES // 2 and stack.q931._next_id > 100
    for call_id in list(stack.calls):
        stack.disconnect(call_id, now)
    for _ in range(100):
        pump()
        t = stack.q931.get_timer()
        if t is None:
            break
        now = max(now, t)
        stack.handle_timer(now)
        far.handle_timer(now)
    assert not stack.calls
    assert not any(s is ChannelState.IN_USE for s in stack.channels.state.values())
