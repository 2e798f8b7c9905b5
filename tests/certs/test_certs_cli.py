"""``hanrig certs`` end to end: exit codes 0/1/2, ``--json`` documents, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from certs_testlib import ESME, RIGHT_NO, SUITE1, WRONG_NO

from gateway.cli import main

ESME_DIR = "cert-dirs/esme-000d6f000abc0001"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return int(info.value.code), out, err


@pytest.fixture
def tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "pki"
    code, _, err = run(["certs", "make-test-pki", str(out)], capsys)
    assert code == 0, err
    return out


def _verify_args(tree: Path, *extra: str) -> list[str]:
    return ["certs", "verify", "--cert-dir", str(tree / ESME_DIR), "--root", str(tree / "TEST-ONLY-root.pem"),
            "--device", ESME, "--at", "2026-06-01T00:00:00Z", *extra]


def test_make_test_pki_writes_a_marked_tree(tree: Path, capsys) -> None:
    files = [p for p in tree.rglob("*") if p.is_file()]
    assert files and all(p.name.startswith("TEST-ONLY-") for p in files)
    assert (tree / "TEST-ONLY-supplier-signing-key.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY")
    assert "NEVER install" in (tree / "TEST-ONLY-README.txt").read_text()
    code, _, err = run(["certs", "make-test-pki", str(tree)], capsys)
    assert code == 2 and "not empty" in err and len(err.strip().splitlines()) == 1
    code, out, _ = run(["certs", "make-test-pki", str(tree), "--force", "--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["entity_ids"]["networkOperator"] == RIGHT_NO
    assert {d["role"] for d in doc["devices"]} == {"ESME", "GSME", "IHD", "PPMID", "HCALCS"}


def test_make_test_pki_uses_the_firmware_signing_key_when_present(tmp_path: Path, capsys) -> None:
    from cryptography.hazmat.primitives import serialization

    from gateway.cli.certs_cmds import DEFAULT_SUPPLIER_KEY

    if not DEFAULT_SUPPLIER_KEY.is_file():
        pytest.skip("firmware_images/TEST-ONLY-supplier-signing-key.pem is not in this tree")
    code, out, _ = run(["certs", "make-test-pki", str(tmp_path / "p"), "--json"], capsys)
    assert code == 0 and json.loads(out)["supplier_signing_key_source"] == str(DEFAULT_SUPPLIER_KEY)
    written = (tmp_path / "p" / "TEST-ONLY-supplier-signing-key.pem").read_bytes()
    ours = serialization.load_pem_private_key(written, None)
    theirs = serialization.load_pem_private_key(DEFAULT_SUPPLIER_KEY.read_bytes(), None)
    assert ours.private_numbers() == theirs.private_numbers()


def test_verify_right_operator_exits_0(tree: Path, capsys) -> None:
    code, out, err = run(_verify_args(tree, "--expect-network-operator", RIGHT_NO, "--json"), capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["outcome"] == "pass" and doc["counts"]["fail"] == 0
    assert doc["expected_network_operator"] == RIGHT_NO and doc["device_eui64"] == ESME
    codes = {c["code"] for c in doc["checks"]}
    assert {"secmp0063.network_operator", "device.hw_serial", "chain.trusted", "cell.role"} <= codes


def test_verify_wrong_operator_exits_1_naming_both_ids(tree: Path, capsys) -> None:
    code, out, err = run(_verify_args(tree, "--expect-network-operator", WRONG_NO, "--json"), capsys)
    assert code == 1
    doc = json.loads(out)
    assert doc["outcome"] == "fail"
    failed = {c["code"] for c in doc["checks"] if c["outcome"] == "fail"}
    assert failed == {"secmp0063.wrong_network_operator"}
    line = err.strip()
    assert len(line.splitlines()) == 1 and "secmp0063.wrong_network_operator" in line
    assert RIGHT_NO in line and WRONG_NO in line


def test_verify_text_output_and_root_from_cell_warning(tree: Path, capsys) -> None:
    args = ["certs", "verify", "--cert-dir", str(tree / ESME_DIR), "--device", ESME,
            "--expect-network-operator", RIGHT_NO, "--at", "2026-06-01"]
    code, out, _ = run(args, capsys)
    assert code == 0
    assert "WARN chain.root_from_cell" in out and out.strip().splitlines()[-1].startswith("PASSED:")


def test_verify_expired_at_a_later_time_exits_1(tree: Path, capsys) -> None:
    args = _verify_args(tree, "--expect-network-operator", RIGHT_NO)
    args[args.index("--at") + 1] = "2050-01-01T00:00:00Z"
    code, _, err = run(args, capsys)
    assert code == 1 and "chain.expired" in err


def test_verify_hw_serial_mismatch_exits_1(tree: Path, capsys) -> None:
    args = _verify_args(tree)
    args[args.index("--device") + 1] = "00:0d:6f:00:0a:bc:00:02"
    code, _, err = run(args, capsys)
    assert code == 1 and "device.hw_serial" in err


@pytest.mark.parametrize("args,needle", [
    (["certs", "verify", "--radio", "sim://"], "--device"),
    (["certs", "verify"], "--cert-dir"),
    (["certs", "verify", "--cert-dir", "/nonexistent-dir"], "does not exist"),
    (["certs", "verify", "--cert-dir", ".", "--expect-network-operator", "90:b3"], "not an EUI-64"),
    (["certs", "verify", "--cert-dir", ".", "--at", "yesterday"], "ISO 8601"),
])
def test_verify_usage_errors_exit_2(args: list[str], needle: str, capsys) -> None:
    code, _, err = run(args, capsys)
    assert code == 2 and needle in err


def test_verify_radio_and_cert_dir_together_is_a_usage_error(tree: Path, capsys) -> None:
    code, _, err = run(["certs", "verify", "--radio", "sim://", "--cert-dir", str(tree / ESME_DIR)], capsys)
    assert code == 2 and "not both" in err


def test_verify_bad_root_file_exits_2(tree: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "root.pem"
    bad.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n")
    code, _, err = run(["certs", "verify", "--cert-dir", str(tree / ESME_DIR), "--root", str(bad)], capsys)
    assert code == 2 and "parse.truncated" in err and str(bad) in err and len(err.strip().splitlines()) == 1


def test_verify_misnamed_file_exits_2(tree: Path, capsys) -> None:
    (tree / ESME_DIR / "TEST-ONLY-networkOperator.der").write_bytes(b"x")
    code, _, err = run(_verify_args(tree), capsys)
    assert code == 2 and "matches no cell" in err


def test_inspect_organisation_json(tree: Path, capsys) -> None:
    code, out, _ = run(["certs", "inspect", str(tree / "orgs/TEST-ONLY-networkOperator-KA.pem"), "--json"],
                       capsys)
    doc = json.loads(out)
    assert code == 0
    assert doc["kind"] == "organisation" and doc["role"] == "networkOperator" and doc["role_int"] == 3
    assert doc["entity_id"] == RIGHT_NO and doc["key_usage"] == "KA" and doc["point_format"] == "0x04"
    assert doc["profile"]["outcome"] == "pass"


def test_inspect_device_text(tree: Path, capsys) -> None:
    code, out, _ = run(["certs", "inspect", str(tree / ESME_DIR / "TEST-ONLY-device-DS.der")], capsys)
    assert code == 0 and "hw_serial" in out and ESME in out and "PASS profile.device.san" in out


def test_inspect_implicit_certificate(tmp_path: Path, capsys) -> None:
    path = tmp_path / "xbee.cert"
    path.write_bytes(SUITE1)
    code, out, _ = run(["certs", "inspect", str(path), "--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["format"] == "zigbee-se-suite1" and doc["subject"] == "00:13:a2:00:40:4c:15:a4"


def test_inspect_garbage_exits_2_in_one_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "junk.der"
    path.write_bytes(b"\x30\x82\x05\x00" + b"\x01" * 40)
    code, out, err = run(["certs", "inspect", str(path)], capsys)
    assert code == 2 and out == "" and "parse.truncated" in err and len(err.strip().splitlines()) == 1


def test_verify_with_explicit_ca_and_no_ca_files(tree: Path, capsys) -> None:
    cert_dir = tree / ESME_DIR
    for path in cert_dir.glob("TEST-ONLY-ca-*"):
        path.unlink()
    code, _, err = run(_verify_args(tree), capsys)
    assert code == 1 and "chain.unknown_issuer" in err
    code, _, err = run(_verify_args(tree, "--ca", str(tree / "ca/TEST-ONLY-org-ca.pem"),
                                    "--ca", str(tree / "ca/TEST-ONLY-device-ca.pem")), capsys)
    assert code == 0, err


def test_cert_dir_wins_over_hanrig_radio_from_the_environment(tree: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HANRIG_RADIO", "sim://")
    code, out, err = run(_verify_args(tree, "--json"), capsys)
    assert code == 0, err
    assert json.loads(out)["source"] == {"cert_dir": str(tree / ESME_DIR)}


# --- Zigbee SE implicit certificates (CBKE, issue 13) ---

# The Certicom test CA and a device certificate with the public key Certicom published for it, as quoted
# in zsmartsystems/com.zsmartsystems.zigbee CerticomCbkeCertificateTest.java (suite 2).
CERTICOM_CA = "0207a445022d9f39f49bdc38380026a27a9e0a1799313ab28c5c1a1c6b605154db1dff6752"
CERTICOM_CERT = ("000b3ad5a312ab75d60d081112131415161718005b7ed230ffffffff0022080000000001080205bb3d1d15"
                 "76197ff9ab6563915019a130437adb0ee7915432dc4a09c97dc595c5856800")
CERTICOM_PUBLIC = "02012f082ee7db1bd3f89f16eabbf5d6221a5dcd077fc0c9d37b329eee8e2cdaee03439de0"


def test_inspect_a_vendor_certificate_in_hex_against_its_ca(tmp_path: Path, capsys) -> None:
    path = tmp_path / "device.hex"
    path.write_text(" ".join(CERTICOM_CERT[i:i + 32] for i in range(0, len(CERTICOM_CERT), 32)) + "\n")
    code, out, err = run(["certs", "inspect", str(path), "--ca-public-key", CERTICOM_CA, "--json"], capsys)
    doc = json.loads(out)
    assert code == 0, err
    assert doc["format"] == "zigbee-se-suite2" and doc["public_key"] == CERTICOM_PUBLIC
    assert doc["subject"] == "00:22:08:00:00:00:00:01" and doc["issuer"] == "11:12:13:14:15:16:17:18"
    assert doc["key_usage_names"] == ["key_agreement"] and doc["no_expiry"] is True
    assert doc["not_before"] == "2018-08-23T15:26:40+00:00" and doc["serial_number"] == "0x0b3ad5a312ab75d6"


def test_make_test_pki_issues_cbke_certificates_for_hub_and_devices(tree: Path, capsys) -> None:
    for suite, length in ((1, 48), (2, 74)):
        folder = tree / "cbke" / f"suite{suite}"
        ca = (folder / "TEST-ONLY-ca-public-key.hex").read_text().strip()
        certs = sorted(folder.glob("*.cert"))
        assert [p.name.split("-")[2] for p in certs] == ["esme", "gsme", "hcalcs", "hub", "ihd", "ppmid"]
        esme = folder / "TEST-ONLY-esme-000d6f000abc0001.cert"
        assert len(esme.read_bytes()) == length
        code, out, err = run(["certs", "inspect", str(esme), "--ca-public-key", ca, "--json"], capsys)
        doc = json.loads(out)
        assert code == 0, err
        assert doc["subject"] == ESME and doc["issuer"] == "54:45:53:54:4f:4e:4c:59"  # 'TESTONLY'
        # The key the certificate binds is the one its private key makes (from outside the CLI).
        from certs.cbke import SUITES

        private = int((folder / "TEST-ONLY-esme-000d6f000abc0001-key.hex").read_text(), 16)
        assert doc["public_key"] == SUITES[suite].curve.public_key(private).hex()
        if suite == 1:
            code, out, _ = run(["certs", "inspect", str(esme)], capsys)
            assert "profile_attribute_data" in out and "public_key " not in out


@pytest.mark.parametrize(("key", "needle"), [
    ("02zz", "not hexadecimal"),
    ("0201", "2 bytes; a CA public key is a compressed point"),
    (CERTICOM_CA, "cannot issue a suite 1 certificate"),
])
def test_inspect_bad_ca_public_key_exits_2(tmp_path: Path, capsys, key: str, needle: str) -> None:
    path = tmp_path / "xbee.cert"
    path.write_bytes(SUITE1)
    code, out, err = run(["certs", "inspect", str(path), "--ca-public-key", key], capsys)
    assert code == 2 and out == "" and needle in err


def test_ca_public_key_on_an_x509_certificate_exits_2(tree: Path, capsys) -> None:
    code, _, err = run(["certs", "inspect", str(tree / "TEST-ONLY-root.pem"), "--ca-public-key", CERTICOM_CA],
                       capsys)
    assert code == 2 and "only for" in err
