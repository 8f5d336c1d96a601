"""A real headless Chromium as the agent's page, run inside a network namespace with only
loopback (the caller, tests/webrtc/test_softphone_chromium.py, makes it with `unshare --net`).

    python -m tests.webrtc.browser_world [--desktop]    # prints one JSON line: what was seen

The box (registrar, RTP legs on a line thread, the agent API with the softphone's socket, the
endpoint in its thread) runs on a loop in a background thread; Selenium drives Chromium from the
main thread.  Chromium's microphone is a WAV of the KR dial tone; the page loads softphone.js
from the box, starts it with the agent's token, and its Answer and Hang up buttons are clicked.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path

import numpy as np
from aiohttp import web

from dsp.dtmf import DtmfGenerator
from dsp.tones import ToneGenerator
from pbx_cti.desktop.routes import add_page_routes
from pbx_cti.webrtc.endpoint import EndpointConfig, WebRtcEndpoint
from pbx_cti.webrtc.signalling import EndpointThread, install
from tests.api.api_world import World
from tests.webrtc.harness import HOST, PASSWORDS, Box, DialToneEar, play_tone, record

SOFTPHONE_JS = Path(__file__).resolve().parents[2] / "pbx_cti" / "desktop" / "static" / "softphone.js"
CHROMIUM = "/usr/lib/chromium/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>softphone</title></head>
<body><div id="softphone-body"></div><script src="softphone.js"></script></body></html>"""


def dial_tone_wav(path: Path, seconds: float = 20.0) -> None:
    write_wav(path, ToneGenerator("KR", "dial", level_dbm0=-10.0).generate(int(8000 * seconds)))


def key_wav(path: Path, digit: str = "5", seconds: float = 20.0) -> None:
    """The key pressed over and over (120 ms on, 300 ms off): tone bursts that the browser's noise
    suppression, on by default in the desktop's softphone, lets through."""
    keys = DtmfGenerator(level_dbm0=-8.0, on_ms=120, off_ms=300)
    keys.put(digit * int(seconds / 0.42))
    write_wav(path, keys.generate(int(8000 * seconds)))


def write_wav(path: Path, tone) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(tone.astype("<i2").tobytes())


class BoxThread:
    """The box and its API on an event loop in a thread; `run(coro)` from the main thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 20.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def start(self, desktop: bool = False):
        self.box = await Box().start()
        self.world = World()
        if desktop:
            add_page_routes(self.world.api.app.router)

        async def page(request):
            return web.Response(text=PAGE, content_type="text/html")

        async def script(request):
            return web.Response(body=SOFTPHONE_JS.read_bytes(), content_type="text/javascript")

        self.world.api.app.router.add_get("/softphone-test/", page)
        self.world.api.app.router.add_get("/softphone-test/softphone.js", script)
        self.runner = EndpointThread(lambda: WebRtcEndpoint(
            EndpointConfig(registrar=(HOST, self.box.port), domain=HOST), PASSWORDS.get)).start()
        install(self.world.api, self.runner)
        await self.world.__aenter__()
        server = self.world.client.server
        if desktop:
            return f"http://{HOST}:{server.port}/desktop/"
        self.token = await self.world.login("alice", "2001")
        return f"http://{HOST}:{server.port}/softphone-test/"

    async def stop(self):
        await self.world.__aexit__(None, None, None)
        await self.box.stop()


def browser(wav: Path, profile: str):
    os.environ["SE_OFFLINE"] = "true"          # Selenium Manager must not go looking for drivers
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-audio-capture={wav}", "--autoplay-policy=no-user-gesture-required",
                 "--allow-loopback-in-peer-connection", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def until(predicate, timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def main(desktop: bool = False) -> dict:
    """The plain page starts the softphone itself (noise suppression and gain control off, as
    tests that measure audio want); `desktop`: the agent desktop logs in through its form and
    starts it as an agent's browser would (echo cancellation, noise suppression and gain control
    on), and a key pressed over and over is what the box must hear."""
    from tests.api.api_world import PASSWORDS as AGENT_PASSWORDS

    result: dict = {}
    home = Path(tempfile.mkdtemp(prefix="softphone-"))
    wav = home / "microphone.wav"
    (key_wav if desktop else dial_tone_wav)(wav)
    boxes = BoxThread()
    url = boxes.run(boxes.start(desktop))
    box = boxes.box
    driver = browser(wav, str(home / "profile"))
    try:
        started = time.monotonic()
        driver.get(url)
        if desktop:
            until(lambda: driver.execute_script(
                "return !document.getElementById('login').classList.contains('hidden')"), 10, "the login form")
            driver.find_element("id", "login-agent").send_keys("alice")
            driver.find_element("id", "login-password").send_keys(AGENT_PASSWORDS["alice"])
            driver.find_element("id", "login-extension").send_keys("2001")
            driver.find_element("id", "login-submit").click()
        else:
            driver.execute_script(
                "window.priboxSoftphone.start(arguments[0], {audio: {noiseSuppression: false, autoGainControl: false}})",
                boxes.token)
        until(lambda: box.registered("2001"), 20, "the page's contact to register")
        result["registered_s"] = round(time.monotonic() - started, 3)
        relay = boxes.runner.endpoint.sessions["alice"].relay.local

        async def ring():
            return box.ring("2001", relay)

        call_id, leg = boxes.run(ring())
        until(lambda: driver.execute_script("return window.priboxSoftphone.state") == "ringing", 10, "the page to ring")
        result["page_caller"] = driver.execute_script("return window.priboxSoftphone.call.caller")
        driver.find_element("id", "softphone-answer").click()
        until(lambda: box.answered(call_id), 10, "the box to see the answer")

        async def tone():
            record(leg)
            leg.digits()                      # from here on
            play_tone(leg, seconds=6.0)

        boxes.run(tone())
        if desktop:
            keys: list = []
            result["box_heard_key"] = poll(lambda: keys.extend(boxes.run(_async(leg.digits))) or "5" in keys, 6)
            result["box_keys"] = "".join(keys)
        else:
            ear = DialToneEar(leg)
            result["box_heard_dial_tone"] = poll(lambda: boxes.run(_async(ear.heard)), 6)
        heard = lambda: driver.execute_script("return window.priboxSoftphone.received(1000)")  # noqa: E731
        poll(lambda: (heard() or {}).get("peak", -999) > -60 and heard()["above"] > 30, 4)
        result["page_heard_1khz_db"] = heard()
        result["leg"] = {k: v for k, v in boxes.run(_async(leg.stats)).items()
                         if k in ("packets_received", "lost", "jitter_ms")}
        driver.find_element("id", "softphone-hangup").click()
        until(lambda: box.released(call_id) is not None, 5, "the call to be released")
        result["page_state_after"] = until(
            lambda: driver.execute_script("return window.priboxSoftphone.state") == "ready" and "ready", 5,
            "the page to be ready again")
        # The agent stops the softphone (the desktop's logout does the same): the contact goes.
        driver.execute_script("window.priboxSoftphone.stop()")
        until(lambda: not box.registered("2001"), 5, "the contact to unregister")
        result["unregistered"] = True
    finally:
        driver.quit()
        boxes.run(boxes.stop())
    return result


def poll(predicate, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return bool(predicate())


async def _async(fn, *args):
    return fn(*args)


if __name__ == "__main__":
    outcome = main(desktop="--desktop" in sys.argv)
    sys.stdout.write(json.dumps(outcome) + "\n")
