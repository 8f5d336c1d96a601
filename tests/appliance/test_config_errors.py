"""Every kind of configuration error names file, line and key path and what was expected."""

import textwrap

import pytest

from firmware.config import ConfigError, load_bytes, load_file, load_text
from firmware.config.loader import default_text
from firmware.config.passwords import hash_password, verify_password

SPAN_1 = """
[[span]]
id = 1
driver = "emulated"
side = "te"
clock = "line"
law = "alaw"
wire = "/run/w1"
wire_role = "connect"
"""

SPAN_2 = """
[[span]]
id = 2
driver = "emulated"
side = "nt"
clock = "internal"
law = "alaw"
wire = "/run/w1"
wire_role = "listen"
"""


def errors_of(text: str, name: str = "box.toml") -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_text(textwrap.dedent(text), name)
    return [str(issue) for issue in info.value.issues]


def test_default_config_is_valid_with_two_wires_each_joining_a_te_and_an_nt():
    config = load_text(default_text(), "default.toml")
    assert [(s.id, s.side, s.wire_role) for s in config.span] == [(1, "te", "connect"), (2, "nt", "listen"),
                                                                        (3, "nt", "connect"), (4, "te", "listen")]
    assert config.span[0].wire == config.span[1].wire
    assert config.span[0].crc4 is True and config.span[0].dchannel_timeslot == 16
    assert config.span[0].frames_per_datagram == 8 and config.span[0].dchannel_export is None
    assert [(i.span, i.role, i.t303, i.n200) for i in config.isdn] == [(1, "user", 4.0, 3), (2, "network", 4.0, 3),
                                                                          (3, "network", 4.0, 3), (4, "user", 4.0, 3)]
    assert config.user == ()  # no default password


def test_wrong_type_names_file_line_key_and_expectation():
    text = "[box]\nhostname = \"pribox\"\n" + SPAN_1.replace('law = "alaw"', 'law = "alaw"\ncrc4 = "yes"')
    assert errors_of(text) == ['box.toml:10:1: span[0].crc4: expected true or false, got "yes"']


def test_unknown_key_gets_a_did_you_mean():
    [error] = errors_of(SPAN_1 + "dchanel_timeslot = 16\n")
    assert error.startswith("box.toml:10:1: span[0].dchanel_timeslot: unknown key")
    assert 'did you mean "dchannel_timeslot"' in error


def test_unknown_section_gets_a_did_you_mean():
    [error] = errors_of("[consle]\nbaud = 9600\n")
    assert error.startswith("box.toml:1:1: consle: unknown section")
    assert 'did you mean "console"' in error


def test_out_of_range_and_enum():
    errors = errors_of(SPAN_1.replace('side = "te"', 'side = "TE"') + "dchannel_timeslot = 0\nframes_per_datagram = 81\n")
    assert errors == [
        'box.toml:5:1: span[0].side: expected one of "te", "nt", got "TE" (did you mean "te"?)',
        "box.toml:10:1: span[0].dchannel_timeslot: expected an integer 1..31, got 0",
        "box.toml:11:1: span[0].frames_per_datagram: expected an integer 1..80, got 81",
    ]


def test_missing_required_key_points_at_its_table_header():
    errors = errors_of("[box]\n" + SPAN_1.replace('wire = "/run/w1"\n', ""))
    assert errors == ["box.toml:3:1: span[0].wire: missing required key (the path of the emulated E1 wire's Unix socket)"]


def test_duplicate_span_id_names_the_second_and_the_first():
    errors = errors_of(SPAN_1 + SPAN_2.replace("id = 2", "id = 1"))
    assert errors == ["box.toml:12:1: span[1].id: duplicate span id 1 (already used by span[0])"]


def test_toml_syntax_error_keeps_tomllib_line_and_column():
    [error] = errors_of("[box]\nhostname = \"pribox\nnext = 1\n")
    assert error.startswith("box.toml:2:")
    assert "TOML syntax" in error


def test_every_error_of_a_file_is_reported_at_once_in_line_order():
    text = ("[box]\nhostname = \"bad host\"\ncolour = 1\n" + SPAN_1.replace("id = 1", "id = 0")
            + "\n[console]\nbaud = 1234\n")
    errors = errors_of(text)
    assert [e.split(": ")[1] for e in errors] == ["box.hostname", "box.colour", "span[0].id", "console.baud"]
    assert [int(e.split(":")[1]) for e in errors] == [2, 3, 6, 15]


def test_cross_section_reference_isdn_to_missing_span():
    errors = errors_of(SPAN_1 + "\n[[isdn]]\nspan = 7\n")
    assert errors == ["box.toml:12:1: isdn[0].span: no [[span]] with id 7 (span ids: 1)"]


def test_isdn_role_follows_the_span_side_when_left_out():
    from firmware.config.sections.isdn import isdn_role

    config = load_text(SPAN_1 + SPAN_2 + "[[isdn]]\nspan = 1\n[[isdn]]\nspan = 2\nt303 = 2.5\nt316 = false\n")
    assert [isdn_role(config, entry) for entry in config.isdn] == ["user", "network"]
    assert config.isdn[1].t303 == 2.5 and config.isdn[1].t316 is None and config.isdn[0].t316 == 120.0
    assert (config.isdn[0].k, config.isdn[0].n316, config.isdn[0].t310) == (7, 2, 30.0)
    errors = errors_of(SPAN_1 + "[[isdn]]\nspan = 1\nt200 = false\nt303 = 0\n")
    assert errors == ["box.toml:12:1: isdn[0].t200: expected a number of seconds 0.1..3600, got false",
                      "box.toml:13:1: isdn[0].t303: expected a number of seconds 0.1..3600, or false for off, got 0"]


def test_both_ends_of_a_wire_cannot_listen():
    errors = errors_of(SPAN_1.replace('"connect"', '"listen"') + SPAN_2)
    assert errors == ['box.toml:18:1: span[1].wire_role: both ends of wire "/run/w1" are "listen"; '
                      "one must listen and the other connect"]


def test_values_inside_inline_tables_are_reported_at_the_key_holding_them():
    errors = errors_of('[network]\ninterface = [{name = "eth0"}]\nvlan = [{id = 5000, parent = "eth0", role = "voice"}]\n')
    assert errors == ["box.toml:3:1: network.vlan[0].id: expected an integer 1..4094, got 5000"]


def test_network_cross_checks():
    text = """
    [network]
    dns = ["192.0.2.53"]
    [[network.interface]]
    name = "eth0"
    addresses = ["192.0.2.10/24"]
    [[network.vlan]]
    id = 10
    parent = "eth1"
    role = "voice"
    [[network.route]]
    destination = "10.0.0.0/8"
    gateway = "2001:db8::1"
    [[network.route]]
    destination = "default"
    gateway = "192.0.2.1"
    interface = "eth0.20"
    """
    errors = errors_of(text)
    assert errors == [
        'box.toml:9:1: network.vlan[0].parent: no [[network.interface]] named "eth1" (interfaces: eth0)',
        "box.toml:13:1: network.route[0].gateway: gateway 2001:db8::1 is IPv6 but destination 10.0.0.0/8 is IPv4",
        'box.toml:17:1: network.route[1].interface: no interface or VLAN named "eth0.20"',
    ]
    good = load_text(textwrap.dedent(text).replace('"eth1"', '"eth0"').replace("2001:db8::1", "192.0.2.1")
                     .replace('"eth0.20"', '"eth0.10"'))
    assert str(good.network.vlan[0].parent) == "eth0" and good.network.route[1].destination == "default"


def test_users_need_a_real_scrypt_hash_and_unique_names():
    good = hash_password("correct horse", n=2**4)
    assert verify_password("correct horse", good) and not verify_password("wrong", good)
    text = f'[[user]]\nname = "admin"\npassword_hash = "{good}"\nprivilege = 15\n' \
           f'[[user]]\nname = "admin"\npassword_hash = "secret"\n'
    errors = errors_of(text)
    assert errors[0].startswith('box.toml:6:1: user[1].name: duplicate user name "admin"')
    assert errors[1].startswith("box.toml:7:1: user[1].password_hash: expected \"scrypt:N:r:p:")


def test_timezone_and_logging_levels():
    errors = errors_of('[box]\ntimezone = "Mars/Olympus"\n[logging]\nlevels = {"pribox.isdn" = "loud"}\n')
    assert errors[0] == 'box.toml:2:1: box.timezone: expected an IANA time zone such as "Asia/Seoul" or "UTC", got "Mars/Olympus"'
    assert errors[1].startswith('box.toml:4:1: logging.levels."pribox.isdn": expected one of "debug"')
    config = load_text('[box]\ntimezone = "Asia/Seoul"\n[logging]\nlevels = {"pribox.isdn" = "debug"}\n')
    assert config.logging.levels["pribox.isdn"] == "debug"


def test_dotted_and_quoted_keys_and_multiline_strings_are_located():
    text = 'x = """\n[box]\nfoo = 1\n"""\n[box]\n"host\\u006eame" = 3\n'
    errors = errors_of(text)
    assert errors == ['box.toml:1:1: x: unknown section; known sections: ' + errors[0].split("known sections: ")[1],
                      "box.toml:6:1: box.hostname: expected a host name (letters, digits, hyphens; "
                      "dot-separated labels), got 3"]


def test_unreadable_and_non_utf8_files(tmp_path):
    with pytest.raises(ConfigError, match=r"missing.toml: cannot read the file"):
        load_file(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=r"^bin.toml:2:5: the file is not valid UTF-8 text$"):
        load_bytes(b"[box]\nx = \xff\n", "bin.toml")


def test_records_are_read_only():
    config = load_text(SPAN_1)
    with pytest.raises(AttributeError):
        config.span[0].crc4 = False


def test_socket_paths_fit_sun_path_and_the_export_is_not_the_wire():
    long_path = "/run/" + "w" * 110
    errors = errors_of(SPAN_1.replace('"/run/w1"', f'"{long_path}"') + 'dchannel_export = "/run/w1x"\n')
    assert errors == ["box.toml:8:1: span[0].wire: a Unix socket path is at most 107 bytes, this one is 115"]
    errors = errors_of(SPAN_1 + 'dchannel_export = "/run/w1"\n')
    assert errors == ['box.toml:10:1: span[0].dchannel_export: "/run/w1" is also the wire socket']


def test_isdn_entries_give_the_stack_its_timer_arguments():
    from firmware.config.sections.isdn import lapd_timer_values, q931_timer_values

    config = load_text(SPAN_1 + "[[isdn]]\nspan = 1\nk = 5\nt309 = false\n")
    assert lapd_timer_values(config.isdn[0]) == {"t200": 1.0, "n200": 3, "t203": 10.0, "k": 5}
    q931 = q931_timer_values(config.isdn[0])
    assert q931["t309"] is None and q931["t301"] == 180.0 and q931["n316"] == 2 and len(q931) == 11


def test_a_key_or_table_written_twice_is_placed_although_tomllib_cannot():
    assert errors_of('[box]\nhostname = "a"\ntimezone = "UTC"\nhostname = "b"\n') == [
        "box.toml:4:1: box.hostname: defined twice (first on line 2); TOML allows a key or table once"]
    assert errors_of('[box]\nhostname = "a"\n\n[console]\nbaud = 9600\n[box]\ntimezone = "UTC"\n') == [
        "box.toml:6:1: box: defined twice (first on line 1); TOML allows a key or table once"]
