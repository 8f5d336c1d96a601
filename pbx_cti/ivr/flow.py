"""IVR flows as data: the model an interpreter runs, read from a TOML file an integrator writes
by hand, and validated with every problem at once as
`flows/main.toml:23: node "menu": field "max_digits": expected an integer 1..32, got "x"`.

The file:

    [flow]
    entry = "greeting"            # the node a call starts in
    inputs = ["calling"]          # call data the flow reads (default: CALL_VARIABLES)
    [vars]                        # variables set before the entry node
    center = "seoul"
    [nodes.greeting]
    type = "play"
    prompts = ["greeting"]
    next = "menu"

Node types and their fields are in NODE_TABLES below and in the package README.  Line numbers
come from the configuration loader's key scanner (firmware/config/locate.py) and field values
are checked with its schema types, so a flow reads its errors the way the box's file does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from firmware.config.errors import ConfigError, ConfigIssue, format_path
from firmware.config.locate import Locations
from firmware.config.schema import (
    INVALID, OPTIONAL, Bool, Checker, Enum, Field, Int, ListOf, MapOf, Record, Seconds, Str, Table, TableList,
    Type, _suggest, describe,
)

# Call data the PBX hands every session (missing ones read as ""); a flow may declare others
# with [flow] inputs.
CALL_VARIABLES = ("call_id", "calling", "called", "redirecting", "trunk")
# Set by every collect node that succeeds: the digits it collected.
DIGITS_VARIABLE = "digits"

PROMPT_SUFFIXES = (".wav", ".alaw", ".al", ".ulaw", ".ul", ".mulaw", ".mu")
DTMF_KEYS = "0123456789*#ABCD"

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_NAME_RE = re.compile(_NAME)
_REFERENCE = re.compile(r"\$(\$|\{([^}]*)\}|)")


# -- templates ----------------------------------------------------------------------------------

def template_variables(text: str) -> tuple[list[str], str | None]:
    """The variables `${name}` in `text`, and a problem with its syntax (None when fine).
    `$$` is a literal dollar sign."""
    names: list[str] = []
    for match in _REFERENCE.finditer(text):
        if match.group(1) == "$":
            continue
        if match.group(1) == "":
            return names, f'a lone "$" at character {match.start() + 1} (write "$$" for a dollar sign, ${{name}} for a variable)'
        name = match.group(2)
        if not _NAME_RE.fullmatch(name):
            return names, f'"${{{name}}}" is not a variable reference (names are letters, digits and _)'
        names.append(name)
    return names, None


def substitute(text: str, variables: Mapping[str, Any], escape: Callable[[str], str] | None = None) -> str:
    """`${name}` replaced by the variable's value as text ("" when unset; None reads as "");
    `escape` applies to the values only (URL quoting, so a caller's "#" or "&" stays data)."""
    def value(match: re.Match) -> str:
        if match.group(1) == "$":
            return "$"
        v = variables.get(match.group(2))
        if v is None:
            v = ""
        elif isinstance(v, bool):
            v = "true" if v else "false"
        v = str(v)
        return escape(v) if escape is not None else v
    return _REFERENCE.sub(value, text)


# -- the model ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Node:
    name: str
    line: int | None

    type_name = "node"

    def exits(self) -> list[tuple[str, str, frozenset[str]]]:
        """(field, target node, variables that exit sets) for every way out of the node."""
        return []

    def references(self) -> list[tuple[tuple, str]]:
        """(field path inside the node, variable name) of every variable the node reads."""
        return []

    def prompt_names(self) -> list[tuple[tuple, str]]:
        return []


def _template_refs(path: tuple, text: str | None) -> list[tuple[tuple, str]]:
    if text is None:
        return []
    names, _ = template_variables(text)
    return [(path, n) for n in names]


def _prompts_at(field_name: str, prompts: tuple[str, ...]) -> list[tuple[tuple, str]]:
    return [((field_name, i), p) for i, p in enumerate(prompts)]


@dataclass(frozen=True)
class PlayNode(Node):
    prompts: tuple[str, ...] = ()
    barge_in: bool = False
    next: str = ""

    type_name = "play"

    def exits(self):
        return [("next", self.next, frozenset())]

    def prompt_names(self):
        return _prompts_at("prompts", self.prompts)


@dataclass(frozen=True)
class CollectNode(Node):
    prompts: tuple[str, ...] = ()
    barge_in: bool = True
    min_digits: int = 1
    max_digits: int = 1
    first_digit_timeout: float = 5.0
    inter_digit_timeout: float = 3.0
    terminator: str = "#"
    valid: str | None = None
    into: str | None = None
    no_input_retries: int = 2
    invalid_retries: int = 2
    no_input_prompts: tuple[str, ...] = ()
    invalid_prompts: tuple[str, ...] = ()
    next: str = ""
    on_no_input: str | None = None
    on_invalid: str | None = None
    on_max_retries: str = ""

    type_name = "collect"

    def exits(self):
        collected = frozenset({DIGITS_VARIABLE} | ({self.into} if self.into else set()))
        out = [("next", self.next, collected), ("on_max_retries", self.on_max_retries, frozenset())]
        if self.on_no_input:
            out.append(("on_no_input", self.on_no_input, frozenset()))
        if self.on_invalid:
            out.append(("on_invalid", self.on_invalid, frozenset()))
        return out

    def prompt_names(self):
        return (_prompts_at("prompts", self.prompts) + _prompts_at("no_input_prompts", self.no_input_prompts)
                + _prompts_at("invalid_prompts", self.invalid_prompts))

    def valid_pattern(self) -> re.Pattern | None:
        return re.compile(self.valid) if self.valid is not None else None


@dataclass(frozen=True)
class LookupNode(Node):
    source: str = "http"
    method: str = "GET"
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, str] = field(default_factory=dict)
    database: str | None = None  # absolute after loading (relative paths resolve from the flow file)
    query: str | None = None
    params: tuple[str, ...] = ()
    timeout: float = 2.0
    result: Mapping[str, str] = field(default_factory=dict)  # variable -> field of the result
    next: str = ""
    on_error: str = ""
    on_not_found: str | None = None

    type_name = "lookup"

    def exits(self):
        out = [("next", self.next, frozenset(self.result)), ("on_error", self.on_error, frozenset())]
        if self.on_not_found:
            out.append(("on_not_found", self.on_not_found, frozenset()))
        return out

    def references(self):
        refs = _template_refs(("url",), self.url)
        for key, value in self.headers.items():
            refs += _template_refs(("headers", key), value)
        for key, value in self.body.items():
            refs += _template_refs(("body", key), value)
        for i, value in enumerate(self.params):
            refs += _template_refs(("params", i), value)
        return refs


@dataclass(frozen=True)
class SetNode(Node):
    values: Mapping[str, str] = field(default_factory=dict)
    next: str = ""

    type_name = "set"

    def exits(self):
        return [("next", self.next, frozenset(self.values))]

    def references(self):
        refs = []
        for key, value in self.values.items():
            refs += _template_refs(("values", key), value)
        return refs


OPERATORS = ("equals", "not_equals", "in", "not_in", "matches", "less_than", "greater_than")


@dataclass(frozen=True)
class Case:
    var: str
    operator: str
    operand: Any  # str, tuple of str, compiled pattern or float
    next: str
    line: int | None = None

    def holds(self, value: Any) -> bool:
        text = "" if value is None else ("true" if value is True else "false" if value is False else str(value))
        if self.operator == "equals":
            return text == self.operand
        if self.operator == "not_equals":
            return text != self.operand
        if self.operator == "in":
            return text in self.operand
        if self.operator == "not_in":
            return text not in self.operand
        if self.operator == "matches":
            return self.operand.fullmatch(text) is not None
        try:
            number = float(text)
        except ValueError:
            return False  # a value that is no number is neither less nor greater
        return number < self.operand if self.operator == "less_than" else number > self.operand

    def describe(self) -> str:
        operand = self.operand.pattern if isinstance(self.operand, re.Pattern) else self.operand
        return f"{self.var} {self.operator} {operand!r}"


@dataclass(frozen=True)
class BranchNode(Node):
    cases: tuple[Case, ...] = ()
    otherwise: str = ""

    type_name = "branch"

    def exits(self):
        return [(f"case[{i}].next", c.next, frozenset()) for i, c in enumerate(self.cases)] + [
            ("otherwise", self.otherwise, frozenset())]

    def references(self):
        return [(("case", i, "var"), c.var) for i, c in enumerate(self.cases)]


@dataclass(frozen=True)
class RouteNode(Node):
    skill: str = ""
    data: Mapping[str, str] = field(default_factory=dict)
    priority: int = 0
    prompts: tuple[str, ...] = ()
    on_busy: str | None = None
    wait: bool = False          # queue even when every agent is busy (the caller chose to wait)
    on_no_agents: str | None = None   # nobody of the group is logged in (default: on_busy)

    type_name = "route"

    def exits(self):
        return [(name, target, frozenset()) for name, target in (("on_busy", self.on_busy),
                                                                 ("on_no_agents", self.on_no_agents)) if target]

    def references(self):
        refs = _template_refs(("skill",), self.skill)
        for key, value in self.data.items():
            refs += _template_refs(("data", key), value)
        return refs

    def prompt_names(self):
        return _prompts_at("prompts", self.prompts)


@dataclass(frozen=True)
class TransferNode(Node):
    number: str | None = None
    extension: str | None = None
    prompts: tuple[str, ...] = ()
    on_failure: str | None = None

    type_name = "transfer"

    def exits(self):
        return [("on_failure", self.on_failure, frozenset())] if self.on_failure else []

    def references(self):
        return _template_refs(("number",), self.number) + _template_refs(("extension",), self.extension)

    def prompt_names(self):
        return _prompts_at("prompts", self.prompts)


@dataclass(frozen=True)
class RecordNode(Node):
    prompts: tuple[str, ...] = ()
    max_length: float = 60.0
    beep: bool = True
    terminator: str = "#"
    into: str | None = None
    next: str = ""

    type_name = "record"

    def exits(self):
        return [("next", self.next, frozenset({self.into} if self.into else ()))]

    def prompt_names(self):
        return _prompts_at("prompts", self.prompts)


@dataclass(frozen=True)
class CallbackNode(Node):
    """Leave a callback request with the contact center (an agent of `skill` is rung first and,
    once the agent answers, the box dials `number`) and go on at once."""
    skill: str = ""
    number: str = "${calling}"
    data: Mapping[str, str] = field(default_factory=dict)
    priority: int = 0
    next: str = ""

    type_name = "callback"

    def exits(self):
        return [("next", self.next, frozenset())]

    def references(self):
        refs = _template_refs(("skill",), self.skill) + _template_refs(("number",), self.number)
        for key, value in self.data.items():
            refs += _template_refs(("data", key), value)
        return refs


@dataclass(frozen=True)
class NotifyNode(Node):
    """Queue an AlimTalk or SMS (the [notify] service sends it) and go on at once: the caller
    never waits for delivery."""
    kind: str = "alimtalk"
    to: str = "${calling}"
    template: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    text: str | None = None
    next: str = ""

    type_name = "notify"

    def exits(self):
        return [("next", self.next, frozenset())]

    def references(self):
        refs = _template_refs(("to",), self.to) + _template_refs(("text",), self.text)
        for key, value in self.params.items():
            refs += _template_refs(("params", key), value)
        return refs


@dataclass(frozen=True)
class HangupNode(Node):
    prompts: tuple[str, ...] = ()
    cause: int = 16

    type_name = "hangup"

    def prompt_names(self):
        return _prompts_at("prompts", self.prompts)


@dataclass(frozen=True)
class Flow:
    source: str
    entry: str
    nodes: Mapping[str, Node]
    variables: Mapping[str, str]
    inputs: tuple[str, ...]
    description: str = ""
    warnings: tuple[ConfigIssue, ...] = ()

    def __getitem__(self, name: str) -> Node:
        return self.nodes[name]


# -- field types ----------------------------------------------------------------------------------

class Prompts(Type):
    """One prompt name or an array of them; a name is a file of the prompt directory without
    its suffix."""

    expected = 'a prompt name or an array of prompt names (file names in the prompt directory without ".wav")'

    def __init__(self, min_len: int = 0):
        self.min_len = min_len

    def convert(self, value, path, checker):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            return self.wrong(value, path, checker)
        if len(items) < self.min_len:
            checker.report(path, f"expected at least {self.min_len} prompt, got none")
            return INVALID
        out = []
        for i, item in enumerate(items):
            where = path if isinstance(value, str) else path + (i,)
            if not isinstance(item, str) or not item or item.startswith(".") or any(c in item for c in "/\\\x00"):
                checker.report(where, f"expected a prompt name (a file name without directory), got {describe(item)}")
                out.append(INVALID)
            else:
                out.append(item)
        return INVALID if INVALID in out else tuple(out)


class Template(Str):
    """A string that may hold `${variable}` references."""

    def __init__(self, what: str = "a string (with ${variable} references)", min_len: int = 0):
        super().__init__(what=what, min_len=min_len, check=lambda text: template_variables(text)[1])


class Regex(Str):
    def __init__(self, what: str = "a regular expression"):
        super().__init__(what=what, check=_regex_problem)


def _regex_problem(text: str) -> str | None:
    try:
        re.compile(text)
    except re.error as exc:
        return f"not a valid regular expression: {exc}"
    return None


class Number(Type):
    expected = "a number"

    def convert(self, value, path, checker):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return self.wrong(value, path, checker)
        return float(value)


class Text(Type):
    """A value compared as text: a string, or an integer written without quotes."""

    expected = "a string or an integer"

    def convert(self, value, path, checker):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return self.wrong(value, path, checker)
        return str(value)


def _one_condition(case: Record, path: tuple, checker: Checker) -> None:
    given = [op for op in OPERATORS if case[op] is not None]
    if len(given) != 1:
        checker.report(path, f"expected exactly one condition of {', '.join(OPERATORS)}, got {', '.join(given) or 'none'}")


NODE_NAME = Str(_NAME, 'a node name (letters, digits and _, not starting with a digit)')
NEXT = Str(_NAME, "the name of a node")
VARIABLE = Str(_NAME, "a variable name (letters, digits and _, not starting with a digit)")
TERMINATOR = Str(r"[#*]?", 'a terminator key "#", "*", or "" for none')
TERMINATORS = Str(r"[0-9#*]*", 'the keys that end a recording, e.g. "#" ("" for none)')

_PROMPTS_FIELD = Field(Prompts(), ())

NODE_TABLES: dict[str, Table] = {
    "play": Table({
        "type": Field(Str()),
        "prompts": Field(Prompts(min_len=1)),
        "barge_in": Field(Bool(), False),
        "next": Field(NEXT),
    }),
    "collect": Table({
        "type": Field(Str()),
        "prompts": _PROMPTS_FIELD,
        "barge_in": Field(Bool(), True),
        "min_digits": Field(Int(1, 32), 1),
        "max_digits": Field(Int(1, 32), 1),
        "first_digit_timeout": Field(Seconds(0.5, 60), 5.0),
        "inter_digit_timeout": Field(Seconds(0.5, 30), 3.0),
        "terminator": Field(TERMINATOR, "#"),
        "valid": Field(Regex("a regular expression the digits must match"), OPTIONAL),
        "into": Field(VARIABLE, OPTIONAL),
        "no_input_retries": Field(Int(0, 10), 2),
        "invalid_retries": Field(Int(0, 10), 2),
        "no_input_prompts": _PROMPTS_FIELD,
        "invalid_prompts": _PROMPTS_FIELD,
        "next": Field(NEXT),
        "on_no_input": Field(NEXT, OPTIONAL),
        "on_invalid": Field(NEXT, OPTIONAL),
        "on_max_retries": Field(NEXT),
    }),
    "lookup": Table({
        "type": Field(Str()),
        "source": Field(Enum("http", "sqlite")),
        "method": Field(Enum("GET", "POST"), "GET"),
        "url": Field(Template('an http:// or https:// URL (with ${variable} references)'), OPTIONAL),
        "headers": Field(MapOf(Template()), OPTIONAL),
        "body": Field(MapOf(Template()), OPTIONAL),
        "database": Field(Str(what="an SQLite database file path", min_len=1), OPTIONAL),
        "query": Field(Str(what="an SQL query with ? placeholders", min_len=1), OPTIONAL),
        "params": Field(ListOf(Template()), ()),
        "timeout": Field(Seconds(0.1, 30), 2.0),
        "result": Field(MapOf(Str(r"[^.\s][^\s]*", 'a result field such as "name" or "customer.tier"'),
                              key=VARIABLE), OPTIONAL),
        "next": Field(NEXT),
        "on_error": Field(NEXT),
        "on_not_found": Field(NEXT, OPTIONAL),
    }),
    "set": Table({
        "type": Field(Str()),
        "values": Field(MapOf(Template(), key=VARIABLE)),
        "next": Field(NEXT),
    }),
    "branch": Table({
        "type": Field(Str()),
        "case": Field(TableList(Table(checks=[_one_condition], fields={
            "var": Field(VARIABLE),
            **{op: Field(Text(), OPTIONAL) for op in ("equals", "not_equals")},
            **{op: Field(ListOf(Text(), min_len=1), OPTIONAL) for op in ("in", "not_in")},
            "matches": Field(Regex(), OPTIONAL),
            **{op: Field(Number(), OPTIONAL) for op in ("less_than", "greater_than")},
            "next": Field(NEXT),
        }), min_len=1, noun="case")),
        "otherwise": Field(NEXT),
    }),
    "route": Table({
        "type": Field(Str()),
        "skill": Field(Template("a skill group name", min_len=1)),
        "data": Field(MapOf(Template()), OPTIONAL),
        "priority": Field(Int(0, 100), 0),
        "prompts": _PROMPTS_FIELD,
        "on_busy": Field(NEXT, OPTIONAL),
        "wait": Field(Bool(), False),
        "on_no_agents": Field(NEXT, OPTIONAL),
    }),
    "callback": Table({
        "type": Field(Str()),
        "skill": Field(Template("a skill group name", min_len=1)),
        "number": Field(Template("the number to call back, or ${variable}", min_len=1), "${calling}"),
        "data": Field(MapOf(Template()), OPTIONAL),
        "priority": Field(Int(0, 100), 0),
        "next": Field(NEXT),
    }),
    "transfer": Table({
        "type": Field(Str()),
        "number": Field(Template("a telephone number (digits, optional leading +)", min_len=1), OPTIONAL),
        "extension": Field(Template("an extension (digits)", min_len=1), OPTIONAL),
        "prompts": _PROMPTS_FIELD,
        "on_failure": Field(NEXT, OPTIONAL),
    }),
    "record": Table({
        "type": Field(Str()),
        "prompts": _PROMPTS_FIELD,
        "max_length": Field(Seconds(1, 600), 60.0),
        "beep": Field(Bool(), True),
        "terminator": Field(TERMINATORS, "#"),
        "into": Field(VARIABLE, OPTIONAL),
        "next": Field(NEXT),
    }),
    "notify": Table({
        "type": Field(Str()),
        "kind": Field(Enum("alimtalk", "sms"), "alimtalk"),
        "to": Field(Template("a mobile number or ${variable}", min_len=1), "${calling}"),
        "template": Field(Str(r"[A-Za-z0-9_.-]{1,20}", "a template code of [notify] templates"), OPTIONAL),
        "params": Field(MapOf(Template()), OPTIONAL),
        "text": Field(Template("the SMS text (with ${variable} references)", min_len=1), OPTIONAL),
        "next": Field(NEXT),
    }),
    "hangup": Table({
        "type": Field(Str()),
        "prompts": _PROMPTS_FIELD,
        "cause": Field(Int(1, 127), 16),
    }),
}

FLOW_TABLE = Table({
    "entry": Field(NEXT),
    "inputs": Field(ListOf(VARIABLE, unique=True), CALL_VARIABLES),
    "description": Field(Str(), ""),
})

_TOP_LEVEL = ("flow", "vars", "nodes")


# -- loading --------------------------------------------------------------------------------------

class FlowError(ConfigError):
    """Every error of a flow file at once (a ConfigError, so `config check` prints it alike)."""


def load_flow_file(path: str | Path, *, prompt_dir: str | Path | None = None, source: str | None = None) -> Flow:
    path = Path(path)
    shown = source or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FlowError([ConfigIssue(shown, None, None, "", f"cannot read the flow file: {exc.strerror or exc}")]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise FlowError([ConfigIssue(shown, line, None, "", "the flow file is not valid UTF-8 text")]) from None
    return load_flow_text(text, shown, prompt_dir=prompt_dir, base_dir=path.parent)


def load_flow_text(text: str, source: str = "<flow>", *, prompt_dir: str | Path | None = None,
                   base_dir: str | Path | None = None) -> Flow:
    """Validate a flow; raises FlowError with every error (warnings are kept on the Flow).

    With `prompt_dir`, every prompt the flow names must be a file there.  `base_dir` is where
    a relative SQLite database path starts from (the flow file's directory)."""
    import tomllib

    from firmware.config.loader import _syntax_issue  # the box's own wording for TOML syntax errors

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FlowError([_syntax_issue(exc, text, source)]) from None
    validator = _Validator(data, source, Path(prompt_dir) if prompt_dir is not None else None,
                           Path(base_dir) if base_dir is not None else None, Locations(text))
    return validator.run()


def _where_text(path: tuple) -> str:
    """("nodes", "menu", "max_digits") -> 'node "menu": field "max_digits"'."""
    if not path:
        return ""
    if path[0] == "nodes" and len(path) >= 2:
        head = f'node "{path[1]}"'
        rest = path[2:]
    elif path[0] in ("flow", "vars"):
        head = f"[{path[0]}]"
        rest = path[1:]
    else:
        head, rest = "", path
    if not rest:
        return head
    field_text = f'field "{format_path(rest)}"'
    return f"{head}: {field_text}" if head else field_text


class _Validator:
    def __init__(self, data: dict, source: str, prompt_dir: Path | None, base_dir: Path | None, locations: Locations):
        self.data = data
        self.source = source
        self.prompt_dir = prompt_dir
        self.base_dir = base_dir
        self.locations = locations
        self.errors = Checker()
        self.warnings = Checker()

    def run(self) -> Flow:
        data = self.data
        for key in data:
            if key not in _TOP_LEVEL:
                self.errors.report((key,), f"unknown table{_suggest(key, _TOP_LEVEL)}; a flow has [flow], [vars] and [nodes.NAME]")
        header = FLOW_TABLE.convert(data.get("flow", INVALID), ("flow",), self.errors) if "flow" in data else None
        if "flow" not in data:
            self.errors.report(("flow",), 'missing [flow] table (with entry = "first node")')
        variables = self._variables(data.get("vars", {}))
        nodes = self._nodes(data.get("nodes"))
        if header is not None and header is not INVALID:
            if header.entry not in nodes and header.entry not in self._written_nodes():
                self.errors.report(("flow", "entry"), f'no node "{header.entry}"{_suggest(header.entry, self._written_nodes())}')
        for node in nodes.values():
            for field_name, target, _ in node.exits():
                if target not in self._written_nodes():
                    self.errors.report(self._field_path(node, field_name),
                                       f'no node "{target}"{_suggest(target, self._written_nodes())}')
            self._check_prompts(node)
        if header is not None and header is not INVALID and not self.errors.problems:
            self._check_reachability_and_variables(header, variables, nodes)
        issues = self._issues(self.errors)
        if issues:
            raise FlowError(issues)
        return Flow(self.source, header.entry, nodes, variables, header.inputs, header.description,
                    tuple(self._issues(self.warnings, warning=True)))

    # -- pieces ---------------------------------------------------------------------------

    def _written_nodes(self) -> set[str]:
        nodes = self.data.get("nodes")
        return set(nodes) if isinstance(nodes, dict) else set()

    def _variables(self, raw: Any) -> dict[str, str]:
        if not isinstance(raw, dict):
            self.errors.report(("vars",), f"expected a table of variable = value, got {describe(raw)}")
            return {}
        out = {}
        for name, value in raw.items():
            if not _NAME_RE.fullmatch(name):
                self.errors.report(("vars", name), f"expected a variable name (letters, digits and _), got {describe(name)}")
            elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
                self.errors.report(("vars", name), f"expected a string or a number, got {describe(value)}")
            else:
                out[name] = value
        return out

    def _nodes(self, raw: Any) -> dict[str, Node]:
        if raw is None:
            self.errors.report(("nodes",), "the flow has no nodes (write [nodes.NAME] tables)")
            return {}
        if not isinstance(raw, dict):
            self.errors.report(("nodes",), f"expected tables [nodes.NAME], got {describe(raw)}")
            return {}
        out = {}
        for name, table in raw.items():
            path = ("nodes", name)
            if NODE_NAME.convert(name, path, Checker()) is INVALID:
                self.errors.report(path, f"expected {NODE_NAME.expected}, got {describe(name)}")
                continue
            if not isinstance(table, dict):
                self.errors.report(path, f"expected a table [nodes.{name}], got {describe(table)}")
                continue
            kind = table.get("type")
            if kind is None:
                self.errors.report(path, f"missing field \"type\" (one of: {', '.join(NODE_TABLES)})")
                continue
            if not isinstance(kind, str) or kind not in NODE_TABLES:
                self.errors.report(path + ("type",), f"unknown node type {describe(kind)}"
                                   f"{_suggest(str(kind), NODE_TABLES)}; expected one of: {', '.join(NODE_TABLES)}")
                continue
            record = NODE_TABLES[kind].convert(table, path, self.errors)
            if record is INVALID:
                continue
            node = self._build(kind, name, record, path)
            if node is not None:
                out[name] = node
        return out

    def _build(self, kind: str, name: str, r: Record, path: tuple) -> Node | None:
        line = self.locations.find(path)[0]
        values = {k: v for k, v in r.items() if k != "type"}
        if kind == "play":
            return PlayNode(name, line, **values)
        if kind == "collect":
            if r.min_digits > r.max_digits:
                self.errors.report(path + ("min_digits",), f"min_digits ({r.min_digits}) is more than max_digits ({r.max_digits})")
                return None
            if r.terminator and r.valid is not None and re.compile(r.valid).search(r.terminator):
                self.warnings.report(path + ("valid",), f'the pattern can match the terminator "{r.terminator}", '
                                                        "which never reaches it")
            return CollectNode(name, line, **values)
        if kind == "lookup":
            return self._lookup(name, line, r, path, values)
        if kind == "set":
            return SetNode(name, line, dict(r["values"]), r.next)
        if kind == "branch":
            cases = []
            for i, case in enumerate(r.case):
                case_path = path + ("case", i)
                op = next(op for op in OPERATORS if case[op] is not None)
                operand = case[op]
                if op == "matches":
                    operand = re.compile(operand)
                cases.append(Case(case.var, op, operand, case.next, self.locations.find(case_path)[0]))
            return BranchNode(name, line, tuple(cases), r.otherwise)
        if kind == "route":
            return RouteNode(name, line, r.skill, dict(r.data or {}), r.priority, r.prompts, r.on_busy, r.wait,
                             r.on_no_agents)
        if kind == "callback":
            return CallbackNode(name, line, r.skill, r.number, dict(r.data or {}), r.priority, r.next)
        if kind == "transfer":
            if (r.number is None) == (r.extension is None):
                self.errors.report(path, 'expected exactly one of "number" (an outside number) or "extension"')
                return None
            for key, pattern, what in (("number", r"\+?[0-9*#]+", "digits with an optional leading +"),
                                       ("extension", r"[0-9*#]+", "digits")):
                value = r[key]
                if value is not None and "${" not in value and not re.fullmatch(pattern, value):
                    self.errors.report(path + (key,), f"expected {what}, got {describe(value)}")
                    return None
            return TransferNode(name, line, r.number, r.extension, r.prompts, r.on_failure)
        if kind == "record":
            return RecordNode(name, line, **values)
        if kind == "notify":
            if r.kind == "alimtalk" and r.template is None:
                self.errors.report(path + ("template",), 'missing field "template" (an AlimTalk is always a template)')
                return None
            if r.kind == "sms" and (r.template is None) == (r.text is None):
                self.errors.report(path, 'expected exactly one of "template" or "text" for kind = "sms"')
                return None
            if r.params is not None and r.template is None:
                self.errors.report(path + ("params",), 'params fill a template: give "template" too')
                return None
            return NotifyNode(name, line, r.kind, r.to, r.template, dict(r.params or {}), r.text, r.next)
        return HangupNode(name, line, r.prompts, r.cause)

    def _lookup(self, name: str, line: int | None, r: Record, path: tuple, values: dict) -> Node | None:
        wanted = {"http": ("url",), "sqlite": ("database", "query")}[r.source]
        foreign = {"http": ("database", "query", "params"), "sqlite": ("url", "headers", "body")}[r.source]
        ok = True
        for key in wanted:
            if r[key] is None:
                self.errors.report(path + (key,), f'missing field "{key}" (needed with source = "{r.source}")')
                ok = False
        for key in foreign:
            if key in self.data["nodes"][name]:
                self.errors.report(path + (key,), f'only for source = "{"sqlite" if r.source == "http" else "http"}", '
                                                  f'this node has source = "{r.source}"')
                ok = False
        if r.source == "http":
            if r.url is not None and not re.match(r"https?://[^/\s$]|https?://\$\{", r.url):
                self.errors.report(path + ("url",), f"expected an http:// or https:// URL, got {describe(r.url)}")
                ok = False
            if r.body is not None and r.method != "POST":
                self.errors.report(path + ("body",), 'a body is sent only with method = "POST"')
                ok = False
        if not ok:
            return None
        values["headers"] = dict(r.headers or {})
        values["body"] = dict(r.body or {})
        values["result"] = dict(r.result or {})
        if r.database is not None and self.base_dir is not None and not Path(r.database).is_absolute():
            values["database"] = str(self.base_dir / r.database)
        return LookupNode(name, line, **values)

    def _check_prompts(self, node: Node) -> None:
        if self.prompt_dir is None:
            return
        if not self.prompt_dir.is_dir():
            if node.prompt_names():
                field_path, prompt = node.prompt_names()[0]
                self.errors.report(("nodes", node.name) + field_path,
                                   f'prompt "{prompt}": the prompt directory {self.prompt_dir} does not exist')
            return
        for field_path, prompt in node.prompt_names():
            if not any((self.prompt_dir / (prompt + suffix)).is_file() for suffix in PROMPT_SUFFIXES):
                known = sorted({p.stem for p in self.prompt_dir.iterdir() if p.suffix.lower() in PROMPT_SUFFIXES})
                self.errors.report(("nodes", node.name) + field_path,
                                   f'unknown prompt "{prompt}": no {prompt}.wav, .alaw or .ulaw in {self.prompt_dir}'
                                   f"{_suggest(prompt, known)}")

    def _field_path(self, node: Node, field_name: str) -> tuple:
        path: tuple = ("nodes", node.name)
        for part in re.findall(r"[^.\[\]]+", field_name):
            path += (int(part),) if part.isdigit() else (part,)
        return path

    def _check_reachability_and_variables(self, header: Record, variables: dict, nodes: dict[str, Node]) -> None:
        """Unreachable nodes (warnings), and variables read where some path has not set them.

        A forward "definitely set" analysis: a node's set is the intersection, over every edge
        into it, of what the edge's source had plus what that edge sets (a lookup's result
        variables only on its success edge, a collect's `into` only on success)."""
        start = frozenset(header.inputs) | frozenset(variables)
        everything = start | {v for n in nodes.values() for _, _, sets in n.exits() for v in sets}
        known: dict[str, frozenset[str]] = {name: frozenset(everything) for name in nodes}
        known[header.entry] = start
        reached = {header.entry}
        changed = True
        while changed:
            changed = False
            incoming: dict[str, list[frozenset[str]]] = {header.entry: [start]}
            order = [header.entry]
            seen = {header.entry}
            while order:
                name = order.pop()
                for _, target, sets in nodes[name].exits():
                    incoming.setdefault(target, []).append(known[name] | sets)
                    if target not in seen:
                        seen.add(target)
                        order.append(target)
            reached = seen
            for name in seen:
                new = frozenset.intersection(*incoming[name])
                if new != known[name]:
                    known[name] = new
                    changed = True
        for name, node in nodes.items():
            if name not in reached:
                self.warnings.report(("nodes", name), "unreachable: no path from the entry node leads here")
                continue
            for field_path, variable in node.references():
                if variable in known[name]:
                    continue
                path = ("nodes", name) + field_path
                setters = sorted(n.name for n in nodes.values() for _, _, sets in n.exits() if variable in sets)
                if setters:
                    self.errors.report(path, f'variable "{variable}" is not set on every path to this node '
                                             f"(set by {', '.join(f'node {s!r}' for s in setters)} on some paths only)")
                else:
                    self.errors.report(path, f'unknown variable "{variable}": no node sets it, it is not in [vars] '
                                             f"and not a call input ({', '.join(header.inputs)})"
                                             f"{_suggest(variable, everything)}")

    def _issues(self, checker: Checker, warning: bool = False) -> list[ConfigIssue]:
        issues = []
        for path, message in checker.problems:
            line, _ = self.locations.find(path)
            issues.append(ConfigIssue(self.source, line, None, _where_text(path),
                                      ("warning: " if warning else "") + message))
        issues.sort(key=lambda i: i.line or 0)
        return issues
