"""The box's configuration on disk: a candidate being edited, the committed (running)
configuration, and a numbered history of every commit, with commit-confirmed rollback.

    <state dir>/candidate.toml        the edit in progress (absent: none)
    <state dir>/running.toml          the committed configuration the box runs and boots from
    <state dir>/history/NNNNNNNN.toml the text of commit N
    <state dir>/history/NNNNNNNN.json time, comment, kind, and for a confirmed commit its
                                      deadline, rollback target and when it was confirmed
    <state dir>/history/NNNNNNNN.files/  copies of the files commit N names by relative path
                                      (IVR flows: a section's `files`), as they were committed
    <state dir>/candidate.files/      the same for the candidate

A commit reads the files its text names relative to the file it came from (or the candidate's
copies) and keeps them beside its text, so history, rollback and commit-confirmed cover them
too; the running configuration reads them from its commit's copy, never from where they were
edited.  The copies land (directory renamed into place) before the commit's record, so a crash
leaves a commit with all its files or no commit.

running.toml always equals the newest history entry: a commit writes the history entry first
and replaces running.toml last, and opening the store drops any newer entry whose commit was
cut short, so a kill at any instant leaves the previous or the new commit, never a torn one.
The pending confirmation lives in the running commit's own record (no separate file to get out
of step), so it survives a restart of the daemon or of the box.

Sans-I/O with respect to time: every operation that depends on time takes `now`, wall-clock
seconds since the epoch (persisted deadlines must survive a reboot, which a monotonic clock
does not); the daemon derives it from the one clock plus a fixed epoch offset.
"""

from __future__ import annotations

import difflib
import fcntl
import json
import os
import shutil
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .atomic import fsync_directory, remove_stale_temporaries, write_atomically
from .errors import ConfigError
from .loader import Config, attached_files, load_text


class StoreError(Exception):
    """An operation on the store that cannot be done as asked (no such commit, nothing pending)."""


@dataclass(frozen=True)
class Commit:
    id: int
    time: float
    comment: str
    kind: str  # "commit", "rollback", "auto-rollback", "bootstrap"
    user: str = ""
    confirm_deadline: float | None = None  # wall-clock seconds; None: needs no confirmation
    rollback_to: int | None = None  # what an unconfirmed commit falls back to
    confirmed_at: float | None = None

    @property
    def pending(self) -> bool:
        return self.confirm_deadline is not None and self.confirmed_at is None


class ConfigStore:
    def __init__(self, state_dir: str | os.PathLike, sections=None, keep: int = 100):
        self.dir = Path(state_dir)
        self.history_dir = self.dir / "history"
        self._sections = sections
        self.keep = keep
        try:
            self.history_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot use state directory {self.dir}: {exc.strerror or exc}") from None
        with self._locked():
            self._repair()

    # -- reading ----------------------------------------------------------------------------

    @property
    def running_path(self) -> Path:
        return self.dir / "running.toml"

    @property
    def candidate_path(self) -> Path:
        return self.dir / "candidate.toml"

    def history(self) -> list[Commit]:
        return [self._read_meta(n) for n in self._ids()]

    def commit_info(self, commit_id: int) -> Commit:
        if not self._toml(commit_id).exists():
            known = self._ids()
            span = f"{known[0]}..{known[-1]}" if known else "none yet"
            raise StoreError(f"no commit {commit_id} in the history (commits: {span})")
        return self._read_meta(commit_id)

    def commit_text(self, commit_id: int) -> str:
        self.commit_info(commit_id)
        return self._toml(commit_id).read_text(encoding="utf-8")

    def running(self) -> Commit | None:
        ids = self._ids()
        return self._read_meta(ids[-1]) if ids else None

    def running_text(self) -> str | None:
        try:
            return self.running_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def running_config(self) -> Config:
        text = self.running_text()
        if text is None:
            raise StoreError(f"nothing committed yet in {self.dir}")
        current = self.running()
        return load_text(text, str(self.running_path), self._sections,
                         base_dir=self.files_dir(current.id) if current else None)

    def commit_config(self, commit_id: int) -> Config:
        """Commit `commit_id`'s configuration, validated with the files it was committed with."""
        return load_text(self.commit_text(commit_id), str(self._toml(commit_id)), self._sections,
                         base_dir=self.files_dir(commit_id))

    def files_dir(self, commit_id: int) -> Path:
        """Where commit `commit_id`'s files are (the state directory for a commit without any)."""
        path = self.history_dir / f"{commit_id:08d}.files"
        return path if path.is_dir() else self.dir

    def commit_files(self, commit_id: int) -> dict[str, bytes]:
        return _read_tree(self.history_dir / f"{commit_id:08d}.files")

    @property
    def candidate_files_dir(self) -> Path:
        return self.dir / "candidate.files"

    def pending(self) -> Commit | None:
        current = self.running()
        return current if current is not None and current.pending else None

    def next_deadline(self) -> float | None:
        pending = self.pending()
        return pending.confirm_deadline if pending else None

    def candidate_text(self) -> str:
        """The candidate, or the running text when no edit is in progress."""
        try:
            return self.candidate_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return self.running_text() or ""

    def has_candidate(self) -> bool:
        return self.candidate_path.exists()

    def diff(self) -> str:
        """Unified diff from running to candidate ("" when they are the same)."""
        running = (self.running_text() or "").splitlines(keepends=True)
        candidate = self.candidate_text().splitlines(keepends=True)
        out = "".join(difflib.unified_diff(running, candidate, "running", "candidate"))
        if self.has_candidate():
            current = self.running()
            old = self.commit_files(current.id) if current else {}
            new = _read_tree(self.candidate_files_dir)
            for name in sorted(set(old) | set(new)):
                a = old.get(name, b"").decode("utf-8", "replace").splitlines(keepends=True)
                b = new.get(name, b"").decode("utf-8", "replace").splitlines(keepends=True)
                out += "".join(difflib.unified_diff(a, b, f"running/{name}", f"candidate/{name}"))
        return out

    # -- changing ---------------------------------------------------------------------------

    def set_candidate(self, text: str, files: dict[str, bytes] | None = None) -> None:
        """Make `text` the candidate, with copies of the files it names (`files`, by relative
        path; see `gather_files`).  Without `files` (the text edited in place, e.g. on the
        console) the candidate keeps the files it had, or starts from the running commit's."""
        with self._locked():
            if files is None:
                if self.has_candidate() and self.candidate_files_dir.is_dir():
                    files = _read_tree(self.candidate_files_dir)
                else:
                    current = self.running()
                    files = self.commit_files(current.id) if current else {}
            self.candidate_path.unlink(missing_ok=True)
            shutil.rmtree(self.candidate_files_dir, ignore_errors=True)
            if files:
                _write_tree(self.candidate_files_dir, files)
            write_atomically(self.candidate_path, text.encode("utf-8"))

    def load_candidate(self, text: str, source: str) -> Config:
        """`pribox config load FILE`: the candidate with the files FILE names (read now, so
        editing them later changes nothing until loaded again); raises ConfigError after
        loading when it does not validate."""
        try:
            config = load_text(text, source, self._sections)
        except ConfigError:
            self.set_candidate(text)
            raise
        self.set_candidate(text, self.gather_files(config))
        return config

    def gather_files(self, config: Config) -> dict[str, bytes]:
        """The files a validated configuration names by relative path, read from its base."""
        out = {}
        for name in attached_files(config, self._sections):
            try:
                out[name] = (config.base_dir / name).read_bytes()
            except OSError as exc:
                raise StoreError(f"cannot read {config.base_dir / name}: {exc.strerror or exc}") from None
        return out

    def _candidate_base(self) -> Path:
        """Where the candidate's files are: its own copies, else the running commit's."""
        if self.has_candidate() and self.candidate_files_dir.is_dir():
            return self.candidate_files_dir
        current = self.running()
        return self.files_dir(current.id) if current else self.dir

    def discard_candidate(self) -> None:
        with self._locked():
            self.candidate_path.unlink(missing_ok=True)
            shutil.rmtree(self.candidate_files_dir, ignore_errors=True)

    def validate(self, text: str, source: str | None = None, base_dir: Path | None = None) -> Config:
        """Validate `text` as coming from `source` (its files beside it), or, without a source,
        as the candidate (with the candidate's files)."""
        if source is None and base_dir is None:
            base_dir = self._candidate_base()
        return load_text(text, source or str(self.candidate_path), self._sections, base_dir=base_dir)

    def commit(self, now: float, comment: str = "", *, text: str | None = None, source: str | None = None,
               confirm_within: float | None = None, user: str = "") -> Commit:
        """Commit `text` (default: the candidate).  Raises ConfigError, changing nothing, when
        it does not validate.  With `confirm_within` seconds, the commit rolls back by itself
        unless `confirm()` comes first."""
        if confirm_within is not None and not confirm_within > 0:
            raise StoreError(f"confirm_within must be a positive number of seconds, got {confirm_within!r}")
        with self._locked():
            base_dir = None
            if text is None:
                if not self.has_candidate():
                    raise StoreError("no candidate to commit: load one first (pribox config load FILE)")
                text = self.candidate_text()
                base_dir = self._candidate_base()
            config = self.validate(text, source, base_dir)
            files = self.gather_files(config)
            current = self.running()
            deadline = rollback_to = None
            if confirm_within is not None:
                deadline = now + confirm_within
                # Commits stacked while unconfirmed all fall back to the last confirmed one.
                rollback_to = current.rollback_to if current and current.pending else (current.id if current else None)
            kind = "commit" if current else "bootstrap"
            new = self._append(text, Commit(0, now, comment, kind, user, deadline, rollback_to), files)
            self.candidate_path.unlink(missing_ok=True)
            shutil.rmtree(self.candidate_files_dir, ignore_errors=True)
            return new

    def confirm(self, now: float) -> Commit:
        with self._locked():
            current = self.running()
            if current is None or not current.pending:
                raise StoreError("no commit is waiting for confirmation")
            confirmed = replace(current, confirmed_at=now)
            self._write_meta(confirmed)
            return confirmed

    def rollback(self, commit_id: int, now: float, comment: str = "", *, confirm_within: float | None = None,
                 user: str = "") -> Commit:
        """Make commit `commit_id`'s configuration running again, as a new commit."""
        with self._locked():
            text = self.commit_text(commit_id)
            self.validate(text, str(self._toml(commit_id)), self.files_dir(commit_id))
            current = self.running()
            deadline = rollback_to = None
            if confirm_within is not None:
                deadline = now + confirm_within
                rollback_to = current.rollback_to if current and current.pending else (current.id if current else None)
            new = self._append(text, Commit(0, now, comment or f"rollback to commit {commit_id}", "rollback",
                                            user, deadline, rollback_to), self.commit_files(commit_id))
            return new

    def expire(self, now: float) -> Commit | None:
        """If an unconfirmed commit's deadline has passed, roll back to its target; the new
        commit, or None when nothing was due."""
        with self._locked():
            current = self.running()
            if current is None or not current.pending or now < current.confirm_deadline:
                return None
            target = current.rollback_to
            if target is None or not self._toml(target).exists():
                # First commit ever, or its target pruned: nothing to go back to; keep it.
                self._write_meta(replace(current, confirmed_at=now))
                return None
            text = self._toml(target).read_text(encoding="utf-8")
            comment = f"commit {current.id} not confirmed by its deadline: rolled back to commit {target}"
            return self._append(text, Commit(0, now, comment, "auto-rollback"), self.commit_files(target))

    # -- internals --------------------------------------------------------------------------

    @contextmanager
    def _locked(self):
        try:
            fd = os.open(self.dir / "lock", os.O_RDWR | os.O_CREAT, 0o640)
        except OSError as exc:
            raise StoreError(f"cannot lock state directory {self.dir}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _ids(self) -> list[int]:
        ids = []
        for path in self.history_dir.glob("*.toml"):
            if path.stem.isdigit() and path.with_suffix(".json").exists():
                ids.append(int(path.stem))
        return sorted(ids)

    def _toml(self, commit_id: int) -> Path:
        return self.history_dir / f"{commit_id:08d}.toml"

    def _json(self, commit_id: int) -> Path:
        return self.history_dir / f"{commit_id:08d}.json"

    def _read_meta(self, commit_id: int) -> Commit:
        data = json.loads(self._json(commit_id).read_text(encoding="utf-8"))
        return Commit(**data)

    def _write_meta(self, commit: Commit) -> None:
        write_atomically(self._json(commit.id), json.dumps(asdict(commit), indent=1).encode("utf-8"))

    def _append(self, text: str, commit: Commit, files: dict[str, bytes] | None = None) -> Commit:
        ids = self._ids()
        commit = replace(commit, id=(ids[-1] + 1) if ids else 1)
        # Order matters for crash safety: files, text, then record (which makes the entry
        # count), then running.toml; _repair() drops an entry whose running.toml never landed.
        files_dir = self.history_dir / f"{commit.id:08d}.files"
        shutil.rmtree(files_dir, ignore_errors=True)  # left by a commit cut short
        if files:
            _write_tree(files_dir, files)
        write_atomically(self._toml(commit.id), text.encode("utf-8"))
        self._write_meta(commit)
        write_atomically(self.running_path, text.encode("utf-8"))
        self._prune()
        return commit

    def _prune(self) -> None:
        ids = self._ids()
        current = self._read_meta(ids[-1])
        protected = {ids[-1], current.rollback_to}
        for old in ids[:-self.keep] if len(ids) > self.keep else []:
            if old not in protected:
                self._json(old).unlink(missing_ok=True)
                self._toml(old).unlink(missing_ok=True)
                shutil.rmtree(self.history_dir / f"{old:08d}.files", ignore_errors=True)

    def _repair(self) -> None:
        remove_stale_temporaries(self.dir)
        remove_stale_temporaries(self.history_dir)
        for path in self.history_dir.glob("*.toml"):
            if path.stem.isdigit() and not path.with_suffix(".json").exists():
                path.unlink()  # text written, record never: a commit cut short
        for path in [*self.history_dir.glob("*.files"), *self.history_dir.glob(".*.files-partial"),
                     *self.dir.glob(".*.files-partial")]:
            stem = path.name.split(".")[0]
            if path.name.startswith(".") or not (stem.isdigit() and (self.history_dir / f"{stem}.json").exists()):
                shutil.rmtree(path, ignore_errors=True)
        if not self.candidate_path.exists():
            shutil.rmtree(self.candidate_files_dir, ignore_errors=True)
        running = self.running_text()
        changed = False
        for commit_id in reversed(self._ids()):
            if running is not None and self._toml(commit_id).read_text(encoding="utf-8") == running:
                break
            self._json(commit_id).unlink()
            self._toml(commit_id).unlink()
            shutil.rmtree(self.history_dir / f"{commit_id:08d}.files", ignore_errors=True)
            changed = True
        if changed:
            fsync_directory(self.history_dir)
        if running is not None and not self._ids():
            # A running.toml with no history (put there by hand, or a pre-history install):
            # adopt it as commit 1 so rollback has something to return to.
            write_atomically(self._toml(1), running.encode("utf-8"))
            self._write_meta(Commit(1, os.stat(self.running_path).st_mtime, "adopted existing running.toml", "bootstrap"))


def _write_tree(directory: Path, files: dict[str, bytes]) -> None:
    """Write `files` (relative path -> content) as `directory`, all or nothing: into a partial
    directory first, fsynced, then renamed into place."""
    partial = directory.with_name(f".{directory.name}-partial")
    shutil.rmtree(partial, ignore_errors=True)
    for name, data in files.items():
        target = partial / name
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, data)
    fsync_directory(partial)
    os.replace(partial, directory)
    fsync_directory(directory.parent)


def _read_tree(directory: Path) -> dict[str, bytes]:
    if not directory.is_dir():
        return {}
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


__all__ = ["Commit", "ConfigStore", "ConfigError", "StoreError"]
