"""The screenshots' command: both pages photographed at 1366x768."""

from __future__ import annotations

import struct

from hil_tests.desktop.screenshots import take


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_the_screenshots_command_photographs_both_pages_at_1366x768(tmp_path):
    shots = take(tmp_path)
    assert [p.name for p in shots] == ["desktop.png", "wallboard.png"]
    assert [png_size(p) for p in shots] == [(1366, 768), (1366, 768)]
    assert all(p.stat().st_size > 20_000 for p in shots)      # a page, not a blank frame
