"""The [cti] section as the config loader will hand it over: a good one builds the engine's
configuration; each mistake is named by its key."""

import tomllib

import pytest

from pbx_cti.cti import ConfigurationError, Strategy
from pbx_cti.cti.model import config_from_mapping

GOOD = """
[cti]
not_ready_reasons = ["break", "lunch"]
wrap_up_codes = ["sale"]

[[cti.agent]]
id = "alice"
name = "Alice Kim"
skills = { sales = 9, support = 4 }

[[cti.agent]]
id = "bob"
skills = { sales = 6 }

[[cti.queue]]
name = "sales"
group = "sales"
strategy = "skill_tiers"
ring_timeout = 15
wrap_up = "until-ready"
tiers = [[0, 8], [20, 5], [40, 1]]
announce_every = 30

[[cti.queue]]
name = "support"
group = "support"
"""


def section(text: str) -> dict:
    return tomllib.loads(text)["cti"]


def test_a_good_section():
    config = config_from_mapping(section(GOOD))
    assert config.agents["alice"].skills == {"sales": 9, "support": 4}
    assert config.agents["alice"].name == "Alice Kim"
    sales = config.queues["sales"]
    assert sales.strategy is Strategy.SKILL_TIERS and sales.wrap_up is None
    assert sales.tiers == ((0.0, 8), (20.0, 5), (40.0, 1)) and sales.ring_timeout == 15.0
    assert config.queues["support"].strategy is Strategy.LONGEST_IDLE
    assert config.groups_by_name == {"sales": ["alice", "bob"], "support": ["alice"]}


@pytest.mark.parametrize("change, message", [
    (('strategy = "skill_tiers"', 'strategy = "fastest"'),
     "cti.queue[1] (sales).strategy: expected one of longest_idle, fewest_calls"),
    (('wrap_up = "until-ready"', 'wrap_up = "later"'),
     'cti.queue[1] (sales).wrap_up: expected seconds or "until-ready", got \'later\''),
    (("tiers = [[0, 8], [20, 5], [40, 1]]", "tiers = [[5, 8]]"), "cti.queue[1] (sales): tiers must start at 0 s"),
    (("ring_timeout = 15", 'ring_timeout = "soon"'), "cti.queue[1] (sales).ring_timeout: expected seconds"),
    (("sales = 6 }", "sales = 60 }"), "skill level for 'sales' must be an integer 1..10, got 60"),
    (('id = "bob"', 'id = "alice"'), "cti.agent[2].id: agent 'alice' is defined twice"),
    (('group = "support"', 'group = "billing"'), "skill group 'billing' is not declared"),
    (("announce_every = 30", "announce_every = 30\nmusic = 'jazz'"), "cti.queue[1] (sales): unknown key(s) music"),
    (('not_ready_reasons = ["break", "lunch"]', 'not_ready_reasons = ["break", "login"]'),
     "reserved for the system"),
])
def test_each_mistake_is_named_by_its_key(change, message):
    old, new = change
    assert old in GOOD
    with pytest.raises(ConfigurationError) as err:
        config_from_mapping(section(GOOD.replace(old, new, 1)))
    assert message in str(err.value)
