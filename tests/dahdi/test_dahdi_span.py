"""The DAHDI span's I/O half on a test double of the kernel (fake_kernel.FakeDahdi): channels
bound with DAHDI_SPECIFY, D-channel frames in HDLC-FCS form, events drained on ELAST, SPANSTAT
mapped onto the span model's alarms, events and counters, and each failure a message naming
the span.  The real module is exercised by the VM test (make image-dahdi-test)."""

import errno

import numpy as np
import pytest

from drivers import dahdi_ioctl as io
from drivers import make_span
from drivers.config import SpanConfig
from drivers.dahdi import (DahdiError, SpanCounters, card_drivers, configure_system, explain_os_error,
                           line_state)
from drivers.events import SpanAlarmsChanged, SpanAlignmentChanged
from drivers.show import show_controller
from runtime.bus import Event, EventBus
from runtime.clock import ManualClock
from tests.dahdi.fake_kernel import FakeDahdi, FakeSpan

CONFIG = SpanConfig(id=5, driver="dahdi", dahdi_span=1, side="te", clock="line", law="alaw")


def open_span(kernel=None, config=CONFIG, **options):
    kernel = kernel or FakeDahdi()
    clock, bus = ManualClock(), EventBus()
    events = []
    bus.subscribe(Event, events.append)
    span = make_span(config, clock=clock, bus=bus, device=kernel, **options)
    span.open()
    return span, kernel, clock, events


def test_open_binds_the_d_channel_and_30_b_channels_with_specify():
    span, kernel, _, _ = open_span()
    specified = [io.unpack_int(arg) for _, name, arg in kernel.ioctls if name == "DAHDI_SPECIFY"]
    assert specified == [16] + list(range(1, 16)) + list(range(17, 32))
    assert kernel.channels[16].bufinfo == io.BufferInfo(numbufs=16, bufsize=1024)
    assert kernel.channels[1].bufinfo.bufsize == 160 and kernel.channels[31].bufinfo.numbufs == 8
    assert kernel.channels[1].law == io.DAHDI_LAW_ALAW and kernel.channels[16].law == io.DAHDI_LAW_DEFAULT
    span.close()
    assert len(kernel.closed) == 31 and all(c.open_fd is None for c in kernel.channels.values())


def test_d_channel_frames_carry_the_fcs_octets_as_hdlcfcs_does():
    span, kernel, _, _ = open_span()
    dchan = kernel.channels[16]
    dchan.rx.extend([b"\x02\x01\x01\x7f" + b"\xab\xcd", b"\x00\x01\x03" + b"\x11\x22", b"\x55"])
    assert span.recv_dchannel() == [b"\x02\x01\x01\x7f", b"\x00\x01\x03"]
    assert span.counters()["hdlc_rx_short"] == 1
    assert span.send_dchannel(b"\x00\x01\x7f") is True
    assert dchan.tx == [b"\x00\x01\x7f\x00\x00"]   # two placeholders the kernel replaces with the FCS
    dchan.tx_full = True
    assert span.send_dchannel(b"\x00\x01\x7f") is False
    assert span.counters()["hdlc_tx_busy"] == 1


def test_elast_drains_events_and_counts_them():
    span, kernel, clock, events = open_span()
    dchan = kernel.channels[16]
    dchan.events.extend([io.DAHDI_EVENT_ALARM, io.DAHDI_EVENT_NOALARM, io.DAHDI_EVENT_BADFCS,
                         io.DAHDI_EVENT_ABORT, io.DAHDI_EVENT_OVERRUN])
    dchan.rx.append(b"\x02\x01\x01\x7f\x00\x00")
    assert span.recv_dchannel() == [b"\x02\x01\x01\x7f"]
    counters = span.counters()
    assert (counters["alarm_events"], counters["noalarm_events"], counters["hdlc_bad_fcs"],
            counters["hdlc_aborts"], counters["hdlc_overruns"]) == (1, 1, 1, 1, 1)
    assert [name for _, name in span.events] == ["alarm", "noalarm", "badfcs", "abort", "overrun"]
    getevents = [name for _, name, _ in kernel.ioctls if name == "DAHDI_GETEVENT"]
    assert len(getevents) == 6   # five events and the zero that ends the drain
    dchan.events.append(io.DAHDI_EVENT_ALARM)   # a write hitting ELAST drains, then goes out
    assert span.send_dchannel(b"\x00\x01\x7f") and dchan.tx[-1] == b"\x00\x01\x7f\x00\x00"


def test_spanstat_alarms_become_span_events_and_layer1():
    span, kernel, clock, events = open_span()
    clock.advance(0.2)
    span.tick(clock.now())
    assert span.status().layer1_up
    kernel.set_alarms(1, io.DAHDI_ALARM_RED | io.DAHDI_ALARM_LOS)
    clock.advance(0.2)
    span.tick(clock.now())
    status = span.status()
    assert status.alarms == {"los", "lof"} and not status.layer1_up
    raised = [e for e in events if isinstance(e, SpanAlarmsChanged) and e.raised]
    assert raised[-1].raised == {"los", "lof"}
    assert span.counters()["frame_alignment_losses"] == 1
    assert "DAHDI span 1 alarms: RED LOS" in show_controller(span)
    kernel.set_alarms(1, io.DAHDI_ALARM_YELLOW)
    clock.advance(0.2)
    span.tick(clock.now())
    assert span.status().alarms == {"rai"} and span.status().layer1_up   # a far-end RAI is fine
    cleared = [e for e in events if isinstance(e, SpanAlarmsChanged) and e.cleared]
    assert cleared[-1].cleared == {"los", "lof"}
    assert any(isinstance(e, SpanAlignmentChanged) and e.frame_aligned for e in events)


@pytest.mark.parametrize("alarms, crc4, expected", [
    (0, True, dict(frame_aligned=True, multiframe_aligned=True, crc4="aligned", los=False, lof=False)),
    (0, False, dict(frame_aligned=True, multiframe_aligned=False, crc4="off")),
    (io.DAHDI_ALARM_LMFA, True, dict(frame_aligned=True, multiframe_aligned=False, crc4="searching")),
    (io.DAHDI_ALARM_RED, True, dict(frame_aligned=False, lof=True, los=False, remote_alarm_sent=True)),
    (io.DAHDI_ALARM_RED | io.DAHDI_ALARM_LOS, True, dict(los=True, lof=True)),
    (io.DAHDI_ALARM_RED | io.DAHDI_ALARM_LFA, True, dict(los=False, lof=True)),
    (io.DAHDI_ALARM_BLUE, True, dict(ais=True, frame_aligned=False, lof=False)),
    (io.DAHDI_ALARM_YELLOW, True, dict(rai=True, frame_aligned=True)),
    (io.DAHDI_ALARM_RECOVER, True, dict(frame_aligned=False, lof=False, los=False)),
    (io.DAHDI_ALARM_NOTOPEN, True, dict(los=True, frame_aligned=False)),
])
def test_line_state_mapping(alarms, crc4, expected):
    span, kernel, _, _ = open_span()
    kernel.set_alarms(1, alarms)
    state = line_state(kernel.spans[1].info, crc4)
    for name, value in expected.items():
        assert getattr(state, name) == value, name


def test_spanstat_counters_feed_the_performance_model_and_survive_a_reset():
    span, kernel, clock, _ = open_span()
    kernel.set_counters(1, crc4count=5, fascount=2, ebitcount=1, bpvcount=7)
    for _ in range(11):
        clock.advance(0.1)
        span.tick(clock.now())
    kernel.set_counters(1, crc4count=3)   # the driver reset its counters, then counted 3 more
    for _ in range(10):
        clock.advance(0.1)
        span.tick(clock.now())
    counters = span.counters()
    assert (counters["crc4_errors"], counters["fas_errors"], counters["far_end_block_errors"],
            counters["bipolar_violations"]) == (8, 2, 1, 7)
    assert span.performance.current.crc4_errors == 8
    assert span.performance.current.errored_secs == 2


def test_counter_totals_never_go_negative():
    counters = SpanCounters()
    kernel = FakeDahdi()
    for value in (10, 4, 4, 12):
        kernel.set_counters(1, crc4count=value)
        counters.update(kernel.spans[1].info)
    assert counters.totals["crc4_errors"] == 10 + 4 + 0 + 8


def test_bearer_audio_moves_whole_blocks_for_all_channels():
    span, kernel, _, _ = open_span()
    for n in range(1, 32):
        if n != 16:
            kernel.channels[n].rx.append(bytes([n]) * 160)
    assert (span.read_bearer(100) == 0xD5).all()   # a block in hand beyond what is asked, first
    assert span.counters()["bearer_rx_priming"] == 100
    for n in range(1, 32):
        if n != 16:
            kernel.channels[n].rx.append(bytes([n + 100]) * 160)
    block = span.read_bearer(100)
    assert block.shape == (30, 100) and block[0, 0] == 1 and block[15, 0] == 17 and block[29, 99] == 31
    block = span.read_bearer(100)   # 60 of the first block, 40 of the second
    assert block[0, 59] == 1 and block[0, 60] == 101
    kernel.channels[1].events.append(io.DAHDI_EVENT_NOALARM)   # ELAST on one channel: drained
    rest = span.read_bearer(200)    # 120 left: an underrun, padded with A-law silence
    assert rest[0, 119] == 101 and rest[0, 120] == 0xD5
    counters = span.counters()
    assert (counters["bearer_rx_short"], counters["bearer_rx_underruns"]) == (30 * 80, 1)
    assert counters["noalarm_events"] == 1 and not kernel.channels[1].events
    out = np.arange(30, dtype=np.uint8).repeat(100).reshape(30, 100)
    span.write_bearer(out)   # less than a block: held back, DAHDI would send a short buffer
    assert kernel.channels[1].tx == []
    span.write_bearer(out)
    assert kernel.channels[1].tx == [bytes([0]) * 160] and kernel.channels[31].tx == [bytes([29]) * 160]
    kernel.channels[1].tx_full = True
    for _ in range(20):
        span.write_bearer(out)
    counters = span.counters()
    assert counters["bearer_tx_dropped"] == 40 + 20 * 100 - 10 * 160   # the ring holds 10 blocks
    assert counters["bearer_tx_busy"] == 19 and len(kernel.channels[2].tx) == 1 + 12


def test_a_channel_open_elsewhere_is_a_clear_error_naming_span_and_channel():
    kernel = FakeDahdi()
    kernel.channels[16].open_fd = 1   # Asterisk has the D-channel
    with pytest.raises(DahdiError) as info:
        open_span(kernel)
    message = str(info.value)
    assert message.startswith("span 5: binding D-channel to DAHDI channel 16:")
    assert "already open elsewhere" in message and "EBUSY" in message
    assert all(c.open_fd in (None, 1) for c in kernel.channels.values()) and len(kernel.fds) == 0


def test_dahdi_not_loaded_and_span_missing():
    with pytest.raises(DahdiError, match="span 5: DAHDI span 1 not present .*none"):
        open_span(FakeDahdi(loaded=False))
    kernel = FakeDahdi([FakeSpan(2, 1)])
    with pytest.raises(DahdiError, match=r"DAHDI span 1 not present \(DAHDI spans present: 2\)"):
        open_span(kernel)
    kernel = FakeDahdi()
    from drivers.dahdi import DahdiSpan
    from drivers.dahdi import SpanLayout
    span = DahdiSpan(CONFIG, clock=ManualClock(), bus=EventBus(), device=kernel,
                     layout=SpanLayout(1, "x", "", basechan=1, channels=31))
    kernel.loaded = False
    with pytest.raises(DahdiError, match=r"opening /dev/dahdi/channel .*DAHDI is not loaded.*ENOENT"):
        span.open()


def test_a_device_that_vanishes_is_a_fault_not_a_crash():
    span, kernel, clock, events = open_span()
    clock.advance(0.2)
    span.tick(clock.now())
    assert span.status().layer1_up
    kernel.removed = True
    assert span.recv_dchannel() == []
    clock.advance(0.2)
    span.tick(clock.now())
    assert span.fault and "span 5" in span.fault and "vanished" in span.fault
    assert span.status().alarms >= {"los"} and not span.status().layer1_up
    assert "Fault: span 5:" in show_controller(span)
    block = span.read_bearer(10)
    assert block.shape == (30, 10)


def test_removed_event_marks_the_span():
    span, kernel, _, _ = open_span()
    kernel.channels[16].events.append(io.DAHDI_EVENT_REMOVED)
    span.recv_dchannel()
    assert "removed" in span.fault


def test_loopback_goes_through_dahdi_maint():
    span, kernel, _, _ = open_span()
    span.set_loopback("local")
    fd, name, arg = kernel.ioctls[-1]
    assert name == "DAHDI_MAINT" and arg == io.pack_maint(1, io.DAHDI_MAINT_LOCALLOOP)
    with pytest.raises(DahdiError, match="span 5: BERT on a DAHDI span"):
        span.bert_start()


def test_explain_os_error_names_what_to_check():
    assert "span 2: x: the DAHDI device vanished" in explain_os_error(2, "x", OSError(errno.ENODEV, "gone"))


def test_card_drivers_from_modaliases():
    aliases = ["alias pci:v0000D161d00008005sv*sd*bc*sc*i* wct4xxp",
               "alias pci:v0000D161d00000800sv*sd*bc*sc*i* wcte13xp",
               "alias pci:v00008086d*sv*sd*bc02sc00i* e1000"]
    present = ["pci:v0000D161d00008005sv0000D161sd00000005bc02sc00i00", "pci:v00008086d0000100Esv0bc02sc00i00"]
    assert card_drivers(present, aliases) == ["wct4xxp"]
    assert card_drivers([], aliases) == []


class Runner:
    def __init__(self, fail: dict | None = None):
        self.calls, self.fail = [], fail or {}

    def __call__(self, cmd):
        self.calls.append(cmd)
        return self.fail.get(cmd[0], (0, ""))


def test_configure_system_writes_the_file_and_runs_dahdi_cfg(tmp_path):
    kernel = FakeDahdi([FakeSpan(1, 1), FakeSpan(2, 32, name="TE4/0/2")])
    runner = Runner()
    other = SpanConfig(id=6, driver="dahdi", dahdi_span=2, side="te", clock="internal", law="alaw")
    missing = SpanConfig(id=7, driver="dahdi", dahdi_span=4, side="te", clock="internal", law="alaw")
    report = configure_system([CONFIG, other, missing], kernel, runner=runner, run_dir=str(tmp_path), settle=0)
    assert runner.calls[0] == ["modprobe", "dahdi", "auto_assign_spans=1"]
    assert runner.calls[-1] == ["dahdi_cfg", "-c", str(tmp_path / "system.conf")]
    text = (tmp_path / "system.conf").read_text()
    assert "span=1,1,0,ccs,hdb3,crc4" in text and "span=2,0,0,ccs,hdb3,crc4" in text and "hardhdlc=47" in text
    assert sorted(report.configured) == [5, 6]
    assert report.failed == {7: "span 7: DAHDI span 4 not present (DAHDI spans present: 1, 2); "
                                "is the card in and its driver loaded?"}


def test_configure_system_failures_name_every_span(tmp_path):
    report = configure_system([CONFIG], FakeDahdi(), runner=Runner({"modprobe": (1, "FATAL: Module dahdi not found")}),
                              run_dir=str(tmp_path), settle=0)
    assert report.failed == {5: "span 5: DAHDI: modprobe dahdi failed: FATAL: Module dahdi not found"}
    report = configure_system([CONFIG], FakeDahdi(), runner=Runner({"dahdi_cfg": (1, "ioctl: Invalid argument")}),
                              run_dir=str(tmp_path), settle=0)
    assert report.failed[5].startswith("span 5: dahdi_cfg -c ") and report.failed[5].endswith("Invalid argument")
    report = configure_system([CONFIG], FakeDahdi(), runner=Runner({"dahdi_cfg": (1, (
        "Notice: Configuration file is x\nline 5: Channel 2 already configured as 'Clear' at line 3\n"
        "1 error(s) detected"))}), run_dir=str(tmp_path), settle=0)
    assert report.failed[5].endswith("failed (exit 1): line 5: Channel 2 already configured as 'Clear' at line 3 | "
                                     "1 error(s) detected")
    assert configure_system([SpanConfig(id=1, driver="emulated", side="te", clock="line", law="alaw",
                                        wire="/run/w", wire_role="listen")], FakeDahdi(), runner=Runner()).failed == {}


def test_load_modules_loads_dahdi_and_the_cards_driver_in_e1_mode():
    from drivers.dahdi import load_modules

    class Machine(FakeDahdi):
        def read_text(self, path):
            if path.endswith("modules.alias"):
                return "alias pci:v0000D161d00001420sv*sd*bc*sc*i* wct4xxp\n"
            if path == "/sys/bus/pci/devices/0000:02:01.0/modalias":
                return "pci:v0000D161d00001420sv0000D161sd00000001bc02sc80i00\n"
            return super().read_text(path)

        def list_dir(self, path):
            return ["0000:02:01.0"] if path == "/sys/bus/pci/devices" else super().list_dir(path)

    runner = Runner()
    assert load_modules(Machine(), runner) == ["dahdi", "wct4xxp"]
    assert runner.calls == [["modprobe", "dahdi", "auto_assign_spans=1"],
                            ["modprobe", "wct4xxp", "default_linemode=e1"]]


def test_the_c_bearer_pass_moves_all_channels_on_real_descriptors():
    """dsp/c/dahdi_io.c on sockets standing in for DAHDI channels: one read per block, whole
    blocks written, a full ring dropping its oldest audio, EAGAIN counted."""
    import socket
    from drivers.dahdi import BearerRings, DahdiDevice
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(3)]
    try:
        for ours, _ in pairs:
            ours.setblocking(False)
        rings = BearerRings([ours.fileno() for ours, _ in pairs], block=4, cap=12)
        for n, (_, kernel) in enumerate(pairs):
            for k in range(2):
                kernel.send(bytes([n * 10 + k]) * 4)
        rings.push_tx(np.arange(18, dtype=np.uint8).reshape(3, 6))
        assert DahdiDevice().bearer_pass(rings) == []
        assert list(rings.rx_len) == [8, 8, 8] and list(rings.rx[2, :8]) == [20] * 4 + [21] * 4
        assert [kernel.recv(100) for _, kernel in pairs] == [bytes([0, 1, 2, 3]), bytes([6, 7, 8, 9]),
                                                             bytes([12, 13, 14, 15])]
        assert list(rings.tx_len) == [2, 2, 2]        # the remainder waits for a whole block
        for _, kernel in pairs:
            for k in range(3):
                kernel.send(bytes([99]) * 4)
        DahdiDevice().bearer_pass(rings)
        assert list(rings.rx_len) == [12, 12, 12] and rings.stats["rx_dropped"] == 3 * 8
        out = np.zeros((3, 5), np.uint8)
        assert rings.take_rx(out, 5) == 0 and list(out[0]) == [99] * 5
        assert rings.stats["rx_octets"] == 3 * 20 and rings.stats["tx_octets"] == 12
    finally:
        for a, b in pairs:
            a.close()
            b.close()
