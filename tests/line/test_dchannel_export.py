"""D-channel export: two spans joined by a wire, each offering its D-channel on a SEQPACKET
socket with DAHDI hdlcfcs semantics, each driven by a real libpri (hil_tests/peers/libpri.py).
libpri's layer 2 comes up (SABME / UA) across the emulated E1."""

import select
import socket

import pytest

from drivers.lockstep import LockstepLine
from drivers.span import SpanError
from hil_tests.peers._libpri import ffi, lib
from hil_tests.peers.libpri import DEBUG_DEFAULT, PRI_CPE, PRI_NETWORK, PRI_SWITCH_EUROISDN_E1, LibpriPeer

PRI_EVENT_DCHAN_UP = 1

SABME, UA = 0x7F, 0x73   # control octets with the P/F bit set


def attach(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.connect(path)
    return sock


def libpri_messages():
    return LibpriPeer.take_log()


def new_libpri(sock, node):
    """libpri on `sock`, driven synchronously: the lockstep test polls it between line steps."""
    return lib.lp_new(sock.fileno(), node, PRI_SWITCH_EUROISDN_E1, DEBUG_DEFAULT), ffi.new("lp_event *")


def crc_ccitt_fcs(data):
    """FCS-16 per ISO 13239, written here independently of dsp/line.py."""
    crc = 0xFFFF
    for octet in data:
        crc ^= octet
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


@pytest.fixture
def exported_line(tmp_path):
    nt_path, te_path = str(tmp_path / "nt.dchan"), str(tmp_path / "te.dchan")
    line = LockstepLine(nt_config=dict(dchannel_export=nt_path), te_config=dict(dchannel_export=te_path))
    with line:
        yield line, nt_path, te_path


def test_libpri_brings_layer_2_up_across_the_emulated_e1(exported_line):
    line, nt_path, te_path = exported_line
    line.run_until(line.aligned, timeout=0.5)
    taps = {1: [], 2: []}
    line.nt.dchannel_export.tap = lambda d, f: taps[1].append((d, f))
    line.te.dchannel_export.tap = lambda d, f: taps[2].append((d, f))
    network_sock, cpe_sock = attach(nt_path), attach(te_path)
    stacks = {"network": (network_sock, *new_libpri(network_sock, PRI_NETWORK)),
              "cpe": (cpe_sock, *new_libpri(cpe_sock, PRI_CPE))}
    up = set()
    for _ in range(3000):                    # at most 3 s of line; libpri's T200 is 1 s
        line.run(0.001)
        readable, _, _ = select.select([s for s, _, _ in stacks.values()], [], [], 0)
        for name, (sock, pri, event) in stacks.items():
            if sock in readable and lib.lp_on_readable(pri, event) and event.type == PRI_EVENT_DCHAN_UP:
                up.add(name)
            if lib.lp_next_timeout_ms(pri) == 0 and lib.lp_on_timer(pri, event) and event.type == PRI_EVENT_DCHAN_UP:
                up.add(name)
        if up == {"network", "cpe"}:
            break
    log = libpri_messages()
    assert up == {"network", "cpe"}, log
    for span_id in (1, 2):
        sent = [f for d, f in taps[span_id] if d == "tx"]
        received = [f for d, f in taps[span_id] if d == "rx"]
        assert SABME in [f[2] for f in sent if len(f) >= 3]
        assert UA in [f[2] for f in sent + received if len(f) >= 3]
        assert all(f[:2] in (b"\x00\x01", b"\x02\x01") for f in sent)      # SAPI 0, TEI 0
    assert "SABME" in log and "UA" in log
    assert line.nt.counters()["export_frames_to_stack"] > 0
    assert line.te.counters()["hdlc_bad_fcs"] == 0
    assert line.aligned()
    network_sock.close()
    cpe_sock.close()


def test_frames_to_the_stack_carry_their_fcs_and_placeholders_are_stripped(exported_line):
    line, nt_path, te_path = exported_line
    line.run_until(line.aligned, timeout=0.5)
    nt_stack, te_stack = attach(nt_path), attach(te_path)
    line.run(0.002)
    nt_stack.send(b"\x02\x01\x03hello" + b"\xAA\xBB")          # 2 FCS placeholder octets
    line.run(0.05)
    te_stack.settimeout(1)
    packet = te_stack.recv(512)
    assert packet[:-2] == b"\x02\x01\x03hello"
    fcs = crc_ccitt_fcs(packet[:-2])
    assert packet[-2:] == bytes((fcs & 0xFF, fcs >> 8))
    assert line.nt.counters()["export_frames_from_stack"] == 1
    nt_stack.close()
    te_stack.close()


def test_bad_packets_and_a_second_stack_are_counted_not_fatal(exported_line, caplog):
    line, nt_path, _ = exported_line
    line.run_until(line.aligned, timeout=0.5)
    first = attach(nt_path)
    line.run(0.002)
    second = attach(nt_path)
    first.send(b"\x01\x02")                                    # only placeholders, no frame
    line.run(0.01)
    counters = line.nt.counters()
    assert counters["export_short_packets"] == 1
    assert counters["export_refused_connections"] == 1
    assert "2 octets" in caplog.text
    second.settimeout(1)
    assert second.recv(16) == b""                              # refused: closed at once
    first.close()
    line.run(0.01)
    assert not line.nt.dchannel_export.attached
    assert line.aligned()
    second.close()


def test_the_exported_span_refuses_direct_dchannel_use(exported_line):
    line, _, _ = exported_line
    with pytest.raises(SpanError, match="exported on"):
        line.nt.send_dchannel(b"\x00\x01\x7f")


def test_libpri_layer_2_over_the_unix_socket_wire_in_real_time(tmp_path):
    """The same, with nothing in-process between the two libpri instances but the real wire:
    two spans on a SEQPACKET socket, asyncio in real time, libpri driven from loop readers."""
    import asyncio

    from drivers import make_span
    from drivers.config import SpanConfig
    from drivers.pacing import SpanPacer
    from runtime.bus import EventBus
    from runtime.clock import LoopClock

    wire = str(tmp_path / "e1.wire")
    common = dict(driver="emulated", law="alaw", wire=wire)
    nt_config = SpanConfig(id=1, side="nt", clock="internal", wire_role="listen",
                           dchannel_export=str(tmp_path / "nt.dchan"), **common)
    te_config = SpanConfig(id=2, side="te", clock="line", wire_role="connect",
                           dchannel_export=str(tmp_path / "te.dchan"), **common)

    async def scenario():
        clock, bus = LoopClock(), EventBus()
        spans = [make_span(c, clock=clock, bus=bus) for c in (nt_config, te_config)]
        for span in spans:
            span.open()
        pacer = SpanPacer(clock, spans)
        pacer.start()
        peers = []
        try:
            for _ in range(100):
                await asyncio.sleep(0.01)
                if all(s.status().line.multiframe_aligned and not s.status().alarms for s in spans):
                    break
            for role, config in (("network", nt_config), ("user", te_config)):
                peer = LibpriPeer(attach(config.dchannel_export), role)
                peer.start()
                peers.append(peer)
            for peer in peers:
                await peer.wait_for("dchannel_up", timeout=5.0)
            for peer in peers:
                peer.close()
                peer.sock.close()
        finally:
            pacer.stop()
            for span in spans:
                span.close()
        return spans

    spans = asyncio.run(scenario())
    assert all(s.counters()["export_frames_to_stack"] >= 1 for s in spans), libpri_messages()
    assert all(s.counters()["hdlc_bad_fcs"] == 0 for s in spans)
