"""The emulated wire on its own: whole frames in datagrams over a real Unix SEQPACKET socket,
bad datagrams counted and dropped, stale and foreign socket paths, far ends coming and going."""

import logging
import os
import socket

import numpy as np
import pytest

from drivers.seqpacket import SocketPathError
from drivers.wire import FRAME_OCTETS, LockstepWire, UnixSeqpacketWire


def frames(n, start=0):
    return (np.arange(start, start + n * FRAME_OCTETS) % 251).astype(np.uint8).reshape(n, FRAME_OCTETS)


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "wire.sock")


def attached_pair(path, n=8):
    listener = UnixSeqpacketWire(path, "listen", n)
    connector = UnixSeqpacketWire(path, "connect", n)
    listener.open()
    connector.open()
    connector.poll(0.0)
    listener.poll(0.0)
    assert listener.connected and connector.connected
    return listener, connector


def test_frames_cross_the_socket_in_datagrams_of_n_frames(path):
    listener, connector = attached_pair(path, n=8)
    sent = frames(24)
    connector.send(sent)
    got = listener.receive()
    assert np.array_equal(got, sent)
    assert connector.stats.datagrams_tx == 3 and listener.stats.datagrams_rx == 3
    listener.send(sent[:8])
    assert np.array_equal(connector.receive(), sent[:8])
    listener.close()
    connector.close()
    assert not os.path.exists(path)


def test_datagrams_on_the_socket_are_whole_frames(path):
    listener = UnixSeqpacketWire(path, "listen", 8)
    listener.open()
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    raw.connect(path)
    listener.poll(0.0)
    listener.send(frames(16))
    raw.settimeout(1)
    sizes = [len(raw.recv(4096)), len(raw.recv(4096))]
    assert sizes == [8 * 32, 8 * 32]
    raw.close()
    listener.close()


def test_a_datagram_that_is_not_whole_frames_is_counted_logged_and_dropped(path, caplog):
    listener = UnixSeqpacketWire(path, "listen", 8)
    listener.open()
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    raw.connect(path)
    listener.poll(0.0)
    good = frames(2)
    raw.send(b"\x55" * 33)
    raw.send(good.tobytes())
    raw.send(b"\x01" * 70000)                    # larger than any peer may send
    raw.send(b"\x02" * 31)
    with caplog.at_level(logging.WARNING, logger="pribox.wire"):
        got = listener.receive()
    assert np.array_equal(got, good)
    assert listener.stats.bad_datagrams == 3
    text = caplog.text
    assert "33 octets" in text and "31 octets" in text and "more than 65536 octets" in text
    raw.close()
    listener.close()


def test_connector_waits_for_the_listener_and_reconnects_after_it_leaves(path):
    connector = UnixSeqpacketWire(path, "connect", 8, retry_interval=0.5)
    connector.open()
    connector.poll(0.0)
    assert not connector.connected
    connector.send(frames(8))                    # an unplugged cable: the frames go nowhere
    listener = UnixSeqpacketWire(path, "listen", 8)
    listener.open()
    connector.poll(0.2)                          # retry not due yet
    assert not connector.connected
    connector.poll(0.5)
    listener.poll(0.5)
    assert connector.connected and listener.connected
    listener.close()
    connector.receive()                          # sees end of file
    assert not connector.connected and connector.stats.disconnects == 1
    listener = UnixSeqpacketWire(path, "listen", 8)
    listener.open()
    connector.poll(1.0)
    listener.poll(1.0)
    assert connector.connected
    connector.send(frames(8))
    assert len(listener.receive()) == 8
    listener.close()
    connector.close()


def test_listener_takes_the_next_far_end_after_one_leaves(path):
    listener, connector = attached_pair(path)
    connector.close()
    assert len(listener.receive()) == 0
    assert not listener.connected
    second = UnixSeqpacketWire(path, "connect", 8)
    second.poll(0.0)
    listener.poll(0.0)
    assert listener.connected
    second.close()
    listener.close()


def test_stale_socket_file_is_replaced_but_a_live_listener_or_a_plain_file_is_not(path, tmp_path):
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    stale.bind(path)
    stale.close()                                # the file stays, nobody listens
    first = UnixSeqpacketWire(path, "listen")
    first.open()
    with pytest.raises(SocketPathError, match="already listening"):
        UnixSeqpacketWire(path, "listen").open()
    first.close()
    plain = tmp_path / "plain"
    plain.write_text("not a socket")
    with pytest.raises(SocketPathError, match="not a socket"):
        UnixSeqpacketWire(str(plain), "listen").open()
    assert plain.read_text() == "not a socket"


def test_send_refuses_frames_that_do_not_fill_whole_datagrams():
    a, b = LockstepWire.pair(8)
    with pytest.raises(ValueError, match=r"\(k\*8, 32\)"):
        a.send(frames(5))


def test_lockstep_pair_carries_frames_and_counts_injected_garbage():
    a, b = LockstepWire.pair(4)
    a.send(frames(8))
    b.inject(b"\x00" * 40)
    assert len(b.receive()) == 8
    assert b.stats.bad_datagrams == 1
    b.plugged = False
    a.send(frames(4))
    assert len(b.receive()) == 0


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=400), max_size=20))
def test_any_datagrams_yield_only_whole_frames_and_count_the_rest(datagrams):
    _, end = LockstepWire.pair(8)
    for data in datagrams:
        end.inject(data)
    got = end.receive()
    whole = [d for d in datagrams if d and len(d) % FRAME_OCTETS == 0]
    assert got.shape == (sum(len(d) for d in whole) // FRAME_OCTETS, FRAME_OCTETS)
    assert got.tobytes() == b"".join(whole)
    assert end.stats.bad_datagrams == len(datagrams) - len(whole)
