"""The command tree: IOS-style words with help, abbreviations, `?` and Tab.

Any layer extends it without touching the console package:

    from firmware.console.commands import Arg, registry
    registry.add("show span", show_span, help="E1 span status, like show controllers e1",
                 args=[Arg("N", "span number", parse=int, optional=True,
                           complete=lambda ctx: [str(n) for n in ctx.services.span_numbers()])])

Keywords are matched by unique prefix (`sh ver` is `show version`); an exact word wins over a
longer one that starts with it.  After the keywords come the command's arguments, in order;
an argument with `choices` is completed and abbreviated like a keyword, one with `rest=True`
takes the remainder of the line.  A handler is `handler(ctx, args) -> output`, where `args`
maps each argument name to its parsed value (or None when an optional one is absent).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable


class CommandError(Exception):
    """A command line that cannot be run; `column` points the IOS ^ marker at the bad word."""

    def __init__(self, message: str, column: int | None = None):
        super().__init__(message)
        self.column = column


@dataclass
class Arg:
    name: str
    help: str
    parse: Callable[[str], Any] = str
    optional: bool = False
    choices: tuple[str, ...] = ()
    rest: bool = False
    complete: Callable[[Any], Iterable[str]] | None = None

    def label(self) -> str:
        return f"<{self.name}>" if not self.choices else "|".join(self.choices)


@dataclass
class Node:
    word: str
    help: str = ""
    handler: Callable | None = None
    args: list[Arg] = field(default_factory=list)
    admin: bool = False
    children: dict[str, "Node"] = field(default_factory=dict)


@dataclass
class Parsed:
    node: Node
    path: list[str]
    args: dict[str, Any]


@dataclass(frozen=True)
class Token:
    text: str
    start: int


def tokenize(line: str) -> list[Token]:
    """Words split on blanks; double quotes group a value that has blanks in it."""
    tokens: list[Token] = []
    i, n = 0, len(line)
    while i < n:
        if line[i] in " \t":
            i += 1
            continue
        start, parts = i, []
        while i < n and line[i] not in " \t":
            if line[i] == '"':
                end = line.find('"', i + 1)
                if end < 0:
                    raise CommandError("Unbalanced double quote.", i)
                parts.append(line[i + 1:end])
                i = end + 1
            else:
                parts.append(line[i])
                i += 1
        tokens.append(Token("".join(parts), start))
    return tokens


class CommandTree:
    def __init__(self) -> None:
        self.root = Node("")

    # ---- extension API ----------------------------------------------------------------------
    def describe(self, path: str, help: str) -> Node:
        """Create (or re-describe) a keyword level such as `show` or `debug isdn`."""
        node = self.root
        for word in path.split():
            node = node.children.setdefault(word, Node(word))
        node.help = help
        return node

    def add(self, path: str, handler: Callable, *, help: str, args: list[Arg] | None = None,
            admin: bool = False) -> Node:
        words = path.split()
        if not words:
            raise ValueError("a command needs at least one keyword")
        node = self.root
        for word in words:
            if not word.isascii() or not word.replace("-", "").isalnum():
                raise ValueError(f"command word {word!r} in {path!r} must be ASCII letters, "
                                 f"digits or '-'")
            node = node.children.setdefault(word, Node(word))
        if node.handler is not None:
            raise ValueError(f"command {path!r} is already registered")
        node.handler, node.help, node.args, node.admin = handler, help, list(args or []), admin
        optional_seen = False
        for arg in node.args:
            if optional_seen and not arg.optional:
                raise ValueError(f"{path!r}: required argument {arg.name} after an optional one")
            optional_seen |= arg.optional
        return node

    def remove(self, path: str) -> None:
        words = path.split()
        parent = self.root
        for word in words[:-1]:
            parent = parent.children[word]
        del parent.children[words[-1]]

    # ---- parsing ----------------------------------------------------------------------------
    def parse(self, line: str) -> Parsed | None:
        """The command a line names, or None for a blank line; CommandError when it cannot run."""
        tokens = tokenize(line)
        if not tokens:
            return None
        node, path, index = self.root, [], 0
        while index < len(tokens) and node.children:
            token = tokens[index]
            matches = _keyword_matches(node, token.text)
            if not matches:
                if node.handler is not None and node.args:
                    break  # the rest are this command's arguments
                raise CommandError("Invalid input detected at '^' marker.", token.start)
            if len(matches) > 1:
                raise CommandError(f'Ambiguous command: "{line[:token.start + len(token.text)]}"',
                                   token.start)
            node = matches[0]
            path.append(node.word)
            index += 1
        if node.handler is None:
            raise CommandError("Incomplete command.")
        values: dict[str, Any] = {}
        for arg in node.args:
            if index >= len(tokens):
                if not arg.optional:
                    raise CommandError(f"Incomplete command: missing <{arg.name}> ({arg.help}).")
                values[arg.name] = None
                continue
            token = tokens[index]
            if arg.rest:
                values[arg.name] = line[token.start:].strip()
                index = len(tokens)
                continue
            values[arg.name] = _parse_arg(arg, token)
            index += 1
        if index < len(tokens):
            raise CommandError("Invalid input detected at '^' marker.", tokens[index].start)
        return Parsed(node, path, values)

    def help(self, before_cursor: str, ctx: Any = None) -> list[tuple[str, str]]:
        """What `?` lists: (word, one-line help) pairs for the word being typed or the next one."""
        node, arg_index, partial = self._locate(before_cursor)
        options: list[tuple[str, str]] = []
        if arg_index is None:
            for word, child in sorted(node.children.items()):
                if word.startswith(partial):
                    options.append((word, child.help))
            if not partial and node.handler is not None and (not node.args or node.args[0].optional):
                options.append(("<cr>", ""))
            return options
        if arg_index < len(node.args):
            arg = node.args[arg_index]
            if arg.choices:
                options += [(c, arg.help) for c in arg.choices if c.startswith(partial)]
            elif arg.complete and partial:
                options += [(c, arg.help) for c in _candidates(arg, ctx) if c.startswith(partial)]
            else:
                options.append((f"<{arg.name}>", arg.help))
        if not partial and all(a.optional for a in node.args[arg_index:]):
            options.append(("<cr>", ""))
        return options

    def complete(self, before_cursor: str, ctx: Any = None) -> list[str]:
        """Words that could finish the one being typed (all of them, for Tab to narrow down)."""
        node, arg_index, partial = self._locate(before_cursor)
        if arg_index is None:
            return sorted(w for w in node.children if w.startswith(partial))
        if arg_index >= len(node.args):
            return []
        arg = node.args[arg_index]
        words = arg.choices or tuple(_candidates(arg, ctx))
        return sorted(w for w in words if w.startswith(partial))

    def _locate(self, before_cursor: str) -> tuple[Node, int | None, str]:
        """The node reached by the complete words, which argument comes next (None while still
        among keywords) and the partial word under the cursor."""
        try:
            tokens = tokenize(before_cursor)
        except CommandError:
            tokens = [Token(w, 0) for w in before_cursor.split()]
        partial = ""
        if tokens and before_cursor and not before_cursor[-1].isspace():
            partial = tokens.pop().text
        node, arg_index = self.root, None
        for token in tokens:
            if arg_index is None:
                matches = _keyword_matches(node, token.text)
                if len(matches) == 1:
                    node = matches[0]
                    continue
                if matches or node.handler is None or not node.args:
                    return Node(""), None, partial  # nothing sensible follows a bad word
                arg_index = 0
            if arg_index < len(node.args) and node.args[arg_index].rest:
                continue
            arg_index += 1
        if arg_index is None and node.handler is not None and node.args \
                and not any(word.startswith(partial) for word in node.children):
            arg_index = 0
        return node, arg_index, partial


def _keyword_matches(node: Node, word: str) -> list[Node]:
    if word in node.children:
        return [node.children[word]]
    return [child for name, child in node.children.items() if name.startswith(word)]


def _parse_arg(arg: Arg, token: Token) -> Any:
    if arg.choices:
        exact = [c for c in arg.choices if c == token.text]
        found = exact or [c for c in arg.choices if c.startswith(token.text)]
        if len(found) != 1:
            kind = "Ambiguous" if found else "Invalid"
            raise CommandError(f"{kind} <{arg.name}> {token.text!r}: expected one of "
                               f"{', '.join(arg.choices)}", token.start)
        return found[0]
    try:
        return arg.parse(token.text)
    except (ValueError, TypeError) as exc:
        detail = str(exc) or "not accepted"
        raise CommandError(f"Invalid <{arg.name}> {token.text!r}: {detail}", token.start) from None


def _candidates(arg: Arg, ctx: Any) -> list[str]:
    if arg.complete is None:
        return []
    try:
        return [str(c) for c in arg.complete(ctx)]
    except Exception:  # a layer's completer failing must not break typing
        return []


def int_range(low: int, high: int) -> Callable[[str], int]:
    """An argument parser for a whole number in [low, high], with an error that says so."""
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise ValueError(f"expected a whole number from {low} to {high}") from None
        if not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high}")
        return value
    parse.__name__ = f"int_{low}_{high}"
    return parse


# The box-wide registry: the console's own commands and every layer's `show ...` land here.
registry = CommandTree()
