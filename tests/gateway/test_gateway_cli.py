"""`pribox numbers test`: the rule tried and matched, each number's result, and one clear line
with exit status 2 for bad input; the configuration from --config, the state directory's running
one, or the embedded default."""

import subprocess
import sys
import time
from pathlib import Path

from firmware.cli import main
from firmware.config.loader import default_text
from firmware.config.store import ConfigStore

ROOT = Path(__file__).resolve().parents[2]


def numbers(capsys, *argv):
    status = main(["numbers", "test", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_the_seed_number_through_the_embedded_default(capsys, tmp_path):
    status, out, err = numbers(capsys, "15881234", "--state-dir", str(tmp_path / "empty"))
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == ("Trunk group carrier (span 1, hunting descending), direction in: "
                        "translation profile carrier-in  [embedded default]")
    assert "Called number 15881234 (type unknown, plan isdn)" in lines
    assert "    rule 1  match /^15881234$/ -> replace /7000/, set type unknown" in lines
    assert any(line.strip().startswith("translation_rule[0].rule[0] (line ") and line.endswith("MATCHED")
               for line in lines)
    assert lines[-1] == "  result 7000 (type unknown, plan isdn)"
    assert not (tmp_path / "empty").exists()          # reading never creates a state directory


def test_calling_and_redirecting_numbers_with_type_and_presentation(capsys, tmp_path):
    status, out, _ = numbers(capsys, "15881234", "--calling", "821012345678", "--calling-ton", "international",
                             "--redirecting", "+827012345678", "--state-dir", str(tmp_path))
    assert status == 0
    assert "Calling number 821012345678 (type international, plan isdn, presentation allowed)" in out
    assert "  result 01012345678 (type unknown, plan isdn, presentation allowed)" in out
    assert "  result 07012345678 (type unknown, plan isdn, presentation allowed)" in out
    status, out, _ = numbers(capsys, "15881234", "--calling", "01012345678", "--presentation", "restricted",
                             "--state-dir", str(tmp_path))
    assert "  presentation restricted: delivered as anonymous" in out
    assert "  result anonymous (type unknown, plan unknown, presentation restricted)" in out


def test_rules_tried_before_the_match_are_shown_with_why_not(capsys, tmp_path):
    config = tmp_path / "box.toml"
    config.write_text(default_text().replace(
        "[[translation_rule.rule]]\nmatch = '/^15881234$/'",
        "[[translation_rule.rule]]\nmatch = '/^060/'\nreject = true\n\n"
        "[[translation_rule.rule]]\nmatch_type = \"national\"\nprefix = \"0\"\n\n"
        "[[translation_rule.rule]]\nmatch = '/^15881234$/'"))
    status, out, _ = numbers(capsys, "15881234", "--config", str(config))
    assert status == 0
    assert "no match: 15881234 does not match /^060/" in out
    assert "no match: type is unknown, not national" in out
    assert out.rstrip().endswith("result 7000 (type unknown, plan isdn)")
    status, out, _ = numbers(capsys, "0601234", "--config", str(config))
    assert status == 0
    assert out.splitlines()[-1] == ("Call rejected by translation_rule[0].rule[0] of rule set carrier-called: "
                                    "cause 21 (Call rejected)")
    status, out, _ = numbers(capsys, "212345678", "--ton", "national", "--config", str(config))
    assert out.rstrip().endswith("result 0212345678 (type national, plan isdn)")


def test_the_running_configuration_of_the_state_directory_wins_over_the_default(capsys, tmp_path):
    store = ConfigStore(tmp_path)
    store.commit(time.time(), "route point 7100", text=default_text().replace("'/7000/'", "'/7100/'"))
    status, out, _ = numbers(capsys, "15881234", "--state-dir", str(tmp_path))
    assert status == 0
    assert f"[{tmp_path / 'running.toml'}]" in out.splitlines()[0]
    assert out.rstrip().endswith("result 7100 (type unknown, plan isdn)")
    # --config wins over both.
    other = tmp_path / "other.toml"
    other.write_text(default_text())
    status, out, _ = numbers(capsys, "15881234", "--state-dir", str(tmp_path), "--config", str(other))
    assert out.rstrip().endswith("result 7000 (type unknown, plan isdn)")


def test_bad_input_gets_one_line_and_status_2(capsys, tmp_path):
    state = ["--state-dir", str(tmp_path)]
    assert numbers(capsys, "1588abcd", *state) == (
        2, "", "pribox numbers: called number '1588abcd' has the letter 'a' at position 5; a number is digits, * and #\n")
    assert numbers(capsys, "15881234", "--calling", "01x", *state)[0] == 2
    assert numbers(capsys, "15881234", "--trunk", "nope", *state) == (
        2, "", 'pribox numbers: no trunk group "nope" (trunk groups: carrier, center)\n')
    config = tmp_path / "in-only.toml"
    config.write_text(default_text().replace('direction = "both"', 'direction = "in"'))
    assert numbers(capsys, "15881234", "--direction", "out", "--trunk", "carrier", "--config", str(config)) == (
        2, "", 'pribox numbers: trunk group "carrier" carries incoming calls only (direction = "in")\n')


def test_a_configuration_that_does_not_validate_is_listed_with_status_1(capsys, tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(default_text().replace("'/^15881234$/'", "'/^1588(/'"))
    status, out, err = numbers(capsys, "15881234", "--config", str(config))
    assert status == 1 and out == ""
    assert f"{config}:" in err and "translation_rule[0].rule[0].match: regular expression" in err


def test_the_installed_command_line_exits_2_on_a_number_with_letters(tmp_path):
    done = subprocess.run([sys.executable, "-m", "firmware.cli", "numbers", "test", "15881234x",
                           "--state-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "pribox numbers: called number '15881234x' has the letter 'x' at position 9; a number is digits, * and #"]
    done = subprocess.run([sys.executable, "-m", "firmware.cli", "numbers", "test", "15881234",
                           "--state-dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "result 7000" in done.stdout


def test_a_direction_without_a_profile_passes_numbers_unchanged(capsys, tmp_path):
    status, out, _ = numbers(capsys, "01012345678", "--direction", "out", "--trunk", "carrier", "--calling", "7000",
                             "--state-dir", str(tmp_path))
    assert status == 0
    assert out.splitlines()[0].startswith("Trunk group carrier (span 1, hunting descending), direction out: "
                                          "no translation profile, numbers pass unchanged")
    assert "  result 01012345678 (type unknown, plan isdn)" in out
    assert "  result 7000 (type unknown, plan isdn, presentation allowed)" in out
