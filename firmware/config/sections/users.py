"""[[user]]: local users of the console; only scrypt hashes, never passwords."""

from __future__ import annotations

from ..passwords import parse_hash
from ..registry import register_section
from ..schema import Field, Int, Section, Str, Table, TableList


def _hash_problem(stored: str) -> str | None:
    try:
        parse_hash(stored)
    except ValueError as exc:
        return str(exc)
    return None


USER = Table({
    "name": Field(Str(r"[a-z_][a-z0-9_.-]{0,31}", "a user name (lower-case letter or _, then up to 31 of a-z 0-9 _ . -)")),
    "password_hash": Field(Str(what="a scrypt hash", check=_hash_problem)),
    "privilege": Field(Int(1, 15), 1, "15 may configure; 1 may only look"),
})

USERS = register_section(Section("user", TableList(USER, unique=("name",), noun="user"), doc="local users"))


def console_role(user) -> str:
    """The console's two roles: privilege 15 may configure ("admin"), below only looks."""
    return "admin" if user.privilege >= 15 else "operator"
