"""Benchmark: YMODEM receive throughput of the console's receiver core.

lrzsz's `sb` sends a file over pipes (no baud-rate limit) to our XYModemReceiver, driven as
the console drives it (bytes in, ACKs out, blocks checked with CRC-16).  The reference,
measured in the same run, is lrzsz's own C receiver `rb` taking the same file from `sb`.
A serial console runs at 115200 baud, about 11.5 kB/s: the figure that matters is how far
above that the receiver stays, i.e. that the Python core never slows an upload down.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from firmware.console.xymodem import FileData, TransferCompleted, XYModemReceiver  # noqa: E402

SERIAL_115200_BYTES_PER_S = 115200 / 10


def ours(path: str, size: int) -> float:
    proc = subprocess.Popen(["sb", "-q", path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    start = time.perf_counter()
    rx = XYModemReceiver(batch=True, now=time.monotonic(), max_file_size=size + 1)
    received, fd, done = 0, proc.stdout.fileno(), False
    while not done:
        out = rx.data_to_send()
        if out:
            proc.stdin.write(out)
            proc.stdin.flush()
        while (event := rx.next_event()) is not None:
            if isinstance(event, FileData):
                received += len(event.data)
            elif isinstance(event, TransferCompleted):
                done = True
        if rx.finished:
            break
        if select.select([fd], [], [], 1.0)[0]:
            data = os.read(fd, 65536)
            if not data:
                break
            rx.receive_data(data, time.monotonic())
        rx.handle_timer(time.monotonic())
    elapsed = time.perf_counter() - start
    proc.wait(timeout=10)
    if received != size:
        raise SystemExit(f"our receiver got {received} of {size} bytes")
    return elapsed


def lrzsz_rb(path: str, size: int) -> float:
    with tempfile.TemporaryDirectory() as into:
        sender = subprocess.Popen(["sb", "-q", path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        start = time.perf_counter()
        receiver = subprocess.Popen(["rb", "-q"], cwd=into, stdin=sender.stdout,
                                    stdout=sender.stdin, stderr=subprocess.DEVNULL)
        sender.stdout.close()
        sender.stdin.close()
        receiver.wait(timeout=120)
        sender.wait(timeout=10)
        elapsed = time.perf_counter() - start
        got = os.path.getsize(os.path.join(into, os.path.basename(path)))
        if got != size:
            raise SystemExit(f"rb got {got} of {size} bytes")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4 * 1024 * 1024, help="file size in bytes")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many, interleaved")
    args = parser.parse_args()
    for tool in ("sb", "rb"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found: apt-get install lrzsz")
    with tempfile.NamedTemporaryFile(suffix=".raucb") as f:
        f.write(os.urandom(args.size))
        f.flush()
        ours_s, ref_s = [], []
        for _ in range(args.rounds):
            ours_s.append(ours(f.name, args.size))
            ref_s.append(lrzsz_rb(f.name, args.size))
    best_ours, best_ref = min(ours_s), min(ref_s)
    result = {
        "bench": "console_ymodem_receive",
        "bytes": args.size,
        "ours_MB_per_s": round(args.size / best_ours / 1e6, 2),
        "lrzsz_rb_MB_per_s": round(args.size / best_ref / 1e6, 2),
        "ours_vs_rb": round(best_ref / best_ours, 2),
        "ours_vs_115200_baud_line": round(args.size / best_ours / SERIAL_115200_BYTES_PER_S, 1),
    }
    print(f"ours {result['ours_MB_per_s']} MB/s, lrzsz rb {result['lrzsz_rb_MB_per_s']} MB/s")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
