"""Zigbee Smart Energy (CBKE) implicit certificates: crypto suite 1 (48 bytes) and suite 2 (74 bytes).

Layouts (Zigbee SE 1.x Key Establishment cluster; all fields big-endian):

* suite 1 (sect163k1): public key reconstruction data (22) | subject EUI-64 (8) | issuer (8) |
  profile attribute data (10). It carries no validity or key usage.
* suite 2 (sect283k1): type (1, 0x00 implicit) | serial (8) | curve (1, 0x0d) | hash (1, 0x08 AES-MMO) |
  issuer (8) | valid from (5, seconds since 1970 UTC) | valid to (4, seconds after valid from;
  0xffffffff = no expiry) | subject EUI-64 (8) | key usage (1, X.509 bit order) | reconstruction data (37).

Only the fields are read; the public key is not reconstructed (no ECQV).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import zigpy.types as t

from .exceptions import MalformedCertificate
from .model import format_eui64
from .report import Check, failed, passed, warned

SUITE1_LENGTH = 48
SUITE2_LENGTH = 74
NO_EXPIRY = 0xFFFFFFFF


class Eui64Be(t.FixedList, item_type=t.uint8_t, length=8):
    """An EUI-64 as certificates write it: most significant byte first (zigpy's EUI64 is reversed)."""


class ReconstructionData163(t.FixedList, item_type=t.uint8_t, length=22):
    """Compressed sect163k1 point: the public key reconstruction data of a suite 1 certificate."""


class ReconstructionData283(t.FixedList, item_type=t.uint8_t, length=37):
    """Compressed sect283k1 point: the public key reconstruction data of a suite 2 certificate."""


class ProfileAttributeData(t.FixedList, item_type=t.uint8_t, length=10):
    """Suite 1 profile attribute data (issuer-defined, not interpreted)."""


class CertificateType(t.enum8):
    """Suite 2 certificate type."""

    IMPLICIT = 0x00  # ECQV implicit certificate


class Curve(t.enum8):
    """Suite 2 curve identifier."""

    SECT283K1 = 0x0D


class HashAlgorithm(t.enum8):
    """Suite 2 hash identifier."""

    AES_MMO = 0x08


class ImplicitKeyUsage(t.bitmap8):
    """Suite 2 key usage, X.509 bit order: 0x80 digitalSignature, 0x08 keyAgreement."""

    KEY_AGREEMENT = 0x08
    DIGITAL_SIGNATURE = 0x80


class Suite1Certificate(t.Struct):
    """Crypto suite 1 implicit certificate, 48 bytes."""

    public_key_reconstruction: ReconstructionData163
    subject: Eui64Be
    issuer: Eui64Be
    profile_attribute_data: ProfileAttributeData


class Suite2Certificate(t.Struct):
    """Crypto suite 2 implicit certificate, 74 bytes."""

    type: CertificateType
    serial_number: t.uint64_t_be
    curve: Curve
    hash: HashAlgorithm
    issuer: Eui64Be
    valid_from: t.uint40_t_be
    valid_to: t.uint32_t_be
    subject: Eui64Be
    key_usage: ImplicitKeyUsage
    public_key_reconstruction: ReconstructionData283


@dataclass(frozen=True)
class ImplicitCertificate:
    """The readable facts of one CBKE certificate."""

    name: str
    suite: int
    subject: bytes
    issuer: bytes
    serial_number: int | None
    valid_from: dt.datetime | None
    valid_to: dt.datetime | None          # None: no expiry (suite 2) or not carried (suite 1)
    key_usage: ImplicitKeyUsage | None
    type: CertificateType | None
    curve: Curve | None
    hash: HashAlgorithm | None
    raw: bytes

    @property
    def subject_text(self) -> str:
        return format_eui64(self.subject)

    @property
    def issuer_text(self) -> str:
        """Issuer as an EUI-64, plus its ASCII when printable (Certicom test CAs read 'TESTSECA')."""
        text = format_eui64(self.issuer)
        if all(0x20 <= b < 0x7F for b in self.issuer):
            text += f" ({self.issuer.decode('ascii')!r})"
        return text

    @property
    def label(self) -> str:
        return f"{self.name} (suite {self.suite} implicit certificate, subject {self.subject_text})"


def parse_implicit_certificate(data: bytes, *, name: str) -> ImplicitCertificate:
    """Parse 48 (suite 1) or 74 (suite 2) bytes; any other length is ``cbke.length``."""
    if len(data) == SUITE1_LENGTH:
        s1, _ = Suite1Certificate.deserialize(data)
        return ImplicitCertificate(name=name, suite=1, subject=bytes(s1.subject), issuer=bytes(s1.issuer),
                                   serial_number=None, valid_from=None, valid_to=None, key_usage=None,
                                   type=None, curve=None, hash=None, raw=bytes(data))
    if len(data) == SUITE2_LENGTH:
        s2, _ = Suite2Certificate.deserialize(data)
        valid_from = dt.datetime.fromtimestamp(int(s2.valid_from), dt.UTC)
        valid_to = (None if s2.valid_to == NO_EXPIRY
                    else valid_from + dt.timedelta(seconds=int(s2.valid_to)))
        return ImplicitCertificate(name=name, suite=2, subject=bytes(s2.subject), issuer=bytes(s2.issuer),
                                   serial_number=int(s2.serial_number), valid_from=valid_from,
                                   valid_to=valid_to, key_usage=s2.key_usage, type=s2.type, curve=s2.curve,
                                   hash=s2.hash, raw=bytes(data))
    raise MalformedCertificate("cbke.length", name,
                               f"{len(data)} bytes; an implicit certificate is {SUITE1_LENGTH} (suite 1) "
                               f"or {SUITE2_LENGTH} (suite 2)")


def check_implicit_certificate(cert: ImplicitCertificate, *, device_eui64: bytes | None,
                               now: dt.datetime) -> list[Check]:
    """``cbke.subject`` against the device EUI-64; for suite 2 also type, curve, hash, key usage, validity."""
    s = cert.label
    checks: list[Check] = []
    if device_eui64 is None:
        checks.append(warned("cbke.subject.not_checked", "no device EUI-64 given", s))
    elif cert.subject != device_eui64:
        checks.append(failed("cbke.subject", f"subject {cert.subject_text} is not the device's EUI-64 "
                                             f"{format_eui64(device_eui64)}", s))
    else:
        checks.append(passed("cbke.subject", f"subject is the device's EUI-64 {cert.subject_text}", s))
    if cert.suite != 2:
        return checks
    for code, value, want in (("cbke.type", cert.type, CertificateType.IMPLICIT),
                              ("cbke.curve", cert.curve, Curve.SECT283K1),
                              ("cbke.hash", cert.hash, HashAlgorithm.AES_MMO)):
        if value != want:
            checks.append(failed(code, f"{value!s} (0x{int(value or 0):02x}), expected {want!s}", s))
    if cert.key_usage != ImplicitKeyUsage.KEY_AGREEMENT:
        checks.append(failed("cbke.key_usage", f"key usage 0x{int(cert.key_usage or 0):02x}, "
                                               "expected keyAgreement (0x08) only", s))
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    if cert.valid_from is not None and now < cert.valid_from:
        checks.append(failed("cbke.not_yet_valid", f"valid from {cert.valid_from:%Y-%m-%dT%H:%M:%SZ}", s))
    elif cert.valid_to is not None and now > cert.valid_to:
        checks.append(failed("cbke.expired", f"expired {cert.valid_to:%Y-%m-%dT%H:%M:%SZ}", s))
    return checks
