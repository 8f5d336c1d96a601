"""The RTP legs' figures a call's record keeps (schema 3 `media`): written at close, read back
as written, and an older file migrated with an empty list."""

import sqlite3

from pbx_cti.cdr import CallRecord, CdrReader, CdrStore, SCHEMA_VERSION
from pbx_cti.cdr.schema import MIGRATIONS

FIGURES = {"role": "out", "local": "127.0.0.1:30000", "remote": "127.0.0.1:40000", "codec": "PCMA",
           "ssrc": 0x1234, "packets_sent": 425, "packets_received": 426, "expected": 426, "lost": 0,
           "jitter_ms": 0.638, "remote_lost": 0, "remote_jitter_ms": 0.5, "rtt_ms": 0.2, "mos": 4.39,
           "malformed": 0, "rtcp_sent": 2, "rtcp_received": 2}


def test_media_figures_written_at_close_read_back_as_written(tmp_path):
    path = tmp_path / "cdr.sqlite"
    store = CdrStore(path)
    store.open(CallRecord("c1"))
    store.close("c1", cause=16, cleared_by="called", media=(FIGURES,))
    store.stop()
    record = CdrReader(path).call("c1")
    assert record.media == (FIGURES,) and record.as_dict()["media"] == [FIGURES]
    assert SCHEMA_VERSION == len(MIGRATIONS) == 3


def test_an_older_file_is_migrated_with_no_media(tmp_path):
    path = tmp_path / "cdr.sqlite"
    conn = sqlite3.connect(path)
    for step in MIGRATIONS[:2]:
        conn.executescript(step)
    conn.execute("INSERT INTO calls (call_id, state) VALUES ('old', 'closed')")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    CdrStore(path).stop()
    assert CdrReader(path).call("old").media == ()
