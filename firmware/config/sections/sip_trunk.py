"""[[sip_trunk]]: SIP trunks toward carriers or peer PBXs (firmware/sip/trunks.py builds the
user agent's `SipTrunk` from each entry).  A trunk's `translation_in` / `translation_out` name
`[[translation_profile]]`s, so the gateway's number mapping applies to it by name as to a
`[[trunk_group]]` of spans; names are shared between the two kinds of trunk."""

from __future__ import annotations

import ipaddress

from firmware.sip.trunks import (CALLER_HEADERS, CODECS, DTMF_METHODS, FORWARDING_HEADERS, NUMBER_FORMATS, SRTP_MODES,
                                 TRANSPORTS)

from ..registry import register_section
from ..schema import OPTIONAL, _suggest, Bool, Checker, Enum, Field, Int, ListOf, Seconds, Section, Str, Table, TableList

NAME = Str(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}", what="a name of letters, digits, '_', '.', '-' (at most 32)")
HOST = Str(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?\.?)+|\[?[0-9A-Fa-f:.]+\]?",
           what='a host name or IP address such as "sip.carrier.example" or "192.0.2.1"', max_len=253)
USER = Str(r"[A-Za-z0-9_.!~*'()&=+$,;?/%-]{1,64}", what="a SIP user name (letters, digits and -_.!~*'()&=+$,;?/%)")


def _network_problem(text: str) -> str | None:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return f'"{text}" is not an address or network such as "192.0.2.1" or "192.0.2.0/28"'
    return None


NETWORK = Str(what='an address or network such as "192.0.2.1" or "192.0.2.0/28"', check=_network_problem)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def _credentials_are_whole(trunk, path: tuple, checker: Checker) -> None:
    if (trunk.username is None) != (trunk.password is None):
        missing = "password" if trunk.password is None else "username"
        checker.report(path + (missing,), f"username and password go together: add {missing}")
    if trunk.register and trunk.username is None:
        checker.report(path + ("register",), "registering needs username and password")
    if trunk.realm is not None and trunk.username is None:
        checker.report(path + ("realm",), "a realm is for answering challenges: add username and password")
    if not _is_ip(trunk.host) and not trunk.allowed_sources and trunk.direction != "out":
        checker.report(path + ("allowed_sources",),
                       f'host "{trunk.host}" is a name: list the addresses its calls come from '
                       f'(IP authentication compares source addresses), or set direction = "out"')
    if trunk.access_list and trunk.allowed_sources:
        for index, source in enumerate(trunk.allowed_sources):
            net = ipaddress.ip_network(source, strict=False)
            if not any(net.subnet_of(ipaddress.ip_network(a, strict=False))
                       for a in trunk.access_list
                       if ipaddress.ip_network(a, strict=False).version == net.version):
                checker.report(path + ("allowed_sources", index),
                               f'{source} is outside the access list, so its calls would be refused')


SIP_TRUNK = Table({
    "name": Field(NAME),
    "host": Field(HOST),
    "port": Field(Int(1, 65535), 5060),
    "transport": Field(Enum(*TRANSPORTS), "udp"),
    "username": Field(USER, OPTIONAL, "digest user for registration and the carrier's challenges"),
    "password": Field(Str(what="the digest password", min_len=1, max_len=128), OPTIONAL),
    "realm": Field(Str(what="a digest realm", min_len=1, max_len=128), OPTIONAL),
    "register": Field(Bool(), OPTIONAL, "register with the carrier (default: when a username is given)"),
    "expires": Field(Int(60, 86400), 3600),
    "allowed_sources": Field(ListOf(NETWORK, max_len=64, unique=True), (),
                             "IP authentication: addresses whose INVITEs are this trunk's calls"),
    "caller_header": Field(Enum(*CALLER_HEADERS), "from"),
    "forwarding_header": Field(Enum(*FORWARDING_HEADERS), "diversion"),
    "number_format": Field(Enum(*NUMBER_FORMATS), "as_is"),
    "codecs": Field(ListOf(Enum(*CODECS), min_len=1, unique=True), ("PCMA", "PCMU")),
    "dtmf": Field(Enum(*DTMF_METHODS), "rfc4733"),
    "srtp": Field(Enum(*SRTP_MODES), "off",
                  'media encryption (SDES keys): "optional" takes SRTP when offered, "mandatory" only SRTP'),
    "keepalive": Field(Seconds(min=0, max=3600), 30.0, "OPTIONS interval; 0 for none"),
    "access_list": Field(ListOf(NETWORK, max_len=64, unique=True), (),
                         "addresses allowed to send this trunk anything (empty: any)"),
    "direction": Field(Enum("in", "out", "both"), "both"),
    "domain": Field(HOST, OPTIONAL, "host part of From and To toward the trunk (default: host)"),
    "translation_in": Field(NAME, OPTIONAL, "profile for calls from the trunk"),
    "translation_out": Field(NAME, OPTIONAL, "profile for calls to the trunk"),
}, checks=[_credentials_are_whole])


def _check_sip_trunks(config, checker: Checker) -> None:
    profiles = [p.name for p in getattr(config, "translation_profile", ()) or ()]
    groups = {g.name for g in getattr(config, "trunk_group", ()) or ()}
    for index, trunk in enumerate(config.sip_trunk):
        if trunk.name in groups:
            checker.report(("sip_trunk", index, "name"),
                           f'"{trunk.name}" is also a [[trunk_group]]; the number mapping finds trunks by name, '
                           f'so give each a name of its own')
        for key, unused_when in (("translation_in", "out"), ("translation_out", "in")):
            name = trunk[key]
            if name is None:
                continue
            if trunk.direction == unused_when:
                checker.report(("sip_trunk", index, key),
                               f'the trunk carries {"outgoing" if unused_when == "out" else "incoming"} calls only '
                               f'(direction = "{trunk.direction}"), so {key} would never apply')
            elif name not in profiles:
                known = ", ".join(f'"{p}"' for p in profiles) or "none"
                checker.report(("sip_trunk", index, key),
                               f'no [[translation_profile]] named "{name}"{_suggest(name, profiles)} (profiles: {known})')


register_section(Section("sip_trunk", TableList(SIP_TRUNK, unique=("name",), noun="sip_trunk"),
                         doc="SIP trunks: carriers and peer PBXs", checks=[_check_sip_trunks]))
