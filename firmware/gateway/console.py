"""The console's `test number NUMBER [trunk T] [direction in|out]` (Cisco: `test voice
translation-rule`): the running configuration's mapping for a called number, rule by rule.

The running configuration is the text `ctx.services.running_config()` gives (the committed file
under the daemon, the `--config` file of a console on its own); a console with no file loaded
uses the embedded default and says so."""

from __future__ import annotations

from firmware.config.errors import ConfigError
from firmware.config.loader import default_text, load_text
from firmware.console.commands import Arg, CommandTree, registry

from .numbers import Number, check_number
from .plan import GatewayPlan
from .show import format_translation


def _running_plan(ctx) -> GatewayPlan:
    text = ctx.services.running_config()
    source = "running configuration"
    try:
        config = load_text(text, source)
    except ConfigError as exc:
        if not text.lstrip().startswith(("!", "%")) and text.strip():
            raise ValueError(f"the running configuration does not validate: {exc.issues[0]}") from None
        config = load_text(default_text(), "embedded default")
    return GatewayPlan.from_config(config)


def parse_options(text: str | None) -> tuple[str | None, str]:
    """`trunk T` and `direction in|out`, in any order, keywords abbreviated as on IOS."""
    words = (text or "").split()
    trunk, direction = None, "in"
    i = 0
    while i < len(words):
        word = words[i]
        keyword = [k for k in ("trunk", "direction") if k.startswith(word)]
        if len(keyword) != 1:
            raise ValueError(f"expected 'trunk T' or 'direction in|out', got {word!r}")
        if i + 1 >= len(words):
            raise ValueError(f"'{keyword[0]}' needs a value" + (" (in or out)" if keyword[0] == "direction" else ""))
        value = words[i + 1]
        if keyword[0] == "trunk":
            trunk = value
        else:
            found = [d for d in ("in", "out") if d.startswith(value)]
            if len(found) != 1:
                raise ValueError(f"direction is 'in' or 'out', not {value!r}")
            direction = found[0]
        i += 2
    return trunk, direction


def test_number(ctx, args: dict) -> list[str]:
    # NumberError and GatewayError are ValueErrors: the console prints them as "% message".
    called = Number(check_number(args["NUMBER"], "called number"))
    trunk, direction = parse_options(args["options"])
    plan = _running_plan(ctx)
    return format_translation(plan, plan.translate(trunk, direction, called))


def install(tree: CommandTree) -> None:
    tree.describe("test", "Try something out without touching calls")
    tree.add("test number", test_number, help="Number mapping of a called number, rule by rule",
             args=[Arg("NUMBER", "the called number (digits, * and #)"),
                   Arg("options", "[trunk T] [direction in|out] (default: the only trunk group, in)",
                       optional=True, rest=True)])


install(registry)
