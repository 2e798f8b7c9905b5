"""GBCS section 12 profile checks: pure validators, one named result per rule.

Each ``check_*`` function takes a parsed ``SmkiCertificate`` and returns ``Check`` results; none raises.
``check_profile`` runs every rule that applies to the certificate's kind (root, issuing CA,
organisation, device). ``check_device_identity`` compares a device certificate with the EUI-64 it
should belong to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from hanrig_errors import eui64_text

from .model import (
    DEVICE_NOT_AFTER,
    ECDSA_WITH_SHA256,
    ID_EC_PUBLIC_KEY,
    PRIME256V1,
    CertKind,
    SmkiCertificate,
    oid_name,
)
from .report import Check, failed, passed, warned

IDENTIFIER_LENGTH = 8  # SKI / AKI / Entity ID / hwSerialNum octets
P256_UNCOMPRESSED_LENGTH = 65  # 0x04 || X(32) || Y(32)


def _key(cert: SmkiCertificate) -> Iterator[Check]:
    s = cert.name
    if cert.version != 3:
        yield failed("profile.version", f"X.509 v{cert.version}, expected v3", s)
    if cert.public_key_algorithm != ID_EC_PUBLIC_KEY:
        yield failed("profile.key_type",
                     f"public key {oid_name(cert.public_key_algorithm)}, expected EC P-256", s)
        return
    yield passed("profile.key_type", "EC public key", s)
    if cert.curve != PRIME256V1:
        yield failed("profile.curve", f"curve {oid_name(cert.curve)}, expected P-256 ({PRIME256V1})", s)
        return
    yield passed("profile.curve", "P-256", s)
    head = cert.point[:1]
    if head in (b"\x02", b"\x03"):
        yield failed("profile.point_format",
                     f"compressed point (0x{head.hex()}), expected uncompressed (0x04)", s)
    elif head != b"\x04" or len(cert.point) != P256_UNCOMPRESSED_LENGTH:
        yield failed("profile.point_format",
                     f"public point is {len(cert.point)} bytes starting 0x{cert.point[:1].hex() or '--'}, "
                     f"expected {P256_UNCOMPRESSED_LENGTH} bytes starting 0x04", s)
    else:
        yield passed("profile.point_format", "uncompressed point", s)


def _signature(cert: SmkiCertificate) -> Iterator[Check]:
    s = cert.name
    if cert.signature_algorithm != ECDSA_WITH_SHA256:
        yield failed("profile.signature_algorithm",
                     f"signature algorithm {oid_name(cert.signature_algorithm)}, expected ecdsa-with-SHA256",
                     s)
        return
    yield passed("profile.signature_algorithm", "ecdsa-with-SHA256", s)
    if cert.signature_parameters == "null":
        yield warned("profile.signature_parameters",
                     "ecdsa-with-SHA256 carries NULL parameters (typical of Java tools); accepted, "
                     "RFC 5758 says absent", s)
    elif cert.signature_parameters != "absent":
        yield failed("profile.signature_parameters", "ecdsa-with-SHA256 carries parameters; must be absent",
                     s)


def _key_usage(cert: SmkiCertificate) -> Iterator[Check]:
    s = cert.name
    if not cert.key_usage.present:
        yield failed("profile.key_usage.missing", "no keyUsage extension (must be present and critical)", s)
        return
    if not cert.key_usage.critical:
        yield failed("profile.key_usage.critical", "keyUsage is not critical", s)
    bits = sorted(cert.key_usage_bits)
    if cert.kind in (CertKind.ROOT, CertKind.ISSUING_CA):
        if "key_cert_sign" not in cert.key_usage_bits:
            yield failed("profile.key_usage.ca", f"CA keyUsage {bits} lacks keyCertSign", s)
        else:
            yield passed("profile.key_usage.ca", "keyCertSign", s)
        return
    leaf = [b for b in bits if b in ("digital_signature", "key_agreement")]
    if len(leaf) > 1:
        yield failed("profile.key_usage.count",
                     "keyUsage has both digitalSignature and keyAgreement; exactly one allowed", s)
    elif not leaf:
        yield failed("profile.key_usage.value",
                     f"keyUsage {bits} has neither digitalSignature nor keyAgreement", s)
    elif len(bits) > 1:
        yield failed("profile.key_usage.value", f"keyUsage {bits}: only {leaf[0]} is allowed", s)
    else:
        yield passed("profile.key_usage.count", f"exactly one key usage ({leaf[0]})", s)


def _policies(cert: SmkiCertificate) -> Iterator[Check]:
    s = cert.name
    if not cert.policies.present:
        yield failed("profile.policies.missing",
                     "no certificatePolicies extension (must be present and critical)", s)
    elif not cert.policies.critical:
        yield failed("profile.policies.critical", "certificatePolicies is not critical", s)
    else:
        yield passed("profile.policies", f"critical certificatePolicies {', '.join(cert.policy_oids)}", s)


def _key_identifiers(cert: SmkiCertificate) -> Iterator[Check]:
    s = cert.name
    if cert.ski is None:
        yield failed("profile.ski.missing", "no subjectKeyIdentifier", s)
    elif len(cert.ski) != IDENTIFIER_LENGTH:
        yield failed("profile.ski.length", f"subjectKeyIdentifier is {len(cert.ski)} octets, expected 8", s)
    else:
        yield passed("profile.ski.length", f"subjectKeyIdentifier {cert.ski.hex()}", s)
    if not cert.aki_present or cert.aki is None:
        if cert.kind is CertKind.ROOT:
            yield passed("profile.aki.absent", "no authorityKeyIdentifier (allowed on the self-signed root)",
                         s)
        else:
            yield failed("profile.aki.missing",
                         "no authorityKeyIdentifier keyIdentifier (only the root may omit it)", s)
    elif len(cert.aki) != IDENTIFIER_LENGTH:
        yield failed("profile.aki.length", f"authorityKeyIdentifier is {len(cert.aki)} octets, expected 8", s)
    else:
        yield passed("profile.aki.length", f"authorityKeyIdentifier {cert.aki.hex()}", s)


def _organisation(cert: SmkiCertificate) -> Iterator[Check]:
    s = cert.name
    if cert.common_name is None:
        yield failed("profile.org.common_name", "subject has no CN (organisation name)", s)
    if cert.role_text is None:
        yield failed("profile.org.role", "subject has no OU (RemotePartyRole as two hex digits)", s)
    elif cert.role is None:
        yield failed("profile.org.role", f"OU {cert.role_text!r} is not a RemotePartyRole as two hex digits",
                     s)
    else:
        yield passed("profile.org.role", f"role {cert.role.camel} (OU={cert.role_text})", s)
    if cert.entity_id is None:
        yield failed("profile.org.entity_id", "subject has no x500UniqueIdentifier (Entity ID)", s)
    elif cert.entity_id_asn1_type != "BitString":
        yield failed("profile.org.entity_id_encoding",
                     f"x500UniqueIdentifier is a {cert.entity_id_asn1_type}, "
                     "expected a BIT STRING of 8 octets", s)
    elif cert.entity_id_unused_bits != 0:
        yield failed("profile.org.entity_id_encoding",
                     f"x500UniqueIdentifier BIT STRING declares {cert.entity_id_unused_bits} unused bits; "
                     "expected 0 (whole octets)", s)
    elif len(cert.entity_id) != IDENTIFIER_LENGTH:
        yield failed("profile.org.entity_id", f"Entity ID is {len(cert.entity_id)} octets, expected 8", s)
    else:
        yield passed("profile.org.entity_id", f"Entity ID {eui64_text(cert.entity_id)}", s)


def _device(cert: SmkiCertificate) -> Iterator[Check]:
    s = cert.name
    if cert.subject:
        yield failed("profile.device.subject", f"device subject must be empty, is {cert.subject!r}", s)
    if cert.not_after != DEVICE_NOT_AFTER:
        yield failed("profile.device.not_after",
                     f"notAfter {cert.not_after:%Y%m%d%H%M%SZ}, expected 99991231235959Z", s)
    if not cert.subject_alt_name.present:
        yield failed("profile.device.san.missing",
                     "no subjectAltName (must be critical with one hardwareModuleName)", s)
        return
    if not cert.subject_alt_name.critical:
        yield failed("profile.device.san.critical", "subjectAltName is not critical", s)
    count = len(cert.hardware_module_names)
    if count != 1 or cert.other_alt_names:
        yield failed("profile.device.san.hardware_module_name",
                     f"subjectAltName has {count} hardwareModuleName and {cert.other_alt_names} other names; "
                     "expected exactly one hardwareModuleName", s)
        return
    serial = cert.hardware_module_names[0].hw_serial_num
    if len(serial) != IDENTIFIER_LENGTH:
        yield failed("profile.device.hw_serial.length", f"hwSerialNum is {len(serial)} octets, expected 8", s)
    else:
        yield passed("profile.device.san", f"hardwareModuleName hwSerialNum {eui64_text(serial)}", s)


def _ca(cert: SmkiCertificate) -> Iterator[Check]:
    if not cert.basic_constraints_ca:
        yield failed("profile.ca.basic_constraints", "CA certificate without basicConstraints cA=TRUE",
                     cert.name)


_RULES: dict[CertKind, tuple[Callable[[SmkiCertificate], Iterator[Check]], ...]] = {
    CertKind.ROOT: (_key, _signature, _key_usage, _policies, _key_identifiers, _ca),
    CertKind.ISSUING_CA: (_key, _signature, _key_usage, _policies, _key_identifiers, _ca),
    CertKind.ORGANISATION: (_key, _signature, _key_usage, _policies, _key_identifiers, _organisation),
    CertKind.DEVICE: (_key, _signature, _key_usage, _policies, _key_identifiers, _device),
}


def check_profile(cert: SmkiCertificate) -> list[Check]:
    """Every GBCS section 12 rule for the certificate's kind."""
    return [check for rule in _RULES[cert.kind] for check in rule(cert)]


def check_device_identity(cert: SmkiCertificate, device_eui64: bytes) -> Check:
    """``device.hw_serial``: a device certificate's hwSerialNum must be the device's EUI-64."""
    want = eui64_text(device_eui64)
    if cert.kind is not CertKind.DEVICE:
        return failed("device.hw_serial",
                      f"not a device certificate ({cert.kind.value}); expected one for {want}",
                      cert.name)
    got = cert.hw_serial
    if got is None:
        return failed("device.hw_serial", f"no hwSerialNum; expected {want}", cert.name)
    if got != device_eui64:
        return failed("device.hw_serial",
                      f"hwSerialNum {eui64_text(got)} is not the device's EUI-64 {want}",
                      cert.name)
    return passed("device.hw_serial", f"hwSerialNum is the device's EUI-64 {want}", cert.name)
