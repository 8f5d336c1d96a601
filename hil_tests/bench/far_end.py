"""The far ends of a loaded box, as a process of their own on the emulated wire:

    python -m hil_tests.bench.far_end --wires DIR --carrier-spans 8 --center-spans 8 \
        --ramp 20 --sustain 40 --talk-mean 12 [--load 1.05] [--seed 1] [--refill]

* The carrier: our network-side stack (PriStack "network") on an NT span per carrier span,
  joined to the box's TE span at DIR/carrier<N>.wire.  Callers arrive as a Poisson stream
  whose rate climbs linearly over `--ramp` seconds and then holds for `--sustain` seconds; the
  rate offers `--load` times the carrier spans' channels (Erlang: rate x mean holding time).
  A caller who finds every channel busy is blocked, as a carrier blocks it (counted, not
  placed).  With `--refill`, each call that clears during the sustain is followed at once by
  a new one (a closed loop on top of the Poisson stream), so every channel stays held: the
  offered traffic then saturates the spans by construction, and the figure that says how much
  was carried is `carried_erlangs_sustain` (the calls held, averaged over the sustain).
  Once the box answers, the caller presses a menu key (1, 2 or 3, drawn per call)
  and then says a steady 1 kHz tone until the box clears the call.
* The center's PBX: a user-side stack on a TE span per center span (DIR/center<N>.wire), one
  phone per agent extension.  A phone rings 0.5 s, answers, listens (its in-band listener
  reports the caller's tone at release) and hangs up after a talk time drawn from an
  exponential distribution (`--talk-mean`, capped at 4x the mean).

Both run in this process's own line thread, as a carrier and a PBX would on their own hardware.
The last line printed is one JSON object: calls offered, blocked, placed, completed, the
post-dial delays, the calls held at once over time and what the agents' phones heard.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time

import numpy as np

from drivers.config import SpanConfig
from drivers.emulated import EmulatedSpan
from drivers.realtime import LineThreadPacer
from dsp.dtmf import DtmfGenerator
from dsp.levels import SAMPLE_RATE
from firmware.isdn.answer import AnswerAndListen
from firmware.isdn.binding import IsdnSpan
from firmware.isdn.events import CallAudioReport
from firmware.isdn.stack import PriStack
from hil_tests.carrier import TONE_DBM0, CarrierCall, Sequence, Silence, StackCarrier, TestTone
from runtime.bus import EventBus
from runtime.clock import LoopClock

CALLED = "15881234"                 # the center's national number: route point 7000 on the box
KEY_AFTER_S = 0.6                   # the caller presses its key this long after the answer
RING_S = 0.5                        # an agent's phone rings this long before it answers
SAMPLE_PERIOD_S = 0.5               # how often the calls held are sampled


class LoopedTestTone(TestTone):
    """The caller's voice: one second of the 1 kHz test tone (1,000 whole cycles), looped."""

    period_samples = SAMPLE_RATE


class MenuCaller(StackCarrier):
    """A carrier whose callers press their menu key, then talk (the test tone) until cleared."""

    def _answered(self, call: CarrierCall) -> None:
        call.answered_at = self.clock.now()
        self._note(call, "answered by the box")
        if call.timeslot is None:
            return
        keys = DtmfGenerator(level_dbm0=-10.0, on_ms=100, off_ms=100)
        keys.put(call.digits or "1")
        self.bearer.play(call.timeslot, Sequence(Silence(KEY_AFTER_S), keys, Silence(0.1)))
        self.clock.call_later(KEY_AFTER_S + 0.3, lambda: self._talk(call))

    def _talk(self, call: CarrierCall) -> None:
        if not call.done and call.timeslot is not None:
            self.bearer.play(call.timeslot, LoopedTestTone(seconds=1.0))


class CenterPhones(AnswerAndListen):
    """The center's PBX: every extension rings, answers, listens and hangs up after a talk time
    drawn per call from an exponential distribution."""

    def __init__(self, isdn: IsdnSpan, rng: random.Random, talk_mean: float):
        super().__init__(isdn, ring_seconds=RING_S, max_call_seconds=talk_mean)
        self.rng = rng
        self.talk_mean = talk_mean

    def _answer(self, call) -> None:
        self.max_call_seconds = min(self.rng.expovariate(1.0 / self.talk_mean), 4.0 * self.talk_mean)
        super()._answer(call)


def arrival_times(rate: float, ramp: float, sustain: float, rng: random.Random) -> list[float]:
    """A Poisson stream whose rate climbs linearly from 0 to `rate` over `ramp` s and holds for
    `sustain` s (a non-homogeneous process, by thinning a homogeneous one at the top rate)."""
    times, t, end = [], 0.0, ramp + sustain
    while rate > 0:
        t += rng.expovariate(rate)
        if t >= end:
            break
        if t >= ramp or rng.random() < t / ramp:
            times.append(t)
    return times


def percentiles_ms(values: list[float]) -> dict:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None, "n": 0}
    ms = np.asarray(values) * 1000.0
    return {"p50": round(float(np.percentile(ms, 50)), 2), "p90": round(float(np.percentile(ms, 90)), 2),
            "p99": round(float(np.percentile(ms, 99)), 2), "max": round(float(ms.max()), 2), "n": len(values)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wires", required=True, help="directory of the box's wires (carrier<N>.wire, center<N>.wire)")
    parser.add_argument("--carrier-spans", type=int, default=1)
    parser.add_argument("--center-spans", type=int, default=1)
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which the arrival rate climbs")
    parser.add_argument("--sustain", type=float, default=20.0, help="seconds the top arrival rate holds")
    parser.add_argument("--talk-mean", type=float, default=12.0, help="mean talk time with an agent (s)")
    parser.add_argument("--ivr-seconds", type=float, default=2.0,
                        help="the IVR's part of a call (answer to queue), for the offered load")
    parser.add_argument("--load", type=float, default=1.05,
                        help="offered traffic in Erlangs per carrier channel at the top rate")
    parser.add_argument("--drain", type=float, default=90.0, help="seconds the calls may take to end after the last arrival")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--refill", action="store_true",
                        help="during the sustain, offer a new call as soon as one clears (every channel held)")


async def run(args) -> dict:
    clock, bus = LoopClock(), EventBus()
    rng = random.Random(args.seed)
    heard: list[CallAudioReport] = []
    bus.subscribe(CallAudioReport, heard.append)
    spans, carriers, phones, stacks = [], [], [], []

    def open_span(span_id: int, side: str, wire: str) -> EmulatedSpan:
        config = SpanConfig(id=span_id, driver="emulated", side=side, clock="internal" if side == "nt" else "line",
                            law="alaw", crc4=True, wire=wire, wire_role="connect", frames_per_datagram=8)
        span = EmulatedSpan(config, clock=clock, bus=bus)
        span.open()
        spans.append(span)
        return span

    for n in range(1, args.carrier_spans + 1):
        open_span(n, "nt", f"{args.wires}/carrier{n}.wire")
    for n in range(1, args.center_spans + 1):
        open_span(100 + n, "te", f"{args.wires}/center{n}.wire")
    pacer = LineThreadPacer(clock, spans)
    pacer.start()
    for span in spans:
        if span.id < 100:
            isdn = IsdnSpan(span, PriStack("network"), clock=clock, bus=bus)
            carriers.append(MenuCaller(isdn, digits="", tone_seconds=0.0, hangup_after_audio=False))
        else:
            isdn = IsdnSpan(span, PriStack("user"), clock=clock, bus=bus)
            isdn.handler = CenterPhones(isdn, rng, args.talk_mean)
            phones.append(isdn.handler)
        isdn.start()
        stacks.append(isdn)
    channels = 30 * args.carrier_spans
    rate = args.load * channels / (args.talk_mean + args.ivr_seconds + RING_S)
    result = {"carrier_spans": args.carrier_spans, "center_spans": args.center_spans, "channels": channels,
              "arrival_rate_per_s": round(rate, 3), "talk_mean_s": args.talk_mean, "offered_erlangs": round(
                  rate * (args.talk_mean + args.ivr_seconds + RING_S), 1)}
    placed: list[tuple[MenuCaller, CarrierCall, float]] = []
    samples: list[list[float]] = []
    try:
        deadline = time.monotonic() + 30
        while not all(s.in_service for s in stacks):
            if time.monotonic() > deadline:
                down = [s.span_id for s in stacks if not s.in_service]
                raise RuntimeError(f"the D-channels toward the box did not come up (spans {down})")
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        arrivals = arrival_times(rate, args.ramp, args.sustain, rng)
        blocked = refills = owed = 0
        start = time.monotonic()
        next_sample = start
        live: list[CarrierCall] = []

        def sample(now: float) -> None:
            held = sum(1 for _, call, _ in placed if not call.done)
            talking = sum(len(p._timers) for p in phones)
            samples.append([round(now - start, 2), held, talking])

        def place() -> bool:
            first = rng.randrange(len(carriers))
            order = carriers[first:] + carriers[:first]
            carrier = next((c for c in order if c.isdn.stack.channels.idle_count() > 0), None)
            if carrier is None:
                return False
            key = rng.choice("123")
            call = carrier.place_call(called=CALLED, calling=f"02{len(placed):08d}", forwarded_from=None, digits=key)
            placed.append((carrier, call, clock.now()))
            live.append(call)
            return True

        sustain_from, sustain_to = start + args.ramp, start + args.ramp + args.sustain
        pending = list(reversed(arrivals))
        while pending or (args.refill and time.monotonic() < sustain_to):
            now = time.monotonic()
            if now >= next_sample:
                sample(now)
                next_sample += SAMPLE_PERIOD_S
            while pending and start + pending[-1] <= now:
                pending.pop()
                if not place():
                    blocked += 1
            still = [call for call in live if not call.done]
            cleared, live[:] = len(live) - len(still), still
            if args.refill and sustain_from <= now < sustain_to:
                # A closed loop on top of the Poisson stream: each call that clears during the
                # sustain is followed at once by a new one, so every channel stays held.
                owed += cleared
                while owed and place():
                    owed -= 1
                    refills += 1
            wake = start + pending[-1] if pending else now + 0.01
            await asyncio.sleep(min(0.01, max(0.0, wake - time.monotonic())))
        end = time.monotonic() + args.drain
        while time.monotonic() < end and not all(call.done for _, call, _ in placed):
            if time.monotonic() >= next_sample:
                sample(time.monotonic())
                next_sample += SAMPLE_PERIOD_S
            await asyncio.sleep(0.05)
        sample(time.monotonic())
        await asyncio.sleep(0.3)                      # the phones' last audio reports
        result.update(_figures(placed, blocked, heard, phones, samples, len(arrivals) + refills))
        sustained = [s[1] for s in samples if args.ramp <= s[0] < args.ramp + args.sustain]
        result.update(refill=bool(args.refill), refills=refills, poisson_arrivals=len(arrivals),
                      carried_erlangs_sustain=round(sum(sustained) / len(sustained), 1) if sustained else 0.0,
                      full_s=round(SAMPLE_PERIOD_S * sum(1 for h in sustained if h >= channels), 1))
        result["far_end_line_thread"] = pacer.stats()
        result["far_end_slips"] = sum(s.counters()["slips"] for s in spans)
    finally:
        for isdn in stacks:
            isdn.stop()
        pacer.stop()
        for span in spans:
            span.close()
    return result


def _figures(placed, blocked: int, heard: list[CallAudioReport], phones, samples, offered: int) -> dict:
    alerting, connect, causes = [], [], {}
    completed = 0
    for _, call, setup_at in placed:
        alerted = next((t for t, text in call.log if text.startswith("ALERTING")), None)
        if alerted is not None:
            alerting.append(alerted - setup_at)
        if call.answered_at is not None:
            connect.append(call.answered_at - setup_at)
        cause = str(call.cause_received) if call.done else "not cleared"
        causes[cause] = causes.get(cause, 0) + 1
        if call.done and call.answered_at is not None and call.cause_received == 16:
            completed += 1
    agents_heard = sum(1 for r in heard if r.span_id >= 100 and r.tone_level_dbm0 is not None
                       and abs(r.tone_level_dbm0 - TONE_DBM0) <= 1.5)
    held = [s[1] for s in samples]
    return {
        "offered": offered, "blocked": blocked, "placed": len(placed), "completed": completed,
        "answered_by_box": len(connect), "answered_by_agents": sum(p.answered for p in phones),
        "agents_heard_caller": agents_heard, "causes": causes,
        "held_max": max(held) if held else 0,
        "setup_to_alerting_ms": percentiles_ms(alerting), "setup_to_connect_ms": percentiles_ms(connect),
        "samples": samples,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.carrier_spans < 1 or args.center_spans < 1:
        parser.error("--carrier-spans and --center-spans must be at least 1")
    if not (args.ramp > 0 and args.sustain >= 0 and args.talk_mean > 0 and args.load > 0):
        parser.error("--ramp, --talk-mean and --load must be positive, --sustain not negative")
    result = asyncio.run(run(args))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
