"""``certs verify`` never passes over what happens to be there, and a malformed certificate is a finding
with its code, never an exception (issue 15).

A meter's exported directory with its supplier and network operator cells deleted used to PASS (exit 0):
now every cell and device certificate the device's role requires must be there, and each missing one
is a FAIL naming it. Certificates damaged in fields cryptography parses lazily (version, issuer string
type, validity dates, duplicate extensions) used to escape as KeyError/ValueError: they are findings.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from certs import InstalledCell, verify_installed
from certs.cells import METER_CELLS
from certs.model import KeyUsage, RemotePartyRole
from certs.testpki import make_test_pki
from gateway.cli import main

ISSUER = b"\x0c\x1eTEST-ONLY SMKI Organisation CA"  # the issuer's CN as the test PKI encodes it
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    make_test_pki(out)
    return out


def root(pki_dir: Path) -> str:
    return str(pki_dir / "TEST-ONLY-root.pem")


def run(args: list[str], capsys) -> tuple[int, dict]:
    with pytest.raises(SystemExit) as info:
        main([*args, "--json"])
    out = capsys.readouterr().out
    return int(info.value.code), json.loads(out)


def failures(doc: dict) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for check in doc["checks"]:
        if check["outcome"] == "fail":
            found.setdefault(check["code"], set()).add(check["subject"])
    return found


def test_a_meter_missing_cells_fails_naming_each(pki_dir, tmp_path, capsys):
    meter = tmp_path / "esme"
    shutil.copytree(next((pki_dir / "cert-dirs").glob("esme-*")), meter)
    for pattern in ("*networkOperator-*", "*supplier-*", "*root.der"):
        for path in meter.glob(pattern):
            path.unlink()
    code, doc = run(["certs", "verify", "--cert-dir", str(meter), "--root", root(pki_dir)], capsys)
    assert code == 1 and doc["outcome"] == "fail"
    assert failures(doc)["cells.missing"] == {
        "cell root", "cell supplier-DS-management", "cell supplier-KA-management",
        "cell supplier-KA-prepaymentTopUp", "cell networkOperator-DS-management",
        "cell networkOperator-KA-management"}


def test_a_meter_without_its_device_certificates_fails(pki_dir, tmp_path, capsys):
    meter = tmp_path / "esme"
    shutil.copytree(next((pki_dir / "cert-dirs").glob("esme-*")), meter)
    (meter / "TEST-ONLY-device-KA.der").unlink()
    code, doc = run(["certs", "verify", "--cert-dir", str(meter), "--root", root(pki_dir)], capsys)
    assert code == 1 and failures(doc) == {"device.missing": {"device KA certificate"}}


def test_a_complete_meter_passes(pki_dir, capsys):
    meter = next((pki_dir / "cert-dirs").glob("esme-*"))
    code, doc = run(["certs", "verify", "--cert-dir", str(meter), "--root", root(pki_dir)], capsys)
    assert code == 0 and any(c["code"] == "cells.required" for c in doc["checks"])


@pytest.mark.parametrize("role,expected", [("IHD", 0), ("ESME", 1)])
def test_the_role_decides_what_is_required(pki_dir, capsys, role, expected):
    ihd = next((pki_dir / "cert-dirs").glob("ihd-*"))
    args = ["certs", "verify", "--cert-dir", str(ihd), "--root", root(pki_dir), "--role", role]
    code, doc = run(args, capsys)
    assert code == expected
    if expected:
        assert len(failures(doc)["cells.missing"]) == len(METER_CELLS)


def _damage(der: bytes, old: bytes, new: bytes) -> bytes:
    assert old in der
    return der.replace(old, new, 1)


def _org_cell_der(pki_dir: Path) -> bytes:
    return next((pki_dir / "cert-dirs").glob("esme-*")).joinpath(
        "TEST-ONLY-supplier-DS-management.der").read_bytes()


def _month_13(der: bytes) -> bytes:
    at = der.index(b"\x17\x0d") + 2  # notBefore, a UTCTime YYMMDDhhmmssZ
    return der[: at + 2] + b"13" + der[at + 4:]


@pytest.mark.parametrize("damage,code", [
    (lambda d: _damage(d, b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x12"), "parse.version"),  # v19
    (lambda d: _damage(d, ISSUER, b"\x0e" + ISSUER[1:]), "parse.field"),  # a string type X.509 never uses
    (lambda d: _damage(d, ISSUER, ISSUER[:-3] + b"\xff\xfe\xfd"), "parse.field"),  # a UTF8String, not UTF-8
    (_month_13, "parse.der"),  # an out-of-range validity date
    (lambda d: d[: len(d) // 2], "parse.truncated"),
])
def test_malformed_fields_are_findings_not_exceptions(pki_dir, damage, code):
    der = _org_cell_der(pki_dir)
    cell = InstalledCell(RemotePartyRole.SUPPLIER, KeyUsage.DIGITAL_SIGNATURE, 0, damage(der))
    report = verify_installed([cell], device_eui64=None, expected_network_operator=None,
                              roots=[(pki_dir / "TEST-ONLY-root.pem").read_bytes()], now=NOW)
    codes = {c.code for c in report.checks if c.outcome.value == "fail"}
    assert code in codes, codes


def test_test_only_chains_are_marked_in_every_certs_output(pki_dir, capsys):
    """Issue 15: certificates under the TEST-ONLY root or the test policy are marked TEST-ONLY."""
    code, doc = run(["certs", "inspect", root(pki_dir)], capsys)
    assert code == 0 and doc["test_only"] is True
    meter = next((pki_dir / "cert-dirs").glob("esme-*"))
    code, doc = run(["certs", "verify", "--cert-dir", str(meter), "--root", root(pki_dir)], capsys)
    assert code == 0 and doc["test_only"] is True
    with pytest.raises(SystemExit):
        main(["certs", "inspect", root(pki_dir)])
    assert capsys.readouterr().out.startswith("TEST-ONLY:")
