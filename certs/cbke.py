"""Zigbee Smart Energy (CBKE) implicit certificates: crypto suite 1 (48 bytes) and suite 2 (74 bytes).

Layouts (Zigbee SE 1.x Key Establishment cluster; all fields big-endian):

* suite 1 (sect163k1): public key reconstruction data (22) | subject EUI-64 (8) | issuer (8) |
  profile attribute data (10). It carries no validity or key usage.
* suite 2 (sect283k1): type (1, 0x00 implicit) | serial (8) | curve (1, 0x0d) | hash (1, 0x08 AES-MMO) |
  issuer (8) | valid from (5, seconds since 1970 UTC) | valid to (4, seconds after valid from;
  0xffffffff = no expiry) | subject EUI-64 (8) | key usage (1, X.509 bit order) | reconstruction data (37).

Beyond parsing, the CBKE crypto of ZSE Annex C on the curves of ``certs.ecc_koblitz``: ECQV public-key
reconstruction (SEC 4; e = AES-MMO of the whole certificate), ECQV issuance for a TEST-ONLY CA, ECMQV
(SEC 1 §3.4), the KDF (ANSI X9.63 with AES-MMO, 32-bit big-endian counter from 1, no shared info) and
the MAC (HMAC with AES-MMO), giving the MACU/MACV of Confirm Key and the 128-bit link key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import zigpy.types as t

from hanrig_errors import eui64_text
from ota.signing import aes_mmo_hash

from .ecc_koblitz import SECT163K1, SECT283K1, InvalidPoint, KoblitzCurve
from .exceptions import MalformedCertificate
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
    def reconstruction_data(self) -> bytes:
        return self.raw[:22] if self.suite == 1 else self.raw[-37:]

    @property
    def profile_attribute_data(self) -> bytes | None:
        """Suite 1's issuer-defined profile data (suite 2 has none)."""
        return self.raw[38:48] if self.suite == 1 else None

    @property
    def subject_text(self) -> str:
        return eui64_text(self.subject)

    @property
    def issuer_text(self) -> str:
        """Issuer as an EUI-64, plus its ASCII when printable (Certicom test CAs read 'TESTSECA')."""
        text = eui64_text(self.issuer)
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
                                             f"{eui64_text(device_eui64)}", s))
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


# --- CBKE crypto (ZSE Annex C) ------------------------------------------------------------------------

MAC_TAG_INITIATOR = 0x02   # MACU = MAC(0x02 | ID_U | ID_V | E_U | E_V)
MAC_TAG_RESPONDER = 0x03   # MACV = MAC(0x03 | ID_V | ID_U | E_V | E_U)
_MMO_BLOCK = 16


@dataclass(frozen=True)
class CryptoSuite:
    """One CBKE crypto suite: its curve and the sizes of what goes on the air."""

    number: int
    curve: KoblitzCurve
    certificate_length: int

    @property
    def public_key_length(self) -> int:
        return self.curve.compressed_length

    @property
    def private_key_length(self) -> int:
        return self.curve.field_bytes

    def reconstruction_data(self, certificate: bytes) -> bytes:
        """The compressed point P_U inside a certificate of this suite."""
        if self.number == 1:
            return certificate[:self.public_key_length]
        return certificate[-self.public_key_length:]

    def subject(self, certificate: bytes) -> bytes:
        return certificate[22:30] if self.number == 1 else certificate[28:36]

    def issuer(self, certificate: bytes) -> bytes:
        return certificate[30:38] if self.number == 1 else certificate[11:19]


SUITES: dict[int, CryptoSuite] = {
    1: CryptoSuite(1, SECT163K1, SUITE1_LENGTH),
    2: CryptoSuite(2, SECT283K1, SUITE2_LENGTH),
}


def suite_for_certificate(certificate: bytes, *, name: str = "certificate") -> CryptoSuite:
    for suite in SUITES.values():
        if len(certificate) == suite.certificate_length:
            return suite
    raise MalformedCertificate("cbke.length", name,
                               f"{len(certificate)} bytes; an implicit certificate is {SUITE1_LENGTH} "
                               f"(suite 1) or {SUITE2_LENGTH} (suite 2)")


def certificate_hash(certificate: bytes) -> int:
    """ECQV's e: the AES-MMO hash of the whole certificate as a big-endian integer (128 bits < n)."""
    return int.from_bytes(aes_mmo_hash([certificate]), "big")


def _decode(curve: KoblitzCurve, data: bytes, what: str, name: str) -> tuple[int, int]:
    try:
        return curve.decode(bytes(data))
    except InvalidPoint as exc:
        raise MalformedCertificate("cbke.point", name, f"{what}: {exc}") from None


def reconstruct_public_key(certificate: bytes, ca_public_key: bytes, *, name: str = "certificate") -> bytes:
    """Q_U = e * P_U + Q_CA (SEC 4 §3.5), compressed: the key the certificate implicitly binds."""
    suite = suite_for_certificate(certificate, name=name)
    curve = suite.curve
    reconstruction = _decode(curve, suite.reconstruction_data(certificate), "reconstruction data", name)
    ca_point = _decode(curve, ca_public_key, "CA public key", name)
    point = curve.multi_multiply([(certificate_hash(certificate), reconstruction), (1, ca_point)])
    if point is None:
        raise MalformedCertificate("cbke.point", name,
                                   "the reconstructed public key is the point at infinity")
    return curve.encode(point)


@dataclass(frozen=True)
class IssuedImplicitCertificate:
    """A certificate and the private key that goes with it (TEST-ONLY issuance)."""

    certificate: bytes
    private_key: int
    public_key: bytes


def issue_implicit_certificate(suite_number: int, *, ca_private_key: int, issuer: bytes, subject: bytes,
                               request_key: int, ca_nonce: int, serial_number: int = 1,
                               valid_from: dt.datetime | None = None, valid_to_s: int = NO_EXPIRY,
                               profile_attribute_data: bytes = b"\x01\x09" + bytes(8),
                               ) -> IssuedImplicitCertificate:
    """ECQV issuance (SEC 4 §3.4) with the requester's key ``request_key`` and the CA's nonce ``ca_nonce``.

    P_U = (k_U + k) G, e = H(cert), private key d_U = e*(k_U + k) + d_CA mod n: the requester and CA
    halves folded together, which is all a test CA needs.
    """
    suite = SUITES[suite_number]
    curve = suite.curve
    k = (request_key + ca_nonce) % curve.n
    reconstruction = curve.public_key(k)
    if suite_number == 1:
        if len(profile_attribute_data) != 10:
            raise ValueError("suite 1 profile attribute data is 10 bytes")
        certificate = reconstruction + subject + issuer + profile_attribute_data
    else:
        start = int((valid_from or dt.datetime(2025, 1, 1, tzinfo=dt.UTC)).timestamp())
        certificate = (bytes([CertificateType.IMPLICIT]) + serial_number.to_bytes(8, "big")
                       + bytes([Curve.SECT283K1, HashAlgorithm.AES_MMO]) + issuer + start.to_bytes(5, "big")
                       + valid_to_s.to_bytes(4, "big") + subject + bytes([ImplicitKeyUsage.KEY_AGREEMENT])
                       + reconstruction)
    private_key = (certificate_hash(certificate) * k + ca_private_key) % curve.n
    return IssuedImplicitCertificate(certificate, private_key, curve.public_key(private_key))


def _associate_value(curve: KoblitzCurve, point: tuple[int, int]) -> int:
    """SEC 1 §3.4's x-bar: the low ceil(f/2) bits of x's integer, plus 2^ceil(f/2); f = bits of n."""
    half = (curve.n.bit_length() + 1) // 2
    return (point[0] % (1 << half)) + (1 << half)


def ecmqv_shared_secret(suite_number: int, *, static_private_key: int, ephemeral_private_key: int,
                        ephemeral_public_key: bytes, partner_certificate: bytes,
                        partner_ephemeral_public_key: bytes, ca_public_key: bytes) -> bytes:
    """Z = x(h * s * (V + v-bar * Q_V)) with s = (r + u-bar * d) mod n, as a field-size octet string.

    Q_V is the partner's key reconstructed from its certificate; all of it is one sum of products
    h s V + h (s v-bar e mod n) P_V + h (s v-bar mod n) Q_CA, exact because h kills any part of a point
    outside G's subgroup (the curve has h*n points), which leaves only the n-torsion where scalars are
    taken modulo n. ``KoblitzCurve.multi_multiply`` hands it to OpenSSL when it can.
    """
    suite = SUITES[suite_number]
    curve = suite.curve
    name = "partner certificate"
    own_ephemeral = _decode(curve, ephemeral_public_key, "own ephemeral key", "ephemeral key")
    partner_ephemeral = _decode(curve, partner_ephemeral_public_key, "partner ephemeral key", "ephemeral key")
    reconstruction = _decode(curve, suite.reconstruction_data(partner_certificate), "reconstruction data",
                             name)
    ca_point = _decode(curve, ca_public_key, "CA public key", name)
    n = curve.n
    s = (ephemeral_private_key + _associate_value(curve, own_ephemeral) * static_private_key) % n
    sv = s * _associate_value(curve, partner_ephemeral) % n
    h = curve.cofactor
    point = curve.multi_multiply([(h * s, partner_ephemeral),
                                  (h * (sv * certificate_hash(partner_certificate) % n), reconstruction),
                                  (h * sv, ca_point)])
    if point is None:
        raise MalformedCertificate("cbke.shared_secret", name,
                                   "the ECMQV shared point is the point at infinity")
    return point[0].to_bytes(curve.field_bytes, "big")


def x963_kdf(shared_secret: bytes, length: int, digest: Callable[[bytes], bytes]) -> bytes:
    """The ANSI X9.63 KDF of SEC 1 §3.6.1 with no SharedInfo: Hash(Z | counter) for a 32-bit big-endian
    counter from 1, concatenated and cut to ``length`` octets (any hash; ZSE uses AES-MMO)."""
    out = b""
    counter = 1
    while len(out) < length:
        out += digest(shared_secret + counter.to_bytes(4, "big"))
        counter += 1
    return out[:length]


def hmac(key: bytes, message: bytes, digest: Callable[[bytes], bytes], block_size: int) -> bytes:
    """HMAC (FIPS 198 / RFC 2104) over any hash of ``block_size``-octet blocks."""
    if len(key) > block_size:
        key = digest(key)
    key = key.ljust(block_size, b"\x00")
    inner = digest(bytes(b ^ 0x36 for b in key) + message)
    return digest(bytes(b ^ 0x5C for b in key) + inner)


def _mmo(message: bytes) -> bytes:
    return aes_mmo_hash([message])


def kdf(shared_secret: bytes) -> tuple[bytes, bytes]:
    """ZSE KDF: X9.63 with AES-MMO, 32 octets -> (MacKey, KeyData), i.e. AES-MMO(Z | 00000001) and
    AES-MMO(Z | 00000002)."""
    keying = x963_kdf(shared_secret, 2 * _MMO_BLOCK, _mmo)
    return keying[:_MMO_BLOCK], keying[_MMO_BLOCK:]


def mmo_hmac(key: bytes, message: bytes) -> bytes:
    """HMAC over AES-MMO, block size 16: the ZSE MAC scheme (Zigbee spec B.1.4 keyed hash)."""
    return hmac(key, message, _mmo, _MMO_BLOCK)


@dataclass(frozen=True)
class SessionKeys:
    """What CBKE yields: both confirmation MACs and the APS link key (ZSE's KeyData)."""

    mac_u: bytes          # initiator's confirmation (Confirm Key Data request)
    mac_v: bytes          # responder's confirmation (Confirm Key Data response)
    link_key: bytes


def session_keys(shared_secret: bytes, *, initiator_id: bytes, responder_id: bytes,
                 initiator_ephemeral: bytes, responder_ephemeral: bytes) -> SessionKeys:
    """MacKey and KeyData from Z, then MACU/MACV over the EUI-64s (big-endian) and ephemeral keys."""
    mac_key, key_data = kdf(shared_secret)
    mac_u = mmo_hmac(mac_key, bytes([MAC_TAG_INITIATOR]) + initiator_id + responder_id
                     + initiator_ephemeral + responder_ephemeral)
    mac_v = mmo_hmac(mac_key, bytes([MAC_TAG_RESPONDER]) + responder_id + initiator_id
                     + responder_ephemeral + initiator_ephemeral)
    return SessionKeys(mac_u, mac_v, key_data)


@dataclass(frozen=True)
class CbkeIdentity:
    """One party's long-term CBKE material: its certificate, static private key and its CA's key."""

    suite: int
    certificate: bytes
    private_key: int
    ca_public_key: bytes

    @property
    def eui64(self) -> bytes:
        return SUITES[self.suite].subject(self.certificate)


@dataclass
class EphemeralKey:
    suite: int
    private_key: int
    public_key: bytes

    @classmethod
    def generate(cls, suite_number: int) -> EphemeralKey:
        curve = SUITES[suite_number].curve
        k = curve.random_scalar()
        return cls(suite_number, k, curve.public_key(k))


def establish(identity: CbkeIdentity, ephemeral: EphemeralKey, *, partner_certificate: bytes,
              partner_ephemeral_public_key: bytes, am_initiator: bool) -> SessionKeys:
    """One side's whole computation after the ephemeral data exchange (what an NCP's calculateSmacs does)."""
    z = ecmqv_shared_secret(identity.suite, static_private_key=identity.private_key,
                            ephemeral_private_key=ephemeral.private_key,
                            ephemeral_public_key=ephemeral.public_key,
                            partner_certificate=partner_certificate,
                            partner_ephemeral_public_key=partner_ephemeral_public_key,
                            ca_public_key=identity.ca_public_key)
    partner_id = SUITES[identity.suite].subject(partner_certificate)
    if am_initiator:
        return session_keys(z, initiator_id=identity.eui64, responder_id=partner_id,
                            initiator_ephemeral=ephemeral.public_key,
                            responder_ephemeral=partner_ephemeral_public_key)
    return session_keys(z, initiator_id=partner_id, responder_id=identity.eui64,
                        initiator_ephemeral=partner_ephemeral_public_key,
                        responder_ephemeral=ephemeral.public_key)


def points_match(suite_number: int, keys: Sequence[bytes]) -> bool:
    """Whether every key decodes to a point of the suite's curve (a cheap partial validation)."""
    curve = SUITES[suite_number].curve
    try:
        for key in keys:
            curve.decode(bytes(key))
    except InvalidPoint:
        return False
    return True
