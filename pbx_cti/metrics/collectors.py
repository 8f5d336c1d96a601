"""Prometheus collectors that read live state when scraped: no counter is kept beside the code
that does the work.  Each takes plain callables, so a test hands it an engine, a span or a
dict without a daemon, and the daemon hands it lookups of its running services (a service that
is down, or restarting, simply gives nothing).

Names follow Prometheus conventions: `_total` for counters, `_seconds` and `_ratio` units; a
ratio that is undefined (no call answered yet) is left out rather than reported as 0.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from pbx_cti.cti.engine import CtiEngine
from pbx_cti.cti.model import AgentState

from .figures import DayFigures, agent_views, queue_views

# The span driver's cumulative counters worth a graph (drivers/span.py `counters()`), by the
# metric each becomes.  A backend that lacks one simply does not report it.
SPAN_COUNTERS = {
    "slips": "frame slips",
    "crc4_errors": "CRC-4 block errors",
    "fas_errors": "frame alignment signal errors",
    "far_end_block_errors": "far-end block errors (E-bits)",
    "frame_alignment_losses": "losses of frame alignment",
    "los_events": "loss-of-signal events",
    "ais_events": "AIS events",
    "bipolar_violations": "bipolar violations",
    "hdlc_bad_fcs": "D-channel HDLC frames with a bad FCS",
    "hdlc_aborts": "D-channel HDLC aborts",
}
# G.826 seconds of the performance monitor (drivers/performance.py IntervalCounters).
PM_SECONDS = {
    "errored_secs": "errored",
    "severely_errored_secs": "severely_errored",
    "unavailable_secs": "unavailable",
    "frame_loss_secs": "frame_loss",
    "slip_secs": "slip",
}
ALARMS = ("los", "lof", "ais", "rai")


def _with_samples(*families: Metric) -> Iterable[Metric]:
    """Families with something to say: no span, no empty TYPE lines."""
    return (f for f in families if f.samples)


def _ratio(family: GaugeMetricFamily, labels: list[str], value: float | None) -> None:
    if value is not None:
        family.add_metric(labels, value)


class CtiCollector:
    """Queues and agents: the engine's state now, and today's figures from the event log.

    `engine()` gives the running engine or None (the CTI is not running); `now()` the engine's
    wall-clock time; `figures()` the latest `DayFigures` (refreshed before each scrape), or None."""

    def __init__(self, engine: Callable[[], CtiEngine | None], now: Callable[[], float],
                 figures: Callable[[], DayFigures | None] = lambda: None):
        self.engine, self.now, self.figures = engine, now, figures

    def collect(self) -> Iterable[Metric]:
        engine = self.engine()
        up = GaugeMetricFamily("pribox_cti_up", "1 when the contact center's engine is running")
        up.add_metric([], 1 if engine is not None else 0)
        yield up
        if engine is None:
            return
        now, figures = self.now(), self.figures()
        yield from self._queues(engine, now, figures)
        yield from self._agents(engine, now, figures)

    def _queues(self, engine: CtiEngine, now: float, figures: DayFigures | None) -> Iterable[Metric]:
        views = queue_views(engine, now, figures)
        waiting = GaugeMetricFamily("pribox_queue_waiting", "callers waiting in the queue", labels=["queue"])
        longest = GaugeMetricFamily("pribox_queue_longest_wait_seconds", "wait of the longest-waiting caller",
                                    labels=["queue"])
        staff = GaugeMetricFamily("pribox_queue_agents", "agents of the queue's group logged into it, by state",
                                  labels=["queue", "state"])
        for v in views:
            waiting.add_metric([v.queue], v.waiting)
            longest.add_metric([v.queue], v.longest_wait)
            for state, count in v.agents.items():
                staff.add_metric([v.queue, state], count)
        yield from (waiting, longest, staff)
        # Since the event log began (the engine's counters survive restarts): rate() these.
        totals = {name: CounterMetricFamily(f"pribox_queue_{name}", f"callers {name} since the event log began",
                                            labels=["queue"])
                  for name in ("offered", "answered", "abandoned", "handled")}
        for name, c in sorted(engine.queue_counters.items()):
            for what, family in totals.items():
                family.add_metric([name], getattr(c, what))
        yield from totals.values()
        if figures is None:
            return
        threshold = GaugeMetricFamily("pribox_queue_service_level_threshold_seconds",
                                      "answered within this many seconds counts as in service")
        threshold.add_metric([], figures.settings.sl_threshold)
        yield threshold
        period_doc = "period: today (since 00:00 UTC) or interval (the current reporting interval)"
        calls = GaugeMetricFamily("pribox_queue_calls", f"callers offered, answered or abandoned; {period_doc}",
                                  labels=["queue", "period", "outcome"])
        sl = GaugeMetricFamily("pribox_queue_service_level_ratio",
                               f"answered within the threshold / answered; {period_doc}", labels=["queue", "period"])
        asa = GaugeMetricFamily("pribox_queue_asa_seconds", f"average speed of answer; {period_doc}",
                                labels=["queue", "period"])
        abandon = GaugeMetricFamily("pribox_queue_abandon_ratio",
                                    f"abandoned / (answered + abandoned), short abandons left out; {period_doc}",
                                    labels=["queue", "period"])
        for v in views:
            for period, f in (("today", v.today), ("interval", v.interval)):
                labels = [v.queue, period]
                for outcome in ("offered", "answered", "abandoned"):
                    calls.add_metric(labels + [outcome], getattr(f, outcome))
                _ratio(sl, labels, f.service_level())
                _ratio(asa, labels, f.asa())
                _ratio(abandon, labels, f.abandon_rate())
        yield from (calls, sl, asa, abandon)

    def _agents(self, engine: CtiEngine, now: float, figures: DayFigures | None) -> Iterable[Metric]:
        views = agent_views(engine, figures)
        by_state = GaugeMetricFamily("pribox_agents", "agents by state", labels=["state"])
        counts = {s.value: 0 for s in AgentState}
        for v in views:
            counts[v.state] += 1
        for state, count in counts.items():
            by_state.add_metric([state], count)
        yield by_state
        state = GaugeMetricFamily("pribox_agent_state", "1 for each agent's current state, with its reason",
                                  labels=["agent", "state", "reason"])
        since = GaugeMetricFamily("pribox_agent_state_since_seconds",
                                  "when the agent entered its current state (Unix time)", labels=["agent"])
        calls = GaugeMetricFamily("pribox_agent_calls_today", "calls the agent answered today (UTC)",
                                  labels=["agent"])
        for v in views:
            state.add_metric([v.agent, v.state, v.reason], 1)
            if v.since is not None:
                since.add_metric([v.agent], v.since)
            if figures is not None:
                calls.add_metric([v.agent], v.calls_today)
        yield from (state, since)
        if figures is not None:
            yield calls
        answered = CounterMetricFamily("pribox_agent_answered", "calls the agent answered since the event log began",
                                       labels=["agent"])
        for agent, count in sorted(engine.agent_answered.items()):
            answered.add_metric([agent], count)
        yield answered
        seconds = CounterMetricFamily("pribox_agent_state_seconds", "seconds each agent spent in each state and reason",
                                      labels=["agent", "state", "reason"])
        for agent, times in sorted(engine.agent_time_at(now).items()):
            for (s, reason), value in sorted(times.items()):
                seconds.add_metric([agent, s, reason], max(0.0, value))
        yield seconds


class SpanCollector:
    """E1 spans as `show span` reads them: layer 1, alarms, the driver's error counters and the
    G.826 seconds of the current 15-minute interval and of the last 24 hours.
    `spans()` gives span id -> span (drivers/span.py)."""

    def __init__(self, spans: Callable[[], Mapping[int, object]]):
        self.spans = spans

    def collect(self) -> Iterable[Metric]:
        spans = sorted((self.spans() or {}).items())
        up = GaugeMetricFamily("pribox_span_up", "1 when layer 1 is up (frame aligned, no alarm of our own)",
                               labels=["span"])
        aligned = GaugeMetricFamily("pribox_span_frame_aligned", "1 when the receiver is frame aligned",
                                    labels=["span"])
        alarm = GaugeMetricFamily("pribox_span_alarm", "1 while the alarm is raised", labels=["span", "alarm"])
        counters = {name: CounterMetricFamily(f"pribox_span_{name}", doc + " since the span opened", labels=["span"])
                    for name, doc in SPAN_COUNTERS.items()}
        pm = GaugeMetricFamily("pribox_span_pm_seconds",
                               "G.826 seconds: kind errored/severely_errored/unavailable/frame_loss/slip; "
                               "window current (this 15-minute interval) or 24h (the finished intervals kept)",
                               labels=["span", "kind", "window"])
        for number, span in spans:
            label = str(number)
            status = span.status()
            up.add_metric([label], 1 if status.layer1_up else 0)
            aligned.add_metric([label], 1 if status.is_open and status.line.frame_aligned else 0)
            for name in ALARMS:
                alarm.add_metric([label, name], 1 if name in status.alarms else 0)
            values = span.counters() if status.is_open else {}
            for name, family in counters.items():
                if isinstance(values.get(name), int):
                    family.add_metric([label], values[name])
            monitor = getattr(span, "performance", None)
            if monitor is not None:
                windows = [("current", monitor.current)] + ([("24h", monitor.total())] if monitor.history else [])
                for window, interval in windows:
                    for field_name, kind in PM_SECONDS.items():
                        pm.add_metric([label, kind, window], getattr(interval, field_name))
        yield from _with_samples(up, aligned, alarm, *counters.values(), pm)


class IsdnCollector:
    """D-channels, B-channels and calls of each PRI span, and calls closed by cause from the CDR
    store.  `isdn_spans()` gives span id -> IsdnSpan (firmware/isdn/binding.py); `closed_calls()`
    gives {cause: count} of closed CDRs, or None when the CDR store cannot be read."""

    def __init__(self, isdn_spans: Callable[[], Mapping[int, object]],
                 closed_calls: Callable[[], Mapping[int | None, int] | None] = lambda: None):
        self.isdn_spans, self.closed_calls = isdn_spans, closed_calls

    def collect(self) -> Iterable[Metric]:
        from firmware.isdn.q931.calls import STATE_NAMES  # the ISDN layer only when a scrape asks

        spans = sorted((self.isdn_spans() or {}).items())
        up = GaugeMetricFamily("pribox_dchannel_up", "1 when the D-channel's layer 2 (LAPD) is established",
                               labels=["span"])
        layer1 = GaugeMetricFamily("pribox_dchannel_layer1_up", "1 when the D-channel's layer 1 is active",
                                   labels=["span"])
        frames = CounterMetricFamily("pribox_dchannel_frames", "D-channel frames, direction rx or tx",
                                     labels=["span", "direction"])
        channels = GaugeMetricFamily("pribox_bchannels", "B-channels by maintenance state", labels=["span", "state"])
        active = GaugeMetricFamily("pribox_calls_active", "calls on the span by Q.931 state", labels=["span", "state"])
        for number, isdn in spans:
            label = str(number)
            up.add_metric([label], 1 if isdn.layer2_up else 0)
            layer1.add_metric([label], 1 if isdn.layer1_up else 0)
            frames.add_metric([label, "rx"], isdn.counters.get("frames_in", 0))
            frames.add_metric([label, "tx"], isdn.counters.get("frames_out", 0))
            by_channel: dict[str, int] = {}
            for state in isdn.stack.channels.summary().values():
                by_channel[state] = by_channel.get(state, 0) + 1
            for state, count in sorted(by_channel.items()):
                channels.add_metric([label, state.replace(" ", "_")], count)
            by_call: dict[str, int] = {}
            for call in isdn.stack.calls.values():
                name = STATE_NAMES.get(call.state, f"state {call.state}").lower().replace(" ", "_")
                by_call[name] = by_call.get(name, 0) + 1
            for state, count in sorted(by_call.items()):
                active.add_metric([label, state], count)
        yield from _with_samples(up, layer1, frames, channels, active)
        closed = self.closed_calls()
        if closed is not None:
            total = CounterMetricFamily("pribox_calls", "calls closed in the CDR store, by Q.850 cause",
                                        labels=["cause"])
            for cause, count in sorted(closed.items(), key=lambda item: (item[0] is None, item[0] or 0)):
                total.add_metric(["none" if cause is None else str(cause)], count)
            yield total
