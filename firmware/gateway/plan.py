"""The gateway's numbering plan built from a validated configuration: trunk groups, profiles
and compiled rule sets, and `translate` for one call through a trunk group and direction.

Built once per configuration (a reload builds a new plan; calls in progress keep the one they
started with).  Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware.config.errors import format_path
from firmware.config.locate import Locations
from firmware.isdn.q931.channels import Hunting

from .numbers import PLAN_NAMES, PRESENTATION_NAMES, TYPE_NAMES, Number
from .patterns import compile_match, compile_replace
from .rules import Mapping, Numbering, Profile, Rule, RuleSet, translate_call
from .trunks import TrunkGroup


class GatewayError(ValueError):
    """A request the plan cannot answer (an unknown trunk group, a direction it does not take);
    the message is one line for an engineer."""


@dataclass(frozen=True)
class Translation:
    trunk: TrunkGroup
    direction: str
    mapping: Mapping


@dataclass
class GatewayPlan:
    numbering: Numbering = field(default_factory=Numbering)
    trunk_groups: dict[str, TrunkGroup] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)
    rule_sets: dict[str, RuleSet] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def from_config(cls, config) -> "GatewayPlan":
        where = Locations(config.text) if getattr(config, "text", None) else None

        def line_of(path: tuple) -> int | None:
            return where.find(path)[0] if where else None

        section = config.gateway
        numbering = Numbering(section.country_code, section.trunk_prefix, section.international_prefix)
        rule_sets = {}
        for i, entry in enumerate(config.translation_rule):
            rules = []
            for j, raw in enumerate(entry.rule):
                path = ("translation_rule", i, "rule", j)
                match = compile_match(raw.match) if raw.match is not None else None
                replace = compile_replace(raw.replace, match.groups) if raw.replace is not None else None
                rules.append(Rule(
                    where=format_path(path), match=match, replace=replace,
                    match_type=_code(TYPE_NAMES, raw.match_type), match_plan=_code(PLAN_NAMES, raw.match_plan),
                    strip=raw.strip, prefix=raw.prefix, normalize=raw.normalize,
                    set_type=_code(TYPE_NAMES, raw.set_type), set_plan=_code(PLAN_NAMES, raw.set_plan),
                    set_presentation=_code(PRESENTATION_NAMES, raw.set_presentation),
                    reject=raw.reject, line=line_of(path)))
            rule_sets[entry.name] = RuleSet(entry.name, tuple(rules), format_path(("translation_rule", i)))
        profiles = {}
        for i, entry in enumerate(config.translation_profile):
            profiles[entry.name] = Profile(
                entry.name, *(rule_sets.get(entry[role]) if entry[role] else None
                              for role in ("called", "calling", "redirecting")),
                restricted=entry.restricted, where=format_path(("translation_profile", i)))
        groups = {
            entry.name: TrunkGroup(entry.name, tuple(entry.spans), Hunting(entry.hunting), entry.direction,
                                   entry.translation_in, entry.translation_out)
            for entry in config.trunk_group}
        # A SIP trunk maps numbers like a group of spans: same profiles, found by its name; it
        # has no spans to hunt (its calls are placed by the SIP user agent).
        for entry in getattr(config, "sip_trunk", None) or ():
            groups[entry.name] = TrunkGroup(entry.name, (), Hunting.ASCENDING, entry.direction,
                                            entry.translation_in, entry.translation_out, kind="sip")
        return cls(numbering, groups, profiles, rule_sets, getattr(config, "source", ""))

    def trunk(self, name: str | None, direction: str | None = None) -> TrunkGroup:
        """The named trunk group; with no name, the only one there is (the only one taking
        calls in `direction`, when that settles it)."""
        if name is None:
            candidates = list(self.trunk_groups.values())
            if direction is not None and len(candidates) > 1:
                candidates = [g for g in candidates if g.takes(direction)] or candidates
            if len(candidates) == 1:
                return candidates[0]
            if not self.trunk_groups:
                raise GatewayError(f"no [[trunk_group]] in {self.source or 'the configuration'}")
            raise GatewayError(f"{len(candidates)} trunk groups ({_names({g.name: g for g in candidates})}) "
                               f"carry {direction or 'any'} calls: name one")
        group = self.trunk_groups.get(name)
        if group is None:
            raise GatewayError(f'no trunk group "{name}" (trunk groups: {_names(self.trunk_groups)})')
        return group

    def trunk_of_span(self, span: int) -> TrunkGroup | None:
        return next((g for g in self.trunk_groups.values() if span in g.spans), None)

    def sip_trunk(self, name: str) -> TrunkGroup | None:
        """The mapping entry of a `[[sip_trunk]]` (None when no SIP trunk has that name)."""
        group = self.trunk_groups.get(name)
        return group if group is not None and group.kind == "sip" else None

    def translate(self, trunk: str | None, direction: str, called: Number, calling: Number | None = None,
                  redirecting: Number | None = None) -> Translation:
        if direction not in ("in", "out"):
            raise GatewayError(f'direction is "in" or "out", not "{direction}"')
        group = self.trunk(trunk, direction)
        if not group.takes(direction):
            took = "incoming" if group.direction == "in" else "outgoing"
            raise GatewayError(f'trunk group "{group.name}" carries {took} calls only '
                               f'(direction = "{group.direction}")')
        name = group.profile(direction)
        profile = self.profiles.get(name) if name else None
        return Translation(group, direction, translate_call(profile, self.numbering, called, calling, redirecting))


def _code(names: dict[str, int], name: str | None) -> int | None:
    return None if name is None else names[name]


def _names(mapping) -> str:
    return ", ".join(sorted(mapping)) or "none"
