"""The browser tests' network namespace: only lo inside, the thread's own namespace back after,
and what a killed run left behind removed by the next."""

from __future__ import annotations

import os
import subprocess

from hil_tests.desktop.netns import interfaces, loopback_namespace, remove_orphans

PREFIX = "pribox-desk-selftest"


def test_inside_only_loopback_and_afterwards_the_thread_s_own_namespace_and_no_leftover():
    outside = interfaces()
    with loopback_namespace(PREFIX) as name:
        assert interfaces() == ["lo"]
        assert os.path.exists(f"/run/netns/{name}")
    assert interfaces() == outside
    assert not os.path.exists(f"/run/netns/{name}")


def test_a_namespace_whose_process_is_gone_is_removed_and_a_living_one_kept():
    child = subprocess.Popen(["true"])
    child.wait()
    dead_pid = str(child.pid)
    assert not os.path.exists(f"/proc/{dead_pid}")
    orphan, alive = f"{PREFIX}-{dead_pid}-1", f"{PREFIX}-{os.getpid()}-99"
    for name in (orphan, alive):
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        assert remove_orphans(PREFIX) == [orphan]
        assert not os.path.exists(f"/run/netns/{orphan}") and os.path.exists(f"/run/netns/{alive}")
    finally:
        for name in (orphan, alive):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)
