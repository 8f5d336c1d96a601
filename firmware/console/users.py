"""Local console users: scrypt-hashed passwords, lockout, no default password.

Passwords are stored as scrypt(password, per-user random salt) in the form
`scrypt:N:r:p:<salt hex>:<key hex>` — the same form as `password_hash` of a `[[user]]` in the
box's configuration file — so the cost can be raised later without invalidating old entries.
Users come from that configuration (`add_hashed`), or, on a box without one, from a JSON file
written atomically with mode 0600.

No default password: a box with no users asks, on its console, for the admin password before
anyone can log in (whoever holds the serial cable is physically at the box).

Lockout: MAX_FAILURES wrong passwords in a row for one user name lock that name for
LOCKOUT_SECONDS on the one clock.  Unknown names are counted the same way, so the console's
answers do not tell which names exist.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

MAX_FAILURES = 5
LOCKOUT_SECONDS = 60.0
MIN_PASSWORD_LENGTH = 8
USER_NAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
ROLES = ("admin", "operator")
# scrypt cost: n=2**14, r=8 takes ~50 ms and 16 MiB per check on the appliance's CPU.
DEFAULT_COST = {"n": 2 ** 14, "r": 8, "p": 1}

# Logins and lockouts go to remote syslog as MSGID LOGIN (firmware/syslog/msgids.py).
auth_log = logging.getLogger("pribox.auth")


class UserError(ValueError):
    pass


@dataclass
class LoginResult:
    ok: bool
    user: str
    role: str | None = None
    message: str = ""


def hash_password(password: str, salt: bytes, cost: dict) -> str:
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=cost["n"], r=cost["r"],
                         p=cost["p"], maxmem=256 * 1024 * 1024, dklen=32)
    return f"scrypt:{cost['n']}:{cost['r']}:{cost['p']}:{salt.hex()}:{key.hex()}"


def parse_hash(stored: str) -> tuple[dict, bytes, bytes]:
    """(cost, salt, key) of a stored hash; UserError naming what is wrong with it."""
    parts = stored.split(":") if isinstance(stored, str) else []
    if len(parts) != 6 or parts[0] != "scrypt":
        raise UserError('expected "scrypt:N:r:p:<salt hex>:<key hex>"')
    try:
        cost = {"n": int(parts[1]), "r": int(parts[2]), "p": int(parts[3])}
        salt, key = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError:
        raise UserError("scrypt hash with a non-numeric cost or a non-hex salt or key") from None
    n = cost["n"]
    if n < 2 or n & (n - 1) or n > 2 ** 20 or not 1 <= cost["r"] <= 64 or not 1 <= cost["p"] <= 16:
        raise UserError(f"scrypt cost out of range: N={n}, r={cost['r']}, p={cost['p']}")
    if len(salt) < 8 or len(key) < 16:
        raise UserError("scrypt hash with a salt under 8 bytes or a key under 16 bytes")
    return cost, salt, key


def verify_password(password: str, stored: str) -> bool:
    cost, salt, key = parse_hash(stored)
    given = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=cost["n"], r=cost["r"],
                           p=cost["p"], maxmem=256 * 1024 * 1024, dklen=len(key))
    return hmac.compare_digest(key, given)


class UserStore:
    def __init__(self, path: str | Path | None, *, cost: dict | None = None,
                 max_failures: int = MAX_FAILURES, lockout_seconds: float = LOCKOUT_SECONDS):
        """`path=None` keeps users in memory only (users from the configuration, tests)."""
        self.path = Path(path) if path is not None else None
        self.cost = dict(cost or DEFAULT_COST)
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self._users: dict[str, dict] = {}
        self._from_config: set[str] = set()
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, float] = {}
        if self.path is not None and self.path.exists():
            self._load()

    def _load(self) -> None:
        assert self.path is not None
        try:
            data = json.loads(self.path.read_text("utf-8"))
            users = data["users"]
            for name, entry in users.items():
                try:
                    parse_hash(entry["password_hash"])
                except UserError as exc:
                    raise ValueError(f"user {name}: password_hash: {exc}") from None
                if entry.get("role") not in ROLES:
                    raise ValueError(f"user {name}: role {entry.get('role')!r} is not one of "
                                     f"{', '.join(ROLES)}")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UserError(f"{self.path}: not a valid user file ({type(exc).__name__}: {exc})") from None
        self._users = users

    def _save(self) -> None:
        if self.path is None:
            return
        local = {n: e for n, e in self._users.items() if n not in self._from_config}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".users-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"users": local}, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    # ---- administration ---------------------------------------------------------------------
    @property
    def empty(self) -> bool:
        return not self._users

    def names(self) -> list[str]:
        return sorted(self._users)

    def role(self, name: str) -> str | None:
        entry = self._users.get(name)
        return entry["role"] if entry else None

    def add_hashed(self, name: str, password_hash: str, role: str) -> None:
        """A user as the configuration file gives it (already hashed; not written back)."""
        parse_hash(password_hash)
        if role not in ROLES:
            raise UserError(f"role {role!r}: expected one of {', '.join(ROLES)}")
        self._users[name] = {"password_hash": password_hash, "role": role}
        self._from_config.add(name)

    def set_password(self, name: str, password: str, *, role: str | None = None) -> None:
        if not USER_NAME.match(name):
            raise UserError(f"user name {name!r}: use 1-32 lower-case letters, digits, '_', '.' "
                            f"or '-', starting with a letter or '_'")
        if name in self._from_config:
            raise UserError(f"user {name} comes from the configuration file: change its "
                            f"password_hash there (pribox config hash-password)")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise UserError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
        role = role or self.role(name) or "operator"
        if role not in ROLES:
            raise UserError(f"role {role!r}: expected one of {', '.join(ROLES)}")
        self._users[name] = {"password_hash": hash_password(password, secrets.token_bytes(16),
                                                            self.cost), "role": role}
        self._save()

    def delete(self, name: str) -> None:
        if name not in self._users:
            raise UserError(f"no user {name!r}")
        if self.role(name) == "admin" and sum(self.role(n) == "admin" for n in self._users) == 1:
            raise UserError(f"{name!r} is the last admin; add another admin first")
        del self._users[name]
        self._save()

    # ---- login ------------------------------------------------------------------------------
    def locked_for(self, name: str, now: float) -> float:
        return max(0.0, self._locked_until.get(name, 0.0) - now)

    def login(self, name: str, password: str, now: float) -> LoginResult:
        """Check and record a login in one go (for callers with no event loop to spare)."""
        refused = self.refused(name, now)
        if refused is not None:
            return refused
        return self.record_login(name, self.check_password(name, password), now)

    def refused(self, name: str, now: float) -> LoginResult | None:
        """A login refused before any password is checked (the user is locked out), else None."""
        remaining = self.locked_for(name, now)
        if remaining > 0:
            auth_log.warning("login refused: user %s is locked out", name, extra={"user": name})
            return LoginResult(False, name, message=f"% User {name} is locked out for another "
                                                    f"{remaining:.0f} s after repeated failures")
        return None

    def check_password(self, name: str, password: str) -> bool:
        """The slow part of a login (scrypt, tens of ms): changes no state, so it may run in a
        worker thread while the event loop goes on."""
        entry = self._users.get(name)
        if entry is not None:
            return verify_password(password, entry["password_hash"])
        hash_password(password, b"\0" * 16, self.cost)  # same time as a real check
        return False

    def record_login(self, name: str, good: bool, now: float) -> LoginResult:
        """Count a checked login: failures toward the lockout, success clears them."""
        entry = self._users.get(name)
        if good and entry is not None:
            self._failures.pop(name, None)
            self._locked_until.pop(name, None)
            auth_log.info("login: user %s (%s)", name, entry["role"], extra={"user": name, "syslog_severity": 5})
            return LoginResult(True, name, entry["role"])
        failures = self._failures.get(name, 0) + 1
        if failures >= self.max_failures:
            self._failures.pop(name, None)
            self._locked_until[name] = now + self.lockout_seconds
            auth_log.warning("user %s locked out for %.0f s after %d failed logins", name, self.lockout_seconds,
                             self.max_failures, extra={"user": name})
            return LoginResult(False, name, message=f"% Login invalid; {self.max_failures} "
                                                    f"failures: user {name} locked out for "
                                                    f"{self.lockout_seconds:.0f} s")
        self._failures[name] = failures
        auth_log.info("login failed: user %s (%d of %d)", name, failures, self.max_failures,
                      extra={"user": name, "syslog_severity": 5})
        return LoginResult(False, name, message="% Login invalid")
