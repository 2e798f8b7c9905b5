"""The test PKI against every check; trust anchor cells, SECMP0063 and device identity (verify_installed)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import subprocess
from pathlib import Path

import pytest
from certs_testlib import ESME, GSME, NOW, RIGHT_NO, WRONG_NO, with_null_signature_parameters
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs import (
    CellUsage,
    InstalledCell,
    KeyUsage,
    Outcome,
    RemotePartyRole,
    load_certificate,
    verify,
    verify_directory,
    verify_installed,
)
from certs.cells import METER_CELLS
from certs.testpki import BENCH_DEVICES, ENTITY_IDS, TestPki, make_test_pki


def _meter(pki: TestPki, cells, **kwargs):
    args = {"device_eui64": ESME, "expected_network_operator": RIGHT_NO, "roots": [pki.root.der],
            "intermediates": [pki.org_ca.der, pki.device_ca.der], "now": NOW}
    args.update(kwargs)
    return verify_installed(cells, **args)


def test_every_test_pki_certificate_passes_every_check(pki: TestPki) -> None:
    everything = [pki.root.der, pki.org_ca.der, pki.device_ca.der,
                  *(o.der for o in pki.organisations.values())]
    report = verify(everything, roots=[pki.root.der], intermediates=[pki.org_ca.der], now=NOW)
    assert report.passed and not report.warnings, report.render_text()
    assert len(report.find("chain.trusted")) == len(everything)
    for device in pki.devices:
        report = verify([device.digital_signature.der, device.key_agreement.der], roots=[pki.root.der],
                        intermediates=[pki.device_ca.der], device_eui64=device.eui64, now=NOW)
        assert report.passed and not report.warnings, report.render_text()
        assert len(report.find("device.hw_serial")) == 2


def test_test_pki_covers_the_bench_and_the_organisations(pki: TestPki) -> None:
    assert [(d.role, d.eui64) for d in pki.devices] == list(BENCH_DEVICES)
    for label, issued in pki.organisations.items():
        org, usage = label.rsplit("-", 1)
        cert = load_certificate(issued.der, name=label)
        assert cert.entity_id_text == ENTITY_IDS[org]
        assert cert.leaf_key_usage is KeyUsage.from_short(usage)
        assert cert.common_name is not None and cert.common_name.startswith("TEST-ONLY ")
    assert {"supplier-DS", "supplier-KA", "networkOperator-DS", "networkOperator-KA",
            "accessControlBroker-DS", "accessControlBroker-KA", "recovery-DS", "transitionalCoS-DS",
            "wanProvider-DS", "loadController-DS", "wrongNetworkOperator-DS"} <= set(pki.organisations)


def test_test_pki_is_deterministic_per_seed(pki: TestPki) -> None:
    again = make_test_pki()
    assert again.root.der == pki.root.der
    assert again.organisations["networkOperator-DS"].der == pki.organisations["networkOperator-DS"].der
    assert make_test_pki(seed=2).root.der != pki.root.der


def test_supplier_signing_key_is_certified() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pki = make_test_pki(supplier_signing_key=key)
    public = pki.organisations["supplier-DS"].certificate.public_key()
    point = serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    assert public.public_bytes(*point) == key.public_key().public_bytes(*point)
    assert pki.supplier_signing_key is key


def test_test_pki_written_tree_verifies_with_openssl(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI is not installed")
    make_test_pki(tmp_path)
    for chain, leaf in (("ca/TEST-ONLY-org-ca.pem", "orgs/TEST-ONLY-networkOperator-KA.pem"),
                        ("ca/TEST-ONLY-device-ca.pem", "devices/TEST-ONLY-esme-000d6f000abc0001-DS.pem")):
        proc = subprocess.run(["openssl", "verify", "-CAfile", "TEST-ONLY-root.pem", "-untrusted", chain,
                               leaf],
                              cwd=tmp_path, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_meter_with_the_right_network_operator_passes(pki: TestPki) -> None:
    report = _meter(pki, pki.meter_cells())
    assert report.passed and not report.warnings, report.render_text()
    ok = report.find("secmp0063.network_operator")
    assert {c.subject for c in ok} == {"cell networkOperator-DS-management",
                                       "cell networkOperator-KA-management"}
    assert len(report.find("cell.role")) == len(METER_CELLS)


def test_secmp0063_wrong_network_operator_names_both_ids(pki: TestPki) -> None:
    report = _meter(pki, pki.meter_cells(network_operator="wrongNetworkOperator"))
    assert report.codes(Outcome.FAIL) == {"secmp0063.wrong_network_operator"}, report.render_text()
    for check in report.failures:
        assert WRONG_NO in check.message and RIGHT_NO in check.message
    with pytest.raises(Exception) as info:
        report.raise_if_failed()
    assert info.value.exit_code == 1 and WRONG_NO in str(info.value) and "\n" not in str(info.value)


def test_secmp0063_without_an_expected_operator_warns(pki: TestPki) -> None:
    report = _meter(pki, pki.meter_cells(), expected_network_operator=None)
    assert report.passed
    assert report.codes(Outcome.WARN) == {"secmp0063.not_checked"}


def test_secmp0063_missing_network_operator_cell(pki: TestPki) -> None:
    cells = [c for c in pki.meter_cells() if c.remote_party_role is not RemotePartyRole.NETWORK_OPERATOR]
    report = _meter(pki, cells)
    assert report.codes(Outcome.FAIL) == {"secmp0063.no_network_operator_cell"}


def _replace_cell(pki: TestPki, name: str, der: bytes) -> list[InstalledCell]:
    return [dataclasses.replace(c, der=der) if c.name == name else c for c in pki.meter_cells()]


def test_supplier_certificate_in_the_network_operator_cell(pki: TestPki) -> None:
    cells = _replace_cell(pki, "networkOperator-DS-management", pki.organisations["supplier-DS"].der)
    report = _meter(pki, cells)
    assert report.codes(Outcome.FAIL) == {"cell.role_mismatch", "secmp0063.wrong_network_operator"}
    assert "supplier" in report.find("cell.role_mismatch")[0].message


def test_key_agreement_certificate_in_a_signature_cell(pki: TestPki) -> None:
    cells = _replace_cell(pki, "supplier-DS-management", pki.organisations["supplier-KA"].der)
    report = _meter(pki, cells)
    assert report.codes(Outcome.FAIL) == {"cell.key_usage_mismatch"}


def test_device_certificate_in_the_root_cell(pki: TestPki) -> None:
    cells = _replace_cell(pki, "root", pki.devices[0].key_agreement.der)
    report = _meter(pki, cells)
    assert "cell.role_mismatch" in report.codes(Outcome.FAIL)


def test_truncated_cell_is_a_named_failure_not_an_exception(pki: TestPki) -> None:
    der = pki.organisations["networkOperator-KA"].der
    report = _meter(pki, _replace_cell(pki, "networkOperator-KA-management", der[:100]))
    assert report.codes(Outcome.FAIL) == {"parse.truncated"}
    assert report.find("parse.truncated")[0].subject == "cell networkOperator-KA-management"
    # the damaged NO cell exists, so it is not reported as missing; the intact one is still checked
    assert len(report.find("secmp0063.network_operator")) == 1


def test_duplicate_cell(pki: TestPki) -> None:
    cells = [*pki.meter_cells(), pki.meter_cells()[2]]
    assert _meter(pki, cells).codes(Outcome.FAIL) == {"cell.duplicate"}


def test_expired_organisation_certificates(pki: TestPki) -> None:
    report = _meter(pki, pki.meter_cells(), now=dt.datetime(2046, 1, 1, tzinfo=dt.UTC))
    expired = report.find("chain.expired")
    assert expired and report.codes(Outcome.FAIL) == {"chain.expired"}
    assert len(expired) == len(METER_CELLS) - 1  # every organisation certificate; the root lasts to 9999


def test_device_certificates_must_carry_the_device_eui64(pki: TestPki) -> None:
    esme = pki.device(ESME)
    good = _meter(pki, pki.meter_cells(), device_certificates=[esme.digital_signature.der,
                                                               esme.key_agreement.der])
    assert good.passed and len(good.find("device.hw_serial")) == 2
    assert {c.subject for c in good.find("device.hw_serial")} == {"device DS certificate",
                                                                  "device KA certificate"}
    bad = _meter(pki, pki.meter_cells(), device_eui64=GSME, device_certificates=[esme.key_agreement.der])
    assert bad.codes(Outcome.FAIL) == {"device.hw_serial"}
    message = bad.find("device.hw_serial")[0].message
    assert ESME in message and GSME in message


def test_installed_cell_takes_wire_integers(pki: TestPki) -> None:
    cell = InstalledCell(3, 4, 0, pki.organisations["networkOperator-KA"].der)
    assert cell.remote_party_role is RemotePartyRole.NETWORK_OPERATOR
    assert cell.key_usage is KeyUsage.KEY_AGREEMENT and cell.cell_usage is CellUsage.MANAGEMENT
    assert cell.name == "networkOperator-KA-management"
    with pytest.raises(ValueError):
        InstalledCell(3, 9, 0, b"")


def test_null_signature_parameters_are_accepted_with_a_warning(pki: TestPki) -> None:
    der = with_null_signature_parameters(pki.organisations["supplier-DS"].der, pki.org_ca.key)
    cert = load_certificate(der, name="java")
    assert cert.signature_parameters == "null"
    report = verify([der], roots=[pki.root.der], intermediates=[pki.org_ca.der], now=NOW)
    assert report.passed, report.render_text()
    assert report.codes(Outcome.WARN) == {"profile.signature_parameters"}
    assert "chain.trusted" in report.codes(Outcome.PASS)
    tampered = bytearray(der)
    tampered[-3] ^= 0x01
    assert verify([bytes(tampered)], roots=[pki.root.der], intermediates=[pki.org_ca.der],
                  now=NOW).codes(Outcome.FAIL) == {"chain.bad_signature"}


def test_wrong_root_gives_unknown_issuer(pki: TestPki) -> None:
    other = make_test_pki(seed=99, devices=())
    report = _meter(other, pki.meter_cells())
    assert "chain.unknown_issuer" in report.codes(Outcome.FAIL)
    assert "chain.untrusted_root" in report.codes(Outcome.FAIL)  # the installed root is not ours


def test_cert_dir_written_by_the_test_pki_passes(tmp_path: Path, pki: TestPki) -> None:
    make_test_pki(tmp_path)
    esme_dir = tmp_path / "cert-dirs" / "esme-000d6f000abc0001"
    report = verify_directory(esme_dir, roots=[pki.root.der], device_eui64=ESME,
                              expected_network_operator=RIGHT_NO, now=NOW)
    assert report.passed and not report.warnings, report.render_text()
    assert len(report.find("device.hw_serial")) == 2
    trusting_cell = verify_directory(esme_dir, device_eui64=ESME, expected_network_operator=RIGHT_NO, now=NOW)
    assert trusting_cell.codes(Outcome.WARN) == {"chain.root_from_cell"}
    ihd_dir = tmp_path / "cert-dirs" / "ihd-000d6f000abc0003"
    ihd = verify_directory(ihd_dir, roots=[pki.root.der], device_eui64="00:0d:6f:00:0a:bc:00:03", now=NOW)
    assert ihd.passed and not ihd.warnings, ihd.render_text()


def test_root_cell_found_by_role_whatever_key_usage_the_device_reports(pki: TestPki) -> None:
    from certs import trust_for

    cells = [InstalledCell(0, KeyUsage.DIGITAL_SIGNATURE, 0, pki.root.der), *pki.meter_cells()[1:]]
    trust, warnings = trust_for(cells, None, "esme")
    assert [c.der for c in trust] == [pki.root.der]
    assert [w.code for w in warnings] == ["chain.root_from_cell"]
    report = _meter(pki, cells)
    assert report.passed, report.render_text()
