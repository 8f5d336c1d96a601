"""CTI event -> page updated, in headless Chromium: the fallback bench/webrtc.py uses when the
desktop's own measurement (hil_tests/desktop/page_latency.py) is not there.  Run inside a
loopback-only network namespace (bench/webrtc.py makes it with `unshare --net`):

    python -m tests.webrtc.page_latency 200      # prints one JSON line: p50, p99, max (ms)

An agent's state is changed over and over through the engine's runner (what an API request
does); each change is an `agent_state` event on the API's WebSocket.  The page renders it into
the DOM and, at the next animation frame (the update is on screen), stamps its wall time
(`performance.timeOrigin + performance.now()`); the box stamped the change just before it was
made.  One change at a time: the next waits for the page's stamp.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

from tests.api.api_world import World
from tests.webrtc.browser_world import CHROMEDRIVER, CHROMIUM, until

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>latency</title></head><body>
<div id="state">-</div><script>
window.stamps = [];
const ws = new WebSocket(`ws://${location.host}/api/v1/events?token=${location.hash.slice(1)}`);
ws.onmessage = (message) => {
  const data = JSON.parse(message.data);
  if (data.type !== "events") return;
  for (const event of data.events) {
    if (event.type !== "agent_state") continue;
    document.getElementById("state").textContent = event.state + " " + (event.reason || "");
    requestAnimationFrame(() => window.stamps.push(performance.timeOrigin + performance.now()));
  }
};
</script></body></html>"""


def main(samples: int) -> dict:
    import os
    import threading
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    run = lambda coro: asyncio.run_coroutine_threadsafe(coro, loop).result(20)  # noqa: E731
    async def page(request):
        return web.Response(text=PAGE, content_type="text/html")

    async def start():
        world = World()
        world.api.app.router.add_get("/latency/", page)
        await world.__aenter__()
        token = await world.login("alice", "2001")
        return world, f"http://127.0.0.1:{world.client.server.port}/latency/#{token}"

    world, url = run(start())
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='latency-')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    latencies = []
    try:
        driver.get(url)
        until(lambda: driver.execute_script("return document.readyState") == "complete", 10, "the page")
        time.sleep(0.3)                        # the socket is open and said hello

        async def change(k: int) -> float:
            sent = time.time() * 1000
            if k % 2 == 0:
                world.runner("ready", "alice")
            else:
                world.runner("not_ready", "alice", "break")
            return sent

        for k in range(samples):
            sent = run(change(k))
            stamps = until(lambda: len(driver.execute_script("return window.stamps")) > k and
                           driver.execute_script("return window.stamps"), 5, f"the page to show change {k}", 0.002)
            latencies.append(stamps[k] - sent)
    finally:
        driver.quit()
        run(world.__aexit__(None, None, None))
    ordered = sorted(latencies)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)  # noqa: E731
    return {"source": "tests/webrtc/page_latency.py", "samples": len(ordered), "p50": pick(0.5), "p99": pick(0.99),
            "max": round(ordered[-1], 2)}


if __name__ == "__main__":
    sys.stdout.write(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)) + "\n")
