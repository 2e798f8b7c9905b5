"""``hanrig gbcs inspect`` end to end: text and --json, hex and binary input, stdin, exit codes 0/1/2,
one-line errors with the offset, never a traceback."""

from __future__ import annotations

import io
import json

import pytest
from conftest import by_name

from gateway.cli import main


def run(capsys, monkeypatch, *args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return int(info.value.code), out, err


def test_gcs13a_response_json(capsys, monkeypatch, references, keystore_dir):
    ref = by_name(references, "SUCCESS_RELIABLE_GSME_RESPONSE")
    code, out, _ = run(capsys, monkeypatch, "gbcs", "inspect", ref.path, "--keystore", keystore_dir, "--json")
    assert code == 0
    doc = json.loads(out)
    assert (doc["kind"], doc["cra_flag"], doc["message_code"], doc["use_case"]) == ("response", 2, "0x0074",
                                                                                   "GCS13a")
    assert doc["originator"] == "00:db:12:34:56:78:90:a3" and doc["target"] == "90:b3:d5:1f:30:01:00:00"
    assert doc["originator_counter"] == int.from_bytes(ref.data[16:24], "big")
    assert doc["date_time"]["clock_status_flags"] == ["different_clock_base"]
    assert doc["security"] == {"mac": "valid", "signature": "absent", "mac_party": "90:b3:d5:1f:30:01:00:00",
                               "signer": None}
    assert doc["content"]["gcs13a"]["unit"] == "m3"


def test_alert_text_from_stdin_binary_without_keystore(capsys, monkeypatch, references):
    ref = by_name(references, "CS06_11.3_8F66")
    code, out, _ = run(capsys, monkeypatch, "gbcs", "inspect", "-", stdin=ref.data)
    assert code == 0  # no key: nothing could be checked, nothing failed
    assert "alert         0x8f66" in out and "signature no-key" in out


def test_hex_option_with_spaces(capsys, monkeypatch, references, keystore_dir):
    ref = by_name(references, "CCS08")
    spaced = " ".join(f"{b:02X}" for b in ref.data)
    code, out, _ = run(capsys, monkeypatch, "gbcs", "inspect", "--hex", spaced, "--keystore", keystore_dir)
    assert code == 0 and "CCS08" in out and "signature valid" in out


def test_invalid_signature_exits_1(capsys, monkeypatch, references, keystore_dir, tmp_path):
    ref = by_name(references, "CS06_11.3_IMMEDIATE_SUCCESS_RESPONSE")
    tampered = bytearray(ref.data)
    tampered[-1] ^= 0x01
    path = tmp_path / "tampered.bin"
    path.write_bytes(bytes(tampered))
    code, out, err = run(capsys, monkeypatch, "gbcs", "inspect", path, "--keystore", keystore_dir, "--json")
    assert code == 1
    assert json.loads(out)["security"]["signature"] == "invalid"
    assert err.strip().endswith("signature invalid") and len(err.strip().splitlines()) == 1


def test_invalid_mac_exits_1(capsys, monkeypatch, references, keystore_dir):
    ref = by_name(references, "SUCCESS_RELIABLE_GPF_RESPONSE")
    text = ref.data.hex()[:-2] + f"{ref.data[-1] ^ 0x80:02x}"
    code, out, err = run(capsys, monkeypatch, "gbcs", "inspect", "--hex", text, "--keystore", keystore_dir)
    assert code == 1 and "MAC invalid" in out and "MAC invalid" in err


@pytest.mark.parametrize("hex_text, offset", [("", 0), ("AB", 0), ("DF0901", 3), ("DF08", 1)])
def test_not_gbcs_exits_2_with_offset(capsys, monkeypatch, hex_text, offset):
    code, _, err = run(capsys, monkeypatch, "gbcs", "inspect", "--hex", hex_text or " ")
    assert code == 2
    line = err.strip()
    assert len(line.splitlines()) == 1 and f"offset {offset}:" in line and "not a GBCS message" in line


def test_truncated_file_exits_2(capsys, monkeypatch, references, tmp_path):
    ref = by_name(references, "CS02bNOByNO_6.15.1_SUCCESS_COMMAND")
    path = tmp_path / "short.hex"
    path.write_text(ref.data[:700].hex())
    code, _, err = run(capsys, monkeypatch, "gbcs", "inspect", path)
    assert code == 2 and "offset" in err


def test_bad_usage_exits_2(capsys, monkeypatch):
    code, _, _ = run(capsys, monkeypatch, "gbcs", "inspect")
    assert code == 2
    code, _, err = run(capsys, monkeypatch, "gbcs", "inspect", "--hex", "DF0")
    assert code == 2 and "not hex" in err
