"""[api] and [cti]: the agent-application API's listener and limits, and the contact center's
agents (with their password hashes), skill groups and queues.

    [api]
    listen = "127.0.0.1"
    port = 8088
    token_lifetime = 28800           # seconds a login's token is good for (one shift)
    metrics_token = ""               # set: GET /metrics wants Authorization: Bearer <token>
    sl_threshold = 20                # service level T of the live views (show queues, /metrics)
    [[api.supervisor]]
    name = "sup"
    password_hash = "scrypt:..."     # pribox config hash-password

    [cti]
    not_ready_reasons = ["break", "lunch"]
    device_lost = "hold"             # an agent's device vanished mid-call: "hold" the caller or "requeue" it
    device_lost_hold = 30            # seconds the caller is held for the agent before it is queued again
    app_lost = "keep"                # the agent's application went away mid-call: "keep", "hold", "requeue"
    [[cti.agent]]
    id = "alice"
    password_hash = "scrypt:..."
    skills = { sales = 9 }
    [[cti.queue]]
    name = "sales"
    group = "sales"

The engine's own rules for [cti] (levels, strategies, tiers, reserved reasons) are checked by
`pbx_cti.cti.config_from_mapping`, so `pribox config check` reports them with the rest.
"""

from __future__ import annotations

from collections.abc import Mapping

from firmware.config.passwords import parse_hash
from firmware.config.registry import register_section
from firmware.config.schema import (OPTIONAL, Bool, Field, Int, IpAddress, ListOf, MapOf, Record, Section, Seconds, Str,
                                    Table, TableList, Type, _plain)
from pbx_cti.cti.model import ConfigurationError, CtiConfig, config_from_mapping

NAME = r"[A-Za-z0-9_.@-]{1,64}"


def _hash_problem(stored: str) -> str | None:
    try:
        parse_hash(stored)
    except ValueError as exc:
        return str(exc)
    return None


PASSWORD_HASH = Str(what="a scrypt hash (pribox config hash-password)", check=_hash_problem)


class Tables(Type):
    """An array of tables passed on as written (frozen so reloads compare them); the engine's
    `config_from_mapping` checks what is inside and names the key that is wrong."""

    expected = "an array of tables"

    def convert(self, value, path, checker):
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            return self.wrong(value, path, checker)
        return _freeze(value)


def _freeze(value):
    if isinstance(value, dict):
        return Record({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


LOST_POLICY_KEYS = ("device_lost", "device_lost_hold", "app_lost")


def cti_config(section: Mapping) -> CtiConfig:
    """The engine's configuration from the validated [cti] section (password hashes stay here)."""
    plain = _plain(section)
    for key in LOST_POLICY_KEYS:          # the distributor's (pbx_cti/acd LostPolicy), not the engine's
        plain.pop(key, None)
    plain["agent"] = [{k: v for k, v in agent.items() if k != "password_hash" and v is not None}
                      for agent in plain.get("agent", [])]
    return config_from_mapping(plain)


def password_hashes(section: Mapping) -> dict[str, str]:
    """Agents that may log in over the API: those with a password hash."""
    return {agent.id: agent.password_hash for agent in section.agent if agent.password_hash}


def _check_with_engine(record, path, checker) -> None:
    try:
        cti_config(record)
    except ConfigurationError as exc:
        checker.report(path, str(exc))


CTI = register_section(Section("cti", Table({
    "agent": Field(TableList(Table({
        "id": Field(Str(NAME, "an agent id of letters, digits, _ . @ -")),
        "name": Field(Str(), ""),
        "password_hash": Field(PASSWORD_HASH, OPTIONAL),     # none: cannot log in over the API
        "skills": Field(MapOf(Int(1, 10))),
    }), unique=("id",), noun="agent"), ()),
    "queue": Field(Tables(), ()),
    "groups": Field(ListOf(Str(min_len=1)), ()),
    "not_ready_reasons": Field(ListOf(Str(min_len=1)), ()),
    "wrap_up_codes": Field(ListOf(Str(min_len=1)), ()),
    "device_lost": Field(Str(r"hold|requeue", '"hold" or "requeue"'), "hold",
                         "an agent's device vanished mid-call: hold the caller for it, or queue the caller again"),
    "device_lost_hold": Field(Seconds(min=0, max=3600), 30.0,
                              "seconds a caller is held for an agent whose device vanished before it is queued again"),
    "app_lost": Field(Str(r"keep|hold|requeue", '"keep", "hold" or "requeue"'), "keep",
                      "an agent's application went away mid-call: keep the call (the phone still talks), or as device_lost"),
}, checks=[_check_with_engine]), doc="the contact center: agents, skill groups, queues"))

API = register_section(Section("api", Table({
    "enabled": Field(Bool(), True, "serve the agent-application API when [cti] has agents"),
    "listen": Field(IpAddress(), "127.0.0.1", "address the API listens on"),
    "port": Field(Int(0, 65535), 8088, "0 takes any free port (tests)"),
    "token_lifetime": Field(Seconds(min=60, max=7 * 86400), 28800.0, "seconds a login's token is good for"),
    "login_failures": Field(Int(1, 100), 5, "failed logins per source before it must wait"),
    "login_window": Field(Seconds(min=1, max=86400), 60.0, "the window failed logins are counted in"),
    "requests_per_second": Field(Seconds(min=1, max=100000), 50.0, "sustained requests per source"),
    "request_burst": Field(Int(1, 100000), 100, "requests a source may send at once"),
    "client_queue": Field(Int(8, 1_000_000), 10000, "events queued per WebSocket client before it is dropped"),
    "reconnect_grace": Field(Seconds(min=0, max=3600), 60.0,
                             "after a restart, seconds an agent's application has to come back before NOT_READY"),
    "metrics_token": Field(Str(r"|[!-~]{16,256}", "empty (GET /metrics open on the listen address) or a bearer "
                                                "token of 16..256 visible characters without spaces"), "",
                           "token a Prometheus scrape of /metrics must send as Authorization: Bearer"),
    "sl_threshold": Field(Seconds(min=0, max=3600), 20.0,
                          "service level: answered within this many seconds (live views and /api/v1/stats' default)"),
    "short_abandon": Field(Seconds(min=0, max=3600), 5.0, "abandons within this many seconds leave the abandon rate"),
    "stats_interval": Field(Seconds(min=60, max=86400), 900.0, "the reporting interval of the live views' figures"),
    "supervisor": Field(TableList(Table({
        "name": Field(Str(NAME, "a supervisor name of letters, digits, _ . @ -")),
        "password_hash": Field(PASSWORD_HASH),
    }), unique=("name",), noun="supervisor"), ()),
}), doc="the agent-application API (HTTP + WebSocket)"))
