"""Zigbee SE implicit (CBKE) certificates: golden bytes for suite 1 and suite 2."""

from __future__ import annotations

import datetime as dt

import pytest
from certs_testlib import SUITE1

from certs import MalformedCertificate, Outcome, parse_implicit_certificate
from certs.cbke import Curve, ImplicitKeyUsage, Suite2Certificate, check_implicit_certificate

# Suite 2, field by field (big-endian).
SUITE2 = bytes.fromhex(
    "00"                # type: implicit
    "0102030405060708"  # serial
    "0d"                # curve: sect283k1
    "08"                # hash: AES-MMO
    "5445535453454341"  # issuer
    "0065920080"        # valid from: 1704067200 = 2024-01-01T00:00:00Z
    "ffffffff"          # valid to: no expiry
    "000d6f000abc0001"  # subject
    "08"                # key usage: keyAgreement
    "03" + "11" * 36    # public key reconstruction data (37)
)
ESME = bytes.fromhex("000d6f000abc0001")
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def test_suite1_golden() -> None:
    cert = parse_implicit_certificate(SUITE1, name="xbee")
    assert cert.suite == 1
    assert cert.subject_text == "00:13:a2:00:40:4c:15:a4"
    assert cert.issuer == b"TESTSECA" and "'TESTSECA'" in cert.issuer_text
    assert cert.valid_from is None and cert.key_usage is None
    ok = check_implicit_certificate(cert, device_eui64=bytes.fromhex("0013a200404c15a4"), now=NOW)
    assert [(c.code, c.outcome) for c in ok] == [("cbke.subject", Outcome.PASS)]
    bad = check_implicit_certificate(cert, device_eui64=ESME, now=NOW)
    assert [(c.code, c.outcome) for c in bad] == [("cbke.subject", Outcome.FAIL)]
    assert "00:13:a2:00:40:4c:15:a4" in bad[0].message and "00:0d:6f:00:0a:bc:00:01" in bad[0].message


def test_suite2_golden_and_round_trip() -> None:
    cert = parse_implicit_certificate(SUITE2, name="esme")
    assert cert.suite == 2 and cert.serial_number == 0x0102030405060708
    assert cert.subject == ESME and cert.issuer == b"TESTSECA"
    assert cert.valid_from == dt.datetime(2024, 1, 1, tzinfo=dt.UTC) and cert.valid_to is None
    assert cert.key_usage == ImplicitKeyUsage.KEY_AGREEMENT and cert.curve == Curve.SECT283K1
    struct, rest = Suite2Certificate.deserialize(SUITE2)
    assert rest == b"" and struct.serialize() == SUITE2
    checks = check_implicit_certificate(cert, device_eui64=ESME, now=NOW)
    assert all(c.outcome is Outcome.PASS for c in checks), checks


def _suite2(**fields: str) -> bytes:
    offsets = {"curve": (9, 1), "valid_to": (24, 4), "key_usage": (36, 1), "valid_from": (19, 5)}
    data = bytearray(SUITE2)
    for name, value in fields.items():
        start, size = offsets[name]
        data[start:start + size] = bytes.fromhex(value)
    return bytes(data)


@pytest.mark.parametrize("fields,code", [
    ({"valid_to": "00015180"}, "cbke.expired"),            # one day after 2024-01-01
    ({"valid_from": "00ff000000"}, "cbke.not_yet_valid"),  # far future
    ({"key_usage": "80"}, "cbke.key_usage"),
    ({"key_usage": "88"}, "cbke.key_usage"),
    ({"curve": "0c"}, "cbke.curve"),
])
def test_suite2_bad_fields(fields: dict[str, str], code: str) -> None:
    cert = parse_implicit_certificate(_suite2(**fields), name="esme")
    failures = {c.code for c in check_implicit_certificate(cert, device_eui64=ESME, now=NOW)
                if c.outcome is Outcome.FAIL}
    assert failures == {code}


@pytest.mark.parametrize("length", [0, 47, 49, 73, 75])
def test_wrong_length(length: int) -> None:
    with pytest.raises(MalformedCertificate) as info:
        parse_implicit_certificate((SUITE2 * 2)[:length], name="blob")
    assert info.value.check == "cbke.length" and str(length) in str(info.value)
