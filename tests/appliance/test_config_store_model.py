"""The store against a model: any sequence of commits, confirmed commits, confirmations,
rollbacks, deadlines passing and reopenings keeps running.toml, the history and the pending
confirmation exactly where the model says."""

import shutil
import tempfile

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from firmware.config.loader import default_text
from firmware.config.store import ConfigStore

HOSTS = ["alpha", "bravo", "charlie", "delta"]


def named(host):
    return default_text().replace('hostname = "pribox"', f'hostname = "{host}"')


class StoreModel(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="pribox-store-model-")
        self.store = ConfigStore(self.dir)
        self.now = 1000.0
        self.texts: list[str] = []  # history by commit id - 1
        self.pending: tuple[float, int | None] | None = None  # (deadline, rollback_to)

    def teardown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def _append(self, text, confirm_within):
        current = len(self.texts) or None
        if confirm_within is None:
            self.pending = None
        else:
            target = self.pending[1] if self.pending else current
            self.pending = (self.now + confirm_within, target)
        self.texts.append(text)

    @rule(host=st.sampled_from(HOSTS), confirm=st.one_of(st.none(), st.sampled_from([30.0, 90.0])))
    def commit(self, host, confirm):
        commit = self.store.commit(self.now, text=named(host), confirm_within=confirm)
        self._append(named(host), confirm)
        assert commit.id == len(self.texts)

    @precondition(lambda self: self.texts)
    @rule(data=st.data())
    def rollback(self, data):
        target = data.draw(st.integers(1, len(self.texts)))
        self.store.rollback(target, self.now)
        self._append(self.texts[target - 1], None)

    @precondition(lambda self: self.pending is not None)
    @rule()
    def confirm(self):
        self.store.confirm(self.now)
        self.pending = None

    @rule(seconds=st.sampled_from([1.0, 29.0, 60.0, 120.0]))
    def time_passes(self, seconds):
        self.now += seconds
        rolled = self.store.expire(self.now)
        if self.pending and self.now >= self.pending[0]:
            deadline, target = self.pending
            self.pending = None
            if target is None:
                assert rolled is None
            else:
                assert rolled is not None and rolled.kind == "auto-rollback"
                self.texts.append(self.texts[target - 1])
        else:
            assert rolled is None

    @rule()
    def reopen(self):
        self.store = ConfigStore(self.dir)

    @invariant()
    def matches_the_model(self):
        history = self.store.history()
        assert [c.id for c in history] == list(range(1, len(self.texts) + 1))
        if self.texts:
            assert self.store.running_text() == self.texts[-1]
            assert self.store.commit_text(len(self.texts)) == self.texts[-1]
        pending = self.store.pending()
        if self.pending is None:
            assert pending is None
        else:
            assert (pending.confirm_deadline, pending.rollback_to) == self.pending


StoreModel.TestCase.settings = settings(max_examples=15, stateful_step_count=12, deadline=None)
test_store_follows_the_model = StoreModel.TestCase
