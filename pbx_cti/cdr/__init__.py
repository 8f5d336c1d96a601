"""Call detail records: one per call, in SQLite (WAL) under the state directory."""

from .fields import ivr_fields, number_fields
from .reader import CdrReader
from .record import CAUSE_RESTART, CLEARED_BY, CLOSED, OPEN, CallRecord, Leg, iso_utc
from .schema import (DB_FILE, DEFAULT_STATE_DIR, SCHEMA_VERSION, CdrError, path_in_state_dir, records_path,
                     stateless_records_dir)
from .store import CdrStore, DisabledCdrStore, open_store

__all__ = ["CAUSE_RESTART", "CLEARED_BY", "CLOSED", "DB_FILE", "OPEN", "SCHEMA_VERSION", "CallRecord", "CdrError",
           "CdrReader", "CdrStore", "DisabledCdrStore", "open_store", "Leg", "iso_utc", "path_in_state_dir",
           "records_path", "ivr_fields", "number_fields", "stateless_records_dir", "DEFAULT_STATE_DIR"]
