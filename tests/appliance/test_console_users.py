"""Console users: hashes in the configuration file's form, lockout on the one clock."""

import hashlib

import pytest

from firmware.console.users import UserError, UserStore, verify_password

FAST = {"n": 2 ** 10, "r": 8, "p": 1}


def config_style_hash(password: str, salt: bytes) -> str:
    """What `password_hash` of a [[user]] in the box's TOML holds (scrypt, N:r:p, hex)."""
    key = hashlib.scrypt(password.encode(), salt=salt, n=1024, r=8, p=1, dklen=32)
    return f"scrypt:1024:8:1:{salt.hex()}:{key.hex()}"


def test_users_from_the_configuration_log_in():
    store = UserStore(None, cost=FAST)
    store.add_hashed("noc", config_style_hash("from config!", b"0123456789abcdef"), "admin")
    assert store.login("noc", "from config!", 0.0).role == "admin"
    assert not store.login("noc", "wrong", 0.0).ok
    with pytest.raises(UserError, match="user noc comes from the configuration file"):
        store.set_password("noc", "another password")


def test_config_users_are_not_written_to_the_local_file(tmp_path):
    store = UserStore(tmp_path / "u.json", cost=FAST)
    store.add_hashed("noc", config_style_hash("from config!", b"0123456789abcdef"), "admin")
    store.set_password("local", "local password")
    assert UserStore(tmp_path / "u.json").names() == ["local"]


def test_bad_hashes_and_roles_are_named():
    store = UserStore(None, cost=FAST)
    with pytest.raises(UserError, match=r'expected "scrypt:N:r:p:<salt hex>:<key hex>"'):
        store.add_hashed("a", "md5:abc", "admin")
    with pytest.raises(UserError, match="scrypt cost out of range: N=1000"):
        store.add_hashed("a", "scrypt:1000:8:1:00112233445566778899:" + "00" * 32, "admin")
    with pytest.raises(UserError, match="role 'root'"):
        store.add_hashed("a", config_style_hash("x", b"12345678"), "root")
    with pytest.raises(UserError, match="password too short: at least 8"):
        store.set_password("admin", "short")
    with pytest.raises(UserError, match="user name 'Admin'"):
        store.set_password("Admin", "long enough")


def test_lockout_counts_consecutive_failures_and_expires(tmp_path):
    store = UserStore(tmp_path / "u.json", cost=FAST, max_failures=3, lockout_seconds=120)
    store.set_password("admin", "right password", role="admin")
    assert store.login("admin", "bad", 0).message == "% Login invalid"
    assert store.login("admin", "right password", 1).ok      # success resets the count
    for t in range(2, 4):
        store.login("admin", "bad", t)
    result = store.login("admin", "bad", 4)
    assert result.message == "% Login invalid; 3 failures: user admin locked out for 120 s"
    assert not store.login("admin", "right password", 100).ok
    assert store.locked_for("admin", 100) == pytest.approx(24)
    assert store.login("admin", "right password", 124).ok


def test_user_file_round_trip_is_private_and_hashed(tmp_path):
    path = tmp_path / "users.json"
    store = UserStore(path, cost=FAST)
    store.set_password("admin", "right password", role="admin")
    store.set_password("tech", "tech password")
    again = UserStore(path)
    assert again.names() == ["admin", "tech"] and again.role("tech") == "operator"
    assert "right password" not in path.read_text()
    assert path.stat().st_mode & 0o777 == 0o600
    assert verify_password("tech password", again._users["tech"]["password_hash"])
    with pytest.raises(UserError, match="last admin"):
        again.delete("admin")
    again.delete("tech")
    assert UserStore(path).names() == ["admin"]


def test_broken_user_file_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "users.json"
    path.write_text('{"users": {"admin": {"password_hash": "plain", "role": "admin"}}}')
    with pytest.raises(UserError, match=r"not a valid user file \(ValueError: user admin: "
                                        r"password_hash: expected"):
        UserStore(path)
    path.write_text("{not json")
    with pytest.raises(UserError, match="not a valid user file"):
        UserStore(path)
