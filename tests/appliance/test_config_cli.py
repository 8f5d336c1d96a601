"""`pribox config ...` as an engineer types it."""

import io

from firmware.cli import main
from firmware.config import load_text


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_show_default_then_check_it(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "config", "show-default")
    assert code == 0 and "[[span]]" in out
    assert [s.side for s in load_text(out).span] == ["te", "nt", "nt", "te"]
    path = tmp_path / "box.toml"
    path.write_text(out)
    assert run_cli(capsys, "config", "check", str(path)) == (0, f"{path}: OK\n", "")


def test_check_reports_every_error_and_fails(capsys, tmp_path):
    path = tmp_path / "box.toml"
    path.write_text('[box]\nhostname = 5\n[console]\nbaud = "fast"\n')
    code, out, err = run_cli(capsys, "config", "check", str(path))
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"{path}:2:1: box.hostname: expected a host name (letters, digits, hyphens; dot-separated labels), got 5",
        f'{path}:4:1: console.baud: expected one of 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, '
        f'230400, 460800, 921600, got "fast"',
    ]


def test_commit_confirmed_confirm_history_rollback(capsys, tmp_path):
    state = str(tmp_path / "state")
    _, default, _ = run_cli(capsys, "config", "show-default")
    first = tmp_path / "a.toml"
    first.write_text(default)
    assert run_cli(capsys, "config", "--state-dir", state, "commit", str(first), "-m", "initial")[0] == 0
    second = tmp_path / "b.toml"
    second.write_text(default.replace('hostname = "pribox"', 'hostname = "seoul-1"'))
    assert run_cli(capsys, "config", "--state-dir", state, "load", str(second))[0] == 0
    code, out, _ = run_cli(capsys, "config", "--state-dir", state, "diff")
    assert '+hostname = "seoul-1"' in out
    code, out, _ = run_cli(capsys, "config", "--state-dir", state, "commit", "--confirmed", "5", "-m", "rename")
    assert code == 0 and "rolls back to commit 1 unless confirmed within" in out
    code, out, _ = run_cli(capsys, "config", "--state-dir", state, "history")
    assert "(unconfirmed)" in out.splitlines()[1] and out.splitlines()[1].startswith("*")
    assert run_cli(capsys, "config", "--state-dir", state, "confirm")[1] == "commit 2 confirmed\n"
    assert run_cli(capsys, "config", "--state-dir", state, "rollback", "1")[1] == "commit 3: rollback to commit 1\n"
    code, out, _ = run_cli(capsys, "config", "--state-dir", state, "show")
    assert out == default
    code, _, err = run_cli(capsys, "config", "--state-dir", state, "rollback", "42")
    assert code == 1 and err == "pribox config: no commit 42 in the history (commits: 1..3)\n"
    code, _, err = run_cli(capsys, "config", "--state-dir", state, "commit", "--confirmed", "-1")
    assert code == 1 and "--confirmed takes 0 < MINUTES <= 1440, got -1" in err


def test_hash_password_reads_stdin(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    code, out, _ = run_cli(capsys, "config", "hash-password")
    assert code == 0 and out.startswith("scrypt:16384:8:1:")
    from firmware.config.passwords import verify_password

    assert verify_password("correct horse battery", out.strip())


def test_state_dir_is_accepted_after_the_action_and_help_reaches_the_subcommand(capsys, tmp_path):
    state = str(tmp_path / "state")
    _, default, _ = run_cli(capsys, "config", "show-default")
    path = tmp_path / "a.toml"
    path.write_text(default)
    assert run_cli(capsys, "config", "commit", str(path), "--state-dir", state)[0] == 0
    assert "bootstrap" in run_cli(capsys, "config", "history", "--state-dir", state)[1]
    try:
        main(["run", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    assert "--state-dir DIR" in capsys.readouterr().out


def test_a_stale_pid_file_never_signals_an_unrelated_process(tmp_path):
    import os
    import signal

    from firmware.config.cli import _tell_daemon

    got = []
    previous = signal.signal(signal.SIGHUP, lambda *a: got.append(a))
    try:
        (tmp_path / "pribox.pid").write_text(f"{os.getpid()}\n")  # this test process is no pribox daemon
        _tell_daemon(str(tmp_path))
        (tmp_path / "pribox.pid").write_text("not a pid\n")
        _tell_daemon(str(tmp_path))
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert got == []
