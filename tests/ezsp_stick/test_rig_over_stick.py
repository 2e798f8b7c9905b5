"""A rig run through bellows: ``hanrig sim stick`` in one process, ``hanrig rig run`` with a rig whose
radio is ``ezsp:/dev/pts/N`` in another; an OTA push with activation to the IHD, a gas read from the
GSME and the ESME's certificate verification (with the network operator check) all pass, and the
results store holds them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from firmware_images import DIRECTORY as SAMPLES
from ota import build_image, load_private_key
from rigs.records import StepOutcome
from rigs.store import open_store

BIN = Path(sys.executable).parent
NETWORK_OPERATOR = "90:b3:d5:1f:30:01:00:02"  # the bench PKI's (certs.testpki.ENTITY_IDS)
NEW_VERSION = 0x00010200

DEVICES = """
[[devices]]
id = "ihd"
role = "IHD"
eui64 = "00:0d:6f:00:0a:bc:00:03"
radio = "{radio}"
{ihd_extra}
[[devices]]
id = "gsme"
role = "GSME"
eui64 = "00:0d:6f:00:0a:bc:00:02"
radio = "{radio}"
{gsme_extra}
[[devices]]
id = "esme"
role = "ESME"
eui64 = "00:0d:6f:00:0a:bc:00:01"
radio = "{radio}"
network_operator = "{operator}"
"""

# the stick's bench: the same three devices, quick in real time (a short OTA query jitter; a sleepy GSME
# that polls twice a second, reads the hub's time once zigpy has interviewed it, and pushes every 5 s)
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
    radio="sim", operator=NETWORK_OPERATOR,
    ihd_extra="[devices.sim]\nquery_jitter_s = 0.2\n",
    gsme_extra="[devices.sim]\npoll_interval_s = 0.5\ngas_push_interval_s = 5.0\ntime_sync_delay_s = 2.0\n")

RUN_RIG = """
[rig]
name = "over-the-stick"

[[radios]]
id = "stick"
url = "ezsp:{path}"
""" + DEVICES.format(radio="stick", operator=NETWORK_OPERATOR, ihd_extra="", gsme_extra="") + """
# on a real radio nothing waits for the devices' interviews before the plan: the join step does
[[plan.steps]]
step = "join"
timeout_s = 60

# the Type 1 devices key themselves with the hub; the NCP does the crypto (bellows' CBKE commands)
[[plan.steps]]
step = "cbke"
timeout_s = 60

[[plan.steps]]
step = "ota"
devices = ["ihd"]
image = "small.ota"
activation = "now"
timeout_s = 120

[[plan.steps]]
step = "gas"
devices = ["gsme"]
timeout_s = 60

[[plan.steps]]
step = "certs"
devices = ["esme"]
roots = ["trust/TEST-ONLY-root.der"]
cert_dir = "trust/ca"
timeout_s = 60

[outputs]
results = "results"
"""


def test_rig_run_through_bellows_on_the_virtual_stick(tmp_path: Path, sim_stick) -> None:
    env = {**os.environ, "HANRIG_DATA_DIR": str(tmp_path / "data")}
    (tmp_path / "stick.toml").write_text(STICK_RIG)
    key = load_private_key((SAMPLES / "TEST-ONLY-supplier-signing-key.pem").read_bytes())
    (tmp_path / "small.ota").write_bytes(build_image(
        bytes(range(256)) * 8, manufacturer_code=0x1234, image_type=0x0101, file_version=NEW_VERSION,
        hw_min=1, hw_max=3, sign_key=key, integrity_code=True))
    stick = sim_stick(env, "--rig", str(tmp_path / "stick.toml"), "--baudrate", "460800",
                      "--trust-dir", str(tmp_path / "trust"))
    try:
        path = stick.first_line
        assert path.startswith("/dev/pts/"), (
            stick.proc.stderr.read() if stick.proc.poll() is not None else path)
        assert (tmp_path / "trust" / "TEST-ONLY-root.der").read_bytes()[:1] == b"\x30"  # DER SEQUENCE
        assert len(list((tmp_path / "trust" / "ca").iterdir())) == 2
        rig = tmp_path / "rig.toml"
        rig.write_text(RUN_RIG.format(path=f"{path}?baudrate=460800"))
        result = subprocess.run([str(BIN / "hanrig"), "rig", "run", str(rig), "--json"], cwd=tmp_path,
                                capture_output=True, text=True, timeout=240, env=env)
    finally:
        stick_err = stick.stop(timeout=20)
    assert result.returncode == 0, result.stdout + result.stderr + stick_err
    summary = json.loads(result.stdout)
    assert summary["outcome"] == "PASS"
    steps = {dut["id"]: {s["name"]: s["outcome"] for s in dut["steps"]} for dut in summary["duts"]}
    assert steps == {"ihd": {"join": "PASS", "ota": "PASS"},
                     "gsme": {"join": "PASS", "cbke": "PASS", "gas": "PASS"},
                     "esme": {"join": "PASS", "cbke": "PASS", "certs": "PASS"}}

    with open_store(tmp_path / "results", create=False) as store:
        run = store.load_run(summary["run_id"])
    duts = {dut.id: dut for dut in run.duts}
    assert duts["ihd"].firmware_after == NEW_VERSION
    stored = {dut_id: {s.name: s for s in dut.steps} for dut_id, dut in duts.items()}
    assert all(s.outcome is StepOutcome.PASS for steps_of in stored.values() for s in steps_of.values())
    certs = {m.name: m.value for m in stored["esme"]["certs"].measurements}
    assert certs["secmp0063"] == "pass" and certs["checks_failed"] == 0 and certs["checks_run"] > 0
    assert stored["gsme"]["gas"].measurements, "the gas read recorded no measurement"
    # GBCS through unmodified bellows: CS02a/CS02c over the GB-HRGP tunnel (the certs step above) and the
    # GPF's GCS13a answer, MAC verified
    gas = {m.name: m.value for m in stored["gsme"]["gas"].measurements}
    assert gas["gcs13a_mac"] == "valid" and gas["gcs13a_clock_status"] in ("0x00", "0x04", "0x02")
    # CCS08 through the stick: the hub's Firmware Transfer Alert for the IHD's OTA outcome, stored as hex
    ota = {m.name: m for m in stored["ihd"]["ota"].measurements}
    assert str(ota["ccs08_outcome"].outcome) == "PASS", ota["ccs08_outcome"]
    assert [a.name for a in stored["ihd"]["ota"].attachments].count("ccs08-transfer-alert.hex") == 1
    for meter in ("gsme", "esme"):
        cbke = {m.name: m.value for m in stored[meter]["cbke"].measurements}
        assert cbke["cbke_established"] is True and cbke["cbke_suite"] == 2 and cbke["cbke_crypto"] == "ncp"
    assert stick.proc.returncode == 0, stick_err
