"""[recording]: which connected calls are recorded, where, and how long they are kept.

    [recording]
    enabled = true
    policy = "queues"                # "all", "queues" (those listed) or "on-demand" (the agent asks)
    queues = ["sales"]
    # directory = "/data/recordings" # default: recordings/ in the state directory (the data partition)
    retention_days = 90              # 0: kept until free space runs short
    min_free_mb = 200                # the oldest are deleted to keep this much free ...
    min_free_percent = 5             # ... and this share of the filesystem
    warn_free_mb = 500               # below this (or warn_free_percent) the service's health warns
    warn_free_percent = 10

A directory on a RAM-backed filesystem (tmpfs) is refused, naming recording.directory."""

from __future__ import annotations

import os

from firmware.config.registry import register_section
from firmware.config.schema import (OPTIONAL, Bool, Checker, Choice, Field, Int, ListOf, Path, Record, Section,
                                    Seconds, Str, Table)

from .mounts import ram_backed_problem

POLICIES = ("all", "queues", "on-demand")


def _check_table(record: Record, path: tuple, checker: Checker) -> None:
    if record.policy == "queues" and not record.queues:
        checker.report(path + ("queues",), 'policy "queues" records the queues listed here: name at least one')
    if record.warn_free_mb < record.min_free_mb:
        checker.report(path + ("warn_free_mb",), f"must be at least min_free_mb ({record.min_free_mb}): "
                                                 "the warning comes before retention starts deleting")
    if record.warn_free_percent < record.min_free_percent:
        checker.report(path + ("warn_free_percent",), f"must be at least min_free_percent ({record.min_free_percent})")
    if record.directory is not None and os.path.isabs(record.directory):
        problem = ram_backed_problem(record.directory, "recording.directory")
        if problem:
            checker.report(path + ("directory",), problem.split(": ", 1)[1])


RECORDING = register_section(Section("recording", Table({
    "enabled": Field(Bool(), False, "record connected calls (callers must be told: a prompt in the IVR)"),
    "policy": Field(Choice(*POLICIES), "all", "which calls: all, the queues listed, or on the agent's demand"),
    "queues": Field(ListOf(Str(min_len=1), unique=True), (), "the queues recorded under policy \"queues\""),
    "directory": Field(Path("a directory on the data partition"), OPTIONAL,
                       "where WAV files go; relative to the state directory; default recordings/ there"),
    "retention_days": Field(Int(0, 36500), 90, "days a recording is kept; 0 keeps it until space runs short"),
    "min_free_mb": Field(Int(0, 10_000_000), 200, "the oldest recordings are deleted to keep this much free"),
    "min_free_percent": Field(Int(0, 90), 5, "... and this share of the filesystem free"),
    "warn_free_mb": Field(Int(0, 10_000_000), 500, "health warns when less than this is free"),
    "warn_free_percent": Field(Int(0, 95), 10, "... or less than this share"),
    "retention_interval": Field(Seconds(min=1, max=86400), 300.0, "seconds between retention passes"),
}, checks=[_check_table]), doc="call recording: policy, directory, retention"))


def _check_queues(config, checker: Checker) -> None:
    section = config.recording
    cti = getattr(config, "cti", None)
    if section is None or not section.enabled or section.policy != "queues" or cti is None:
        return
    known = {q.get("name") for q in cti.queue or ()}
    for index, name in enumerate(section.queues):
        if name not in known:
            checker.report(("recording", "queues", index),
                           f'no [[cti.queue]] named "{name}" (queues: {", ".join(sorted(map(str, known))) or "none"})')


RECORDING.checks.append(_check_queues)
