"""Flow files travel with the box's configuration in the store: commit keeps a copy, the
running box reads the copy, and history, rollback, commit-confirmed and the candidate cover
them."""

import shutil
from pathlib import Path

import pytest

from firmware.cli import main
from firmware.config import ConfigError
from firmware.config.loader import default_text
from firmware.config.store import ConfigStore
from pbx_cti.ivr.config import load_flows
from pbx_cti.ivr.prompts_setup import DEFAULT_PROMPTS

DEFAULT_FLOW = Path(__file__).resolve().parents[2] / "pbx_cti" / "ivr" / "default" / "main.toml"


@pytest.fixture
def site(tmp_path):
    """An integrator's working folder: box.toml and flows/main.toml beside it."""
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    for name in DEFAULT_PROMPTS:
        (prompts / f"{name}.wav").write_bytes(b"")
    work = tmp_path / "work"
    (work / "flows").mkdir(parents=True)
    shutil.copy(DEFAULT_FLOW, work / "flows" / "main.toml")
    (work / "box.toml").write_text(default_text() + f'\n[ivr]\nflows = ["flows/main.toml"]\nprompt_dir = "{prompts}"\n')
    return work


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def goodbye_cause(store: ConfigStore) -> int:
    return load_flows(store.running_config())["main"]["goodbye"].cause


def test_commit_keeps_the_flows_and_rollback_brings_them_back(capsys, tmp_path, site):
    state = str(tmp_path / "state")
    assert cli(capsys, "config", "--state-dir", state, "commit", str(site / "box.toml"), "-m", "ivr")[0] == 0
    store = ConfigStore(state)
    assert (Path(state) / "history" / "00000001.files" / "flows" / "main.toml").read_bytes() == DEFAULT_FLOW.read_bytes()
    assert goodbye_cause(store) == 16

    flow = site / "flows" / "main.toml"
    flow.write_text(flow.read_text().rstrip().rsplit("cause = 16", 1)[0] + "cause = 17\n")  # the goodbye node
    assert goodbye_cause(store) == 16  # editing the working copy changes nothing running
    assert cli(capsys, "config", "--state-dir", state, "load", str(site / "box.toml"))[0] == 0
    code, out, _ = cli(capsys, "config", "--state-dir", state, "diff")
    assert "+++ candidate/flows/main.toml" in out and "+cause = 17" in out and "-cause = 16" in out
    flow.unlink()  # the candidate holds its own copy
    assert cli(capsys, "config", "--state-dir", state, "commit", "-m", "goodbye 17")[0] == 0
    assert goodbye_cause(store) == 17
    assert cli(capsys, "config", "--state-dir", state, "rollback", "1")[0] == 0
    assert goodbye_cause(store) == 16
    assert store.commit_config(2).ivr.flows == ("flows/main.toml",)
    assert load_flows(store.commit_config(2))["main"]["goodbye"].cause == 17


def test_a_commit_with_a_bad_flow_is_refused_with_the_flows_line(capsys, tmp_path, site):
    state = str(tmp_path / "state")
    flow = site / "flows" / "main.toml"
    flow.write_text(flow.read_text().replace('next = "service"', 'next = "servce"'))
    code, _, err = cli(capsys, "config", "--state-dir", state, "commit", str(site / "box.toml"))
    line = next(i for i, t in enumerate(flow.read_text().splitlines(), 1) if "servce" in t)
    assert code == 1
    assert err == f'{flow}:{line}: node "menu": field "next": no node "servce" (did you mean "service"?)\n'
    assert ConfigStore(state).history() == []


def test_an_unconfirmed_commit_rolls_its_flows_back_too(tmp_path, site):
    store = ConfigStore(tmp_path / "state")
    store.commit(0.0, text=(site / "box.toml").read_text(), source=str(site / "box.toml"))
    flow = site / "flows" / "main.toml"
    flow.write_text(flow.read_text().rstrip().rsplit("cause = 16", 1)[0] + "cause = 31\n")
    store.commit(10.0, text=(site / "box.toml").read_text(), source=str(site / "box.toml"), confirm_within=60)
    assert goodbye_cause(store) == 31
    assert store.expire(71.0) is not None
    assert goodbye_cause(store) == 16


def test_a_candidate_edited_in_place_keeps_the_running_flows(tmp_path, site):
    store = ConfigStore(tmp_path / "state")
    text = (site / "box.toml").read_text()
    store.commit(0.0, text=text, source=str(site / "box.toml"))
    store.set_candidate(text.replace('hostname = "pribox"', 'hostname = "seoul"'))  # as the console does
    assert store.validate(store.candidate_text()).box.hostname == "seoul"
    store.commit(1.0)
    assert store.running_config().box.hostname == "seoul" and goodbye_cause(store) == 16
    with pytest.raises(ConfigError):
        store.set_candidate(text.replace("flows/main.toml", "flows/other.toml"))
        store.validate(store.candidate_text())


def test_files_of_a_commit_cut_short_are_dropped_at_open(tmp_path, site):
    store = ConfigStore(tmp_path / "state")
    store.commit(0.0, text=(site / "box.toml").read_text(), source=str(site / "box.toml"))
    history = tmp_path / "state" / "history"
    (history / "00000002.files" / "flows").mkdir(parents=True)        # renamed in, record never written
    (history / ".00000003.files-partial").mkdir()                     # cut while being written
    (tmp_path / "state" / "candidate.files").mkdir()                  # a candidate's files without it
    ConfigStore(tmp_path / "state")
    assert sorted(p.name for p in history.iterdir()) == ["00000001.files", "00000001.json", "00000001.toml"]
    assert not (tmp_path / "state" / "candidate.files").exists()
    assert goodbye_cause(store) == 16
