"""``hanrig network`` on ``sim://``, as an engineer runs it: permit, scans, backup in zigpy's open
coordinator format (checked with zigpy's own parser), form / reset / restore with confirmation."""

from __future__ import annotations

import json

import pytest
import zigpy.backups

from gateway.cli import main
from hal.sim.config import DEFAULT_BENCH_EUI64, Role


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_backup_is_an_open_coordinator_backup_zigpy_reads_back(tmp_path, capsys) -> None:
    file = tmp_path / "backup.json"
    code, out, err = _run(["network", "backup", str(file), "--radio", "sim://"], capsys)
    assert code == 0, err
    document = json.loads(file.read_text())
    assert document["metadata"]["format"] == "zigpy/open-coordinator-backup"
    assert document["channel"] == 15 and document["pan_id"] == "1a62"
    assert document["coordinator_ieee"] == "000d6f000abc0000"  # the bench coordinator, big-endian hex
    assert document["network_key"]["key"] == b"hanrig-sim-nwk-k".hex()
    parsed = zigpy.backups.NetworkBackup.from_open_coordinator_json(document)
    assert parsed.as_open_coordinator_json() == document  # zigpy's parser round-trips it unchanged
    assert str(parsed.node_info.ieee) == "00:0d:6f:00:0a:bc:00:00"
    assert {str(ieee) for ieee in parsed.network_info.nwk_addresses} == set(DEFAULT_BENCH_EUI64.values())
    assert "5 device(s)" in out


def test_restore_writes_the_backup_and_refuses_files_zigpy_cannot_read(tmp_path, capsys) -> None:
    file = tmp_path / "backup.json"
    assert _run(["network", "backup", str(file), "--radio", "sim://"], capsys)[0] == 0
    document = json.loads(file.read_text())
    document["pan_id"], document["channel"] = "2b2b", 20
    file.write_text(json.dumps(document))
    code, out, err = _run(["network", "restore", str(file), "--radio", "sim://", "--yes", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["network"] == {"channel": 20, "pan_id": "0x2b2b", "pan_id_int": 0x2B2B,
                                          "extended_pan_id": "00:0d:6f:ff:fe:0a:bc:00", "nwk_update_id": 0}
    bad = tmp_path / "bad.json"
    bad.write_text('{"metadata": {}}')
    code, out, err = _run(["network", "restore", str(bad), "--radio", "sim://", "--yes"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "not an open coordinator backup" in err and str(bad) in err


def test_form_and_reset_need_confirmation(capsys) -> None:
    for command in ("form", "reset"):
        code, out, err = _run(["network", command, "--radio", "sim://"], capsys)  # stdin is not a terminal
        assert code == 2 and "--yes" in err
    code, out, err = _run(["network", "form", "--radio", "sim://", "--yes", "--json"], capsys)
    assert code == 0, err
    formed = json.loads(out)["network"]
    assert formed["pan_id_int"] != 0x1A62 and formed["extended_pan_id"] != "00:0d:6f:ff:fe:0a:bc:00"
    assert 11 <= formed["channel"] <= 26
    code, out, err = _run(["network", "reset", "--radio", "sim://", "--yes"], capsys)
    assert code == 0 and "left the network" in out


def test_scans_hear_the_bench(capsys) -> None:
    code, out, err = _run(["network", "energy-scan", "--radio", "sim://", "--json"], capsys)
    assert code == 0, err
    channels = json.loads(out)["channels"]
    assert [row["channel"] for row in channels] == list(range(11, 27))
    assert all(0 <= row["energy"] <= 255 for row in channels)
    code, out, err = _run(["network", "scan", "--radio", "sim://", "--json"], capsys)
    assert code == 0, err
    beacons = json.loads(out)["beacons"]
    # every mains-powered router of the bench answers the beacon request; the sleepy GSME does not
    assert len(beacons) == len(DEFAULT_BENCH_EUI64) - 1
    assert {(b["channel"], b["pan_id"], b["permit_joining"]) for b in beacons} == {(15, "0x1a62", False)}
    code, out, err = _run(["network", "scan", "--radio", "sim://", "--channel", "20"], capsys)
    assert code == 0 and out.startswith("no network heard")


def test_permit_waits_out_the_window_and_takes_install_codes(capsys) -> None:
    code, out, err = _run(["network", "permit", "--radio", "sim://", "--duration", "30", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out) == {"radio": "sim://", "duration_s": 30, "install_codes": [], "joined": [],
                                "not_joined": []}
    assert "waiting for devices to join" in err and "30 s simulated" in err
    ihd = DEFAULT_BENCH_EUI64[Role.IHD]
    # an install code with a good CRC (ZigBee spec example: 83FED3407A939723A5C639B26916D505C3B5)
    code, out, err = _run(["network", "permit", "--radio", "sim://", "--duration", "5", "--json",
                           "--install-code", f"{ihd}=83FED3407A939723A5C639B26916D505C3B5"], capsys)
    assert code == 0, err
    assert json.loads(out)["install_codes"] == [ihd]
    code, out, err = _run(["network", "permit", "--radio", "sim://",
                           "--install-code", f"{ihd}=83FED3407A939723A5C639B26916D505C3B6"], capsys)
    assert code == 2 and "CRC" in err and ihd in err
