"""Verification of a parsed OTA image: size consistency, the Zigbee integrity code, the Supplier
signature. Pure validators: each check returns a named outcome; nothing here raises for a failed check
(the caller decides, e.g. the CLI exits 1 when ``report.ok`` is false).
"""

from __future__ import annotations

import dataclasses
import enum

from cryptography.hazmat.primitives.asymmetric import ec

from . import signing
from .format import INTEGRITY_CODE_SIZE, ElementTag, Image

# Quirks that mean the sub-elements do not add up to the stated total image size.
_SIZE_QUIRKS = frozenset({"short-last-element", "element-slack"})
_ZSE_SIGNATURE_TAGS = (ElementTag.ECDSA_SIGNATURE_SUITE_1, ElementTag.ECDSA_SIGNATURE_SUITE_2)


class Outcome(enum.StrEnum):
    """The result of one check."""

    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"  # nothing to check, or nothing to check it against


@dataclasses.dataclass(frozen=True)
class Check:
    """One named check, its outcome and a one-line explanation."""

    name: str
    outcome: Outcome
    message: str


@dataclasses.dataclass(frozen=True)
class VerifyReport:
    """Every check run on one image; ``ok`` when none failed."""

    name: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.outcome is not Outcome.FAIL for check in self.checks)

    def check(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)

    @property
    def first_failure(self) -> Check | None:
        return next((check for check in self.checks if check.outcome is Outcome.FAIL), None)


def verify_image(image: Image, *, public_key: ec.EllipticCurvePublicKey | None = None) -> VerifyReport:
    """Run every check on ``image``; the Supplier signature is checked against ``public_key`` if given."""
    checks = [check_sizes(image), check_integrity_code(image), check_supplier_signature(image, public_key)]
    if any(image.element(tag) is not None for tag in _ZSE_SIGNATURE_TAGS):
        checks.append(Check("zse-signature", Outcome.SKIP,
                            "Zigbee Smart Energy ECQV signature present; not verified (sect163k1/sect283k1 "
                            "ECQV certificates are outside hanrig's scope)"))
    return VerifyReport(image.name, tuple(checks))


def check_sizes(image: Image) -> Check:
    """The stated total size against the file and, in Zigbee layout, against the sub-elements."""
    bad = [q for q in image.quirks if q.code in _SIZE_QUIRKS]
    if bad:
        return Check("size", Outcome.FAIL, f"offset {bad[0].offset}: {bad[0].message}")
    notes = [f"total image size {len(image.data)} of a {image.file_size}-byte file"]
    if image.header_offset:
        notes.append(f"header at offset {image.header_offset}")
    if image.trailing_bytes:
        notes.append(f"{image.trailing_bytes} trailing bytes ignored")
    if image.elements:
        notes.append(f"{len(image.elements)} sub-element(s) fill it exactly")
    return Check("size", Outcome.PASS, ", ".join(notes))


def check_integrity_code(image: Image) -> Check:
    """The Zigbee image integrity code (tag 0x0003): AES-MMO over the file before that sub-element."""
    code = image.integrity_code
    covered = image.integrity_covered()
    if code is None or covered is None:
        return Check("integrity-code", Outcome.SKIP, "no integrity code (tag 0x0003)")
    if len(code) != INTEGRITY_CODE_SIZE:
        return Check("integrity-code", Outcome.FAIL,
                     f"integrity code is {len(code)} bytes, expected {INTEGRITY_CODE_SIZE}")
    expected = signing.aes_mmo_hash([covered])
    if expected != code:
        return Check("integrity-code", Outcome.FAIL,
                     f"integrity code {bytes(code).hex()} does not match AES-MMO {expected.hex()} "
                     f"of the first {len(covered)} bytes")
    return Check("integrity-code", Outcome.PASS, f"AES-MMO of the first {len(covered)} bytes matches")


def check_supplier_signature(image: Image, public_key: ec.EllipticCurvePublicKey | None) -> Check:
    """The Supplier signature over the Manufacturer Image, against ``public_key`` when one is given."""
    where = image.signature_kind
    if image.signature is None:
        if public_key is not None:
            return Check("supplier-signature", Outcome.FAIL,
                         "a certificate or key was given but the image carries no Supplier signature")
        return Check("supplier-signature", Outcome.SKIP, "no Supplier signature")
    if public_key is None:
        return Check("supplier-signature", Outcome.SKIP,
                     f"Supplier signature present ({where}); not verified: no certificate or key given")
    if signing.verify_raw(public_key, image.manufacturer_image, image.signature):
        return Check("supplier-signature", Outcome.PASS,
                     f"ECDSA P-256/SHA-256 over the {len(image.manufacturer_image)}-byte Manufacturer Image "
                     f"is valid ({where})")
    return Check("supplier-signature", Outcome.FAIL,
                 f"offset {image.signature_offset}: Supplier signature ({where}) does not verify against "
                 f"the given key")
