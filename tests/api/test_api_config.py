"""[api] and [cti] in the box's file: defaults, the engine's own rules reported at `config
check` with the key that is wrong, password hashes checked, and the service only where agents
are configured."""

import pytest

from firmware.config.loader import ConfigError, load_text
from pbx_cti.acd.distributor import LostPolicy
from pbx_cti.api.config_section import cti_config, password_hashes
from pbx_cti.api.service import ApiService, _factory
from pbx_cti.cti import Strategy
from tests.api.api_world import HASHES, SUPERVISOR_HASH

CENTER = f'''
[api]
port = 0
token_lifetime = 3600
[[api.supervisor]]
name = "sup"
password_hash = "{SUPERVISOR_HASH}"

[cti]
not_ready_reasons = ["break", "lunch"]
wrap_up_codes = ["sale"]
[[cti.agent]]
id = "alice"
password_hash = "{HASHES['alice']}"
skills = {{ sales = 9, support = 4 }}
[[cti.agent]]
id = "bob"
password_hash = "{HASHES['bob']}"
skills = {{ sales = 6 }}
[[cti.queue]]
name = "sales"
group = "sales"
strategy = "skill_tiers"
wrap_up = "until-ready"
tiers = [[0, 8], [20, 5]]
'''


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_text(text)
    return [f"{i.path}: {i.message}" for i in caught.value.issues]


def test_a_center_loads_into_the_engines_configuration_and_passwords_stay_apart():
    config = load_text(CENTER)
    engine_config = cti_config(config.cti)
    assert sorted(engine_config.agents) == ["alice", "bob"]
    assert engine_config.agents["alice"].skills == {"sales": 9, "support": 4}
    queue = engine_config.queues["sales"]
    assert queue.strategy is Strategy.SKILL_TIERS and queue.wrap_up is None and queue.tiers == ((0.0, 8), (20.0, 5))
    assert password_hashes(config.cti) == {"alice": HASHES["alice"], "bob": HASHES["bob"]}
    assert config.api.token_lifetime == 3600.0 and config.api.listen == "127.0.0.1"
    assert isinstance(_factory(config), ApiService)


def test_without_agents_or_when_disabled_there_is_no_api_service():
    assert _factory(load_text("")) is None
    assert load_text("").api.port == 8088
    assert _factory(load_text(CENTER.replace("port = 0", "port = 0\nenabled = false"))) is None


@pytest.mark.parametrize("change, expected", [
    (("port = 0", "port = 70000"), "api.port: expected an integer 0..65535, got 70000"),
    (("port = 0", 'listen = "localhost"'), "api.listen: expected an IP address"),
    (("token_lifetime = 3600", "token_lifetime = 5"), "api.token_lifetime: expected a number of seconds 60..604800"),
    (("token_lifetime = 3600", "token_ttl = 3600"), "api.token_ttl: unknown key"),
    (('password_hash = "scrypt:16', 'password_hash = "plain:16'), 'password_hash: expected "scrypt:N:r:p'),
    (('strategy = "skill_tiers"', 'strategy = "random"'), "cti: cti.queue[1] (sales).strategy: expected one of"),
    (("sales = 6", "sales = 11"), "cti.agent[1].skills.sales: expected an integer 1..10, got 11"),
    (('not_ready_reasons = ["break", "lunch"]', 'not_ready_reasons = ["login"]'), "reserved for the system"),
    (('id = "bob"', 'id = "alice"'), 'duplicate agent id "alice"'),
])
def test_bad_values_are_reported_with_the_key_that_is_wrong(change, expected):
    old, new = change
    assert old in CENTER
    found = problems(CENTER.replace(old, new, 1))
    assert any(expected in p for p in found), found


def test_the_policy_for_a_vanished_agent_is_configured_in_cti_and_checked():
    assert LostPolicy.from_section(load_text(CENTER).cti) == LostPolicy("hold", "keep", 30.0)
    text = CENTER.replace('wrap_up_codes = ["sale"]',
                          'wrap_up_codes = ["sale"]\ndevice_lost = "requeue"\ndevice_lost_hold = 12\napp_lost = "hold"')
    config = load_text(text)
    assert LostPolicy.from_section(config.cti) == LostPolicy("requeue", "hold", 12.0)
    assert sorted(cti_config(config.cti).agents) == ["alice", "bob"]      # the engine never sees them
    found = problems(text.replace('device_lost = "requeue"', 'device_lost = "drop"'))
    assert any('cti.device_lost: expected "hold" or "requeue"' in p for p in found), found
    found = problems(text.replace('app_lost = "hold"', 'app_lost = "later"'))
    assert any("cti.app_lost" in p for p in found), found
