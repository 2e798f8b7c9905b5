"""The GBCS part of the main job's plan through unmodified bellows on the virtual stick, with the stick's
bench harness (``hanrig sim stick --control PATH``, ``?sim_control=PATH``) giving the rig ``gw.sim`` as
``sim://`` does: ESME images held and activated by an immediate and a future-dated CS06 (8F66), a GSME
image held and activated by CS06 over the tunnel the GSME opens itself, the GSME's GCS13a in each clock
scenario, the ESME's certificates with SECMP0063 and a refused CS02b (its
organisation certificates from the bench PKI the link names), and an alert storm through the GB-HRGP
tunnel judged against the count the simulated ESME itself sent.

The full main job (three more OTA pushes at 20-40 kB, a 90 s storm watch, a 600 s future-dated CS06) would
take many minutes in real time on the stick, so this plan runs the GBCS steps with short timings (CBKE over
the stick is test_rig_over_stick's).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from firmware_images import DIRECTORY as SAMPLES
from ota import build_image, load_private_key
from rigs.records import StepOutcome
from rigs.store import open_store

BIN = Path(sys.executable).parent
ESME = "00:0d:6f:00:0a:bc:00:01"
GSME = "00:0d:6f:00:0a:bc:00:02"

DEVICES = """
[[devices]]
id = "esme"
role = "ESME"
eui64 = "{esme}"
radio = "{radio}"
{esme_extra}
[[devices]]
id = "gsme"
role = "GSME"
eui64 = "{gsme}"
radio = "{radio}"
{gsme_extra}
"""

# the stick's bench: a sleepy GSME that polls twice a second, syncs its clock early and pushes every 2 s
STICK_RIG = """
[rig]
name = "stick-bench"

[[radios]]
id = "sim"
url = "sim://"

[sim]
seed = 1
clock = "real"
""" + DEVICES.format(
    radio="sim", esme=ESME, gsme=GSME, esme_extra="",
    gsme_extra="[devices.sim]\nsleepy = true\npoll_interval_s = 0.5\ngas_push_interval_s = 2.0\n"
               "time_sync_delay_s = 1.0\n")

RUN_RIG = """
[rig]
name = "gbcs-over-the-stick"

[[radios]]
id = "stick"
url = "ezsp:{path}?baudrate=460800&sim_control={control}"
""" + DEVICES.format(radio="stick", esme=ESME, gsme=GSME, esme_extra="", gsme_extra="") + """
[policies]
alerts = {{ window_s = 2, threshold = 3, forward_period_s = 60 }}

[[plan.steps]]
step = "join"
timeout_s = 60

[[plan.steps]]
step = "ota"
devices = ["esme"]
image = "esme-1.ota"
activation = "hold"
timeout_s = 60

[[plan.steps]]
step = "cs06"
devices = ["esme"]
timeout_s = 30

[[plan.steps]]
step = "ota"
devices = ["esme"]
image = "esme-2.ota"
activation = "hold"
timeout_s = 60

[[plan.steps]]
step = "cs06"
devices = ["esme"]
at = 3
timeout_s = 30

[[plan.steps]]
step = "gas"
devices = ["gsme"]
timeout_s = 30
reads = 2  # the first push may come before the GSME's first time sync
interval_s = 3
clock_scenarios = ["reliable_gpf", "unreliable", "reliable_gsme"]

# the GSME speaks GBCS over the tunnel it opens itself: its image held, then activated by CS06
[[plan.steps]]
step = "ota"
devices = ["gsme"]
image = "gsme-1.ota"
activation = "hold"
timeout_s = 60

[[plan.steps]]
step = "cs06"
devices = ["gsme"]
timeout_s = 30

[[plan.steps]]
step = "certs"
devices = ["esme"]
timeout_s = 30

[[plan.steps]]
step = "alerts"
devices = ["esme"]
duration_s = 3
timeout_s = 25

[outputs]
results = "results"
"""


def test_gbcs_plan_through_bellows_with_the_bench_harness(tmp_path: Path, sim_stick) -> None:
    env = {**os.environ, "HANRIG_DATA_DIR": str(tmp_path / "data")}
    (tmp_path / "stick.toml").write_text(STICK_RIG)
    key = load_private_key((SAMPLES / "TEST-ONLY-supplier-signing-key.pem").read_bytes())
    for index, version in enumerate((0x00010100, 0x00010200), start=1):
        (tmp_path / f"esme-{index}.ota").write_bytes(build_image(
            bytes(range(256)) * 6, manufacturer_code=0x1234, image_type=0x0000, file_version=version,
            layout="gbcs", sign_key=key))
    (tmp_path / "gsme-1.ota").write_bytes(build_image(
        bytes(range(256)) * 2, manufacturer_code=0x1234, image_type=0x0001, file_version=0x00010100,
        layout="gbcs", sign_key=key))
    control = tmp_path / "control.sock"
    stick = sim_stick(env, "--rig", str(tmp_path / "stick.toml"), "--baudrate", "460800",
                      "--control", str(control))
    try:
        path = stick.first_line
        assert path.startswith("/dev/pts/"), (
            stick.proc.stderr.read() if stick.proc.poll() is not None else path)
        rig = tmp_path / "rig.toml"
        rig.write_text(RUN_RIG.format(path=path, control=control))
        started = time.monotonic()
        result = subprocess.run([str(BIN / "hanrig"), "rig", "run", str(rig), "--json"], cwd=tmp_path,
                                capture_output=True, text=True, timeout=240, env=env)
        wall = time.monotonic() - started
    finally:
        stick_err = stick.stop(timeout=20)
    assert result.returncode == 0, result.stdout + result.stderr + stick_err
    summary = json.loads(result.stdout)
    steps = {dut["id"]: [(s["name"], s["outcome"]) for s in dut["steps"]] for dut in summary["duts"]}
    assert steps == {"esme": [("join", "PASS"), ("ota", "PASS"), ("cs06", "PASS"),
                              ("ota", "PASS"), ("cs06", "PASS"), ("certs", "PASS"), ("alerts", "PASS")],
                     "gsme": [("join", "PASS"), ("gas", "PASS"), ("ota", "PASS"), ("cs06", "PASS")]}, steps

    with open_store(tmp_path / "results", create=False) as store:
        run = store.load_run(summary["run_id"])
    stored = {dut.id: [(s.name, s) for s in dut.steps] for dut in run.duts}
    assert all(s.outcome is StepOutcome.PASS for steps_of in stored.values() for _, s in steps_of)
    print(f"GBCS plan over the stick: {wall:.1f} s wall;",
          {dut: [(n, round(s.duration, 1)) for n, s in steps_of] for dut, steps_of in stored.items()})

    def measured(dut: str, name: str, nth: int = 0) -> dict:
        step = [s for n, s in stored[dut] if n == name][nth]
        return {m.name: m.value for m in step.measurements}

    # CS06 immediate, then future-dated with the meter's 8F66 (success) alert
    assert measured("esme", "cs06", 0)["cs06_outcome"] == "success"
    future = measured("esme", "cs06", 1)
    assert future["cs06_outcome"] == "success" and future["cs06_alert_code"] == 0x8F66
    assert measured("gsme", "cs06")["cs06_outcome"] == "success"
    assert {d.id: d.firmware_after for d in run.duts}["gsme"] == 0x00010100
    # SECMP0015: each GSME clock scenario set through the harness, the GCS13a status as the RTDS encodes it
    gas = measured("gsme", "gas")
    assert (gas["gcs13a_clock_status_reliable_gpf"], gas["gcs13a_clock_status_unreliable"],
            gas["gcs13a_clock_status_reliable_gsme"]) == ("0x00", "0x02", "0x04")
    # SECMP0063 with the bench PKI the link names, and the CS02b for the wrong operator refused
    certs = measured("esme", "certs")
    assert certs["secmp0063"] == "pass" and certs["cs02b_wrong_operator_refused"] is True
    # SECMP0062: the storm the harness started, judged against what the simulated ESME says it sent
    alerts = measured("esme", "alerts")
    assert alerts["sent_by_device"] > alerts["alerts_forwarded"] > 0
    assert alerts["unaccounted"] == 0 and alerts["throttled"] is True
    assert alerts["throttling_metadata"] is True
    # the harness's frame trace and capture were attached per step, as on sim://
    certs_step = next(s for n, s in stored["esme"] if n == "certs")
    assert "capture.pcapng" in [a.name for a in certs_step.attachments]
    assert stick.proc.returncode == 0, stick_err


def test_a_control_socket_that_is_not_there_is_named_before_the_radio_opens(tmp_path: Path) -> None:
    env = {**os.environ, "HANRIG_DATA_DIR": str(tmp_path / "data")}
    missing = tmp_path / "nope.sock"
    result = subprocess.run([str(BIN / "hanrig"), "radio", "info", "--radio",
                             f"ezsp:/dev/null?sim_control={missing}"], capture_output=True, text=True,
                            timeout=60, env=env)
    assert result.returncode == 3, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"hanrig: error: radio ezsp:/dev/null?sim_control={missing}: sim_control {missing}: hello: "
        "No such file or directory"]
    result = subprocess.run([str(BIN / "hanrig"), "radio", "info", "--radio", "ezsp:/dev/null?sim_control="],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2 and "sim_control= needs" in result.stderr
