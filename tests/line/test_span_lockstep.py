"""Two emulated spans on the lockstep wire and the virtual clock: alignment, slips from a clock
offset, cut/LOS/RAI and recovery, AIS, BER on the D-channel, bad datagrams, G.826 counting."""

import numpy as np
import pytest

from drivers.events import SpanAlarmsChanged, SpanAlignmentChanged, SpanSlip
from drivers.lockstep import LockstepLine
from drivers.show import show_controller
from drivers.span import SpanError


def record(line, kind):
    seen = []
    line.bus.subscribe(kind, seen.append)
    return seen


def test_both_sides_reach_frame_and_multiframe_alignment_and_say_so_on_the_bus():
    line = LockstepLine()
    events = record(line, SpanAlignmentChanged)
    with line:
        took = line.run_until(line.aligned, timeout=0.5)
        assert took < 0.1
        for span in line.spans:
            status = span.status()
            assert status.line.crc4 == "aligned" and not status.alarms
            assert span.multiframe_aligned_at <= took
        final = {e.span_id: e for e in events}
        assert all(e.frame_aligned and e.multiframe_aligned and e.crc4 == "aligned" for e in final.values())
        assert set(final) == {1, 2}
        assert all(e.time <= took for e in events)


def test_without_crc4_both_sides_frame_align():
    with LockstepLine(crc4=False) as line:
        line.run_until(line.aligned, timeout=0.5)
        assert line.nt.status().line.crc4 == "off"


# Datagrams of one frame, the finest the wire contract allows, so a slip is one frame as on a
# real line; a store two frames deeper than the span's step of 8 frames slips as soon as the
# rates differ instead of first taking minutes to fill or drain.
SLIP_SETUP = dict(period=0.004, frames_per_datagram=1)
DEPTH = 10


def slip_line(te_clock):
    line = LockstepLine(te_clock=te_clock, **SLIP_SETUP,
                        nt_options=dict(ppm=50, elastic_depth=DEPTH), te_options=dict(elastic_depth=DEPTH))
    slips = record(line, SpanSlip)
    return line, slips


def test_50_ppm_offset_on_internal_clocks_slips_at_the_implied_rate():
    line, slips = slip_line("internal")
    with line:
        line.run(10)
        before = {s.id: s.counters()["slips"] for s in line.spans}
        line.run(40)
        # 8000 frames/s x 50e-6 = 0.4 slips/s: 16 in 40 s, on each side (NT repeats, TE drops).
        for span in line.spans:
            got = span.counters()["slips"] - before[span.id]
            assert 16 * 0.9 <= got <= 16 * 1.1, (span, got)
        assert line.te.store.overflow_slips > 0 and line.nt.store.underflow_slips > 0
        times = [e.time for e in slips if e.span_id == 2 and e.time > 10]
        gaps = np.diff(times)
        assert np.allclose(gaps, 2.5, atol=0.01)
        assert line.aligned()                 # controlled slips keep frame alignment


def test_50_ppm_offset_with_line_clock_never_slips():
    line, slips = slip_line("line")
    with line:
        line.run(5)                           # line timing locks on
        assert line.te.line_locked
        before = {s.id: s.counters()["slips"] for s in line.spans}
        line.run(60)
        assert {s.id: s.counters()["slips"] for s in line.spans} == before
        assert line.aligned()


def test_cut_gives_los_and_rai_at_the_far_end_then_clean_recovery():
    line = LockstepLine()
    alarms = record(line, SpanAlarmsChanged)
    with line:
        line.run_until(line.aligned, timeout=0.5)
        alarms.clear()
        line.te.rx_impairment.set_cut(True)
        line.run(0.05)
        te, nt = line.te.status(), line.nt.status()
        assert {"los", "lof"} <= te.alarms
        assert te.line.remote_alarm_sent
        assert nt.alarms == {"rai"}
        assert [(e.span_id, "los" in e.raised) for e in alarms][0] == (2, True)
        te_text, nt_text = show_controller(line.te), show_controller(line.nt)
        assert "E1 2 is down." in te_text and "Receiver has loss of signal." in te_text
        assert "Transmitter is sending remote alarm." in te_text
        assert "E1 1 is up." in nt_text and "Receiver has remote alarm." in nt_text
        assert not te.layer1_up and nt.layer1_up
        cut_over = line.clock.now()
        line.te.rx_impairment.set_cut(False)
        recovered = line.run_until(line.aligned, timeout=1.0)
        assert recovered - cut_over < 0.1
        assert not line.te.status().line.remote_alarm_sent
        assert line.te.counters()["los_events"] >= 1
        assert alarms[-1].alarms == frozenset()


def test_ais_is_seen_and_answered_with_rai_then_cleared():
    with LockstepLine() as line:
        line.run_until(line.aligned, timeout=0.5)
        line.nt.rx_impairment.set_ais(True)
        line.run(0.05)
        assert "ais" in line.nt.status().alarms
        assert "rai" in line.te.status().alarms
        line.nt.rx_impairment.set_ais(False)
        line.run_until(line.aligned, timeout=1.0)


def test_ber_1e5_corrupted_dchannel_frames_are_counted_and_dropped_never_delivered():
    with LockstepLine(period=0.002) as line:
        line.run_until(line.aligned, timeout=0.5)
        line.nt.rx_impairment.set_ber(1e-5)
        sent, delivered, seq = set(), [], 0
        for _ in range(int(20 / 0.01)):       # 20 s of line, the TX queue kept full
            while True:
                frame = seq.to_bytes(4, "big") + bytes((seq * 7 + i) & 0xFF for i in range(56))
                if not line.te.send_dchannel(frame):
                    break
                sent.add(frame)
                seq += 1
            line.run(0.01)
            delivered += line.nt.recv_dchannel()
        counters = line.nt.counters()
        dropped = counters["hdlc_bad_fcs"] + counters["hdlc_aborts"]
        assert counters["crc4_errors"] > 0     # the errors hit the whole frame, not just TS16
        assert dropped > 0
        assert all(frame in sent for frame in delivered)
        assert len(delivered) + dropped >= 0.98 * (len(sent) - 10)
        assert len(set(delivered)) == len(delivered)


def test_a_bad_datagram_is_counted_and_the_line_stays_up():
    with LockstepLine() as line:
        line.run_until(line.aligned, timeout=0.5)
        line.te.wire.inject(b"\x00" * 33)
        line.run(0.01)
        assert line.te.counters()["wire_bad_datagrams"] == 1
        assert line.aligned()


def test_a_long_cut_is_unavailable_time_in_the_performance_counters():
    with LockstepLine(period=0.004) as line:
        line.run(3)
        line.te.rx_impairment.set_cut(True)
        line.run(15)
        line.te.rx_impairment.set_cut(False)
        line.run(15)
        pm = line.te.performance.current
        # 15 s of cut from t=3, then realignment inside the 16th second: 16 SES, all unavailable.
        assert pm.unavailable_secs == 16
        assert pm.severely_errored_secs == 1  # the start-up second, before the first alignment
        assert pm.frame_loss_secs >= 15
        assert pm.slips == 0
        assert line.te.performance.available
        nt = line.nt.performance.current      # the far end only saw RAI
        assert nt.unavailable_secs == 0


def test_bert_through_a_far_end_line_loopback():
    with LockstepLine() as line:
        line.run_until(line.aligned, timeout=0.5)
        line.te.set_loopback("line")
        line.nt.bert_start([1, 2, 3])
        line.run(0.5)
        clean = line.nt.bert_result()
        assert clean["in_sync"] and clean["bits_checked"] > 10000 and clean["bit_errors"] == 0
        line.nt.rx_impairment.burst(32)          # TS0 to TS3 of one frame
        line.run(0.2)
        assert line.nt.bert_result()["bit_errors"] > 0
        line.nt.bert_stop()
        with pytest.raises(SpanError, match="loopback 'remote'"):
            line.te.set_loopback("remote")
        with pytest.raises(SpanError, match="BERT timeslots"):
            line.nt.bert_start([0])


def test_bearer_blocks_cross_the_line():
    with LockstepLine() as line:
        line.run_until(line.aligned, timeout=0.5)
        line.te.read_bearer(line.te.core.bearer_rx_available)
        block = (np.arange(30 * 80).reshape(30, 80) % 256).astype(np.uint8)
        line.nt.write_bearer(block)
        line.run(0.05)
        got = line.te.read_bearer(line.te.core.bearer_rx_available)
        flat = [bytes(row) for row in got]
        assert all(bytes(block[ch]) in flat[ch] for ch in range(30))
        with pytest.raises(SpanError, match=r"uint8 \(30, n\)"):
            line.nt.write_bearer(np.zeros((31, 8), np.uint8))


@pytest.mark.parametrize("law, silence", [("alaw", 0xD5), ("ulaw", 0xFF)])
def test_idle_b_channels_carry_the_silence_code_of_the_span_law(law, silence):
    with LockstepLine(nt_config=dict(law=law), te_config=dict(law=law)) as line:
        line.run_until(line.aligned, timeout=0.5)
        line.te.read_bearer(line.te.core.bearer_rx_available)
        line.run(0.02)
        assert line.te.core.bearer_rx_available >= 80
        got = line.te.read_bearer(80)
        assert np.all(got == silence)


def test_a_far_end_that_stops_sending_is_los_after_the_holdover_and_a_reopened_span_realigns():
    line = LockstepLine()
    opened = record(line, SpanAlignmentChanged)
    with line:
        line.run_until(line.aligned, timeout=0.5)
        line.te.close()
        line.run(0.04)
        assert "los" not in line.nt.status().alarms       # within the 50 ms holdover
        line.run(0.05)
        assert "los" in line.nt.status().alarms
        assert line.nt.counters()["slips"] == 0
        opened.clear()
        line.te.open()
        line.run_until(line.aligned, timeout=0.5)
        assert line.te.aligned_at > line.te.opened_at
        assert any(e.span_id == 2 and e.multiframe_aligned for e in opened)
        with pytest.raises(SpanError, match="already open"):
            line.te.open()
