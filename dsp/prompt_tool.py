"""`pribox prompt`: check prompt files the way the box loads them, and convert them to what it
plays (8 kHz mono: 16-bit WAV, or raw A-law/mu-law octets for .alaw/.ulaw outputs).

    pribox prompt check prompts/*.wav
    pribox prompt convert greeting_44k1_stereo.wav greeting.alaw
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dsp.prompts import PromptFileError, load_prompt
from dsp.wavfile import write_wav

_RAW_OUTPUTS = {".alaw": "alaw", ".al": "alaw", ".ulaw": "ulaw", ".ul": "ulaw", ".mulaw": "ulaw"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="load each file as the box would and say what it is")
    check.add_argument("files", type=Path, nargs="+")
    convert = sub.add_parser("convert", help="write a file as the box plays it")
    convert.add_argument("input", type=Path)
    convert.add_argument("output", type=Path, help=".wav (16-bit 8 kHz mono) or .alaw/.ulaw (raw octets)")


def run(args: argparse.Namespace) -> int:
    if args.action == "check":
        failed = 0
        for path in args.files:
            try:
                prompt = load_prompt(path)
            except PromptFileError as exc:
                print(f"FAIL {exc}")
                failed += 1
                continue
            print(f"ok   {path}: {prompt.source_format} -> {prompt.duration:.3f} s at 8000 Hz")
            for warning in prompt.warnings:
                print(f"     warning: {warning}")
        return 1 if failed else 0
    try:
        prompt = load_prompt(args.input)
    except PromptFileError as exc:
        print(f"pribox prompt: {exc}", file=sys.stderr)
        return 1
    law = _RAW_OUTPUTS.get(args.output.suffix.lower())
    try:
        if law is not None:
            args.output.write_bytes(prompt.octets(law).tobytes())
        elif args.output.suffix.lower() == ".wav":
            write_wav(args.output, prompt.samples.astype("<i2").tobytes(), rate=8000)
        else:
            print(f"pribox prompt: {args.output}: expected a .wav, .alaw or .ulaw output", file=sys.stderr)
            return 2
    except OSError as exc:
        print(f"pribox prompt: {args.output}: cannot write: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"{args.input} ({prompt.source_format}) -> {args.output}: {prompt.duration:.3f} s at 8000 Hz")
    return 0
