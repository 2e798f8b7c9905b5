"""``hanrig ota ...`` end to end: outputs, --json shapes, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from firmware_images import DIRECTORY as SAMPLES
from gateway.cli import main
from ota import read_image

CERT = SAMPLES / "TEST-ONLY-supplier-signing-cert.pem"
KEY = SAMPLES / "TEST-ONLY-supplier-signing-key.pem"
IHD = SAMPLES / "TEST-ONLY-ihd-1234-0101-00010000.ota"
PPMID = SAMPLES / "TEST-ONLY-ppmid-1234-0084-00010100.ota"


def run(capsys, *args: str | Path) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return int(info.value.code), out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_inspect_json_shape(capsys):
    code, out, _ = run(capsys, "ota", "inspect", IHD, "--json")
    assert code == 0
    doc = json.loads(out)
    h = doc["header"]
    assert doc["layout"] == "zigbee" and doc["header_offset"] == 0
    assert (h["manufacturer_code"], h["manufacturer_code_int"]) == ("0x1234", 0x1234)
    assert (h["image_type"], h["image_type_int"]) == ("0x0101", 0x0101)
    assert (h["file_version"], h["file_version_int"]) == ("0x00010000", 0x10000)
    assert (h["hw_min"], h["hw_max"]) == (1, 3)
    assert h["header_string"].startswith("TEST-ONLY")
    assert [e["tag"] for e in doc["elements"]] == ["0x0000", "0xf100", "0x0003"]
    assert doc["manufacturer_image"]["sha256"] == read_image(IHD.read_bytes()).sha256
    assert doc["signature"]["present"] and doc["signature"]["kind"] == "hanrig-tag-0xf100"
    assert doc["quirks"] == []


def test_inspect_text_names_layout_and_hash(capsys):
    code, out, _ = run(capsys, "ota", "inspect", PPMID)
    assert code == 0
    assert "gbcs layout" in out and read_image(PPMID.read_bytes()).sha256 in out
    assert "supplier signature: gbcs-trailer" in out


def test_truncated_image_exits_1_with_one_line(capsys, tmp_path):
    cut = tmp_path / "cut.ota"
    cut.write_bytes(IHD.read_bytes()[:5000])
    code, out, err = run(capsys, "ota", "inspect", cut, "--json")
    problem = (f"{cut}: offset 52: truncated: stated total image size 24736 but only 5000 bytes "
               "from the header on")
    assert code == 1 and json.loads(out) == {"error": problem, "exit": 1}  # --json: the error as a document
    assert one_error_line(err) == f"hanrig: error: {problem}"


@pytest.mark.parametrize("content,problem", [
    (b"", "offset 0: empty file"),
    (bytes(100), "offset 0: file identifier 0x00000000 is not the OTA magic"),
    (b"\x1e\xf1\xee\x0b\x00\x01\x0c\x00" + bytes(60), "offset 6: header length 12 outside 56..69"),
])
def test_bad_images_exit_1(capsys, tmp_path, content, problem):
    path = tmp_path / "bad.ota"
    path.write_bytes(content)
    for command in ("inspect", "verify"):
        code, _, err = run(capsys, "ota", command, path)
        assert code == 1
        assert problem in one_error_line(err)


def test_unreadable_path_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "ota", "inspect", tmp_path / "missing.ota")
    assert code == 2 and "does not exist" in err and "Traceback" not in err


def test_verify_with_cert_passes_and_wrong_key_fails(capsys, tmp_path):
    code, out, _ = run(capsys, "ota", "verify", PPMID, "--cert", CERT, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["ok"] is True
    assert {c["name"]: c["outcome"] for c in doc["checks"]} == \
        {"size": "pass", "integrity-code": "skip", "supplier-signature": "pass"}
    other = tmp_path / "other.pem"
    other.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    code, out, err = run(capsys, "ota", "verify", PPMID, "--pubkey", other, "--json")
    assert code == 1
    assert json.loads(out)["ok"] is False
    assert "supplier-signature" in one_error_line(err)


def test_verify_bad_key_file_exits_2(capsys, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    code, _, err = run(capsys, "ota", "verify", PPMID, "--cert", junk)
    assert code == 2 and f"{junk}: not an X.509 certificate" in one_error_line(err)
    code, _, err = run(capsys, "ota", "verify", PPMID, "--cert", CERT, "--pubkey", CERT)
    assert code == 2


def test_build_sign_verify_index_end_to_end(capsys, tmp_path):
    payload = tmp_path / "payload.bin"
    payload.write_bytes(b"firmware " * 1000)
    vendor = tmp_path / "vendor.bin"
    vendor.write_bytes(b"vendor data")
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    built = tmp_path / "built.ota"  # not in the shelf: signed.ota has the same identity
    code, out, _ = run(capsys, "ota", "build", payload, "-o", built, "--manufacturer", "0x1234",
                       "--image-type", "0x0101", "--file-version", "0x00020000", "--hw-min", "1",
                       "--hw-max", "3", "--header-string", "TEST-ONLY cli", "--integrity-code",
                       "--tag", f"0xf042={vendor}", "--destination", "000d6f000abc0003", "--json")
    assert code == 0 and json.loads(out)["signed"] is False
    image = read_image(built.read_bytes())
    assert [int(e.tag) for e in image.elements] == [0x0000, 0xF042, 0x0003]
    assert str(image.header.destination_ieee) == "00:0d:6f:00:0a:bc:00:03"

    signed = shelf / "signed.ota"
    code, out, _ = run(capsys, "ota", "sign", built, "--key", KEY, "-o", signed)
    assert code == 0 and "signed" in out
    code, _, _ = run(capsys, "ota", "verify", signed, "--cert", CERT)
    assert code == 0
    code, _, err = run(capsys, "ota", "verify", built, "--cert", CERT)
    assert code == 1 and "no Supplier signature" in err

    gbcs = shelf / "gbcs.ota"
    code, _, _ = run(capsys, "ota", "build", payload, "-o", gbcs, "--manufacturer", "4660", "--image-type",
                     "0x0084", "--file-version", "0x00020000", "--layout", "gbcs", "--sign-key", KEY)
    assert code == 0 and read_image(gbcs.read_bytes()).signature_kind == "gbcs-trailer"

    code, out, _ = run(capsys, "ota", "index", shelf, "--cert", CERT, "--json")
    assert code == 0
    doc = json.loads(out)
    assert Path(doc["index"]) == shelf / "index.json" and (shelf / "index.json").exists()
    assert {e["file"]: e["signature"] for e in doc["images"]} == {"gbcs.ota": "valid", "signed.ota": "valid"}
    assert {e["file"]: e["role"] for e in doc["images"]}["gbcs.ota"] == "PPMID"


def test_index_conflict_exits_1(capsys, tmp_path):
    payload = tmp_path / "p.bin"  # raw payloads (.bin) are not catalogue images
    for name, content in (("a.ota", b"a"), ("b.ota", b"b")):
        payload.write_bytes(content * 100)
        assert run(capsys, "ota", "build", payload, "-o", tmp_path / name, "--manufacturer", "1",
                   "--image-type", "2", "--file-version", "3")[0] == 0
    code, _, err = run(capsys, "ota", "index", tmp_path)
    assert code == 1 and "both claim" in one_error_line(err)


@pytest.mark.parametrize("args,needle", [
    (["--manufacturer", "0x10000"], "outside 0..0xffff"),
    (["--manufacturer", "zz"], "is not a number"),
    (["--hw-min", "1"], "--hw-min and --hw-max go together"),
    (["--header-string", "x" * 40], "at most 32"),
    (["--tag", "0xf001"], "is not TAG=FILE"),
])
def test_build_bad_usage_exits_2(capsys, tmp_path, args, needle):
    payload = tmp_path / "p.bin"
    payload.write_bytes(b"p")
    base = ["ota", "build", payload, "-o", tmp_path / "o.ota", "--manufacturer", "1", "--image-type", "2",
            "--file-version", "3"]
    code, _, err = run(capsys, *base, *args)
    assert code == 2 and needle in err and "Traceback" not in err
    assert not (tmp_path / "o.ota").exists()


def test_console_script_exit_code_for_truncated_image(tmp_path):
    cut = tmp_path / "cut.ota"
    cut.write_bytes(PPMID.read_bytes()[:-1])
    proc = subprocess.run([sys.executable, "-c", "from gateway.cli import main; main()", "ota", "verify",
                           str(cut)], capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 1
    assert one_error_line(proc.stderr).endswith("offset 52: truncated: stated total image size 34942 but "
                                                "only 34941 bytes from the header on")


def test_inspect_forced_layout_and_wrapper_quirks(capsys, tmp_path):
    wrapped = tmp_path / "wrapped.ota"
    wrapped.write_bytes(b"WRAP" + IHD.read_bytes() + b"pad")
    code, out, _ = run(capsys, "ota", "inspect", wrapped, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["header_offset"] == 4 and doc["trailing_bytes"] == 3
    quirks = [(q["code"], q["offset"]) for q in doc["quirks"]]
    assert quirks == [("wrapped", 4), ("trailing-bytes", 4 + 24736)]
    code, out, _ = run(capsys, "ota", "inspect", IHD, "--layout", "gbcs", "--json")
    assert code == 0 and json.loads(out)["layout"] == "gbcs"
