"""[sip] in the box's file: where the user agent listens, its RTP ports and who takes the trunks'
calls; which services a configuration with SIP trunks runs; each mistake named by key."""

import pytest

from firmware.appliance.services import load_box_services
from firmware.config import ConfigError, load_text
from firmware.config.loader import default_text
from tests.support.sip_pbx import SIP070


def load(extra: str):
    return load_text(default_text() + extra, "box.toml")


def test_defaults_and_a_full_section():
    assert load("").sip.port == 5060 and load("").sip.handler == "pbx"
    sip = load('\n[sip]\naddress = "192.0.2.10"\nport = 5080\ntcp = false\nrtp_port_min = 30000\n'
               'rtp_port_max = 30100\nhandler = "none"\n').sip
    assert str(sip.address) == "192.0.2.10" and sip.port == 5080 and not sip.tcp
    assert (sip.rtp_port_min, sip.rtp_port_max, sip.handler) == (30000, 30100, "none")


@pytest.mark.parametrize("section, message", [
    ("rtp_port_min = 20001", "sip.rtp_port_min: 20001 is odd: RTP takes even ports"),
    ("rtp_port_min = 30000\nrtp_port_max = 20000", "sip.rtp_port_max: 20000 is below rtp_port_min 30000"),
    ("port = 20010", "sip.port: SIP port 20010 is inside the RTP port range"),
    ('address = "box.example"', "sip.address"),
    ('handler = "answer"', "sip.handler"),
    ("tls_port = 5061", "sip.tls_certificate: required when tls_port is set (5061): a PEM file"),
    ('tls_port = 5061\ntls_certificate = "/etc/pribox/sip.pem"', "sip.tls_key: required when tls_port is set"),
    ('tls_certificate = "/etc/pribox/sip.pem"', "sip.tls_certificate: set, but tls_port is 0 (TLS off)"),
    ('tls_port = 5060\ntls_certificate = "/a.pem"\ntls_key = "/b.pem"', "sip.tls_port: 5060 is the TCP listener's port"),
    ('phone_srtp = "always"', "sip.phone_srtp"),
])
def test_mistakes_are_named_by_key(section, message):
    with pytest.raises(ConfigError) as caught:
        load(f"\n[sip]\n{section}\n")
    assert message in str(caught.value)


def built(config) -> set[str]:
    return {entry.name for entry in load_box_services().entries() if entry.factory(config) is not None}


def test_the_sip_service_runs_only_with_a_sip_trunk_and_brings_the_pbx_along():
    assert "sip" not in built(load(""))
    assert {"sip", "pbx"} <= built(load(SIP070))
    # no span hands its calls to the PBX: the SIP trunk's calls still need it
    spans_elsewhere = default_text().replace('handler = "pbx" ', 'handler = "answer" ')
    assert 'handler = "pbx"' not in spans_elsewhere
    assert "pbx" not in built(load_text(spans_elsewhere, "box.toml"))
    assert "pbx" in built(load_text(spans_elsewhere + SIP070, "box.toml"))
    assert "pbx" not in built(load_text(spans_elsewhere + SIP070 + '\n[sip]\nhandler = "none"\n', "box.toml"))
