"""The command tree: abbreviations, errors with a column, help and completion, and a layer
adding its own command without touching the console package."""

import pytest

from firmware.console.commands import Arg, CommandError, CommandTree, int_range


def handler(ctx, args):
    return args


@pytest.fixture
def tree():
    t = CommandTree()
    t.describe("show", "Show running system information")
    t.add("show version", handler, help="Firmware version")
    t.add("show users", handler, help="Who is logged in")
    t.add("show span", handler, help="E1 span status",
          args=[Arg("N", "span number", parse=int_range(1, 4), optional=True,
                    complete=lambda ctx: ["1", "2"])])
    t.add("set", handler, help="Set a value", args=[Arg("key", "a key"), Arg("value", "text", rest=True)])
    t.add("mode", handler, help="Pick a mode",
          args=[Arg("which", "the mode", choices=("fast", "slow", "safe"))])
    return t


def test_unique_prefixes_name_the_command(tree):
    parsed = tree.parse("sh ver")
    assert parsed.path == ["show", "version"]
    assert tree.parse("  sh   sp  3 ").args == {"N": 3}
    assert tree.parse("show span").args == {"N": None}
    assert tree.parse("mode sl").args == {"which": "slow"}


def test_ambiguous_invalid_and_incomplete_say_where(tree):
    with pytest.raises(CommandError, match='Ambiguous command: "show u"') as e:
        tree.add("show uptime", handler, help="x")
        tree.parse("show u")
    assert e.value.column == 5
    with pytest.raises(CommandError, match=r"Invalid input detected at '\^' marker") as e:
        tree.parse("show bogus")
    assert e.value.column == 5
    with pytest.raises(CommandError, match="Incomplete command"):
        tree.parse("show")
    with pytest.raises(CommandError, match=r"Invalid input") as e:
        tree.parse("show version extra")
    assert e.value.column == 13
    with pytest.raises(CommandError, match=r"Invalid <N> '9': expected a whole number from 1 to 4") as e:
        tree.parse("show span 9")
    assert e.value.column == 10
    with pytest.raises(CommandError, match=r"Ambiguous <which> 's'"):
        tree.parse("mode s")
    with pytest.raises(CommandError, match="missing <key>"):
        tree.parse("set")
    with pytest.raises(CommandError, match="Unbalanced double quote"):
        tree.parse('set a "b')


def test_rest_argument_and_quotes(tree):
    assert tree.parse('set span.1.name "north wall" ').args == {"key": "span.1.name",
                                                               "value": '"north wall"'}
    assert tree.parse('set "a key" v').args["key"] == "a key"


def test_help_lists_next_words_and_cr(tree):
    assert tree.help("") == [("mode", "Pick a mode"), ("set", "Set a value"),
                             ("show", "Show running system information")]
    assert [w for w, _ in tree.help("sh")] == ["show"]
    assert [w for w, _ in tree.help("show ")] == ["span", "users", "version"]
    assert tree.help("show version ") == [("<cr>", "")]
    assert tree.help("show span ") == [("<N>", "span number"), ("<cr>", "")]
    assert tree.help("show span 1") == [("1", "span number")]
    assert [w for w, _ in tree.help("mode ")] == ["fast", "slow", "safe"]
    assert tree.help("bogus ") == []


def test_completion_of_keywords_choices_and_layer_values(tree):
    assert tree.complete("sh") == ["show"]
    assert tree.complete("show ") == ["span", "users", "version"]
    assert tree.complete("show s") == ["span"]
    assert tree.complete("show span ") == ["1", "2"]
    assert tree.complete("mode s") == ["safe", "slow"]


def test_registration_errors_are_clear(tree):
    with pytest.raises(ValueError, match="already registered"):
        tree.add("show version", handler, help="again")
    with pytest.raises(ValueError, match="must be ASCII letters"):
        tree.add("show sp@n", handler, help="x")
    with pytest.raises(ValueError, match="required argument b after an optional one"):
        tree.add("bad", handler, help="x", args=[Arg("a", "a", optional=True), Arg("b", "b")])


def test_exact_word_wins_over_longer_one(tree):
    tree.add("show span-history", handler, help="x")
    assert tree.parse("show span").path == ["show", "span"]
