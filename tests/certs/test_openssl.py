"""Certificates made with the openssl CLI: the SMKI-profile ones pass every check, and each deliberately
broken variant fails with its own code."""

from __future__ import annotations

import datetime as dt

import pytest
from certs_testlib import RIGHT_NO, OpensslPki, org_subject

from certs import Outcome, load_certificate, verify


def _verify(pki: OpensslPki, pem: bytes, **kwargs):
    # `openssl req -x509` and `openssl x509 -req` date certificates from the real clock
    now = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    return verify([pem], roots=[pki.root.pem], intermediates=[pki.ca.pem], now=now, **kwargs)


@pytest.mark.parametrize("which", ["root", "ca", "supplier_ds", "no_ka"])
def test_openssl_profile_certificates_pass(openssl_pki: OpensslPki, which: str) -> None:
    report = _verify(openssl_pki, getattr(openssl_pki, which).pem)
    assert report.passed, report.render_text()
    assert not report.warnings, report.render_text()
    assert "chain.trusted" in report.codes(Outcome.PASS)


def test_openssl_device_certificate_passes_with_its_eui64(openssl_pki: OpensslPki) -> None:
    report = _verify(openssl_pki, openssl_pki.device.pem, device_eui64="00:0d:6f:00:0a:bc:00:01")
    assert report.passed, report.render_text()
    assert {"profile.device.san", "device.hw_serial", "chain.trusted"} <= report.codes(Outcome.PASS)
    cert = load_certificate(openssl_pki.device.pem, name="device")
    assert cert.subject == "" and cert.not_after.year == 9999


def test_openssl_organisation_facts(openssl_pki: OpensslPki) -> None:
    cert = load_certificate(openssl_pki.no_ka.pem, name="no")
    assert cert.role is not None and cert.role.camel == "networkOperator"
    assert cert.entity_id_text == RIGHT_NO
    assert cert.leaf_key_usage is not None and cert.leaf_key_usage.short == "KA"
    assert len(cert.ski or b"") == 8 and cert.aki == load_certificate(openssl_pki.ca.pem, name="ca").ski


ORG = ("org_ds", lambda: org_subject("TEST-ONLY Broken", "02", "90:b3:d5:1f:30:01:00:77"))
DEVICE = ("device", lambda: "/")

# (variant name, issue kwargs, expected failing code)
BROKEN = [
    ("rsa", ORG, {"key_kind": "rsa"}, "profile.key_type"),
    ("p384", ORG, {"key_kind": "p384"}, "profile.curve"),
    ("compressed", DEVICE, {"key_kind": "p256c"}, "profile.point_format"),  # openssl req keeps the form
    ("sha384", ORG, {"md": "sha384"}, "profile.signature_algorithm"),
    ("ku-not-critical", ORG, {"replace": {"keyUsage": "keyUsage = digitalSignature"}},
     "profile.key_usage.critical"),
    ("ku-missing", ORG, {"replace": {"keyUsage": None}}, "profile.key_usage.missing"),
    ("two-usages", ORG, {"replace": {"keyUsage": "keyUsage = critical, digitalSignature, keyAgreement"}},
     "profile.key_usage.count"),
    ("ku-other", ORG, {"replace": {"keyUsage": "keyUsage = critical, keyEncipherment"}},
     "profile.key_usage.value"),
    ("policies-not-critical", ORG,
     {"replace": {"certificatePolicies": "certificatePolicies = 1.2.826.0.1.8641679.1.2.1.4"}},
     "profile.policies.critical"),
    ("policies-missing", ORG, {"replace": {"certificatePolicies": None}}, "profile.policies.missing"),
    ("ski-20", ORG, {"ski": "hash"}, "profile.ski.length"),
    ("ski-missing", ORG, {"ski": None}, "profile.ski.missing"),
    ("aki-missing", ORG, {"replace": {"authorityKeyIdentifier": None}}, "profile.aki.missing"),
    ("expired", DEVICE, {"start": "20200101000000Z", "end": "20210101000000Z"}, "chain.expired"),
    ("not-yet-valid", DEVICE, {"start": "20900101000000Z", "end": "99991231235959Z"}, "chain.not_yet_valid"),
    ("device-subject", ("device", lambda: "/CN=meter"), {}, "profile.device.subject"),
    ("device-not-after", DEVICE, {"end": "20450101000000Z"}, "profile.device.not_after"),
    ("device-san-not-critical", DEVICE,
     {"replace": {"subjectAltName": "subjectAltName = otherName:1.3.6.1.5.5.7.8.4;SEQUENCE:hwmod"}},
     "profile.device.san.critical"),
    ("device-san-extra", DEVICE,
     {"replace": {"subjectAltName":
                  "subjectAltName = critical, otherName:1.3.6.1.5.5.7.8.4;SEQUENCE:hwmod, DNS:m.example"}},
     "profile.device.san.hardware_module_name"),
    ("device-san-missing", DEVICE, {"replace": {"subjectAltName": None}}, "profile.device.san.missing"),
    ("device-serial-short", DEVICE, {"hw_serial": "000d6f"}, "profile.device.hw_serial.length"),
    ("org-utf8-entity-id", ("org_ds", lambda: "/CN=Supplier/OU=02/x500UniqueIdentifier=90b3d51f30010001"), {},
     "profile.org.entity_id_encoding"),
    ("org-role-text", ("org_ds", lambda: org_subject("TEST-ONLY Broken", "supplier",
                                                     "90:b3:d5:1f:30:01:00:77")),
     {}, "profile.org.role"),
    ("org-entity-id-short", ("org_ds", lambda: org_subject("TEST-ONLY Broken", "02", "90:b3:d5:1f")), {},
     "profile.org.entity_id"),
]


# Failures that follow from the one broken rule and are expected alongside it.
CONSEQUENCES = {
    "chain.expired": {"profile.device.not_after"},  # a device certificate cannot expire before 9999
    "profile.device.san.missing": {"device.hw_serial"},  # no hwSerialNum to compare
    "profile.device.hw_serial.length": {"device.hw_serial"},  # a 3-octet serial is not the EUI-64
}


@pytest.mark.parametrize("name,spec,kwargs,code", BROKEN, ids=[b[0] for b in BROKEN])
def test_openssl_broken_variant_fails_with_its_own_code(openssl_pki: OpensslPki, name: str, spec, kwargs,
                                                         code: str) -> None:
    profile, subject = spec
    made = openssl_pki.tool.issue(f"broken-{name}", openssl_pki.ca, subject=subject(), profile=profile,
                                  **kwargs)
    report = _verify(openssl_pki, made.pem, device_eui64="00:0d:6f:00:0a:bc:00:01")
    assert code in report.codes(Outcome.FAIL), report.render_text()
    # the variant breaks one rule: nothing else may fail (an unusable key also stops the chain check)
    others = report.codes(Outcome.FAIL) - {code} - CONSEQUENCES.get(code, set())
    assert not others, report.render_text()
    for check in report.failures:
        assert "\n" not in check.message


def test_openssl_unknown_issuer(openssl_pki: OpensslPki) -> None:
    other_root = openssl_pki.tool.root("other-root", cn="TEST-ONLY another root")
    made = openssl_pki.tool.issue("by-other", other_root, profile="org_ds",
                                  subject=org_subject("TEST-ONLY Other", "02", "90:b3:d5:1f:30:01:00:55"))
    report = _verify(openssl_pki, made.pem)
    assert report.codes(Outcome.FAIL) == {"chain.unknown_issuer"}, report.render_text()
    assert "TEST-ONLY another root" in report.find("chain.unknown_issuer")[0].message


def test_openssl_bad_signature(openssl_pki: OpensslPki) -> None:
    der = bytearray(load_certificate(openssl_pki.supplier_ds.pem, name="s").der)
    der[-5] ^= 0x01  # inside the ECDSA signature's s value
    report = _verify(openssl_pki, bytes(der))
    assert report.codes(Outcome.FAIL) == {"chain.bad_signature"}, report.render_text()


def test_openssl_untrusted_self_signed_root(openssl_pki: OpensslPki) -> None:
    other_root = openssl_pki.tool.root("stranger", cn="TEST-ONLY stranger")
    report = _verify(openssl_pki, other_root.pem)
    assert report.codes(Outcome.FAIL) == {"chain.untrusted_root"}, report.render_text()
