"""run_faults, as bench/hil.py calls it: every fault of the plan, one FaultResult each, and the
command that prints them with a JSON last line."""

import json

from hil_tests.bench import faults
from hil_tests.bench.fault_result import FaultResult


def test_the_plan_covers_line_box_and_peer_faults_and_the_full_run_holds_longer():
    quick, full = faults.fault_plan(quick=True), faults.fault_plan(quick=False)
    names = {f.__name__ for f, _ in quick}
    assert {"ber_burst", "los", "ais", "slips", "dchannel_down", "restart_storm", "glare_every_channel",
            "kill9_with_every_store_open", "cdr_database_locked", "disk_full", "provider_down",
            "daemon_kill9_mid_call", "console_work_during_calls",
            "agent_device_vanishes", "agent_application_disconnects", "sip_trunk_vanishes"} <= names
    assert len(full) > len(quick)


def test_only_runs_the_faults_named_and_a_fault_that_raises_is_a_failed_result(monkeypatch):
    results = faults.run_faults(quick=True, only="glare")
    assert [r.name for r in results] == ["line: glare on every channel"]
    assert isinstance(results[0], FaultResult) and results[0].passed

    def broken():
        raise RuntimeError("the rig fell over")

    monkeypatch.setattr(faults, "fault_plan", lambda quick=False: [(broken, ())])
    [result] = faults.run_faults()
    assert not result.passed and "RuntimeError: the rig fell over" in result.observed


def test_the_command_prints_each_fault_and_one_json_object_last(capsys):
    assert faults.main(["--quick", "--only", "restart"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("PASS  line: RESTART storm")
    summary = json.loads(lines[-1])
    assert summary["passed"] == 1 and summary["failed"] == 0
    assert summary["faults"][0]["figures"]["acknowledged"] >= 30
