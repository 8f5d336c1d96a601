"""Whatever bytes an engineer (or a broken editor) puts in the file, the loader answers with
ConfigError, never anything else; and every issue of a parseable file has a line."""

import datetime
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.config import ConfigError, load_bytes, load_text
from firmware.config.loader import default_text

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KNOWN_KEYS = ["id", "driver", "side", "crc4", "clock", "law", "dchannel_timeslot", "wire", "wire_role",
              "frames_per_datagram", "dchannel_export", "hostname", "timezone", "span", "role", "t303",
              "n200", "name", "password_hash", "privilege", "device", "baud", "level", "levels",
              "interface", "vlan", "route", "addresses", "destination", "gateway", "parent", "dns"]
SECTIONS = ["box", "span", "isdn", "console", "user", "network", "logging", "nosuch"]

keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(min_size=1, max_size=8))
scalars = st.one_of(
    st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=True),
    st.text(max_size=12), st.sampled_from(["te", "nt", "alaw", "emulated", "listen", "connect", "default",
                                           "192.0.2.1", "10.0.0.0/8", "eth0", "UTC", "/run/w"]),
    st.dates(), st.datetimes(), st.times())
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)), max_leaves=8)
tables = st.dictionaries(keys, values, max_size=6)
documents = st.dictionaries(st.sampled_from(SECTIONS), st.one_of(tables, st.lists(tables, max_size=3), scalars),
                            max_size=5)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value == float("inf") else "-inf" if value == float("-inf") else repr(value))
    if isinstance(value, (int,)):
        return str(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def to_toml(document: dict) -> str:
    lines = []
    for section, body in document.items():
        if isinstance(body, dict):
            lines.append(f"[{section}]")
            lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in body.items()]
        elif isinstance(body, list) and body:
            for table in body:
                lines.append(f"[[{section}]]")
                lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items()]
        else:
            lines.insert(0, f"{section} = {toml_value(body)}")
    return "\n".join(lines) + "\n"


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_only_ever_raise_config_error(data):
    try:
        load_bytes(data, "fuzz.toml")
    except ConfigError as exc:
        assert all(issue.file == "fuzz.toml" for issue in exc.issues)


@FAST
@given(documents)
def test_random_toml_documents_only_raise_config_error_and_every_issue_has_a_line(document):
    try:
        load_text(to_toml(document), "fuzz.toml")
    except ConfigError as exc:
        assert exc.issues
        for issue in exc.issues:
            assert issue.line is not None, issue


@FAST
@given(st.integers(0, 2000), st.integers(0, 30), st.text(max_size=20))
def test_mutations_of_the_default_only_raise_config_error(position, cut, insert):
    text = default_text()
    position %= len(text)
    try:
        load_text(text[:position] + insert + text[position + cut:], "mutated.toml")
    except ConfigError as exc:
        assert exc.issues


@FAST
@given(documents)
def test_the_locator_points_at_the_line_where_each_key_is_written(document):
    """For every key of every table tomllib reads back, the located line holds that key."""
    import tomllib

    from firmware.config.locate import Locations

    text = to_toml(document)
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return
    lines = text.splitlines()
    where = Locations(text)
    for section, body in parsed.items():
        tables = [((section,), body)] if isinstance(body, dict) else \
            [((section, i), t) for i, t in enumerate(body)] if isinstance(body, list) and all(isinstance(t, dict) for t in body) else []
        for path, table in tables:
            for key in table:
                line, column = where.find(path + (key,))
                assert lines[line - 1][column - 1:].startswith(json.dumps(key)), (path, key, line)


@FAST
@given(st.text(alphabet=st.sampled_from(list('[]{}="\\\'#.,\n abc123-_tf')), max_size=120))
def test_the_locator_never_fails_even_on_text_tomllib_rejects(text):
    from firmware.config.locate import Locations

    where = Locations(text)
    assert all(1 <= line <= text.count("\n") + 1 for line, _ in where.positions.values())
