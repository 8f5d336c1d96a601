"""Make the default flow's prompts: Korean speech synthesised with espeak-ng's Korean voice and
converted by the box's prompt converter (`pribox prompt convert`) to what the box plays.

    python -m pbx_cti.ivr.prompts_setup DIR [--force]

Prompts already in DIR are kept (an integrator's studio recordings replace these), unless
--force.  Each file is written to a scratch folder inside DIR and renamed into place, so a
cut-short run never leaves half a prompt.  Needs the Debian package espeak-ng.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# name -> what the prompt says (the default flow, default/main.toml, names these).
DEFAULT_PROMPTS: dict[str, str] = {
    "greeting": "안녕하세요? 고객님",
    "menu": "예금 조회는 1번, 이체는 2번, 사고 신고는 3번을 눌러 주십시오.",
    "no_input": "입력이 없습니다. 다시 눌러 주십시오.",
    "invalid": "잘못 누르셨습니다.",
    "connecting": "상담사를 연결해 드리겠습니다. 잠시만 기다려 주십시오.",
    "all_busy": "지금은 모든 상담사가 통화중입니다. 잠시 후 다시 걸어 주십시오.",
    "goodbye": "이용해 주셔서 감사합니다. 안녕히 계십시오.",
    "all_busy_options": "지금은 모든 상담사가 통화중입니다. 기다리시려면 1번, 상담사의 전화를 받으시려면 2번을 눌러 주십시오.",
    "callback_booked": "상담 예약이 접수되었습니다. 상담사가 곧 전화드리겠습니다. 감사합니다.",
    "please_wait": "상담사를 연결하고 있습니다. 잠시만 기다려 주십시오.",
}
# The contact center's queue announcements (pbx_cti/acd): the caller's place, then the wait.
_ORDINALS = ("첫", "두", "세", "네", "다섯", "여섯", "일곱", "여덟", "아홉")
_MINUTES = ("일", "이", "삼", "사", "오")
QUEUE_PROMPTS: dict[str, str] = {
    **{f"position_{n}": f"고객님의 대기 순서는 {word} 번째입니다." for n, word in enumerate(_ORDINALS, 1)},
    "position_more": "대기 중인 고객이 많습니다.",
    **{f"wait_{n}": f"예상 대기 시간은 약 {word} 분입니다." for n, word in enumerate(_MINUTES, 1)},
    "wait_more": "예상 대기 시간은 오 분 이상입니다.",
}
DEFAULT_PROMPTS.update(QUEUE_PROMPTS)
VOICE = "ko"
SPEED = 150  # words per minute: a little slower than espeak-ng's 175, as announcements are


class SetupError(Exception):
    pass


def synthesise(text: str, wav: Path, voice: str = VOICE) -> None:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SetupError("espeak-ng not found: install the Debian package espeak-ng (make deps does)")
    # A sanitizer run preloads its runtime into Python; espeak-ng must not inherit it.
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    proc = subprocess.run([exe, "-v", voice, "-s", str(SPEED), "-w", str(wav), text],
                          capture_output=True, timeout=60, env=env, check=False)
    if proc.returncode != 0 or not wav.exists() or wav.stat().st_size <= 44:
        raise SetupError(f"espeak-ng -v {voice} gave no audio for {text!r}: "
                         f"{proc.stderr.decode(errors='replace').strip()[:200]}")


def convert(source: Path, target: Path) -> None:
    """Through `pribox prompt convert`, in process."""
    from dsp import prompt_tool

    parser = argparse.ArgumentParser(prog="pribox prompt")
    prompt_tool.add_arguments(parser)
    args = parser.parse_args(["convert", str(source), str(target)])
    said = io.StringIO()  # its line names the scratch files; make_prompts reports the result
    with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
        code = prompt_tool.run(args)
    if code != 0:
        raise SetupError(f"pribox prompt convert {source.name} failed: {said.getvalue().strip()}")


def make_prompts(directory: str | Path, prompts: dict[str, str] | None = None, *, force: bool = False,
                 report=print) -> list[Path]:
    """Write every prompt missing from `directory` (all with `force`); the files written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix=".prompts-setup-", dir=directory) as scratch:
        scratch = Path(scratch)
        for name, text in (prompts or DEFAULT_PROMPTS).items():
            target = directory / f"{name}.wav"
            if target.exists() and not force:
                report(f"{target}: kept (exists; --force makes it again)")
                continue
            raw = scratch / f"{name}.espeak.wav"
            synthesise(text, raw)
            converted = scratch / f"{name}.wav"
            convert(raw, converted)
            os.replace(converted, target)
            written.append(target)
            report(f"{target}: {text}")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pbx_cti.ivr.prompts_setup",
                                     description="synthesise the default IVR flow's Korean prompts into DIR")
    parser.add_argument("directory", metavar="DIR", help="the prompt directory ([ivr] prompt_dir)")
    parser.add_argument("--force", action="store_true", help="make prompts again even where files exist")
    args = parser.parse_args(argv)
    try:
        make_prompts(args.directory, force=args.force)
    except (SetupError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"prompts_setup: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
