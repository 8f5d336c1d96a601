"""Shared fixtures of the CTI tests: a small center and an engine driven on a ManualClock-like
wall time."""

from __future__ import annotations

from runtime.clock import ManualClock
from pbx_cti.cti import AgentConfig, CtiConfig, CtiEngine, QueueConfig, Strategy
from pbx_cti.cti.decisions import AgentStateChanged, Offer, WithdrawOffer

T0 = 1_800_000_000.0  # wall-clock seconds (2027-01-15): what the daemon feeds the engine


def center(strategy: Strategy = Strategy.LONGEST_IDLE, **queue_options) -> CtiConfig:
    """Three agents in `sales`, two of them also in `support`; one queue per group."""
    return CtiConfig(
        agents={
            "alice": AgentConfig("alice", {"sales": 9, "support": 4}),
            "bob": AgentConfig("bob", {"sales": 6}),
            "carol": AgentConfig("carol", {"sales": 3, "support": 8}),
        },
        queues={
            "sales": QueueConfig("sales", "sales", strategy=strategy, **queue_options),
            "support": QueueConfig("support", "support"),
        },
        not_ready_reasons=("break", "lunch", "training"),
        wrap_up_codes=("sale", "no-sale"),
    )


class Driver:
    """An engine and a clock; `step(seconds)` runs the engine's timers the way the adapter does."""

    def __init__(self, config: CtiConfig, engine: CtiEngine | None = None, start: float = T0):
        self.clock = ManualClock(start)
        self.config = config
        self.engine = engine or CtiEngine(config)
        self.decisions: list = []

    @property
    def now(self) -> float:
        return self.clock.now()

    def step(self, seconds: float) -> None:
        target = self.now + seconds
        while True:
            when = self.engine.get_timer()
            if when is None or when > target:
                break
            self.clock.run_until(max(when, self.now))
            self.engine.handle_timer(self.now)
        self.clock.run_until(target)
        self.collect()

    def collect(self) -> list:
        new = self.engine.pop_decisions()
        self.decisions.extend(new)
        return new

    def __getattr__(self, name):
        """engine.method(now, ...) as driver.method(...), decisions collected."""
        method = getattr(self.engine, name)

        def call(*args, **kwargs):
            result = method(self.now, *args, **kwargs)
            self.collect()
            return result
        return call

    def offers(self) -> list[Offer]:
        return [d for d in self.decisions if isinstance(d, Offer)]

    def withdrawals(self) -> list[WithdrawOffer]:
        return [d for d in self.decisions if isinstance(d, WithdrawOffer)]

    def state(self, agent: str):
        a = self.engine.agents[agent]
        return a.state, a.reason

    def transitions(self, agent: str) -> list[AgentStateChanged]:
        return [d for d in self.decisions if isinstance(d, AgentStateChanged) and d.agent == agent]


def logged_in_ready(driver: Driver, *agents: str, gap: float = 1.0) -> None:
    for agent in agents:
        driver.login(agent, f"ext-{agent}")
        driver.ready(agent)
        driver.step(gap)
