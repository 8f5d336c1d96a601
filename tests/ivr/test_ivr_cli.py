"""`pribox ivr check` and `pribox ivr simulate`, as an integrator types them."""

from pathlib import Path

from firmware.cli import main

DEFAULT_FLOW = str(Path(__file__).resolve().parents[2] / "pbx_cti" / "ivr" / "default" / "main.toml")


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_ok_errors_and_warnings(capsys, tmp_path):
    assert cli(capsys, "ivr", "check", DEFAULT_FLOW) == (0, f"{DEFAULT_FLOW}: OK (16 nodes, entry greeting)\n", "")
    bad = tmp_path / "bad.toml"
    bad.write_text('[flow]\nentry = "a"\n[nodes.a]\ntype = "hangup"\ncause = 0\n[nodes.b]\ntype = "hangup"\n')
    code, out, err = cli(capsys, "ivr", "check", str(bad), "--prompt-dir", str(tmp_path))
    assert code == 1 and err == f'{bad}:5: node "a": field "cause": expected an integer 1..127, got 0\n'
    bad.write_text('[flow]\nentry = "a"\n[nodes.a]\ntype = "hangup"\n[nodes.b]\ntype = "hangup"\n')
    code, out, err = cli(capsys, "ivr", "check", str(bad))
    assert code == 0 and "unreachable" in err


def test_simulate_the_seed_flow(capsys):
    code, out, _ = cli(capsys, "ivr", "simulate", DEFAULT_FLOW, "--keys", "1")
    assert code == 0
    assert "IVR sim: service: branch case[0]: menu_choice equals '1' -> deposit" in out
    # Every agent busy and no key at the options: told to call again.
    assert out.endswith("path: greeting > menu > service > deposit > deposit_inquiry > busy_options > all_busy\n"
                        "digits: 1   outcome: hangup (cause 16)\n")
    code, out, _ = cli(capsys, "ivr", "simulate", DEFAULT_FLOW, "--keys", "12")
    assert "(a callback to 0212345678 would be booked with skill group deposit_inquiry)" in out
    assert out.endswith("> busy_options > busy_choice > book_callback > callback_booked\n"
                        "digits: 12   outcome: hangup (cause 16)\n")
    code, out, _ = cli(capsys, "ivr", "simulate", DEFAULT_FLOW, "--keys", "3", "--route", "answer")
    assert out.endswith("path: greeting > menu > service > incident > incident_report\ndigits: 3   outcome: routed\n")
