"""Property-based tests: the frame codec round-trips, and nothing a peer sends can raise."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.isdn.lapd import DlData, Lapd, LapdTimers, Role
from firmware.isdn.lapd_frames import MAX_INFO, Frame, FrameError, Kind, decode, encode
from tests.support.lapd_wire import Wire

seq = st.integers(0, 127)
address = dict(sapi=st.integers(0, 63), tei=st.integers(0, 127), cr=st.integers(0, 1), pf=st.booleans())
info = st.binary(max_size=MAX_INFO)

i_frames = st.builds(Frame, kind=st.just(Kind.I), ns=seq, nr=seq, info=info, **address)
s_frames = st.builds(Frame, kind=st.sampled_from([Kind.RR, Kind.RNR, Kind.REJ]), nr=seq, **address)
u_frames = st.builds(Frame, kind=st.sampled_from([Kind.SABME, Kind.DM, Kind.DISC, Kind.UA]), **address)
u_info_frames = st.builds(Frame, kind=st.sampled_from([Kind.UI, Kind.FRMR, Kind.XID]), info=info, **address)
any_frame = st.one_of(i_frames, s_frames, u_frames, u_info_frames)


@given(any_frame)
def test_every_frame_kind_encodes_and_decodes_back(frame):
    assert decode(encode(frame)) == frame


@given(st.binary(max_size=300))
def test_decode_either_returns_a_frame_that_reencodes_or_raises_frame_error(data):
    try:
        frame = decode(data)
    except FrameError as exc:
        assert exc.reason in {"too_short", "bad_address", "bad_control", "info_not_permitted", "too_long"}
        return
    assert encode(frame) == data


def _established_pair():
    timers = LapdTimers(t200=0.5, t203=2.0)
    w = Wire(Lapd(Role.USER, timers), Lapd(Role.NETWORK, timers))
    w.a.establish(w.now)
    w.a.send(b"x", w.now)
    w.pump()
    return w


def _mutate(frame: bytes, ops) -> bytes:
    b = bytearray(frame)
    for pos, value, how in ops:
        if how == 0 and b:
            b[pos % len(b)] = value
        elif how == 1 and b:
            b[pos % len(b)] ^= 1 << (value % 8)
        elif how == 2:
            del b[pos % (len(b) + 1):]
        else:
            b.insert(pos % (len(b) + 1), value)
    return bytes(b)


mutation = st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255), st.integers(0, 3)), max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.binary(max_size=12),
                          st.tuples(any_frame, mutation).map(lambda t: _mutate(encode(t[0]), t[1])),
                          any_frame.map(encode)), max_size=25),
       st.sampled_from(["a", "b"]), st.lists(st.floats(0, 3), max_size=25))
def test_random_and_mutated_frames_into_either_role_raise_nothing_and_the_link_recovers(frames, side, gaps):
    w = _established_pair()
    target = getattr(w, side)
    for i, frame in enumerate(frames):
        target.receive_frame(frame, w.now)
        w.pump()
        if i < len(gaps):
            w.run_for(gaps[i])
    # Whatever happened, the two ends find each other again and carry data.
    w.run_for(10.0)
    w.take_events("b")
    w.a.send(b"still alive", w.now)
    w.run_for(5.0)
    assert w.a.established and w.b.established
    assert data_of(w.take_events("b"))[-1:] == [b"still alive"]


def data_of(events):
    return [e.payload for e in events if isinstance(e, DlData)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=40, max_size=200), st.integers(1, 60))
def test_lossy_wire_delivers_in_order_without_duplicates(loss_pattern, count):
    w = _established_pair()
    w.take_events("b")
    pattern = iter(loss_pattern * 3)  # then the wire heals
    w.drop = lambda d, f: next(pattern, False)
    payloads = [i.to_bytes(2, "big") for i in range(count)]
    for p in payloads:
        w.a.send(p, w.now)
        w.pump()
    w.run_for(120.0)
    got = [int.from_bytes(p, "big") for p in data_of(w.take_events("b"))]
    assert got == sorted(set(got))  # in order, never twice
    if w.a.counters["reestablishments"] == 0 and w.b.counters["reestablishments"] == 0:
        assert got == list(range(count))


def test_a_hundred_thousand_random_and_mutated_frames_into_both_roles_raise_nothing():
    import random

    rng = random.Random(931)
    w = _established_pair()
    valid = [encode(Frame(k, cr, pf, ns=ns, nr=nr, info=b"\x08\x02\x00\x01\x05"[:n]))
             for k in (Kind.I,) for cr in (0, 1) for pf in (False, True) for ns in (0, 5, 127)
             for nr in (0, 1, 127) for n in (0, 5)]
    valid += [encode(Frame(k, cr, pf, nr=nr)) for k in (Kind.RR, Kind.RNR, Kind.REJ)
              for cr in (0, 1) for pf in (False, True) for nr in (0, 1, 2, 127)]
    valid += [encode(Frame(k, cr, pf)) for k in (Kind.SABME, Kind.DM, Kind.DISC, Kind.UA, Kind.UI)
              for cr in (0, 1) for pf in (False, True)]
    for i in range(100_000):
        if i % 3 == 0:
            frame = rng.randbytes(rng.randrange(0, 12))
        else:
            b = bytearray(rng.choice(valid))
            for _ in range(rng.randrange(0, 3)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            frame = bytes(b)
        side = w.a if i % 2 else w.b
        side.receive_frame(frame, w.now)
        side.frames_to_send()  # what a confused entity says is dropped, not delivered
        if i % 1000 == 999:
            w.run_for(0.3)
    w.run_for(10.0)
    w.take_events("b")
    w.a.send(b"survived", w.now)
    w.run_for(5.0)
    assert w.a.established and w.b.established
    assert data_of(w.take_events("b"))[-1:] == [b"survived"]
    assert w.a.counters["rx_frames"] + w.b.counters["rx_frames"] >= 100_000
