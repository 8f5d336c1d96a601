"""Password hashes for local users: scrypt (hashlib) with a per-user salt.

Stored form: `scrypt:N:r:p:<salt hex>:<key hex>`, so the cost can be raised later without
invalidating existing hashes (each hash carries its own parameters)."""

from __future__ import annotations

import hashlib
import hmac
import os

DEFAULT_N, DEFAULT_R, DEFAULT_P = 2**14, 8, 1
_KEY_LEN = 32


def hash_password(password: str, *, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P,
                  salt: bytes | None = None) -> str:
    salt = os.urandom(16) if salt is None else salt
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_KEY_LEN,
                         maxmem=256 * 1024 * 1024)
    return f"scrypt:{n}:{r}:{p}:{salt.hex()}:{key.hex()}"


def parse_hash(stored: str) -> tuple[int, int, int, bytes, bytes]:
    """(n, r, p, salt, key); ValueError naming what is wrong with the stored form."""
    parts = stored.split(":")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError('expected "scrypt:N:r:p:<salt hex>:<key hex>" (make one with `pribox config hash-password`)')
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
    except ValueError:
        raise ValueError("scrypt hash has a non-numeric cost or non-hex salt/key") from None
    if n < 2 or n & (n - 1) or n > 2**20 or not 1 <= r <= 64 or not 1 <= p <= 16:
        raise ValueError(f"scrypt cost out of range: N={n} (a power of two up to 2^20), r={r} (1..64), p={p} (1..16)")
    if len(salt) < 8 or len(key) < 16:
        raise ValueError("scrypt hash has a salt shorter than 8 bytes or a key shorter than 16 bytes")
    return n, r, p, salt, key


def verify_password(password: str, stored: str) -> bool:
    n, r, p, salt, key = parse_hash(stored)
    candidate = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(key),
                               maxmem=256 * 1024 * 1024)
    return hmac.compare_digest(candidate, key)
