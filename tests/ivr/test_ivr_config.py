"""[ivr] in the box's file: `pribox config check` validates the flow files it names, each
error with the flow file's own line."""

import shutil
from pathlib import Path

from firmware.cli import main
from firmware.config import load_text
from firmware.config.loader import default_text
from pbx_cti.ivr.config import default_flow, flow_paths, load_flows

DEFAULT_FLOW = Path(__file__).resolve().parents[2] / "pbx_cti" / "ivr" / "default" / "main.toml"


def check(capsys, path) -> tuple[int, str, str]:
    code = main(["config", "check", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def box(tmp_path, ivr: str) -> Path:
    path = tmp_path / "box.toml"
    path.write_text(default_text() + "\n[ivr]\n" + ivr)
    return path


def test_the_embedded_default_has_no_flows_and_runs_the_packaged_one():
    config = load_text(default_text())
    assert config.ivr.flows == () and config.ivr.prompt_dir == "/var/lib/pribox/prompts"
    assert list(load_flows(config, check_prompts=False)) == ["main"]
    assert default_flow().entry == "greeting"


def test_check_validates_flows_relative_to_the_config_file(capsys, tmp_path, monkeypatch):
    (tmp_path / "flows").mkdir()
    (tmp_path / "prompts").mkdir()
    shutil.copy(DEFAULT_FLOW, tmp_path / "flows" / "main.toml")
    for name in ("greeting", "menu", "no_input", "invalid", "connecting", "all_busy", "goodbye", "all_busy_options",
                 "please_wait", "callback_booked"):
        (tmp_path / "prompts" / f"{name}.wav").write_bytes(b"")
    path = box(tmp_path, 'flows = ["flows/main.toml"]\nprompt_dir = "prompts"\n')
    monkeypatch.chdir(tmp_path)
    assert check(capsys, "box.toml") == (0, "box.toml: OK\n", "")
    config = load_text(path.read_text(), str(path))
    assert flow_paths(config) == {"main": tmp_path / "flows" / "main.toml"}
    assert load_flows(config)["main"].entry == "greeting"

    flow = tmp_path / "flows" / "main.toml"
    flow.write_text(flow.read_text().replace("max_digits = 1", 'max_digits = "x"', 1)
                    .replace('prompts = ["all_busy"]', 'prompts = ["all_busy", "closed"]'))
    code, out, err = check(capsys, "box.toml")
    assert code == 1 and out == ""
    line = next(i for i, t in enumerate(flow.read_text().splitlines(), 1) if t.startswith("max_digits"))
    busy = next(i for i, t in enumerate(flow.read_text().splitlines(), 1) if "closed" in t)
    assert err.splitlines() == [
        f'flows/main.toml:{line}: node "menu": field "max_digits": expected an integer 1..32, got "x"',
        f'flows/main.toml:{busy}: node "all_busy": field "prompts[1]": unknown prompt "closed": no closed.wav, '
        f'.alaw or .ulaw in prompts',
    ]


def test_missing_flow_file_and_duplicate_names_are_errors_of_the_config(capsys, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    shutil.copy(DEFAULT_FLOW, tmp_path / "a" / "main.toml")
    shutil.copy(DEFAULT_FLOW, tmp_path / "b" / "main.toml")
    path = box(tmp_path, 'flows = ["a/main.toml", "b/main.toml", "nowhere.toml"]\nprompt_dir = 7\n')
    code, _, err = check(capsys, path)
    n = len(default_text().splitlines()) + 3
    assert err.splitlines() == [f"{path}:{n + 1}:1: ivr.prompt_dir: expected the prompt directory (on writable "
                                f"storage), got 7"]
    path.write_text(path.read_text().replace("prompt_dir = 7", f'prompt_dir = "{tmp_path}/p"'))
    code, _, err = check(capsys, path)
    assert code == 1
    assert err.splitlines()[:2] == [
        f'{path}:{n}:1: ivr.flows[1]: a second flow named "main" (flows are known by their file name; '
        f'ivr.flows[0] has it already)',
        f"{path}:{n}:1: ivr.flows[2]: no flow file {tmp_path / 'nowhere.toml'}",
    ]
    assert f"{tmp_path}/a/main.toml:" in err.splitlines()[2] and "does not exist" in err.splitlines()[2]


def test_check_shows_a_flows_warnings_and_passes(capsys, tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "lost.toml").write_text('[flow]\nentry = "a"\n[nodes.a]\ntype = "hangup"\n[nodes.b]\ntype = "hangup"\n')
    path = box(tmp_path, f'flows = ["lost.toml"]\nprompt_dir = "{tmp_path}/p"\n')
    code, out, err = check(capsys, path)
    assert (code, out) == (0, f"{path}: OK\n")
    assert err == f'{tmp_path}/lost.toml:5: node "b": warning: unreachable: no path from the entry node leads here\n'
