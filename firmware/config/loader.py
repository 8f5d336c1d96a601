"""Read the box's TOML file, validate it against every registered section, and report all
problems at once as `file:line:column: key.path: what was expected`."""

from __future__ import annotations

import os

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError, ConfigIssue, format_path
from .locate import Locations
from .registry import all_sections
from .schema import INVALID, Checker, Section, _suggest

_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


class Config:
    """A validated configuration: one attribute per section (`config.span`, `config.box`)."""

    def __init__(self, values: dict[str, Any], text: str, source: str, base_dir: Path | None = None):
        self._values = values
        self.text = text
        self.source = source
        # Where relative paths in the file start: its directory, or where the store keeps the
        # files carried with a commit.
        self.base_dir = base_dir if base_dir is not None else _directory_of(source)
        self.warnings: list[ConfigIssue] = []

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(f"no configuration section {name!r}") from None

    def section(self, name: str) -> Any:
        return self._values[name]

    def sections(self) -> Mapping[str, Any]:
        return dict(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self._values == other._values

    def __repr__(self) -> str:
        return f"Config(source={self.source!r}, sections={list(self._values)})"


def _directory_of(source: str) -> Path:
    return Path(".") if not source or source.startswith("<") else Path(source).parent


def attached_files(config: Config, sections: dict[str, Section] | None = None) -> list[str]:
    """The relative paths of files the configuration names that travel with it (a store
    commit keeps a copy); absolute paths and paths leaving the directory stay where they are."""
    sections = all_sections() if sections is None else sections
    out: list[str] = []
    for name, section in sections.items():
        value = config.sections().get(name)
        if section.files is None or value is None:
            continue
        for written in section.files(value):
            path = Path(written)
            if not path.is_absolute() and ".." not in path.parts and str(path) not in out:
                out.append(str(path))
    return out


def load_file(path: str | Path) -> Config:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigIssue(str(path), None, None, "", f"cannot read the file: {exc.strerror or exc}")]) from None
    return load_bytes(data, str(path))


def load_bytes(data: bytes, source: str) -> Config:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError([ConfigIssue(source, line, column, "", "the file is not valid UTF-8 text")]) from None
    return load_text(text, source)


def load_text(text: str, source: str = "<config>", sections: dict[str, Section] | None = None,
              base_dir: Path | None = None) -> Config:
    sections = all_sections() if sections is None else sections
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_issue(exc, text, source)]) from None

    checker = Checker()
    for key in data:
        if key not in sections:
            checker.report((key,), f"unknown section{_suggest(key, sections)}; known sections: {', '.join(sections)}")
    values: dict[str, Any] = {}
    for name, section in sections.items():
        if name in data:
            values[name] = section.type.convert(data[name], (name,), checker)
        else:
            value = section.absent_value()
            if value is INVALID:
                if section.required:
                    checker.report((name,), f"missing required section ({section.doc or section.type.expected})")
                value = None
            values[name] = value
    if not checker.problems:
        config = Config(values, text, source, base_dir)
        for section in sections.values():
            for check in section.checks:
                check(config, checker)
        if not checker.problems and not checker.elsewhere:
            config.warnings = list(checker.warnings)
            return config
    locations = Locations(text)
    issues = []
    for path, message in checker.problems:
        line, column = locations.find(path)
        issues.append(ConfigIssue(source, line, column, format_path(path), message))
    issues.sort(key=lambda i: (i.line or 0, i.column or 0))
    raise ConfigError(issues + checker.elsewhere)  # the file's own issues first, then its flows


def _syntax_issue(exc: tomllib.TOMLDecodeError, text: str, source: str) -> ConfigIssue:
    message = str(exc)
    where = _TOML_WHERE.search(message)
    at_end = _TOML_END.search(message)
    if message.startswith(("Cannot overwrite", "Cannot declare")):
        # tomllib names neither the key nor, for tables, the line: find the duplicate ourselves.
        duplicates = Locations(text).duplicates
        if where:
            duplicates = [d for d in duplicates if d[1][0] == int(where[1])] or duplicates
        if duplicates:
            path, (line, column), (first_line, _) = duplicates[0]
            return ConfigIssue(source, line, column, format_path(path),
                               f"defined twice (first on line {first_line}); TOML allows a key or table once")
    if where:
        return ConfigIssue(source, int(where[1]), int(where[2]), "", "TOML syntax: " + message[:where.start()])
    if at_end:
        last_line = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        return ConfigIssue(source, max(last_line, 1), None, "",
                           "TOML syntax: " + message[:at_end.start()] + " (at end of file)")
    return ConfigIssue(source, None, None, "", "TOML syntax: " + message)


DEFAULT_CONFIG_NAME = "default.toml"


# The embedded default's two emulated wires: carrier (spans 1-2) and the center's PBX (spans 3-4).
DEFAULT_WIRES = {"/run/pribox/e1-wire-1.sock": "e1.wire", "/run/pribox/e1-wire-2.sock": "e1-center.wire"}


def default_text(wire_dir: str | None = None) -> str:
    """The embedded default: spans 1 and 2 (TE and NT) on the carrier's wire, spans 3 and 4 (NT
    and TE) on the center PBX's.  With `wire_dir` the wires are sockets there, not in /run."""
    from importlib import resources

    text = resources.files(__package__).joinpath(DEFAULT_CONFIG_NAME).read_text(encoding="utf-8")
    if wire_dir is not None:
        for default, name in DEFAULT_WIRES.items():
            text = text.replace(default, os.path.join(wire_dir, name))
    return text
