"""`pribox cdr` as a user runs it: the table, one call, CSV, filters, and the files it refuses."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.cli import main
from pbx_cti.cdr import SCHEMA_VERSION, CallRecord, CdrReader, CdrStore, Leg


class WallClock:
    def __init__(self, start: float):
        self.value = start

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def state_dir(tmp_path):
    clock = WallClock(1_796_601_600.0)          # 2026-12-07 00:00:00 UTC
    with CdrStore.in_state_dir(tmp_path, now=clock) as store:
        store.open(CallRecord("a1", called_number="15881234", calling_number="01011112222",
                              redirecting_number="07012345678", legs=(Leg("in", "isdn", "carrier", 1, 3),)))
        store.update("a1", called_mapped="7000", ivr_path=("greeting", "menu"), digits="2",
                     ivr_data={"menu": "이체"}, route_entry="center", route_target="ivr:seed")
        clock.value += 2
        store.update("a1", answer_time=clock.value)
        clock.value += 40
        store.close("a1", cause=16, cleared_by="calling")
        clock.value = 1_796_605_200.0            # 01:00
        store.open(CallRecord("b2", called_number="15889999", calling_number="01033334444"))
        clock.value += 5
        store.close("b2", cause=1, cleared_by="box")
        clock.value = 1_796_608_800.0            # 02:00
        store.open(CallRecord("c3", called_number="15881234", calling_number="01055556666"))
    return tmp_path


def cdr(capsys, *args):
    code = main(["cdr", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_recent_calls_newest_first(state_dir, capsys):
    code, out, err = cdr(capsys, "--state-dir", str(state_dir))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["call_id", "setup", "(UTC)"]
    assert [line.split()[0] for line in lines[1:]] == ["c3", "b2", "a1"]
    a1 = lines[3]
    assert "2026-12-07 00:00:00.000" in a1 and "15881234>7000" in a1 and "ivr:seed" in a1
    assert " 42.0 " in a1 and " 40.0 " in a1 and " 16 " in a1 and a1.endswith("calling")
    assert "(open)" in lines[1]


def test_list_filters(state_dir, capsys):
    ids = lambda out: [line.split()[0] for line in out.splitlines()[1:]]
    where = ["--state-dir", str(state_dir)]
    assert ids(cdr(capsys, "list", *where, "--number", "1588123")[1]) == ["c3", "a1"]
    assert ids(cdr(capsys, "list", *where, "--number", "7000")[1]) == ["a1"]
    assert ids(cdr(capsys, "list", *where, "--cause", "1")[1]) == ["b2"]
    assert ids(cdr(capsys, "list", *where, "--since", "2026-12-07 00:30", "--until", "2026-12-07T01:30Z")[1]) == ["b2"]
    assert ids(cdr(capsys, "list", *where, "--limit", "1")[1]) == ["c3"]
    assert cdr(capsys, "list", *where, "--cause", "34")[1] == "no calls match\n"
    # An age counts back from now: these calls are in the past, the future has none.
    assert ids(cdr(capsys, "list", *where, "--since", "3650d")[1]) == ["c3", "b2", "a1"]
    with pytest.raises(SystemExit):
        main(["cdr", "list", "--since", "yesterday"])
    assert "'yesterday' is not a time" in capsys.readouterr().err


def test_show_prints_every_field_with_the_cause_named(state_dir, capsys):
    code, out, _ = cdr(capsys, "--db", str(state_dir / "cdr.sqlite"), "show", "a1")
    assert code == 0
    fields = {line[:32].strip(): line[33:] for line in out.splitlines()}
    assert fields["cause"] == "16 (Normal call clearing)"
    assert fields["ivr_path"] == "greeting > menu"
    assert fields["redirecting_number"] == "07012345678"
    assert fields["answer_time"] == "2026-12-07T00:00:02.000Z"
    assert fields["billable"] == "40.000"
    assert json.loads(fields["legs"]) == [{"role": "in", "kind": "isdn", "trunk_group": "carrier", "span": 1,
                                           "channel": 3}]
    assert json.loads(fields["ivr_data"]) == {"menu": "이체"}
    code, _, err = cdr(capsys, "--state-dir", str(state_dir), "show", "zz")
    assert code == 1 and "no call 'zz'" in err


def test_export_writes_csv_to_a_file_or_stdout(state_dir, capsys, tmp_path):
    target = tmp_path / "calls.csv"
    code, _, err = cdr(capsys, "export", "--state-dir", str(state_dir), "--csv", str(target))
    assert code == 0 and "3 call(s) written" in err
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert [r["call_id"] for r in rows] == ["a1", "b2", "c3"]              # oldest first
    assert rows[0]["called_mapped"] == "7000" and json.loads(rows[0]["ivr_path"]) == ["greeting", "menu"]
    assert rows[0]["setup_time"] == "2026-12-07T00:00:00.000Z" and rows[0]["duration"] == "42.000"
    assert rows[2]["state"] == "open" and rows[2]["end_time"] == ""
    code, out, _ = cdr(capsys, "--state-dir", str(state_dir), "export", "--cause", "1")
    assert [r["call_id"] for r in csv.DictReader(io.StringIO(out))] == ["b2"]


def test_missing_foreign_newer_and_locked_databases_get_one_line(tmp_path, capsys, state_dir):
    code, _, err = cdr(capsys, "--state-dir", str(tmp_path / "nowhere"))
    assert code == 1 and err == f"pribox cdr: {tmp_path / 'nowhere' / 'cdr.sqlite'}: no CDR database there\n"
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database at all\n" * 50)
    code, _, err = cdr(capsys, "--db", str(junk))
    assert code == 1 and err == f"pribox cdr: {junk}: not a CDR database (not an SQLite file)\n"
    db = state_dir / "cdr.sqlite"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 4}")
    code, _, err = cdr(capsys, "--db", str(db))
    assert code == 1 and err.count("\n") == 1 and f"schema version {SCHEMA_VERSION + 4} is newer" in err
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    conn.execute("BEGIN EXCLUSIVE")
    try:
        code, _, err = cdr(capsys, "--db", str(db))
    finally:
        conn.execute("ROLLBACK")
        conn.close()
    assert code == 1 and err.count("\n") == 1 and "locked by another process" in err


# -- whatever the PBX hands over comes back out, through the database and through CSV ---------

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
records = st.builds(
    CallRecord, call_id=st.uuids().map(str), direction=st.sampled_from(["in", "out", "internal"]),
    called_number=text, calling_number=text, calling_presentation=text, redirecting_mapped=text,
    legs=st.lists(st.builds(Leg, role=st.sampled_from(["in", "out", "ivr"]), trunk_group=text,
                            span=st.none() | st.integers(0, 64), channel=st.none() | st.integers(1, 31)),
                  max_size=3).map(tuple),
    setup_time=st.integers(0, 4_102_444_800_000).map(lambda ms: ms / 1000),
    ivr_path=st.lists(text, max_size=4).map(tuple), digits=st.text("0123456789*#", max_size=10),
    ivr_data=st.dictionaries(text, text | st.integers(-10**9, 10**9), max_size=3), route_target=text)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records)
def test_any_record_round_trips_through_the_database_and_csv(tmp_path_factory, capsys, record):
    state_dir = tmp_path_factory.mktemp("cdr")
    with CdrStore.in_state_dir(state_dir, now=lambda: record.setup_time) as store:
        store.open(record)
    back = CdrReader.in_state_dir(state_dir).call(record.call_id)
    assert back == CallRecord(**{**record.__dict__, "last_seen": record.setup_time})
    code, out, _ = cdr(capsys, "--state-dir", str(state_dir), "export")
    assert code == 0
    (row,) = csv.DictReader(io.StringIO(out))
    assert row["called_number"] == record.called_number and row["digits"] == record.digits
    assert json.loads(row["ivr_path"]) == list(record.ivr_path)
    assert json.loads(row["ivr_data"]) == record.ivr_data


def test_without_a_place_given_the_box_s_records_come_first_then_the_stateless_ones(tmp_path, capsys, monkeypatch):
    import pbx_cti.cdr.cli as cli
    from pbx_cti.cdr import records_path

    box_dir, xdg = tmp_path / "var-lib-pribox", tmp_path / "xdg"
    monkeypatch.setattr(cli, "DEFAULT_STATE_DIR", str(box_dir))
    monkeypatch.setenv("XDG_STATE_HOME", str(xdg))
    code, _, err = cdr(capsys)
    assert code == 1 and f"{box_dir / 'cdr.sqlite'}: no CDR database there" in err
    # A box run without a state directory (pribox run --config FILE, make run's demo) ...
    assert records_path(None) == xdg / "pribox" / "cdr.sqlite"
    with CdrStore(records_path(None)) as store:
        store.open(CallRecord("demo-call", called_number="15881234"))
    assert cdr(capsys)[1].splitlines()[1].startswith("demo-call")
    # ... until the box's own state directory has records: they are the default.
    with CdrStore(records_path(box_dir)) as store:
        store.open(CallRecord("box-call"))
    assert cdr(capsys)[1].splitlines()[1].startswith("box-call")
