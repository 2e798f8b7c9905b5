"""``hanrig ota push`` / ``hanrig ota activate`` end to end on ``sim://``: JSON, progress, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ota_server_testlib import IHD_EUI, NEW_VERSION, OLD_VERSION, sample

from gateway.cli import main

ESME_EUI = "00:0d:6f:00:0a:bc:00:01"


def run(capsys, *args: str | Path) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return int(info.value.code), out, err


def error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith(("hanrig:", "Error:"))]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_push_by_role_json(capsys):
    code, out, err = run(capsys, "ota", "push", "--radio", "sim://", "--role", "IHD", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["radio"] == "sim://" and doc["ok"] is True and doc["activation"] == "now"
    (device,) = doc["devices"]
    assert device["eui64"] == IHD_EUI and device["role"] == "IHD" and device["phase"] == "activated"
    assert device["code"] == "success" and device["code_int"] == 0
    assert device["version_before"] == f"0x{OLD_VERSION:08x}" and device["version_before_int"] == OLD_VERSION
    assert device["version_after"] == f"0x{NEW_VERSION:08x}" and device["version_after_int"] == NEW_VERSION
    assert device["bytes_sent"] == device["image_size"] > 0 and device["mean_bps"] > 0
    assert len(device["image_sha256"]) == 64 and device["rejoined"] is True
    # progress bars (not a terminal: one line per quarter) went to stderr, never to stdout
    progress = [line for line in err.splitlines() if IHD_EUI in line and "B/s" in line]
    assert len(progress) == 4 and "100.0%" in progress[-1] and "ETA" in progress[-1]


def test_push_all_text_and_hold(capsys):
    code, out, err = run(capsys, "ota", "push", "--radio", "sim://", "--all", "--activate", "hold",
                         "--no-progress")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert sum("held" in line for line in lines) == 4  # IHD, PPMID, HCALCS, ESME hold their images
    assert sum("up-to-date" in line for line in lines) == 1  # the GSME: no newer image exists
    assert lines[-1] == "activation hold: ok" and err == ""


def test_push_refused_image_exits_1_with_one_line(capsys):
    code, out, err = run(capsys, "ota", "push", "--radio", "sim://", "--device", IHD_EUI, "--image",
                         sample("ppmid"), "--json", "--no-progress")
    assert code == 1
    assert json.loads(out)["devices"][0]["phase"] == "refused"
    assert "is for 0x1234/0x0084, the device is 0x1234/0x0101" in error_line(err)


@pytest.mark.parametrize(("args", "expected"), [
    ((), "exactly one of --device, --role or --all"),
    (("--role", "IHD", "--all"), "exactly one of --device, --role or --all"),
    (("--role", "IHD", "--activate", "tomorrow"), "not now, hold or at:"),
    (("--device", "00:0d:6f"), "is not an EUI-64"),
])
def test_push_usage_errors_exit_2(capsys, args, expected):
    code, _, err = run(capsys, "ota", "push", "--radio", "sim://", *args)
    assert code == 2 and expected in err


def test_push_to_a_device_that_is_not_there_exits_3(capsys):
    code, _, err = run(capsys, "ota", "push", "--radio", "sim://", "--device", "00:0d:6f:00:0a:bc:00:99")
    assert code == 3 and "00:0d:6f:00:0a:bc:00:99" in error_line(err)


def test_activate_with_no_image_held_exits_1(capsys):
    code, out, err = run(capsys, "ota", "activate", "--radio", "sim://", "--device", IHD_EUI, "--hash",
                         "ab" * 32, "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["response"] == "noImageHeld" and doc["response_int"] == 1
    assert doc["running_version"] == f"0x{OLD_VERSION:08x}"
    assert "noImageHeld" in error_line(err)


def test_activate_a_meter_goes_by_gbcs_cs06(capsys):
    # SECMP0024: the ESME is asked by a signed CS06, not by ZCL Upgrade End; it holds nothing, so it says so
    code, out, err = run(capsys, "ota", "activate", "--radio", "sim://", "--device", ESME_EUI, "--hash",
                         "ab" * 32, "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["response"] == "noImageHeld" and doc["response_int"] == 1
    assert doc["reason"].startswith("GBCS CS06 (counter ") and doc["reason"].endswith("no_image_held")
    assert doc["running_version"] == "0x00010000" and doc["held_version"] is None
    assert "noImageHeld" in error_line(err)


def test_activate_bad_hash_exits_2(capsys):
    code, _, err = run(capsys, "ota", "activate", "--radio", "sim://", "--device", IHD_EUI, "--hash", "xyz")
    assert code == 2 and "is not a SHA-256" in error_line(err)


def test_push_negative_passes_when_the_device_refuses_and_fails_with_its_reason(capsys):
    code, out, err = run(capsys, "ota", "push", "--radio", "sim://", "--device", IHD_EUI,
                         "--negative", "hardware-out-of-range")
    assert code == 0, err
    assert "negative hardware-out-of-range: PASS: expected upgrade-end-invalid-image" in out
    # the default bench's IHD holds no Supplier key: a foreign signature is not its check to make
    code, out, err = run(capsys, "ota", "push", "--radio", "sim://", "--device", IHD_EUI,
                         "--negative", "unknown-supplier", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["passed"] is False and doc["reason_code"] == "device-accepted"
    assert "expected upgrade-end-invalid-image (GBCS 11.2.1)" in error_line(err)
    code, _, err = run(capsys, "ota", "push", "--radio", "sim://", "--role", "IHD", "--negative", "truncated")
    assert code == 2 and "--negative takes exactly one --device" in err
