"""`show controllers e1`-style text for a span, as field engineers read it on a Cisco console."""

from __future__ import annotations

from drivers.performance import format_counters
from drivers.span import Span

_ALARM_LINES = {
    "los": "Receiver has loss of signal.",
    "lof": "Receiver has loss of frame.",
    "ais": "Receiver is getting AIS.",
    "rai": "Receiver has remote alarm.",
}
# The counters a field engineer looks at first; `span.counters()` has them all.
SHOWN_COUNTERS = ("frames_rx", "frames_tx", "fas_errors", "crc4_errors", "far_end_block_errors",
                  "frame_alignment_losses", "los_events", "ais_events", "slips", "elastic_fill",
                  "hdlc_rx_frames", "hdlc_tx_frames", "hdlc_bad_fcs", "hdlc_aborts",
                  "wire_bad_datagrams", "wire_tx_dropped_datagrams",
                  "bipolar_violations", "hdlc_overruns", "alarm_events", "bearer_rx_underruns", "sync_source")
_CRC4_WORDS = {
    "off": "no CRC-4",
    "searching": "CRC-4 multiframe searching",
    "aligned": "CRC-4 multiframe aligned",
    "fallback": "CRC-4 fallback (far end sends none)",
}


def _since(span: Span, when: float | None) -> str:
    if when is None or span.opened_at is None:
        return ""
    return f" {(when - span.opened_at) * 1000:.1f} ms after open"


def show_controller(span: Span) -> str:
    status = span.status()
    line = status.line
    c = span.config
    lines = [f"E1 {c.id} is {'up' if status.layer1_up else 'down'}.",
             f"  Side {c.side.upper()}, {'A-law' if c.law == 'alaw' else 'mu-law'}, "
             f"D-channel on timeslot {c.dchannel_timeslot}, driver {c.driver}"]
    fault = getattr(span, "fault", None)
    if fault:
        lines.append(f"  Fault: {fault}")
    if status.alarms:
        lines += [f"  {_ALARM_LINES[a]}" for a in ("los", "lof", "ais", "rai") if a in status.alarms]
    else:
        lines.append("  No alarms detected.")
    alarm_text = getattr(span, "alarm_text", None)
    if callable(alarm_text):
        lines.append(f"  DAHDI span {c.dahdi_span} alarms: {alarm_text()}")
    if line.remote_alarm_sent:
        lines.append("  Transmitter is sending remote alarm.")
    if status.loopback != "none":
        lines.append(f"  In {status.loopback} loopback.")
    framing = "CRC4" if c.crc4 else "NO-CRC4"
    lines.append(f"  Framing is {framing}, Clock Source is {c.clock.capitalize()}.")
    if line.frame_aligned:
        lines.append(f"  Frame aligned{_since(span, status.aligned_at)}; {_CRC4_WORDS.get(line.crc4, line.crc4)}"
                     f"{_since(span, status.multiframe_aligned_at) if line.multiframe_aligned else ''}.")
    else:
        lines.append("  Searching for frame alignment.")
    pm = span.performance
    if pm is not None:
        lines.append(f"  Data in current interval ({pm.current.seconds} seconds elapsed):")
        lines += format_counters(pm.current)
        if pm.history:
            lines.append(f"  Total Data (last {len(pm.history)} 15 minute intervals):")
            lines += format_counters(pm.total())
    counters = span.counters()
    if counters:
        shown = [f"{name} {counters[name]}" for name in SHOWN_COUNTERS if name in counters]
        lines.append("  Counters:")
        for i in range(0, len(shown), 4):
            lines.append("     " + ", ".join(shown[i:i + 4]))
    return "\n".join(lines)
