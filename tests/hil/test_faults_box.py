"""Box faults with their outcomes asserted, in real time against the product's own stores,
notifier and daemon: kill -9 with every store open, the CDR database locked, the disk full (a
tmpfs the run mounts: the suite runs as root), the notification provider down, and kill -9 of
`pribox run` with calls up from the carrier simulator on the wire."""

from hil_tests.bench import box_faults


def test_kill_9_with_every_store_open_loses_at_most_the_last_second():
    result = box_faults.kill9_with_every_store_open(seconds=1.0)
    assert result.passed, result.observed
    assert result.figures["calls_reported"] > 30 and result.figures["notifications_reported"] > 3
    assert result.figures["recording_needed_repair"] is True
    assert result.figures["cdr_lost_window_s"] <= 1.0 and result.figures["cti_last_event_before_kill_s"] <= 1.0


def test_a_locked_cdr_database_never_blocks_the_call_path_and_loses_nothing():
    result = box_faults.cdr_database_locked(lock_seconds=1.0, calls=200)
    assert result.passed, result.observed
    assert result.figures["closed"] == 200 and result.figures["dropped"] == 0


def test_a_full_disk_is_ridden_out_by_the_cdr_store_and_the_cti_event_log():
    result = box_faults.disk_full()
    assert result.passed, result.observed
    assert result.figures["cti_held_while_full"] > 0 and result.figures["cdr_held_while_full"] > 0


def test_a_provider_outage_delays_notifications_and_delivers_each_once():
    result = box_faults.provider_down(messages=10)
    assert result.passed, result.observed
    assert result.figures["deliveries"] == 10 and result.figures["answered_503"] > 0


def test_kill_9_of_the_daemon_mid_call_restarts_the_channels_toward_the_carrier():
    result = box_faults.daemon_kill9_mid_call(calls=2)
    assert result.passed, result.observed
    assert result.figures["restarts_received"] >= 1
    assert set(result.figures["carrier_causes"]) <= {27, 41, 101}      # which depends on how fast the box is back


def test_a_console_login_a_config_commit_and_an_upload_leave_the_calls_up():
    result = box_faults.console_work_during_calls(calls=6, upload_kib=64)
    assert result.passed, result.observed
    assert result.figures["calls_dropped"] == 0 and result.figures["upload_kib"] == 64
