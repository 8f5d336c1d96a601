"""Load: N calls at a set rate across the carrier spans, each held for a time drawn from a
distribution, with post-dial delay (SETUP sent -> CONNECT received) measured at the carrier.

    plan = LoadPlan(calls=120, rate=4.0, spans=(1, 2, 3, 4), holding_mean=20.0, dtmf="1")
    result = await place_load(plan, clock, simulator.carrier)
    result["post_dial_delay_ms"]["p99"]

A `[load]` table of a scenario file is the same plan.  Holding time counts from the answer;
calls the box never answers are cleared by the box (or by `unanswered_timeout`).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

import numpy as np

from firmware.isdn.q931 import ies as ie

from .trunks import Dial, Leg, PartyNumber, Trunk


@dataclass
class LoadPlan:
    calls: int
    rate: float                         # calls per second
    spans: tuple[int, ...] = (1,)
    holding: str = "exponential"        # or "fixed"
    holding_mean: float = 20.0
    holding_max: float | None = None    # exponential draws are capped here (default 5 x mean)
    seed: int = 1
    called: str = "15881234"
    calling: str | None = "0212345678"
    dtmf: str | None = None
    dtmf_after_answer: float = 1.0
    expect_cause: int | None = None
    unanswered_timeout: float = 30.0


def plan_from(spec) -> LoadPlan:
    """A LoadPlan from a scenario's validated `[load]` table (or a LoadPlan as is)."""
    if isinstance(spec, LoadPlan):
        return spec
    return LoadPlan(calls=spec.calls, rate=spec.rate, spans=tuple(spec.spans), holding=spec.holding,
                    holding_mean=spec.holding_mean, holding_max=spec.holding_max, seed=spec.seed,
                    called=spec.called.number, calling=spec.calling.number if spec.calling else None,
                    dtmf=spec.dtmf, dtmf_after_answer=spec.dtmf_after_answer, expect_cause=spec.expect_cause)


def holding_times(plan: LoadPlan) -> np.ndarray:
    if plan.holding == "fixed":
        return np.full(plan.calls, plan.holding_mean)
    rng = np.random.default_rng(plan.seed)
    cap = plan.holding_max if plan.holding_max is not None else 5 * plan.holding_mean
    return np.minimum(rng.exponential(plan.holding_mean, plan.calls), cap)


def percentiles_ms(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None, "n": 0}
    ms = np.asarray(values) * 1000.0
    return {"p50": round(float(np.percentile(ms, 50)), 2), "p90": round(float(np.percentile(ms, 90)), 2),
            "p99": round(float(np.percentile(ms, 99)), 2), "max": round(float(ms.max()), 2), "n": len(values)}


async def place_load(spec, clock, carrier: dict[int, Trunk]) -> dict:
    plan = plan_from(spec)
    missing = [s for s in plan.spans if s not in carrier]
    if missing:
        return {"calls": plan.calls, "failures": [f"load: no carrier span {s} (have {sorted(carrier)})" for s in missing]}
    holds = holding_times(plan)
    legs: list[Leg] = []
    failures: list[str] = []
    timers = []
    start = clock.now()

    def place(index: int) -> None:
        spans = [carrier[s] for s in plan.spans]
        first = index % len(spans)
        trunk = next((spans[(first + k) % len(spans)] for k in range(len(spans))
                      if spans[(first + k) % len(spans)].idle_channels() > 0), None)
        if trunk is None:
            failures.append(f"load call {index + 1}: every B-channel of spans {list(plan.spans)} is in use")
            return
        dial = Dial(PartyNumber(plan.called, ie.TypeOfNumber.NATIONAL),
                    PartyNumber(plan.calling, ie.TypeOfNumber.NATIONAL) if plan.calling else None, record=False)
        try:
            leg = trunk.place(f"load{index + 1}", dial)
        except Exception as exc:
            failures.append(f"load call {index + 1}: not placed: {exc}")
            return
        legs.append(leg)
        hold = float(holds[index])

        def changed(leg: Leg, what: str) -> None:
            if what != "answered":
                return
            if plan.dtmf:
                timers.append(clock.call_later(plan.dtmf_after_answer, lambda: trunk.send_dtmf(leg, plan.dtmf)))
            timers.append(clock.call_later(hold, lambda: trunk.hangup(leg, 16)))
        leg.on_change.append(changed)
        timers.append(clock.call_later(plan.unanswered_timeout,
                                       lambda: trunk.hangup(leg, 16) if leg.answered_at is None else None))

    interval = 1.0 / plan.rate
    for index in range(plan.calls):
        timers.append(clock.call_later(index * interval, lambda i=index: place(i)))
    cap = plan.holding_max if plan.holding_max is not None else 5 * plan.holding_mean
    deadline = start + plan.calls * interval + max(cap, plan.unanswered_timeout) + 10.0
    while clock.now() < deadline:
        await asyncio.sleep(0.05)
        if len(legs) + len(failures) >= plan.calls and all(leg.done for leg in legs):
            break
    stuck = [leg for leg in legs if not leg.done]
    for leg in stuck:
        failures.append(f"{leg.name}: not cleared by the end of the run")
        leg.trunk.hangup(leg, 16)
    for timer in timers:
        timer.cancel()
    pdd = [leg.answered_at - leg.placed_at for leg in legs if leg.answered_at is not None]
    causes = Counter(leg.cause for leg in legs)
    if plan.expect_cause is not None:
        for leg in legs:
            if leg.cause != plan.expect_cause:
                failures.append(f"{leg.name}: cleared with cause {leg.cause}, expected {plan.expect_cause}")
    unanswered = [leg.name for leg in legs if leg.answered_at is None]
    if unanswered:
        failures.append(f"{len(unanswered)} call(s) not answered: {', '.join(unanswered[:10])}")
    return {"calls": plan.calls, "placed": len(legs), "answered": len(pdd),
            "causes": {str(k): v for k, v in sorted(causes.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))},
            "post_dial_delay_ms": percentiles_ms(pdd),
            "setup_to_proceeding_ms": percentiles_ms([l.proceeding_at - l.placed_at for l in legs
                                                      if l.proceeding_at is not None]),
            "setup_to_alerting_ms": percentiles_ms([l.alerting_at - l.placed_at for l in legs
                                                    if l.alerting_at is not None]),
            "holding_mean_s": round(float(holds.mean()), 3) if len(holds) else None,
            "seconds": round(clock.now() - start, 3), "failures": failures}
