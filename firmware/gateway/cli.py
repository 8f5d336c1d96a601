"""`pribox numbers test NUMBER ...`: put a call's numbers through a trunk group's translation
profile, as `test voice translation-rule` does on a Cisco gateway, without a running box.

The configuration is `--config FILE`, else the running configuration of the state directory
(`<state dir>/running.toml`, which always equals the newest commit; read only, the store is not
opened so nothing is created or repaired), else the embedded default.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from firmware.config.errors import ConfigError
from firmware.config.loader import default_text, load_file, load_text

from .numbers import PLAN_NAMES, PRESENTATION_NAMES, TYPE_NAMES, Number, NumberError, check_number
from .plan import GatewayError, GatewayPlan
from .show import format_translation

DEFAULT_STATE_DIR = "/var/lib/pribox"
RUNNING_FILE = "running.toml"   # ConfigStore.running_path
BAD_INPUT = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("test", help="show how a call's numbers are mapped, rule by rule")
    p.add_argument("number", metavar="NUMBER", help="the called number (digits, * and #, a leading +)")
    p.add_argument("--trunk", metavar="T", help="trunk group (default: the only one carrying calls in that direction)")
    p.add_argument("--direction", choices=("in", "out"), default="in",
                   help="in: a call from the trunk (default); out: a call to it")
    p.add_argument("--calling", metavar="N", help="the calling number")
    p.add_argument("--redirecting", metavar="N", help="the redirecting (forwarding) number")
    p.add_argument("--ton", choices=tuple(TYPE_NAMES), default="unknown", help="type of the called number")
    p.add_argument("--plan", choices=tuple(PLAN_NAMES), default="isdn", help="numbering plan of the called number")
    p.add_argument("--calling-ton", choices=tuple(TYPE_NAMES), default="unknown")
    p.add_argument("--calling-plan", choices=tuple(PLAN_NAMES), default="isdn")
    p.add_argument("--presentation", choices=tuple(PRESENTATION_NAMES), default="allowed",
                   help="presentation of the calling number")
    p.add_argument("--redirecting-ton", choices=tuple(TYPE_NAMES), default="unknown")
    p.add_argument("--redirecting-presentation", choices=tuple(PRESENTATION_NAMES), default="allowed")
    p.add_argument("--config", metavar="FILE", help="the configuration to use (default: the running one)")
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                   help=f"where the running configuration lives (default {DEFAULT_STATE_DIR})")


def resolve_config(config_file: str | None, state_dir: str | None):
    """The configuration `numbers test` uses and where it came from."""
    if config_file:
        return load_file(config_file)
    if state_dir:
        running = Path(state_dir) / RUNNING_FILE
        if running.is_file():
            return load_file(running)
    return load_text(default_text(), "embedded default")


def run(args: argparse.Namespace) -> int:
    try:
        called = Number(check_number(args.number, "called number"), TYPE_NAMES[args.ton], PLAN_NAMES[args.plan])
        calling = redirecting = None
        if args.calling is not None:
            calling = Number(check_number(args.calling, "calling number"), TYPE_NAMES[args.calling_ton],
                             PLAN_NAMES[args.calling_plan], PRESENTATION_NAMES[args.presentation])
        if args.redirecting is not None:
            redirecting = Number(check_number(args.redirecting, "redirecting number"),
                                 TYPE_NAMES[args.redirecting_ton], PLAN_NAMES["isdn"],
                                 PRESENTATION_NAMES[args.redirecting_presentation])
    except NumberError as exc:
        print(f"pribox numbers: {exc}", file=sys.stderr)
        return BAD_INPUT
    try:
        config = resolve_config(args.config, args.state_dir)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    plan = GatewayPlan.from_config(config)
    try:
        result = plan.translate(args.trunk, args.direction, called, calling, redirecting)
    except GatewayError as exc:
        print(f"pribox numbers: {exc}", file=sys.stderr)
        return BAD_INPUT
    print("\n".join(format_translation(plan, result)))
    return 0
