"""``hanrig network`` through unmodified bellows on the virtual EZSP stick: the stick keeps its network
between commands, so a backup, a new network and the restore of that backup can be checked end to end;
then permit and reset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import zigpy.backups

BIN = Path(sys.executable).parent
RIG = """
[rig]
name = "network-bench"

[sim]
air_model = false  # scans take no air time: form's energy scan of 16 channels is instant

[[radios]]
id = "sim"
url = "sim://"
channel = 20
pan_id = "0x2b2b"

[[devices]]
id = "ihd"
role = "IHD"
eui64 = "00:0d:6f:00:0a:bc:00:03"
radio = "sim"

[[devices]]
id = "gsme"
role = "GSME"
eui64 = "00:0d:6f:00:0a:bc:00:02"
radio = "sim"
"""


def _hanrig(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "hanrig"), *args], capture_output=True, text=True, timeout=120, env=env)


def test_backup_form_restore_and_scans_through_bellows(tmp_path: Path, sim_stick) -> None:
    env = {**os.environ, "HANRIG_DATA_DIR": str(tmp_path)}
    rig = tmp_path / "rig.toml"
    rig.write_text(RIG)
    # 460800 baud: bellows reads all 256 child-table slots one command at a time on every backup
    stick = sim_stick(env, "--rig", str(rig), "--baudrate", "460800")
    try:
        radio = f"ezsp:{stick.first_line}?baudrate=460800"
        backup = tmp_path / "backup.json"
        done = _hanrig(env, "network", "backup", str(backup), "--radio", radio)
        assert done.returncode == 0, done.stderr
        document = json.loads(backup.read_text())
        assert document["channel"] == 20 and document["pan_id"] == "2b2b"
        assert document["metadata"]["source"].startswith("bellows@")
        parsed = zigpy.backups.NetworkBackup.from_open_coordinator_json(document)
        assert parsed.as_open_coordinator_json() == document
        # the stick's child table (getChildData) holds the sleepy GSME, as an NCP's does
        children = [d["ieee_address"] for d in document["devices"] if d["is_child"]]
        assert children == ["000d6f000abc0002"]

        done = _hanrig(env, "network", "scan", "--radio", radio, "--channel", "20", "--json")
        assert done.returncode == 0, done.stderr
        [beacon] = json.loads(done.stdout)["beacons"]  # the IHD, a router, answers; the sleepy GSME does not
        assert beacon["pan_id"] == "0x2b2b" and beacon["channel"] == 20

        # (form runs bellows' energy scan through the stick to pick its channel)
        done = _hanrig(env, "network", "form", "--radio", radio, "--yes", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["network"]["pan_id"] != "0x2b2b"

        done = _hanrig(env, "network", "restore", str(backup), "--radio", radio, "--yes", "--json")
        assert done.returncode == 0, done.stderr
        restored = json.loads(done.stdout)["network"]  # read back from the NCP after the restore
        assert (restored["channel"], restored["pan_id"]) == (20, "0x2b2b")
        assert restored["extended_pan_id"] == str(parsed.network_info.extended_pan_id).lower()

        done = _hanrig(env, "network", "permit", "--radio", radio, "--duration", "1", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["duration_s"] == 1 and "waiting for devices to join" in done.stderr
        done = _hanrig(env, "network", "reset", "--radio", radio, "--yes")
        assert done.returncode == 0 and "left the network" in done.stdout, done.stderr
    finally:
        stick.stop()
