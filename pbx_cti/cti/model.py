"""What the CTI engine is configured with and the vocabulary it speaks: agent states, system
reasons, routing strategies, and the errors it raises.

Configuration is validated here, once, so the engine can trust it: every error names the agent,
group or queue and the field that was wrong.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class AgentState(str, enum.Enum):
    """The states of the trade (Cisco Finesse's names, wrap-up split into timed/until-ready by
    the queue's setting rather than by two states)."""

    LOGGED_OUT = "LOGGED_OUT"
    NOT_READY = "NOT_READY"
    READY = "READY"
    RESERVED = "RESERVED"  # a call is being offered to the agent's endpoint
    TALKING = "TALKING"
    HOLD = "HOLD"
    WRAP_UP = "WRAP_UP"


# Reasons the engine itself gives for NOT_READY (an administrator's codes must not collide).
REASON_LOGIN = "login"
REASON_RING_NO_ANSWER = "ring-no-answer"
REASON_OFFER_REJECTED = "offer-rejected"
REASON_OFFER_FAILED = "offer-failed"
REASON_APP_DISCONNECTED = "app-disconnected"
REASON_DEVICE_UNAVAILABLE = "device-unavailable"
SYSTEM_REASONS = frozenset({REASON_LOGIN, REASON_RING_NO_ANSWER, REASON_OFFER_REJECTED,
                            REASON_OFFER_FAILED, REASON_APP_DISCONNECTED, REASON_DEVICE_UNAVAILABLE})


class Strategy(str, enum.Enum):
    LONGEST_IDLE = "longest_idle"    # the READY agent who became ready longest ago
    FEWEST_CALLS = "fewest_calls"    # fewest calls answered since login; ties: longest idle
    SKILL_TIERS = "skill_tiers"      # highest skill level among the caller's current tier; ties: longest idle
    ROUND_ROBIN = "round_robin"      # next READY agent after the last one offered, in agent-id order
    RING_ALL = "ring_all"            # every eligible READY agent at once; the first to answer wins


class CtiError(Exception):
    """Base of the engine's errors; the API layer maps them to 4xx answers."""


class ConfigurationError(CtiError):
    pass


class UnknownAgent(CtiError):
    def __init__(self, agent: str):
        super().__init__(f"unknown agent {agent!r}")
        self.agent = agent


class UnknownCaller(CtiError):
    def __init__(self, caller: str):
        super().__init__(f"unknown caller {caller!r} (not queued, offered or connected)")
        self.caller = caller


class InvalidTransition(CtiError):
    """An agent asked for something its current state does not allow."""

    def __init__(self, agent: str, state: AgentState, action: str, why: str = ""):
        text = f"agent {agent!r} in state {state.value} cannot {action}"
        super().__init__(text + (f": {why}" if why else ""))
        self.agent, self.state, self.action = agent, state, action


@dataclass(frozen=True)
class AgentConfig:
    agent_id: str
    skills: dict[str, int]              # skill group -> level, 1 (novice) .. 10 (expert)
    name: str = ""


@dataclass(frozen=True)
class QueueConfig:
    name: str
    group: str                           # the skill group that answers this queue
    strategy: Strategy = Strategy.LONGEST_IDLE
    ring_timeout: float = 15.0           # seconds an offer rings before ring-no-answer
    # Wrap-up after each call: seconds (0 = straight back to READY) or None = until the agent
    # says ready (or not ready).
    wrap_up: float | None = 10.0
    # (seconds waited, minimum skill level): who may take a caller is relaxed as it waits;
    # the caller keeps its place in the queue all along.
    tiers: tuple[tuple[float, int], ...] = ((0.0, 1),)
    announce_every: float = 0.0          # position / estimated-wait announcements; 0 = none
    default_handle_time: float = 120.0   # estimated-wait basis until calls have been handled

    def min_level(self, waited: float) -> int:
        level = self.tiers[0][1]
        for after, tier_level in self.tiers:
            if waited >= after:
                level = tier_level
        return level

    def next_relaxation(self, waited: float) -> float | None:
        """Seconds of waiting at which the next tier opens, or None once fully relaxed."""
        for after, _ in self.tiers:
            if after > waited:
                return after
        return None


@dataclass
class CtiConfig:
    agents: dict[str, AgentConfig]
    queues: dict[str, QueueConfig]
    groups: tuple[str, ...] = ()          # declared skill groups; inferred from skills if empty
    not_ready_reasons: tuple[str, ...] = ()   # the administrator's codes; empty = any text
    wrap_up_codes: tuple[str, ...] = ()       # empty = any text
    groups_by_name: dict[str, list[str]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        # Declared groups, else the agents' skills: a queue naming a group nobody has is a typo
        # unless the group is declared (a queue staffed later).
        groups = set(self.groups) or {g for a in self.agents.values() for g in a.skills}
        for agent_id, agent in self.agents.items():
            if agent_id != agent.agent_id:
                raise ConfigurationError(f"agent {agent_id!r}: keyed under a different id {agent.agent_id!r}")
            for group, level in agent.skills.items():
                if group not in groups:
                    raise ConfigurationError(f"agent {agent_id!r}: skill group {group!r} is not declared")
                if not isinstance(level, int) or not 1 <= level <= 10:
                    raise ConfigurationError(f"agent {agent_id!r}: skill level for {group!r} must be an "
                                             f"integer 1..10, got {level!r}")
        for name, queue in self.queues.items():
            where = f"queue {name!r}"
            if name != queue.name:
                raise ConfigurationError(f"{where}: keyed under a different name {queue.name!r}")
            if queue.group not in groups:
                raise ConfigurationError(f"{where}: skill group {queue.group!r} is not declared "
                                         f"(no agent has that skill; declare it in groups to keep the queue)")
            if not isinstance(queue.strategy, Strategy):
                raise ConfigurationError(f"{where}: strategy must be one of "
                                         f"{', '.join(s.value for s in Strategy)}, got {queue.strategy!r}")
            if queue.ring_timeout <= 0:
                raise ConfigurationError(f"{where}: ring_timeout must be > 0 s, got {queue.ring_timeout}")
            if queue.wrap_up is not None and queue.wrap_up < 0:
                raise ConfigurationError(f"{where}: wrap_up must be >= 0 s or None, got {queue.wrap_up}")
            if not queue.tiers or queue.tiers[0][0] != 0:
                raise ConfigurationError(f"{where}: tiers must start at 0 s waited")
            afters = [t[0] for t in queue.tiers]
            if afters != sorted(set(afters)):
                raise ConfigurationError(f"{where}: tier times must increase strictly, got {afters}")
            if any(not 1 <= t[1] <= 10 for t in queue.tiers):
                raise ConfigurationError(f"{where}: tier levels must be 1..10")
            if queue.announce_every < 0:
                raise ConfigurationError(f"{where}: announce_every must be >= 0 s")
        clash = SYSTEM_REASONS & set(self.not_ready_reasons)
        if clash:
            raise ConfigurationError(f"not-ready reasons {sorted(clash)} are reserved for the system")
        self.groups = tuple(sorted(groups))
        self.groups_by_name = {g: sorted(a for a, cfg in self.agents.items() if g in cfg.skills)
                               for g in self.groups}


def config_from_mapping(data: dict, where: str = "cti") -> CtiConfig:
    """Build a CtiConfig from a parsed TOML section (what the config loader will hand over):

        [cti]
        not_ready_reasons = ["break", "lunch"]
        wrap_up_codes = ["sale", "no-sale"]
        [[cti.agent]]
        id = "alice"
        skills = { sales = 9, support = 4 }
        [[cti.queue]]
        name = "sales"
        group = "sales"
        strategy = "skill_tiers"        # longest_idle (default), fewest_calls, round_robin, ring_all
        ring_timeout = 15
        wrap_up = 10                    # seconds, or "until-ready"
        tiers = [[0, 8], [20, 5], [40, 1]]
        announce_every = 30

    Every error names the key (e.g. `cti.queue[2] (sales).strategy`) and what was expected."""
    if not isinstance(data, dict):
        raise ConfigurationError(f"{where}: expected a table")
    known = {"agent", "queue", "groups", "not_ready_reasons", "wrap_up_codes"}
    for key in data:
        if key not in known:
            raise ConfigurationError(f"{where}.{key}: unknown key (expected one of {', '.join(sorted(known))})")

    def strings(key: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigurationError(f"{where}.{key}: expected a list of non-empty strings")
        return tuple(value)

    agents: dict[str, AgentConfig] = {}
    for n, entry in enumerate(data.get("agent", []), 1):
        at = f"{where}.agent[{n}]"
        if not isinstance(entry, dict):
            raise ConfigurationError(f"{at}: expected a table")
        agent_id, skills = entry.get("id"), entry.get("skills", {})
        if not isinstance(agent_id, str) or not agent_id:
            raise ConfigurationError(f"{at}.id: expected a non-empty string")
        if agent_id in agents:
            raise ConfigurationError(f"{at}.id: agent {agent_id!r} is defined twice")
        if not isinstance(skills, dict) or not skills:
            raise ConfigurationError(f"{at} ({agent_id}).skills: expected a table of group = level (1..10)")
        extra = set(entry) - {"id", "skills", "name"}
        if extra:
            raise ConfigurationError(f"{at} ({agent_id}): unknown key(s) {', '.join(sorted(extra))}")
        agents[agent_id] = AgentConfig(agent_id, dict(skills), str(entry.get("name", "")))

    queues: dict[str, QueueConfig] = {}
    fields = {"name", "group", "strategy", "ring_timeout", "wrap_up", "tiers", "announce_every",
              "default_handle_time"}
    for n, entry in enumerate(data.get("queue", []), 1):
        at = f"{where}.queue[{n}]"
        if not isinstance(entry, dict):
            raise ConfigurationError(f"{at}: expected a table")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"{at}.name: expected a non-empty string")
        at = f"{at} ({name})"
        if name in queues:
            raise ConfigurationError(f"{at}.name: queue {name!r} is defined twice")
        extra = set(entry) - fields
        if extra:
            raise ConfigurationError(f"{at}: unknown key(s) {', '.join(sorted(extra))}")
        options: dict = {}
        try:
            options["strategy"] = Strategy(entry.get("strategy", Strategy.LONGEST_IDLE.value))
        except ValueError:
            raise ConfigurationError(f"{at}.strategy: expected one of {', '.join(s.value for s in Strategy)}, "
                                     f"got {entry.get('strategy')!r}") from None
        for key in ("ring_timeout", "announce_every", "default_handle_time"):
            if key in entry:
                if isinstance(entry[key], bool) or not isinstance(entry[key], (int, float)):
                    raise ConfigurationError(f"{at}.{key}: expected seconds as a number, got {entry[key]!r}")
                options[key] = float(entry[key])
        if "wrap_up" in entry:
            wrap = entry["wrap_up"]
            if wrap == "until-ready":
                options["wrap_up"] = None
            elif isinstance(wrap, (int, float)) and not isinstance(wrap, bool):
                options["wrap_up"] = float(wrap)
            else:
                raise ConfigurationError(f'{at}.wrap_up: expected seconds or "until-ready", got {wrap!r}')
        if "tiers" in entry:
            tiers = entry["tiers"]
            if not isinstance(tiers, list) or not all(
                    isinstance(t, list) and len(t) == 2 and isinstance(t[0], (int, float)) and isinstance(t[1], int)
                    for t in tiers):
                raise ConfigurationError(f"{at}.tiers: expected [[seconds waited, minimum level], ...]")
            options["tiers"] = tuple((float(t[0]), t[1]) for t in tiers)
        group = entry.get("group")
        if not isinstance(group, str) or not group:
            raise ConfigurationError(f"{at}.group: expected the name of a skill group")
        try:
            queues[name] = QueueConfig(name, group, **options)
            CtiConfig(agents={}, queues={name: queues[name]}, groups=(group,))  # the queue's own checks
        except ConfigurationError as exc:
            raise ConfigurationError(f"{at}: {str(exc).split(': ', 1)[-1]}") from None
    try:
        return CtiConfig(agents=agents, queues=queues, groups=strings("groups"),
                         not_ready_reasons=strings("not_ready_reasons"), wrap_up_codes=strings("wrap_up_codes"))
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None
