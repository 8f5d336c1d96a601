"""CTI event → agent desktop updated, measured in the real browser.

Every event of the CTI carries its own `time` (the box's wall clock when the engine decided it).
It goes through the API's per-client queue and the WebSocket to the page, which renders it and
notes, in the first animation frame that shows it, its own high-resolution wall time
(`window.priboxRenderLog`: performance.timeOrigin + performance.now()).  Browser and box share
the machine's clock, so the difference is the whole way: queue, socket, JSON, DOM, frame.  The page
also notes when each WebSocket message arrived, which splits the way in two: the box's share
(the event's time to its arrival at the page: engine, API queue, socket, the browser's network
thread) and the page's (arrival to the frame: JSON, handlers, DOM, layout, paint).

- `render_latencies(page, agent)`: the latencies of the agent's state events a desktop has
  rendered so far (any box: the served center here, the whole daemon in a benchmark).
- `page_event_latency(samples)`: a small center and Chromium of its own, `samples` state
  changes; p50/p99/max in milliseconds.

    python -m hil_tests.desktop.page_latency [--samples N]   # last line JSON
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from .browser import Page, chromium
from .netns import loopback_namespace
from .served import PASSWORDS, ServedCenter

AGENT, EXTENSION = "kim", "2001"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


RENDERED = ("return window.priboxRenderLog.filter(e => e.type === 'agent_state' && e.agent === arguments[0])"
            ".map(e => [e.time, e.at])")
STAGES = ("return window.priboxRenderLog.filter(e => e.type === 'agent_state' && e.agent === arguments[0])"
          ".map(e => [e.time, e.arrived, e.at])")


def render_latencies(page: Page, agent: str) -> list[float]:
    """Milliseconds from each of `agent`'s state events (its own time) to the frame that showed
    it, for every such event the page has rendered since its render log was last cleared."""
    return [max(0.0, shown - sent * 1000.0) for sent, shown in page.js(RENDERED, agent) if sent]


def stage_latencies(page: Page, agent: str) -> tuple[list[float], list[float]]:
    """For the same events as `render_latencies`: milliseconds from the event's time to its
    arrival at the page (the box's share) and from arrival to the frame (the page's share)."""
    rows = [(sent, arrived, shown) for sent, arrived, shown in page.js(STAGES, agent) if sent and arrived]
    return ([max(0.0, arrived - sent * 1000.0) for sent, arrived, _ in rows],
            [max(0.0, shown - arrived) for _, arrived, shown in rows])


def figures(latencies: list[float], to_page: list[float] | None = None, to_frame: list[float] | None = None) -> dict:
    out = {"samples": len(latencies), "page_event_latency_ms_p50": round(statistics.median(latencies), 2),
           "page_event_latency_ms_p99": round(percentile(latencies, 99), 2),
           "page_event_latency_ms_max": round(max(latencies), 2)}
    for name, values in (("arrival", to_page), ("render", to_frame)):
        if values:
            out[f"page_event_{name}_ms_p50"] = round(statistics.median(values), 2)
            out[f"page_event_{name}_ms_p99"] = round(percentile(values, 99), 2)
    return out


def measure(driver, box: ServedCenter, samples: int = 200, gap: float = 0.025) -> dict:
    """An agent logs in on a desktop in `driver`'s current tab; the box changes its state
    `samples` times, `gap` seconds apart; the figures of the rendered events."""
    page = Page.open(driver, box.base + "/desktop/")
    page.until(lambda: "hidden" not in page.attribute("#login", "class"), "the login form")
    page.type("#login-agent", AGENT)
    page.type("#login-password", PASSWORDS[AGENT])
    page.type("#login-extension", EXTENSION)
    page.click("#login-submit")
    page.until(lambda: page.attribute("#state-big", "data-state") == "NOT_READY" and "●" in page.text("#ws-status"),
               "the agent logged in with its WebSocket open")
    page.js("window.priboxRenderLog.length = 0")
    for i in range(samples):
        if i % 2 == 0:
            box.run(box.runner, "ready", AGENT)
        else:
            box.run(box.runner, "not_ready", AGENT, "break")
        time.sleep(gap)
    page.until(lambda: len(render_latencies(page, AGENT)) >= samples, f"{samples} state changes rendered", 30)
    return figures(render_latencies(page, AGENT), *stage_latencies(page, AGENT))


def page_event_latency(samples: int = 200) -> dict:
    """A small center and a headless Chromium in a loopback-only namespace of their own; the
    figures of `measure`."""
    with loopback_namespace(), ServedCenter() as box, chromium() as driver:
        return measure(driver, box, samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(page_event_latency(args.samples)))


if __name__ == "__main__":
    main()
