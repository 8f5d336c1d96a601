"""Flow files: what an integrator writes by hand, and every mistake named by file, line, node
and field, all at once."""

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pbx_cti.ivr.flow import (
    BranchNode, CollectNode, FlowError, LookupNode, load_flow_file, load_flow_text, substitute, template_variables,
)

HEAD = '[flow]\nentry = "start"\n'


def errors(text: str, **kwargs) -> list[str]:
    with pytest.raises(FlowError) as caught:
        load_flow_text(textwrap.dedent(text), "flows/main.toml", **kwargs)
    return [str(issue) for issue in caught.value.issues]


def test_a_bad_field_is_named_by_file_line_node_and_field():
    text = HEAD + """
[nodes.start]
type = "collect"
prompts = ["menu"]
max_digits = "x"
next = "start"
on_max_retries = "start"
"""
    assert errors(text) == ['flows/main.toml:7: node "start": field "max_digits": expected an integer 1..32, got "x"']


def test_every_error_is_collected_not_only_the_first():
    text = HEAD + """
[nodes.start]
type = "play"
prompts = ["hello"]
next = "menuu"

[nodes.menu]
type = "collect"
first_digit_timeout = 500
valid = "[12"
next = "start"
on_max_retries = "bye"

[nodes.bye]
type = "hangup"
cause = 200

[nodes.odd]
type = "playy"
"""
    assert errors(text) == [
        'flows/main.toml:7: node "start": field "next": no node "menuu" (did you mean "menu"?)',
        'flows/main.toml:11: node "menu": field "first_digit_timeout": expected a number of seconds 0.5..60, got 500',
        'flows/main.toml:12: node "menu": field "valid": not a valid regular expression: '
        'unterminated character set at position 0',
        'flows/main.toml:18: node "bye": field "cause": expected an integer 1..127, got 200',
        'flows/main.toml:21: node "odd": field "type": unknown node type "playy" (did you mean "play"?); '
        'expected one of: play, collect, lookup, set, branch, route, callback, transfer, record, notify, hangup',
    ]


def test_unknown_key_entry_and_missing_fields():
    text = """
[flow]
entry = "begin"
[nodes.start]
type = "play"
prompt = ["hello"]
next = "start"
[nodes.other]
prompts = ["x"]
"""
    assert errors(text) == [
        'flows/main.toml:3: [flow]: field "entry": no node "begin"',
        'flows/main.toml:4: node "start": field "prompts": missing required key (a prompt name or an array of prompt '
        'names (file names in the prompt directory without ".wav"))',
        'flows/main.toml:6: node "start": field "prompt": unknown key (did you mean "prompts"?); '
        'expected one of: type, prompts, barge_in, next',
        'flows/main.toml:8: node "other": missing field "type" (one of: play, collect, lookup, set, branch, route, '
        'callback, transfer, record, notify, hangup)',
    ]


def test_a_variable_read_before_it_is_set_on_every_path_is_an_error():
    text = HEAD + """
[nodes.start]
type = "lookup"
source = "http"
url = "http://crm.example/customer?ani=${calling}"
result = { name = "customer.name" }
next = "greet"
on_error = "greet"

[nodes.greet]
type = "transfer"
number = "${agent_line}"
on_failure = "bye"

[nodes.bye]
type = "route"
skill = "general"
data = { customer = "${name}" }
"""
    assert errors(text) == [
        'flows/main.toml:14: node "greet": field "number": unknown variable "agent_line": no node sets it, it is not '
        'in [vars] and not a call input (call_id, calling, called, redirecting, trunk)',
        'flows/main.toml:20: node "bye": field "data.customer": variable "name" is not set on every path to this node '
        "(set by node 'start' on some paths only)",
    ]


def test_variables_set_on_every_path_and_declared_inputs_are_fine():
    flow = load_flow_text(textwrap.dedent("""
        [flow]
        entry = "start"
        inputs = ["calling", "customer_id"]
        [vars]
        greeting_name = "고객님"
        [nodes.start]
        type = "set"
        values = { who = "${greeting_name} ${customer_id}" }
        next = "ask"
        [nodes.ask]
        type = "collect"
        max_digits = 4
        into = "pin"
        next = "check"
        on_max_retries = "bye"
        [nodes.check]
        type = "branch"
        otherwise = "bye"
        [[nodes.check.case]]
        var = "pin"
        matches = "1[0-9]+"
        next = "route"
        [nodes.route]
        type = "route"
        skill = "vip"
        data = { pin = "${pin}", who = "${who}", last = "${digits}", caller = "${calling}" }
        [nodes.bye]
        type = "hangup"
    """))
    assert flow.warnings == ()
    assert isinstance(flow["check"], BranchNode) and flow["check"].cases[0].holds("1234")
    assert isinstance(flow["ask"], CollectNode) and flow["ask"].max_digits == 4


def test_unreachable_node_is_a_warning_with_its_line():
    flow = load_flow_text(HEAD + '[nodes.start]\ntype = "hangup"\n[nodes.lost]\ntype = "hangup"\n', "f.toml")
    assert [str(w) for w in flow.warnings] == [
        'f.toml:5: node "lost": warning: unreachable: no path from the entry node leads here']


def test_prompts_are_checked_against_the_prompt_directory(tmp_path):
    (tmp_path / "hello.wav").write_bytes(b"")
    (tmp_path / "menu.alaw").write_bytes(b"")
    text = HEAD + """
[nodes.start]
type = "play"
prompts = ["hello", "helo", "menu"]
next = "bye"
[nodes.bye]
type = "hangup"
prompts = "goodbye"
"""
    assert errors(text, prompt_dir=tmp_path) == [
        f'flows/main.toml:6: node "start": field "prompts[1]": unknown prompt "helo": no helo.wav, .alaw or .ulaw '
        f'in {tmp_path} (did you mean "hello"?)',
        f'flows/main.toml:10: node "bye": field "prompts[0]": unknown prompt "goodbye": no goodbye.wav, .alaw or .ulaw '
        f'in {tmp_path}',
    ]
    missing = tmp_path / "nowhere"
    assert errors(text, prompt_dir=missing)[0] == (
        f'flows/main.toml:6: node "start": field "prompts[0]": prompt "hello": the prompt directory {missing} does not exist')


def test_lookup_fields_depend_on_the_source(tmp_path):
    text = HEAD + """
[nodes.start]
type = "lookup"
source = "sqlite"
url = "http://x/"
params = ["${calling}"]
timeout = 0
next = "start"
on_error = "start"

[nodes.post]
type = "lookup"
source = "http"
url = "ftp://x/"
body = { a = "1" }
next = "start"
on_error = "start"
"""
    assert errors(text) == [
        'flows/main.toml:9: node "start": field "timeout": expected a number of seconds 0.1..30, got 0',
        'flows/main.toml:16: node "post": field "url": expected an http:// or https:// URL, got "ftp://x/"',
        'flows/main.toml:17: node "post": field "body": a body is sent only with method = "POST"',
    ]
    fixed = text.replace("timeout = 0\n", "")
    assert errors(fixed) == [
        'flows/main.toml:4: node "start": field "database": missing field "database" (needed with source = "sqlite")',
        'flows/main.toml:4: node "start": field "query": missing field "query" (needed with source = "sqlite")',
        'flows/main.toml:7: node "start": field "url": only for source = "http", this node has source = "sqlite"',
        'flows/main.toml:15: node "post": field "url": expected an http:// or https:// URL, got "ftp://x/"',
        'flows/main.toml:16: node "post": field "body": a body is sent only with method = "POST"',
    ]
    good = HEAD + """
[nodes.start]
type = "lookup"
source = "sqlite"
database = "customers.db"
query = "SELECT name FROM customer WHERE phone = ?"
params = ["${calling}"]
result = { name = "name" }
next = "end"
on_error = "end"
[nodes.end]
type = "hangup"
"""
    flow = load_flow_text(good, "x.toml", base_dir=tmp_path)
    node = flow["start"]
    assert isinstance(node, LookupNode) and node.database == str(tmp_path / "customers.db")


def test_branch_case_needs_exactly_one_condition_and_a_valid_regex():
    text = HEAD + """
[nodes.start]
type = "branch"
otherwise = "start"
[[nodes.start.case]]
var = "calling"
equals = "1"
in = ["2"]
next = "start"
[[nodes.start.case]]
var = "calling"
matches = "(("
next = "start"
"""
    assert errors(text) == [
        'flows/main.toml:7: node "start": field "case[0]": expected exactly one condition of equals, not_equals, in, '
        'not_in, matches, less_than, greater_than, got equals, in',
        'flows/main.toml:14: node "start": field "case[1].matches": not a valid regular expression: '
        'missing ), unterminated subpattern at position 1',
    ]


def test_collect_ranges_and_transfer_targets():
    text = HEAD + """
[nodes.start]
type = "collect"
min_digits = 5
max_digits = 4
next = "xfer"
on_max_retries = "xfer"
[nodes.xfer]
type = "transfer"
number = "02-123"
[nodes.both]
type = "transfer"
number = "021234"
extension = "2001"
"""
    assert errors(text) == [
        'flows/main.toml:6: node "start": field "min_digits": min_digits (5) is more than max_digits (4)',
        'flows/main.toml:12: node "xfer": field "number": expected digits with an optional leading +, got "02-123"',
        'flows/main.toml:13: node "both": expected exactly one of "number" (an outside number) or "extension"',
    ]


def test_template_syntax_errors_and_toml_syntax():
    text = HEAD + '[nodes.start]\ntype = "set"\nvalues = { a = "${bad name}", b = "cost $5" }\nnext = "start"\n'
    assert errors(text) == [
        'flows/main.toml:5: node "start": field "values.a": "${bad name}" is not a variable reference '
        '(names are letters, digits and _)',
        'flows/main.toml:5: node "start": field "values.b": a lone "$" at character 6 (write "$$" for a dollar sign, '
        '${name} for a variable)',
    ]
    assert errors('[flow]\nentry = \n') == ["flows/main.toml:2:9: TOML syntax: Invalid value"]
    assert errors('[flow]\nentry = "a"\n[nodes.a]\ntype = "hangup"\n[nodes.a]\n') == [
        'flows/main.toml:5:1: nodes.a: defined twice (first on line 3); TOML allows a key or table once']


def test_unreadable_files(tmp_path):
    with pytest.raises(FlowError, match="cannot read the flow file"):
        load_flow_file(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b'[flow]\nentry = "\xff"\n')
    with pytest.raises(FlowError, match=r"bad.toml:2: the flow file is not valid UTF-8"):
        load_flow_file(bad)


def test_substitution():
    assert substitute("${a}-${b}-$${a}-${missing}", {"a": 1, "b": None}) == "1--${a}-"
    assert template_variables("x ${a} ${b_2}") == (["a", "b_2"], None)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_gives_a_flow_or_a_flow_error(text):
    try:
        load_flow_text(text, "fuzz.toml")
    except FlowError as exc:
        assert all(str(issue).startswith("fuzz.toml") for issue in exc.issues)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["type", "prompts", "next", "max_digits", "valid", "cause", "source", "url",
                                        "case", "values", "skill", "number", "terminator", "on_max_retries"]),
                       st.one_of(st.text(max_size=8), st.integers(-5, 50), st.booleans(),
                                 st.lists(st.text(max_size=4), max_size=3)), max_size=8))
def test_any_node_table_gives_a_flow_or_a_flow_error(node):
    lines = [HEAD, "[nodes.start]"]
    for key, value in node.items():
        lines.append(f"{key} = {_toml(value)}")
    try:
        load_flow_text("\n".join(lines) + "\n", "fuzz.toml")
    except FlowError as exc:
        assert exc.issues


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in value) + '"'
