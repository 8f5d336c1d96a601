"""Running a test scenario beside a real Daemon in one event loop, shared by the daemon,
ISDN, console and update tests."""

from __future__ import annotations

import asyncio


async def until(condition, timeout: float, what: str) -> None:
    """Wait on the loop's clock (virtual or real) until `condition()` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"{what} not within {timeout} s")
        await asyncio.sleep(0.01)


async def run_beside(daemon, scenario) -> int:
    """Run the daemon until the scenario is over; returns the daemon's exit code.  The daemon
    is stopped when the scenario ends, fails or not, so a failing test never hangs."""
    async def guarded():
        try:
            await scenario()
        finally:
            daemon.request_stop("scenario over")

    scene = asyncio.ensure_future(guarded())
    code = await daemon.run(install_signals=False)
    await scene
    return code
