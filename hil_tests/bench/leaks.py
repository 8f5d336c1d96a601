"""Before/after counts, as the Asterisk test suite takes them around a run: what the box holds
(channels, calls, timers, tasks) from its own tables, and what the process holds (file
descriptors, threads, resident memory) from /proc.

    before = process_counts() | box_counts(...)
    ... the run ...
    after = process_counts() | box_counts(...)
    report = compare(before, after, rss_bound_kib=24 * 1024, rss_baseline_kib=warm)
    report["leaked"]          # channels + calls + timers + tasks + fds + threads left over,
                              # plus 1 when resident memory grew beyond the bound since `warm`

Counts that move on their own (a service's own sleep is a timer) are taken as the least of a
few samples, so a count is what stays, not what passes.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import sys
import time

COUNTED = ("channels", "calls", "timers", "tasks", "fds", "threads")


def process_counts(pid: int | str = "self") -> dict[str, int]:
    """File descriptors, threads and resident memory (kiB) of a process, from /proc."""
    base = f"/proc/{pid}"
    rss = 0
    with open(f"{base}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
                break
    return {"fds": len(os.listdir(f"{base}/fd")), "threads": len(os.listdir(f"{base}/task")), "rss_kib": rss}


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def _libc():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):
        return None           # not glibc 2.33 or later: the heap figures are left out


_LIBC = _libc()


def heap_counts(trim: bool = True) -> dict[str, int]:
    """What the process's memory holds, apart from what its allocator keeps: malloc's bytes in
    use (mallinfo2: uordblks + mmapped blocks), the heap's size, Python's allocated blocks, and
    VmRSS after malloc_trim(0) has handed the allocator's free pages back to the kernel.  Resident
    memory alone also counts pages the allocator freed and keeps for reuse (its high-water mark)."""
    out = {"python_blocks": sys.getallocatedblocks()}
    if _LIBC is None:
        return out
    if trim:
        _LIBC.malloc_trim(0)
    info = _LIBC.mallinfo2()
    out.update(malloc_in_use_kib=(info.uordblks + info.hblkhd) // 1024, malloc_heap_kib=(info.arena + info.hblkhd) // 1024,
               malloc_free_kib=info.fordblks // 1024)
    if trim:
        out["rss_trimmed_kib"] = process_counts()["rss_kib"]
    return out


def isdn_counts(stacks) -> dict[str, int]:
    """B-channels not idle, channels open in the media plane, and calls, over IsdnSpans."""
    channels = calls = 0
    for isdn in stacks:
        table = isdn.stack.channels
        channels += len(table.timeslots) - table.idle_count()
        channels += len(isdn.bearer.open_timeslots())
        calls += len(isdn.stack.calls)
    return {"channels": channels, "calls": calls}


def switching_counts(core, engine=None) -> int:
    """Calls the PBX core (and the CTI engine, when given) still carries."""
    calls = len(core.active) + len(core.outbound) + len(core.by_call) + len(core.overlap)
    if engine is not None:
        calls += len(engine.callers)
    return calls


def loop_counts(loop: asyncio.AbstractEventLoop | None = None) -> dict[str, int]:
    """Timers pending on the event loop (not cancelled) and its tasks."""
    loop = loop or asyncio.get_running_loop()
    scheduled = getattr(loop, "_scheduled", [])
    return {"timers": sum(1 for h in scheduled if not h.cancelled()), "tasks": len(asyncio.all_tasks(loop))}


def pending_timers(loop: asyncio.AbstractEventLoop | None = None) -> dict[str, int]:
    """The loop's pending timers by what they will call (module.qualname), to name a leaked one."""
    loop = loop or asyncio.get_running_loop()
    named: dict[str, int] = {}
    for handle in getattr(loop, "_scheduled", []):
        if handle.cancelled():
            continue
        callback = getattr(handle, "_callback", None)
        if getattr(callback, "__name__", "") == "_set_result_unless_cancelled":   # asyncio.sleep: name the sleeper
            key = "asyncio.sleep in " + _sleeper(handle)
            named[key] = named.get(key, 0) + 1
            continue
        callback = getattr(callback, "func", callback)          # functools.partial
        code, cells = getattr(callback, "__code__", None), getattr(callback, "__closure__", None) or ()
        if code is not None and "callback" in code.co_freevars:  # LoopClock's wrapper: name what it wraps
            callback = cells[code.co_freevars.index("callback")].cell_contents
            callback = getattr(callback, "func", callback)
        owner = getattr(callback, "__self__", None)
        name = getattr(callback, "__qualname__", None) or repr(callback)
        module = getattr(callback, "__module__", None) or type(owner).__module__
        key = f"{module}.{name}"
        named[key] = named.get(key, 0) + 1
    return named


def _sleeper(handle) -> str:
    """The coroutine a sleep's future wakes (its task's), or "?"."""
    args = getattr(handle, "_args", None) or ()
    future = args[0] if args else None
    for callback, _ in getattr(future, "_callbacks", None) or ():
        task = getattr(callback, "__self__", None)
        coro = task.get_coro() if hasattr(task, "get_coro") else None
        if coro is not None:
            return getattr(coro, "__qualname__", repr(coro))
    return "?"


def timers_left(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """The timers pending after a run that were not before, by name."""
    return {name: n - before.get(name, 0) for name, n in sorted(after.items()) if n > before.get(name, 0)}


async def settled(take, samples: int = 5, gap: float = 0.1) -> dict[str, int]:
    """The least of each count over a few samples `gap` s apart."""
    least: dict[str, int] = {}
    for n in range(samples):
        for key, value in take().items():
            least[key] = min(value, least.get(key, value))
        if n + 1 < samples:
            await asyncio.sleep(gap)
    return least


SETTLE_S = 20.0          # how long the counts may take to come back after the last call


async def settle(before: dict[str, int], take, within: float = SETTLE_S) -> tuple[dict[str, int], float]:
    """The counts after a run, given up to `within` s to come back to `before`: what stays is a
    leak, what is still going away is not (as the Asterisk test suite waits for channels to
    hang up).  Returns the counts and the seconds waited."""
    started = time.monotonic()
    while True:
        after = await settled(take)
        if compare(before, after, rss_bound_kib=1 << 40)["leaked"] == 0 or time.monotonic() - started > within:
            return after, time.monotonic() - started
        await asyncio.sleep(1.0)


def compare(before: dict[str, int], after: dict[str, int], *, rss_bound_kib: int,
            rss_baseline_kib: int | None = None, rss_key: str = "rss_kib") -> dict:
    """What was left: each counted item's growth (never below 0) and the memory verdict: the
    growth from `rss_baseline_kib` (a warmed-up figure; `before`'s when not given) against
    the bound.  `rss_key` names the figure judged (resident memory, or resident memory after
    malloc_trim: "rss_trimmed_kib")."""
    left = {key: max(0, after.get(key, 0) - before.get(key, 0)) for key in COUNTED}
    growth = after.get("rss_kib", 0) - before.get("rss_kib", 0)
    baseline = before.get(rss_key, 0) if rss_baseline_kib is None else rss_baseline_kib
    judged = after.get(rss_key, 0) - baseline
    memory_over = int(judged > rss_bound_kib)
    return {"left": left, "rss_growth_kib": growth, "rss_baseline_kib": baseline, "rss_judged_growth_kib": judged,
            "rss_judged": rss_key, "rss_bound_kib": rss_bound_kib, "memory_over_bound": bool(memory_over),
            "leaked": sum(left.values()) + memory_over, "before": before, "after": after}
