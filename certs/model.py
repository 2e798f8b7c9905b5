"""Parsed SMKI certificates (GBCS section 12): organisation, device, root and issuing-CA certificates.

``load_certificate`` accepts PEM or DER and fails only when the bytes cannot be decoded at all
(``MalformedCertificate`` with a ``parse.*`` code). Everything else -- wrong curve, missing extension,
two key usages -- is recorded as a fact here and judged by ``certs.profile``, so one bad field never
hides the others. Facts ``cryptography`` does not expose (the raw point encoding, NULL signature
parameters, the ASN.1 type of x500UniqueIdentifier) come from a declarative ASN.1 decode of the DER.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import re
from dataclasses import dataclass, field
from typing import Annotated

from cryptography import x509
from cryptography.hazmat.asn1 import (
    TLV,
    BitString,
    Default,
    Explicit,
    Implicit,
    Null,
    decode_der,
    encode_der,
    sequence,
)
from cryptography.x509.oid import ExtensionOID, NameOID

import hanrig_errors
from hanrig_errors import eui64_bytes, eui64_text

from .exceptions import CertificateInputError, MalformedCertificate

# Object identifiers of the profile (GBCS section 12, RFC 5480, RFC 4108).
ID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
PRIME256V1 = "1.2.840.10045.3.1.7"
ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
HARDWARE_MODULE_NAME = x509.ObjectIdentifier("1.3.6.1.5.5.7.8.4")
SMKI_TEST_POLICY = "1.2.826.0.1.8641679.1.2.1.4"  # test-environment policy OID seen in GB test SMKI
DEVICE_NOT_AFTER = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)  # 99991231235959Z

_KNOWN_OIDS = {
    "1.2.840.113549.1.1.1": "rsaEncryption",
    ID_EC_PUBLIC_KEY: "id-ecPublicKey",
    "1.3.101.112": "Ed25519",
    PRIME256V1: "P-256",
    "1.3.132.0.34": "P-384",
    "1.3.132.0.35": "P-521",
    "1.3.132.0.10": "secp256k1",
    ECDSA_WITH_SHA256: "ecdsa-with-SHA256",
    "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
    "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
}


def oid_name(dotted: str | None) -> str:
    """A readable name for an OID we talk about in messages, else the dotted form."""
    if dotted is None:
        return "none"
    name = _KNOWN_OIDS.get(dotted)
    return f"{name} ({dotted})" if name else dotted


class RemotePartyRole(enum.IntEnum):
    """GBCS RemotePartyRole; an organisation certificate carries it in OU as two hex digits."""

    ROOT = 0
    RECOVERY = 1
    SUPPLIER = 2
    NETWORK_OPERATOR = 3
    ACCESS_CONTROL_BROKER = 4
    TRANSITIONAL_COS = 5
    WAN_PROVIDER = 6
    ISSUING_AUTHORITY = 7
    LOAD_CONTROLLER = 8
    OTHER = 127

    @property
    def camel(self) -> str:
        """The GBCS spelling used in file names: ``networkOperator``."""
        head, *rest = self.name.lower().split("_")
        return head + "".join("CoS" if part == "cos" else part.capitalize() for part in rest)

    @classmethod
    def from_camel(cls, text: str) -> RemotePartyRole | None:
        return next((role for role in cls if role.camel.lower() == text.lower()), None)


class KeyUsage(enum.IntEnum):
    """The one key usage an SMKI leaf carries (CAs: keyCertSign), numbered as the X.509 KeyUsage bits
    (as the HAN credentials framing numbers them); ``short`` is the file-name form."""

    DIGITAL_SIGNATURE = 0
    KEY_AGREEMENT = 4
    KEY_CERT_SIGN = 5

    @property
    def short(self) -> str:
        return {0: "DS", 4: "KA", 5: "CA"}[self.value]

    @classmethod
    def from_short(cls, text: str) -> KeyUsage:
        return next(usage for usage in cls if usage.short == text)


class CertKind(enum.Enum):
    """What a certificate is, judged from its shape (device: empty subject or a hardwareModuleName)."""

    ROOT = "root"
    ISSUING_CA = "issuing-ca"
    ORGANISATION = "organisation"
    DEVICE = "device"


# --- the ASN.1 the profile checks need beyond what cryptography exposes (RFC 5280 section 4.1) ---

@sequence
class _AlgorithmIdentifier:
    algorithm: x509.ObjectIdentifier
    parameters: x509.ObjectIdentifier | Null | None


@sequence
class _SubjectPublicKeyInfo:
    algorithm: _AlgorithmIdentifier
    subject_public_key: BitString


@sequence
class _Extension:
    extn_id: x509.ObjectIdentifier
    critical: Annotated[bool, Default(False)]
    extn_value: bytes


@sequence
class _TbsCertificate:
    version: Annotated[int | None, Explicit(0)]
    serial_number: int
    signature: _AlgorithmIdentifier
    issuer: TLV
    validity: TLV
    subject: TLV
    subject_public_key_info: _SubjectPublicKeyInfo
    issuer_unique_id: Annotated[BitString | None, Implicit(1)]
    subject_unique_id: Annotated[BitString | None, Implicit(2)]
    extensions: Annotated[list[_Extension] | None, Explicit(3)]


@sequence
class _Certificate:
    tbs_certificate: TLV
    signature_algorithm: _AlgorithmIdentifier
    signature_value: BitString


@sequence
class HardwareModuleName:
    """RFC 4108 hardwareModuleName: the otherName a GB device certificate puts in subjectAltName."""

    hw_type: x509.ObjectIdentifier
    hw_serial_num: bytes


# --- EUI-64 / Entity ID text ---

def parse_eui64(text: str, *, what: str = "EUI-64") -> bytes:
    """``90:b3:d5:..``, ``90-b3-..`` or 16 bare hex digits -> 8 bytes; ``CertificateInputError`` otherwise."""
    normalised = hanrig_errors.parse_eui64(text.strip())
    if normalised is None:
        raise CertificateInputError("input.eui64", what,
                                    f"{text!r} is not an EUI-64 (expected 16 hex digits)")
    return eui64_bytes(normalised)


@dataclass(frozen=True)
class Critical:
    """Presence and criticality of one extension."""

    present: bool
    critical: bool = False


@dataclass(frozen=True)
class SmkiCertificate:
    """The facts of one certificate the SMKI profile talks about. Build with ``load_certificate``."""

    name: str
    der: bytes = field(repr=False)
    x509: x509.Certificate = field(repr=False, compare=False)
    kind: CertKind
    subject: str                       # RFC 4514, "" for the empty subject of a device certificate
    issuer: str
    self_issued: bool
    version: int                       # 3 for X.509 v3
    serial_number: int
    not_before: dt.datetime
    not_after: dt.datetime
    common_name: str | None
    role_text: str | None              # raw OU
    role: RemotePartyRole | None       # OU parsed as two hex digits
    entity_id: bytes | None            # x500UniqueIdentifier octets
    entity_id_asn1_type: str | None    # "BitString" in profile; openssl -subj makes "UTF8String"
    entity_id_unused_bits: int | None  # the BIT STRING's unused-bits count; must be 0
    key_usage: Critical
    key_usage_bits: frozenset[str]     # cryptography attribute names: digital_signature, key_agreement, ...
    basic_constraints_ca: bool
    policies: Critical
    policy_oids: tuple[str, ...]
    ski: bytes | None
    aki: bytes | None
    aki_present: bool
    subject_alt_name: Critical
    hardware_module_names: tuple[HardwareModuleName, ...]
    other_alt_names: int               # SAN entries that are not hardwareModuleName
    public_key_algorithm: str          # dotted OID
    curve: str | None                  # dotted OID of the named curve
    point: bytes = field(repr=False)   # the raw subjectPublicKey bits (0x04 || X || Y when uncompressed)
    signature_algorithm: str           # dotted OID
    signature_parameters: str          # "absent" | "null" | "oid" (profile wants absent; Java tools: NULL)
    critical_extensions: tuple[str, ...]  # dotted OIDs of every critical extension
    signed_tbs: bytes = field(repr=False)  # the TBSCertificate exactly as signed
    signature: bytes = field(repr=False)   # the signature value (DER ECDSA-Sig-Value for ECDSA)

    @property
    def label(self) -> str:
        """How messages name this certificate: the file/cell name plus the subject or hwSerialNum."""
        if self.subject:
            return f"{self.name} ({self.subject})"
        if self.hw_serial is not None:
            return f"{self.name} (device {eui64_text(self.hw_serial)})"
        return f"{self.name} (empty subject)"

    @property
    def entity_id_text(self) -> str | None:
        return eui64_text(self.entity_id) if self.entity_id is not None else None

    @property
    def hw_serial(self) -> bytes | None:
        """The device EUI-64 from the (first) hardwareModuleName, if any."""
        return self.hardware_module_names[0].hw_serial_num if self.hardware_module_names else None

    @property
    def leaf_key_usage(self) -> KeyUsage | None:
        """The single usage this certificate is for, when it has exactly one of DS / KA / keyCertSign."""
        found = [usage for bit, usage in (("digital_signature", KeyUsage.DIGITAL_SIGNATURE),
                                          ("key_agreement", KeyUsage.KEY_AGREEMENT))
                 if bit in self.key_usage_bits]
        if self.kind in (CertKind.ROOT, CertKind.ISSUING_CA):
            return KeyUsage.KEY_CERT_SIGN if "key_cert_sign" in self.key_usage_bits else None
        return found[0] if len(found) == 1 else None


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)(?:-----END \1-----|\Z)", re.S)


def _der_from_pem(data: bytes, name: str) -> bytes:
    blocks = _PEM_BLOCK.findall(data)
    certs = [body for label, body in blocks if label == b"CERTIFICATE"]
    if not certs:
        labels = ", ".join(label.decode() for label, _ in blocks) or "none"
        raise MalformedCertificate("parse.pem", name, f"no CERTIFICATE block in PEM (found: {labels})")
    if len(certs) > 1:
        raise MalformedCertificate("parse.pem", name, f"{len(certs)} CERTIFICATE blocks; expected one")
    if b"-----END CERTIFICATE-----" not in data:
        raise MalformedCertificate("parse.truncated", name, "PEM has no END CERTIFICATE line (truncated?)")
    try:
        return base64.b64decode(b"".join(certs[0].split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedCertificate("parse.pem", name, f"bad base64 in PEM body: {exc}") from None


def _der_length(data: bytes) -> int | None:
    """Total length the outer DER TLV declares, or None when even the header is unreadable."""
    if len(data) < 2:
        return None
    first = data[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return None
    return 2 + count + int.from_bytes(data[2:2 + count], "big")


def _tlv(tag: int, content: bytes) -> bytes:
    """Re-encode one DER TLV (definite, minimal length, as DER requires)."""
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + content


_ECDSA_OIDS = ("1.2.840.10045.4.3.2", "1.2.840.10045.4.3.3", "1.2.840.10045.4.3.4")


def _without_null_ecdsa_parameters(outer: _Certificate, tbs: _TbsCertificate, tbs_content: bytes) -> bytes:
    """The same certificate with the NULL dropped from both ecdsa AlgorithmIdentifiers.

    cryptography refuses ecdsa-with-SHA256 + NULL (Java tools write it), so this copy is what it parses;
    the signature is still checked over the original TBS (``SmkiCertificate.signed_tbs``).
    """
    # TBS contents: [0] version, serial, signature AlgorithmIdentifier, then the rest unchanged
    spans = []
    offset = 0
    for _ in range(3 if tbs.version is not None else 2):
        length = _der_length(tbs_content[offset:]) or 0
        spans.append((offset, offset + length))
        offset += length
    plain_alg = encode_der(_AlgorithmIdentifier(algorithm=tbs.signature.algorithm, parameters=None))
    outer_alg = encode_der(_AlgorithmIdentifier(algorithm=outer.signature_algorithm.algorithm,
                                                parameters=None))
    head = tbs_content[:spans[-1][0]]
    new_tbs = _tlv(0x30, head + plain_alg + tbs_content[spans[-1][1]:])
    signature = _tlv(0x03, b"\x00" + outer.signature_value.as_bytes())
    return _tlv(0x30, new_tbs + outer_alg + signature)


def _check_der_envelope(der: bytes, name: str) -> None:
    if not der:
        raise MalformedCertificate("parse.empty", name, "no data")
    if der[0] != 0x30:
        raise MalformedCertificate("parse.der", name,
                                   f"not DER: first byte 0x{der[0]:02x}, expected 0x30 (SEQUENCE)")
    declared = _der_length(der)
    if declared is None:
        raise MalformedCertificate("parse.truncated", name,
                                   f"truncated: {len(der)} bytes, DER header incomplete")
    if declared > len(der):
        raise MalformedCertificate("parse.truncated", name,
                                   f"truncated: DER declares {declared} bytes, got {len(der)}")
    if declared < len(der):
        raise MalformedCertificate("parse.trailing_data", name,
                                   f"{len(der) - declared} bytes after the certificate's {declared}")


def _algorithm_parameters(alg: _AlgorithmIdentifier) -> str:
    if alg.parameters is None:
        return "absent"
    return "null" if isinstance(alg.parameters, Null) else "oid"


_SHORT_NAMES = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
                NameOID.ORGANIZATION_NAME: "O", NameOID.COUNTRY_NAME: "C",
                NameOID.X500_UNIQUE_IDENTIFIER: "x500UniqueIdentifier"}


def _name_text(name: x509.Name) -> str:
    """A name in certificate order, Entity IDs as EUI-64s: ``CN=Supplier, OU=02, x500UniqueIdentifier=..``."""
    parts = []
    for attribute in name:
        key = _SHORT_NAMES.get(attribute.oid, attribute.oid.dotted_string)
        value = attribute.value
        if isinstance(value, bytes):  # BIT STRING contents: skip the unused-bits octet
            value = eui64_text(value[1:])
        parts.append(f"{key}={value}")
    return ", ".join(parts)


def load_certificate(data: bytes, *, name: str) -> SmkiCertificate:
    """Parse one certificate (PEM or DER). ``name`` labels it in every message (file or cell name)."""
    # PEM may follow explanatory text (``openssl x509 -text`` output); DER never contains this marker
    der = _der_from_pem(data, name) if b"-----BEGIN " in data[:65536] else bytes(data)
    _check_der_envelope(der, name)
    try:
        outer = decode_der(_Certificate, der)
        tbs = outer.tbs_certificate.parse(_TbsCertificate)
    except ValueError as exc:
        raise MalformedCertificate("parse.der", name, f"not a valid X.509 certificate: {exc}") from None
    tbs_content = bytes(outer.tbs_certificate.data)
    parseable = der
    if (isinstance(outer.signature_algorithm.parameters, Null)
            and outer.signature_algorithm.algorithm.dotted_string in _ECDSA_OIDS
            and isinstance(tbs.signature.parameters, Null)):
        parseable = _without_null_ecdsa_parameters(outer, tbs, tbs_content)
    try:
        cert = x509.load_der_x509_certificate(parseable)
    except x509.InvalidVersion as exc:
        raise MalformedCertificate("parse.version", name, f"unknown X.509 version: {exc}") from None
    except ValueError as exc:
        raise MalformedCertificate("parse.der", name, f"not a valid X.509 certificate: {exc}") from None
    try:
        return _smki_certificate(cert, outer, tbs, tbs_content, der, name)
    except MalformedCertificate:
        raise
    except x509.InvalidVersion as exc:
        raise MalformedCertificate("parse.version", name, f"unknown X.509 version: {exc}") from None
    except (x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise MalformedCertificate("parse.extensions", name, f"malformed extension: {exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # cryptography parses names, times and extensions lazily: a damaged field surfaces here, as
        # ValueError (bad ASN.1), KeyError (an unknown string type) or TypeError (a wrong type for an OID)
        raise MalformedCertificate("parse.field", name,
                                   f"malformed field ({type(exc).__name__}: {exc})") from None


def _smki_certificate(cert: x509.Certificate, outer: _Certificate, tbs: _TbsCertificate, tbs_content: bytes,
                      der: bytes, name: str) -> SmkiCertificate:
    """The SmkiCertificate view of a certificate cryptography loaded (may raise on lazily parsed fields)."""
    try:
        extensions = cert.extensions
    except ValueError as exc:  # cryptography parses extensions lazily
        raise MalformedCertificate("parse.extensions", name, f"malformed extension: {exc}") from None

    def ext(oid: x509.ObjectIdentifier) -> x509.Extension | None:
        try:
            return extensions.get_extension_for_oid(oid)
        except x509.ExtensionNotFound:
            return None

    ku = ext(ExtensionOID.KEY_USAGE)
    ku_bits: set[str] = set()
    if ku is not None:
        value = ku.value
        for bit in ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                    "key_agreement", "key_cert_sign", "crl_sign"):
            if getattr(value, bit):
                ku_bits.add(bit)
        if value.key_agreement:
            ku_bits.update(b for b in ("encipher_only", "decipher_only") if getattr(value, b))
    bc = ext(ExtensionOID.BASIC_CONSTRAINTS)
    pol = ext(ExtensionOID.CERTIFICATE_POLICIES)
    ski_ext = ext(ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    aki_ext = ext(ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    san = ext(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)

    hw_names: list[HardwareModuleName] = []
    other_alt = 0
    if san is not None:
        for general_name in san.value:
            if isinstance(general_name, x509.OtherName) and general_name.type_id == HARDWARE_MODULE_NAME:
                try:
                    hw_names.append(decode_der(HardwareModuleName, general_name.value))
                except ValueError as exc:
                    raise MalformedCertificate("parse.hardware_module_name", name,
                                               f"malformed hardwareModuleName: {exc}") from None
            else:
                other_alt += 1

    def first(oid: x509.ObjectIdentifier) -> x509.NameAttribute | None:
        found = cert.subject.get_attributes_for_oid(oid)
        return found[0] if found else None

    cn = first(NameOID.COMMON_NAME)
    ou = first(NameOID.ORGANIZATIONAL_UNIT_NAME)
    uid = first(NameOID.X500_UNIQUE_IDENTIFIER)
    role: RemotePartyRole | None = None
    if ou is not None and isinstance(ou.value, str) and re.fullmatch(r"[0-9A-Fa-f]{2}", ou.value):
        try:
            role = RemotePartyRole(int(ou.value, 16))
        except ValueError:
            role = None
    entity_id: bytes | None = None
    entity_type: str | None = None
    unused_bits: int | None = None
    if uid is not None:
        entity_type = uid._type.name  # the ASN.1 string type is only exposed privately
        if isinstance(uid.value, bytes):
            # cryptography hands over the BIT STRING contents: the unused-bits octet, then the bits
            unused_bits = uid.value[0] if uid.value else None
            entity_id = uid.value[1:]
        else:
            entity_id = uid.value.encode()

    spki = tbs.subject_public_key_info
    curve = spki.algorithm.parameters
    subject_der = cert.subject.public_bytes()
    self_issued = subject_der == cert.issuer.public_bytes()
    is_ca = bool(bc is not None and bc.value.ca)
    has_hw = bool(hw_names)
    if has_hw or len(cert.subject) == 0:
        kind = CertKind.DEVICE
    elif is_ca or "key_cert_sign" in ku_bits:
        kind = CertKind.ROOT if self_issued else CertKind.ISSUING_CA
    else:
        kind = CertKind.ORGANISATION

    return SmkiCertificate(
        name=name,
        der=der,
        x509=cert,
        kind=kind,
        subject=_name_text(cert.subject),
        issuer=_name_text(cert.issuer),
        self_issued=self_issued,
        version=(tbs.version or 0) + 1,
        serial_number=cert.serial_number,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        common_name=cn.value if cn is not None and isinstance(cn.value, str) else None,
        role_text=ou.value if ou is not None and isinstance(ou.value, str) else None,
        role=role,
        entity_id=entity_id,
        entity_id_asn1_type=entity_type,
        entity_id_unused_bits=unused_bits,
        key_usage=Critical(ku is not None, bool(ku and ku.critical)),
        key_usage_bits=frozenset(ku_bits),
        basic_constraints_ca=is_ca,
        policies=Critical(pol is not None, bool(pol and pol.critical)),
        policy_oids=tuple(p.policy_identifier.dotted_string for p in pol.value) if pol else (),
        ski=ski_ext.value.digest if ski_ext is not None else None,
        aki=aki_ext.value.key_identifier if aki_ext is not None else None,
        aki_present=aki_ext is not None,
        subject_alt_name=Critical(san is not None, bool(san and san.critical)),
        hardware_module_names=tuple(hw_names),
        other_alt_names=other_alt,
        public_key_algorithm=spki.algorithm.algorithm.dotted_string,
        curve=curve.dotted_string if isinstance(curve, x509.ObjectIdentifier) else None,
        point=spki.subject_public_key.as_bytes(),
        signature_algorithm=outer.signature_algorithm.algorithm.dotted_string,
        signature_parameters=_algorithm_parameters(outer.signature_algorithm),
        signed_tbs=_tlv(0x30, tbs_content),
        signature=outer.signature_value.as_bytes(),
        critical_extensions=tuple(e.extn_id.dotted_string for e in (tbs.extensions or []) if e.critical),
    )
