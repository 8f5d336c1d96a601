"""Candidate, commit, history, rollback and commit-confirmed in a state directory."""

import os
import signal
import subprocess
import sys
import time

import pytest

from runtime.clock import ManualClock
from firmware.config import ConfigError
from firmware.config.confirm import ConfirmWatch
from firmware.config.loader import default_text
from firmware.config.store import ConfigStore, StoreError

BASE = default_text()


def named(host: str) -> str:
    return BASE.replace('hostname = "pribox"', f'hostname = "{host}"')


def test_commit_history_and_rollback(tmp_path):
    store = ConfigStore(tmp_path)
    assert store.running() is None and store.history() == []
    first = store.commit(100.0, "first boot", text=named("one"))
    store.set_candidate(named("two"))
    assert '-hostname = "one"' in store.diff() and '+hostname = "two"' in store.diff()
    second = store.commit(200.0, "rename", user="kim")
    assert (first.id, first.kind, second.id, second.kind, second.user) == (1, "bootstrap", 2, "commit", "kim")
    assert not store.has_candidate() and store.diff() == ""
    assert store.running_config().box.hostname == "two"

    back = store.rollback(1, 300.0)
    assert back.id == 3 and back.kind == "rollback" and back.comment == "rollback to commit 1"
    assert store.running_config().box.hostname == "one"
    assert [(c.id, c.time, c.comment) for c in store.history()] == [
        (1, 100.0, "first boot"), (2, 200.0, "rename"), (3, 300.0, "rollback to commit 1")]
    assert store.commit_text(2) == named("two")
    # A reopened store sees the same thing.
    again = ConfigStore(tmp_path)
    assert again.running().id == 3 and again.running_text() == named("one")


def test_an_invalid_candidate_is_refused_and_changes_nothing(tmp_path):
    store = ConfigStore(tmp_path)
    store.commit(1.0, text=named("one"))
    store.set_candidate(named("one").replace("crc4 = true", 'crc4 = "yes"', 1))
    with pytest.raises(ConfigError) as info:
        store.commit(2.0, "broken")
    assert str(info.value).startswith(f"{tmp_path / 'candidate.toml'}:15:1: span[0].crc4: expected true or false")
    assert [c.id for c in store.history()] == [1] and store.running_text() == named("one")
    assert store.has_candidate()  # the engineer's edit is kept to fix it


def test_rollback_to_unknown_commit_and_confirm_without_pending_are_clear_errors(tmp_path):
    store = ConfigStore(tmp_path)
    store.commit(1.0, text=named("one"))
    with pytest.raises(StoreError, match=r"no commit 7 in the history \(commits: 1..1\)"):
        store.rollback(7, 2.0)
    with pytest.raises(StoreError, match="no commit is waiting for confirmation"):
        store.confirm(2.0)


def test_commit_confirmed_rolls_back_on_timeout():
    clock = ManualClock(50.0)
    with _tmp() as state:
        store = ConfigStore(state)
        store.commit(1000.0, text=named("good"))
        rolled = []
        watch = ConfirmWatch(store, clock, rolled.append, wall_offset=1000.0 - 50.0)
        store.commit(watch.wall_now(), "risky", text=named("risky"), confirm_within=600)
        assert watch.rearm() == 1600.0
        clock.advance(599)
        assert rolled == [] and store.running_config().box.hostname == "risky"
        clock.advance(1)
        assert len(rolled) == 1 and rolled[0].kind == "auto-rollback"
        assert rolled[0].comment == "commit 2 not confirmed by its deadline: rolled back to commit 1"
        assert store.running_config().box.hostname == "good" and store.pending() is None


def test_confirm_cancels_the_rollback():
    clock = ManualClock()
    with _tmp() as state:
        store = ConfigStore(state)
        store.commit(0.0, text=named("good"))
        rolled = []
        watch = ConfirmWatch(store, clock, rolled.append, wall_offset=0.0)
        store.commit(0.0, text=named("new"), confirm_within=60)
        watch.rearm()
        clock.advance(30)
        store.confirm(watch.wall_now())
        watch.rearm()
        clock.advance(3600)
        assert rolled == [] and store.running_config().box.hostname == "new"
        assert store.running().confirmed_at == 30.0


def test_stacked_unconfirmed_commits_fall_back_to_the_last_confirmed_one(tmp_path):
    store = ConfigStore(tmp_path)
    store.commit(0.0, text=named("good"))
    store.commit(10.0, text=named("try1"), confirm_within=60)
    third = store.commit(20.0, text=named("try2"), confirm_within=60)
    assert third.rollback_to == 1 and third.confirm_deadline == 80.0
    assert store.expire(79.0) is None
    rolled = store.expire(80.0)
    assert rolled.id == 4 and store.running_config().box.hostname == "good"


def test_a_plain_commit_while_unconfirmed_ends_the_wait(tmp_path):
    store = ConfigStore(tmp_path)
    store.commit(0.0, text=named("good"))
    store.commit(10.0, text=named("try"), confirm_within=60)
    store.commit(20.0, text=named("final"))
    assert store.pending() is None and store.expire(10_000.0) is None


def test_the_confirm_deadline_survives_a_restart():
    with _tmp() as state:
        store = ConfigStore(state)
        store.commit(1000.0, text=named("good"))
        store.commit(1000.0, text=named("risky"), confirm_within=300)
        del store  # the daemon goes down 100 s later ...

        # ... and comes back with a new monotonic epoch: the deadline is 200 s away.
        clock = ManualClock(7.0)
        store = ConfigStore(state)
        rolled = []
        watch = ConfirmWatch(store, clock, rolled.append, wall_offset=1100.0 - 7.0)
        assert watch.rearm() == 1300.0
        clock.advance(199.9)
        assert rolled == []
        clock.advance(0.1)
        assert [c.kind for c in rolled] == ["auto-rollback"]
        assert store.running_config().box.hostname == "good"


def test_a_deadline_that_passed_while_down_fires_at_once():
    with _tmp() as state:
        store = ConfigStore(state)
        store.commit(0.0, text=named("good"))
        store.commit(0.0, text=named("risky"), confirm_within=60)
        clock = ManualClock()
        rolled = []
        ConfirmWatch(ConfigStore(state), clock, rolled.append, wall_offset=5000.0).rearm()
        clock.advance(0)
        assert len(rolled) == 1 and ConfigStore(state).running_text() == named("good")


@pytest.mark.parametrize("crash_at", range(1, 9))
def test_a_crash_at_any_write_of_a_commit_leaves_old_or_new_never_torn(tmp_path, monkeypatch, crash_at):
    """Stop the commit at each rename it makes (what a kill between syscalls leaves behind)."""
    store = ConfigStore(tmp_path)
    store.commit(0.0, text=named("old"))
    store.set_candidate(named("new"))
    real_replace = os.replace
    calls = []

    def dying_replace(src, dst):
        calls.append(dst)
        if len(calls) == crash_at:
            raise SystemExit("killed")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", dying_replace)
    try:
        store.commit(1.0, confirm_within=60)
    except SystemExit:
        pass
    monkeypatch.setattr(os, "replace", real_replace)
    reopened = ConfigStore(tmp_path)
    running = reopened.running_text()
    assert running in (named("old"), named("new"))
    assert reopened.commit_text(reopened.running().id) == running
    assert reopened.running_config()
    assert not list(tmp_path.glob(".*.tmp-*")) and not list((tmp_path / "history").glob(".*.tmp-*"))
    if running == named("new"):
        assert reopened.pending() is not None  # the confirm deadline came with it
    else:
        assert reopened.pending() is None and [c.id for c in reopened.history()] == [1]


KILLER = """
import sys
from firmware.config.store import ConfigStore
store = ConfigStore(sys.argv[1])
texts = [open(sys.argv[2]).read(), open(sys.argv[3]).read()]
print("ready", flush=True)
n = 0
while True:
    store.commit(float(n), text=texts[n % 2])
    n += 1
"""


def test_kill_9_during_commits_never_leaves_a_torn_running_config(tmp_path):
    padding = "# " + "x" * 200 + "\n"
    texts = [named("aaa") + padding * 2000, named("bbb") + padding * 2000]
    for i, text in enumerate(texts):
        (tmp_path / f"t{i}.toml").write_text(text)
    state = tmp_path / "state"
    ConfigStore(state).commit(0.0, text=texts[0])
    for attempt in range(6):
        proc = subprocess.Popen([sys.executable, "-c", KILLER, str(state), str(tmp_path / "t0.toml"),
                                 str(tmp_path / "t1.toml")], stdout=subprocess.PIPE, cwd=os.getcwd())
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(0.02 + 0.013 * attempt)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        store = ConfigStore(state)
        running = store.running_text()
        assert running in texts
        assert store.commit_text(store.running().id) == running
        assert store.running_config().box.hostname in ("aaa", "bbb")


class _tmp:
    def __enter__(self):
        import tempfile

        self._dir = tempfile.TemporaryDirectory()
        return self._dir.name

    def __exit__(self, *exc):
        self._dir.cleanup()


def test_commit_without_a_candidate_is_refused(tmp_path):
    store = ConfigStore(tmp_path)
    with pytest.raises(StoreError, match="no candidate to commit"):
        store.commit(0.0)


def test_old_history_is_pruned_but_never_the_fallback_of_an_unconfirmed_commit(tmp_path):
    store = ConfigStore(tmp_path, keep=3)
    store.commit(0.0, text=named("base"))
    store.commit(1.0, text=named("h1"), confirm_within=600)
    for i in range(2, 7):
        store.commit(float(i), text=named(f"h{i}"), confirm_within=600)
    ids = [c.id for c in store.history()]
    assert ids == [1, 5, 6, 7]  # the newest three, plus commit 1 that they would all fall back to
    assert store.expire(10_000.0).comment.endswith("rolled back to commit 1")
    assert store.running_config().box.hostname == "base"
