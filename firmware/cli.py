"""The `pribox` command.  Each subcommand lives in its own module and is imported only when
used, so `pribox --help` stays fast and one broken layer cannot hide the others."""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help).  The module provides `add_arguments(parser)` and `run(args)`.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("hil_tests.call_demo", "the box and its carrier simulator on an emulated E1: line up, a call answered, DTMF heard"),
    "config": ("firmware.config.cli", "check, show, commit, confirm and roll back the box's configuration"),
    "run": ("firmware.appliance.daemon", "start and supervise every service of the box"),
    "ivr": ("pbx_cti.ivr.cli", "check IVR flow files and walk a call through one without a box"),
    "prompt": ("dsp.prompt_tool", "check prompt files and convert them to what the box plays (8 kHz mono)"),
    "codec": ("dsp.codec_tool", "put a WAV file through G.711/G.729 over a lossy network and back"),
    "dchannel": ("hil_tests.dchannel_demo", "bring up LAPD on a D-channel (libpri as far end, or a span socket) and trace it"),
    "call": ("hil_tests.q931_demo", "place or take one ISDN call against libpri with a live debug-isdn-q931 trace"),
    "console": ("firmware.console.main", "serve the field engineer's console on a serial device"),
    "stats": ("pbx_cti.cti.stats_cli", "contact-center figures (service level, ASA, AHT, abandons, occupancy) from the CTI event log"),
    "numbers": ("firmware.gateway.cli", "test number mapping: a call's numbers through a trunk group's translation rules"),
    "scenario": ("hil_tests.scenarios.cli", "run call scenarios (TOML) against the box with the carrier simulator; check the files"),
    "upgrade": ("firmware.update.cli", "check, install and confirm signed firmware bundles (RAUC, A/B slots)"),
    "cdr": ("pbx_cti.cdr.cli", "list, show and export the call detail records (CSV)"),
    "capture": ("firmware.capture.cli", "define, start, stop and export packet captures (pcapng) on a running box"),
    "bench": ("hil_tests.bench.cli", "the test bench: full load, faults, a day's soak and audio against the emulated box, with an HTML report"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pribox", description="E1/PRI gateway and contact-center appliance")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, add_help=False)
        p.set_defaults(_module=module)
        # Arguments (and -h) are added lazily in main() for the chosen subcommand only.
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    # Two passes: find the subcommand, then let its module declare its own arguments.
    known, _ = parser.parse_known_args(argv)
    if not known.command:
        parser.print_help()
        return 2
    module = importlib.import_module(SUBCOMMANDS[known.command][0])
    sub_parser = argparse.ArgumentParser(prog=f"pribox {known.command}",
                                         description=SUBCOMMANDS[known.command][1])
    module.add_arguments(sub_parser)
    args = sub_parser.parse_args(argv[argv.index(known.command) + 1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
