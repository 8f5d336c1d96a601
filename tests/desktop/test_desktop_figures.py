"""The page latency measurement and the screenshots' command, each in its own namespace and
browser: the latency of CTI events to the rendered desktop, and the two 1366x768 pictures."""

from __future__ import annotations

import struct

from hil_tests.desktop.page_latency import page_event_latency, percentile
from hil_tests.desktop.screenshots import take


def test_every_event_reaches_the_rendered_page_and_its_latency_is_measured():
    figures = page_event_latency(samples=40)
    assert figures["samples"] == 40
    assert 0 <= figures["page_event_latency_ms_p50"] <= figures["page_event_latency_ms_p99"] \
        <= figures["page_event_latency_ms_max"]
    # Far above the goal (100 ms) so a loaded machine cannot fail it; bench/ reports the figure.
    assert figures["page_event_latency_ms_p99"] < 2000


def test_percentiles_of_the_latencies():
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert percentile(list(map(float, range(1, 101))), 99) == 99.0
    assert percentile([7.0], 99) == 7.0


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_the_screenshots_command_photographs_both_pages_at_1366x768(tmp_path):
    shots = take(tmp_path)
    assert [p.name for p in shots] == ["desktop.png", "wallboard.png"]
    assert [png_size(p) for p in shots] == [(1366, 768), (1366, 768)]
    assert all(p.stat().st_size > 20_000 for p in shots)      # a page, not a blank frame
