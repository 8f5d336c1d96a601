"""DAHDI in the firmware image, proven without a card: the image's own kernel under qemu loads
the dahdi-dkms modules, two dahdi_dynamic_loc spans run back to back with dahdi_dummy as timing,
pribox's DAHDI backend drives one (user side) and libpri the other (network side, on its HDLC-FCS
D-channel descriptor as chan_dahdi does): calls answered and listened to, the far span
stopped and started, then a call to 15881234 through the box's PBX and its IVR (greeting,
digit 2, all-busy, cause 16) with tones measured both ways.  The bench itself is
hil_tests/dahdi_loop.py, started in the VM by `systemd.wants=pribox-dahdi-bench.service`; this
test boots the image, waits for the bench's result line on the kernel console and checks it.  Not in the default run:

    make image             # build out/image (root: debootstrap, chroot, dkms)
    make image-dahdi-test  # this test (a few minutes under plain emulation)
"""

import json
import os
import re
import time
from pathlib import Path

from images.qemu_boot import QemuBox

IMAGE_DIR = Path(os.environ.get("PRIBOX_IMAGE_DIR", Path(__file__).resolve().parents[2] / "out" / "image"))
BENCH_TIMEOUT = 900.0
KERNEL_ARGS = ("systemd.wants=pribox-dahdi-bench.service systemd.mask=pribox.service "
               "systemd.mask=pribox-confirm.service")


def test_dahdi_loop_spans_carry_a_call_and_survive_a_far_span_restart():
    facts_file = IMAGE_DIR / "image.json"
    assert facts_file.exists(), f"{facts_file} missing: build the image first (make image)"
    box = QemuBox(IMAGE_DIR, kernel_args=KERNEL_ARGS)
    started = time.monotonic()
    box.start()
    try:
        code = box.wait(BENCH_TIMEOUT)
    finally:
        box.stop()
    seconds = time.monotonic() - started
    log = (IMAGE_DIR / "boot.log").read_text(errors="replace")
    progress = [line.strip() for line in log.splitlines() if "dahdi-loop:" in line]
    print("\n" + "\n".join(progress))
    match = re.search(r"DAHDI-LOOP-RESULT (\{.*\})", log)
    assert match, f"no bench result after {seconds:.0f} s (qemu exit {code}); last console lines:\n" + \
        "\n".join(log.splitlines()[-40:])
    result = json.loads(match.group(1))
    result["vm_seconds"] = round(seconds, 1)
    print(json.dumps({k: v for k, v in result.items() if k not in ("system_conf", "kernel_log_tail")}))
    assert result["ok"], result.get("error")
    for label in ("call1", "call2"):
        assert result[f"{label}_digits"] == "1234#"
        assert -13.0 < result[f"{label}_tone_dbm0"] < -7.0        # sent at -10 dBm0
        assert result[f"{label}_ringback_440_480_share"] > 0.8    # the box's Korean ringback
    # The box's PBX on the span (handler "pbx", the default's trunk group and dial plan):
    # 15881234 -> 7000 -> the IVR flow main, its prompts from the image's prompt directory.
    assert result["ivr_greeting_score"] > 0.9                     # the greeting prompt itself
    assert abs(result["ivr_greeting_dbm0"] - result["ivr_greeting_prompt_dbm0"]) < 1.0
    assert result["ivr_digits"] == "2"
    assert ["success", "2"] in result["ivr_collect"]
    assert result["ivr_summary"]["digits"] == "2" and result["ivr_summary"]["cause"] == 16
    assert result["ivr_all_busy_score"] > 0.9
    assert result["ivr_cause"] == 16
    assert -13.0 < result["ivr_box_tone_dbm0"] < -7.0             # the far end's tone at the box
    assert result["alarms_while_down"] and set(result["alarms_while_down"]) <= {"los", "lof", "rai"}
    raised = {a for change in result["alarm_changes"] for a in change["raised"]}
    cleared = {a for change in result["alarm_changes"] for a in change["cleared"]}
    assert raised and raised <= cleared
    assert result["channels_not_idle"] == {}
    assert "dchan=" in result["system_conf"] and "bchan=" in result["system_conf"]
    # The daemon on the real module: config check, its own dahdi_cfg, a call answered by its
    # ISDN service, the missing card named while the rest runs.
    assert result["config_check"][0] == 0, result["config_check"]
    code, text = result["config_check_twice"]
    assert code != 0 and re.search(r"twice\.toml:\d+:\d+: span\[1\]\.dahdi_span: duplicate", text), text
    services = result["daemon_services"]
    assert services["spans"][0] == "running" and not services["spans"][1]
    assert "span 2: DAHDI span 9 not present" in services["spans"][2] and "span 1: up" in services["spans"][2]
    assert services["isdn"][0] == "running" and "span 1: D-channel up" in services["isdn"][2]
    # The image's own copy of the default flow's prompts (`/usr/share/pribox/prompts`), every one.
    from pbx_cti.ivr.prompts_setup import DEFAULT_PROMPTS
    assert services["pbx"][0] == "running" and services["pbx"][1] and \
        f"{len(DEFAULT_PROMPTS)} prompts" in services["pbx"][2]
    assert result["daemon_ivr_cause"] == 16                       # greeting, 2, all busy
    assert result["daemon_exit"] == 0
