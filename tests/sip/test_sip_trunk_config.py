"""[[sip_trunk]] in the box's file: what a trunk entry builds, every mistake named by
file:line and key, and the gateway's number mapping applied to a SIP trunk by its name."""

import ipaddress

import pytest

from firmware.config import ConfigError, load_text
from firmware.config.loader import default_text
from firmware.gateway.numbers import Number
from firmware.gateway.plan import GatewayError, GatewayPlan
from firmware.sip.trunks import trunks_from_config

TRUNK = """
[[sip_trunk]]
name = "sip070"
host = "192.0.2.1"
port = 5070
transport = "tcp"
username = "0701234"
password = "secret"
realm = "carrier.example"
expires = 600
allowed_sources = ["192.0.2.0/28", "198.51.100.7"]
access_list = ["192.0.2.0/24", "198.51.100.0/24"]
caller_header = "pai"
forwarding_header = "history-info"
number_format = "e164"
codecs = ["G729", "PCMA"]
dtmf = "info"
keepalive = 20
translation_in = "carrier-in"
"""


def load(extra: str):
    return load_text(default_text() + extra, "box.toml")


def problems(extra: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load(extra)
    return str(caught.value)


def test_a_trunk_entry_builds_the_user_agents_trunk():
    trunk, = trunks_from_config(load(TRUNK))
    assert (trunk.name, trunk.host, trunk.port, trunk.transport_name) == ("sip070", "192.0.2.1", 5070, "TCP")
    assert trunk.register and trunk.expires == 600 and trunk.realm == "carrier.example"
    assert trunk.codecs == ("G729", "PCMA") and trunk.dtmf == "info" and trunk.keepalive == 20
    assert trunk.caller_header == "pai" and trunk.forwarding_header == "history-info"
    assert trunk.admits("192.0.2.5") and trunk.admits("198.51.100.7")
    assert not trunk.admits("192.0.2.99")        # in the access list but not a source of calls
    assert not trunk.admits("203.0.113.1") and not trunk.allows("203.0.113.1")
    assert trunk.allowed_sources[0] == ipaddress.ip_network("192.0.2.0/28")


def test_defaults_ip_authentication_by_the_peer_address():
    trunk, = trunks_from_config(load('\n[[sip_trunk]]\nname = "peer"\nhost = "192.0.2.9"\n'))
    assert not trunk.register and trunk.username is None and trunk.codecs == ("PCMA", "PCMU")
    assert trunk.admits("192.0.2.9") and not trunk.admits("192.0.2.10")


@pytest.mark.parametrize("entry,expected", [
    ('host = "192.0.2.1"\nusername = "u"', "sip_trunk[0].password: username and password go together: add password"),
    ('host = "192.0.2.1"\nregister = true', "sip_trunk[0].register: registering needs username and password"),
    ('host = "sip.carrier.example"', 'sip_trunk[0].allowed_sources: host "sip.carrier.example" is a name'),
    ('host = "192.0.2.1"\nallowed_sources = ["192.0.2.300"]', 'sip_trunk[0].allowed_sources[0]: "192.0.2.300" is not'),
    ('host = "192.0.2.1"\ncodecs = ["PCMA", "OPUS"]', 'sip_trunk[0].codecs[1]: expected one of "PCMA", "PCMU", "G729"'),
    ('host = "192.0.2.1"\ntransport = "sctp"', 'sip_trunk[0].transport: expected one of "udp", "tcp", "tls"'),
    ('host = "192.0.2.1"\ndtmf = "sip-info"', 'sip_trunk[0].dtmf'),
    ('host = "192.0.2.1"\nkeepalive = -1', "sip_trunk[0].keepalive"),
    ('host = "192.0.2.1"\nport = 70000', "sip_trunk[0].port"),
    ('host = "192.0.2.1"\ncaler_header = "pai"', 'sip_trunk[0].caler_header: unknown key (did you mean "caller_header"?)'),
    ('host = "192.0.2.1"\nallowed_sources = ["10.0.0.1"]\naccess_list = ["192.0.2.0/24"]',
     "sip_trunk[0].allowed_sources[0]: 10.0.0.1 is outside the access list"),
])
def test_mistakes_name_the_key(entry, expected):
    text = problems(f'\n[[sip_trunk]]\nname = "t"\n{entry}\n')
    assert expected in text and "box.toml:" in text


def test_references_between_sections():
    assert 'sip_trunk[0].translation_in: no [[translation_profile]] named "carier-in" (did you mean "carrier-in"?)' \
        in problems('\n[[sip_trunk]]\nname = "t"\nhost = "192.0.2.1"\ntranslation_in = "carier-in"\n')
    assert 'sip_trunk[0].name: "carrier" is also a [[trunk_group]]' \
        in problems('\n[[sip_trunk]]\nname = "carrier"\nhost = "192.0.2.1"\n')
    assert "so translation_in would never apply" in problems(
        '\n[[sip_trunk]]\nname = "t"\nhost = "192.0.2.1"\ndirection = "out"\ntranslation_in = "carrier-in"\n')
    assert "duplicate sip_trunk name" in problems(
        '\n[[sip_trunk]]\nname = "t"\nhost = "192.0.2.1"\n\n[[sip_trunk]]\nname = "t"\nhost = "192.0.2.2"\n')


def test_the_gateway_maps_numbers_of_a_sip_trunk_by_its_name():
    plan = GatewayPlan.from_config(load(TRUNK))
    mapping = plan.translate("sip070", "in", Number("15881234")).mapping
    assert mapping.numbers["called"].after.digits == "7000"     # the default's carrier-in profile
    assert plan.sip_trunk("sip070").profile_in == "carrier-in" and plan.sip_trunk("carrier") is None
    assert plan.trunk_of_span(1).name == "carrier"               # spans still find their group
    unmapped = plan.translate("sip070", "out", Number("0212345678")).mapping
    assert unmapped.numbers["called"].after.digits == "0212345678"
    with pytest.raises(GatewayError, match='no trunk group "sip07"'):
        plan.translate("sip07", "in", Number("1"))
