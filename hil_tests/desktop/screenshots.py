"""The pictures of the two pages in docs/: docs/desktop.png and docs/wallboard.png, 1366x768.

    python -m hil_tests.desktop.screenshots [--out docs]

A small center (the engine and the API, no daemon) is given a morning of traffic through the
engine's own inputs at past times (seeded: the same pictures each run, the clock aside), then a
live scene through the API: lee talking to a caller whose IVR collected an account number,
callers waiting, park at lunch.  Headless Chromium in a loopback-only namespace logs in and
photographs the agent desktop and the wallboard.
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

from pbx_cti.cti import CtiEngine
from pbx_cti.cti.decisions import Offer

from .browser import Page, chromium
from .netns import loopback_namespace
from .served import PASSWORDS, SUPERVISOR, ServedCenter, small_center

EXTENSIONS = {"kim": "2001", "lee": "2002", "park": "2003"}


def busy_morning(engine: CtiEngine, start: float, end: float, seed: int = 7) -> None:
    """Calls from `start` to `end` (wall seconds) through the engine's inputs, one second a step:
    arrivals about every 70 s, answered after a few seconds' ringing, talks of 1-4 minutes, some
    callers giving up; every call over and every agent logged out at `end`."""
    rng = random.Random(seed)
    queues = sorted(engine.config.queues)
    for agent, extension in EXTENSIONS.items():
        engine.login(start, agent, extension)
        engine.ready(start, agent)
    ringing: dict[str, tuple[str, float]] = {}
    talking: dict[str, float] = {}
    patience: dict[str, float] = {}
    arrival, count, t = start + rng.expovariate(1 / 70), 0, start
    while t < end:
        if t >= arrival:
            count += 1
            caller = f"morning-{count}"
            engine.caller_queued(t, caller, rng.choice(queues), 0, {"calling": f"010{rng.randrange(10**8):08d}"})
            patience[caller] = t + rng.uniform(40, 600)
            arrival = t + rng.expovariate(1 / 70)
        for decision in engine.pop_decisions():
            if isinstance(decision, Offer):
                ringing[decision.caller] = (decision.agent, t + rng.uniform(2, 9))
        for caller, (agent, at) in list(ringing.items()):
            if t >= at:
                del ringing[caller]
                patience.pop(caller, None)
                engine.offer_answered(t, caller, agent)
                talking[caller] = t + rng.uniform(60, 240)
        for caller, until in list(patience.items()):
            if t >= until:
                del patience[caller]
                ringing.pop(caller, None)
                engine.caller_abandoned(t, caller)
        for caller, until in list(talking.items()):
            if t >= until:
                del talking[caller]
                engine.call_ended(t, caller)
        timer = engine.get_timer()
        while timer is not None and timer <= t:
            engine.handle_timer(t)
            timer = engine.get_timer()
        t += 1.0
    for caller in list(talking):
        engine.call_ended(t, caller)
    for caller in list(patience):
        engine.caller_abandoned(t, caller)
    for agent in EXTENSIONS:
        engine.logout(t, agent)
    engine.pop_decisions()


def log_in(page: Page, agent: str) -> None:
    page.until(lambda: "hidden" not in page.attribute("#login", "class"), "the login form")
    page.type("#login-agent", agent)
    page.type("#login-password", PASSWORDS[agent])
    page.type("#login-extension", EXTENSIONS[agent])
    page.click("#login-submit")
    page.until(lambda: page.attribute("#state-big", "data-state") == "NOT_READY", f"{agent} logged in")


def take(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    engine = CtiEngine(small_center())
    now = time.time()
    busy_morning(engine, now - 3 * 3600, now - 60)
    with loopback_namespace(), ServedCenter(engine=engine) as box, chromium() as driver:
        for agent in ("kim", "park"):
            box.run(box.runner, "login", agent, EXTENSIONS[agent])
        box.run(box.runner, "not_ready", "park", "lunch")
        desk = Page.open(driver, box.base + "/desktop/")
        log_in(desk, "lee")
        desk.click("#btn-ready")
        desk.until(lambda: desk.attribute("#state-big", "data-state") == "READY", "lee ready")
        box.queue_caller("live-1", "account_transfer", {"calling": "01099998888", "called": "7000", "dialled": "7000",
                                                        "service": "이체", "account": "110-234-567890"})
        desk.until(lambda: desk.text("#call-caller") == "01099998888", "the call popup")
        box.answer("live-1", "lee")
        desk.until(lambda: desk.attribute("#state-big", "data-state") == "TALKING", "lee talking")
        for digit in "12":
            desk.js("document.getElementById('dtmf-sent').value += arguments[0]", digit)
        desk.type("#target", "queue:deposit_inquiry")
        desk.type("#wrap-note", "이체 한도 문의 — 한도 상향 안내")
        time.sleep(1.2)     # the time in state ticking past 00:00
        box.run(box.runner, "ready", "kim")
        box.queue_caller("live-2", "incident_report", {"calling": "0317771234", "service": "사고 신고"})
        box.queue_caller("live-3", "incident_report", {"calling": "01055554444", "service": "사고 신고"})
        shots = [out / "desktop.png", out / "wallboard.png"]
        desk.focus()
        driver.save_screenshot(str(shots[0]))
        board = Page.open(driver, box.base + "/wallboard/", new_window=True)
        board.type("#login-name", SUPERVISOR[0])
        board.type("#login-password", SUPERVISOR[1])
        board.click("#login-submit")
        board.until(lambda: board.text('#queues tr[data-queue="incident_report"] td[data-field="waiting"]') == "2",
                    "two callers waiting on the wallboard")
        board.until(lambda: board.js("return document.querySelectorAll('#plots rect.bar').length") > 0, "the plots")
        board.type("#sup-extension", "2009")
        time.sleep(1.2)
        driver.save_screenshot(str(shots[1]))
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description="photograph the agent desktop and the wallboard at 1366x768")
    parser.add_argument("--out", default="docs", help="directory of desktop.png and wallboard.png (default docs)")
    args = parser.parse_args()
    for path in take(Path(args.out)):
        print(path)


if __name__ == "__main__":
    main()
