"""Undecodable input: each kind gets its own ``parse.*`` code and one line, never a traceback."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from certs import (
    CertificateInputError,
    MalformedCertificate,
    RemotePartyRole,
    load_certificate,
    verify_directory,
)
from certs.cells import ROOT_CELL, CellId, CellUsage, FileRole, classify_file_name
from certs.model import KeyUsage
from certs.testpki import TestPki


def _pem(der: bytes) -> bytes:
    body = base64.encodebytes(der)
    return b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"


@pytest.mark.parametrize("make,code", [
    (lambda der: b"", "parse.empty"),
    (lambda der: b"hello, not a certificate", "parse.der"),
    (lambda der: der[:200], "parse.truncated"),
    (lambda der: der[:1], "parse.truncated"),
    (lambda der: der + b"\x00\x00", "parse.trailing_data"),
    (lambda der: der[:4] + bytes(len(der) - 4), "parse.der"),
    (lambda der: b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "parse.pem"),
    (lambda der: _pem(der)[:-30], "parse.truncated"),
    (lambda der: _pem(der).replace(b"M", b"!", 1), "parse.pem"),
    (lambda der: _pem(der) + _pem(der), "parse.pem"),
    (lambda der: _pem(der[:300]), "parse.truncated"),
], ids=["empty", "garbage", "truncated", "one-byte", "trailing", "zeroed", "pem-no-cert", "pem-no-end",
        "pem-bad-base64", "pem-two-certs", "pem-truncated-der"])
def test_malformed_input_has_its_own_code(pki: TestPki, make, code: str) -> None:
    with pytest.raises(MalformedCertificate) as info:
        load_certificate(make(pki.organisations["supplier-DS"].der), name="x.pem")
    error = info.value
    assert error.check == code and error.subject == "x.pem"
    assert error.exit_code == 2
    assert "\n" not in str(error) and str(error).startswith(f"x.pem: {code}: ")


def test_pem_and_der_give_the_same_certificate(pki: TestPki) -> None:
    der = pki.organisations["supplier-DS"].der
    assert load_certificate(_pem(der), name="a").der == load_certificate(der, name="b").der == der
    with_text = b"Certificate:\n    Data: ...\n" + _pem(der).replace(b"\n", b"\r\n")
    assert load_certificate(with_text, name="c").der == der


@pytest.mark.parametrize("file_name,expected", [
    ("networkOperator-DS-management.der", (FileRole.CELL, CellId(RemotePartyRole.NETWORK_OPERATOR,
                                                                  KeyUsage.DIGITAL_SIGNATURE))),
    ("TEST-ONLY-supplier-KA-prepaymentTopUp.pem",
     (FileRole.CELL, CellId(RemotePartyRole.SUPPLIER, KeyUsage.KEY_AGREEMENT, CellUsage.PREPAYMENT_TOP_UP))),
    ("transitionalCoS-DS-management.crt", (FileRole.CELL, CellId(RemotePartyRole.TRANSITIONAL_COS,
                                                                  KeyUsage.DIGITAL_SIGNATURE))),
    ("root.pem", (FileRole.CELL, ROOT_CELL)),
    ("device-KA.der", (FileRole.DEVICE, None)),
    ("TEST-ONLY-ca-org.der", (FileRole.CA, None)),
    ("networkOperator-XX-management.der", None),
    ("nosuchrole-DS-management.der", None),
    ("root-DS-management.der", None),
    ("notes.txt", None),
])
def test_cert_dir_file_names(file_name: str, expected) -> None:
    assert classify_file_name(file_name) == expected


def test_cell_names_round_trip() -> None:
    for role in RemotePartyRole:
        if role is RemotePartyRole.ROOT:
            continue
        for usage in (KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT):
            for cell_usage in CellUsage:
                cid = CellId(role, usage, cell_usage)
                assert classify_file_name(f"{cid.name}.der") == (FileRole.CELL, cid)


def test_cert_dir_rejects_a_misnamed_certificate(tmp_path: Path, pki: TestPki) -> None:
    (tmp_path / "root.der").write_bytes(pki.root.der)
    (tmp_path / "networkOperater-DS-management.der").write_bytes(pki.organisations["networkOperator-DS"].der)
    with pytest.raises(CertificateInputError) as info:
        verify_directory(tmp_path)
    assert info.value.check == "input.cert_dir" and "networkOperater" in str(info.value)
    assert info.value.exit_code == 2


def test_cert_dir_needs_something_to_verify(tmp_path: Path) -> None:
    (tmp_path / "README.txt").write_text("only notes")
    with pytest.raises(CertificateInputError, match="no cell or device certificate files"):
        verify_directory(tmp_path)
    with pytest.raises(CertificateInputError, match="not a directory"):
        verify_directory(tmp_path / "missing")


def test_cert_dir_without_root_or_root_cell(tmp_path: Path, pki: TestPki) -> None:
    (tmp_path / "networkOperator-DS-management.der").write_bytes(pki.organisations["networkOperator-DS"].der)
    with pytest.raises(CertificateInputError, match="nothing to trust"):
        verify_directory(tmp_path)


def test_bad_expected_network_operator_is_bad_input(tmp_path: Path, pki: TestPki) -> None:
    (tmp_path / "root.der").write_bytes(pki.root.der)
    with pytest.raises(CertificateInputError, match="not an EUI-64"):
        verify_directory(tmp_path, expected_network_operator="90:b3")
