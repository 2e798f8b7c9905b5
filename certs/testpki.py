"""A deterministic TEST-ONLY SMKI hierarchy in the GBCS section 12 profile, for benches and tests.

Root -> organisation CA -> organisation certificates (supplier, network operator, ACB, recovery,
transitional CoS, WAN provider, load controller; DS and KA where the role uses both) and a second,
*wrong* network operator for SECMP0063 tests; root -> device CA -> DS and KA device certificates for each
device. Same seed, same bytes (keys derive from the seed, ECDSA signing is deterministic). Every CN
and every file name says TEST-ONLY. Fixed Entity IDs (EUI-64 shaped) are in ``ENTITY_IDS``.

Beside it, ``cbke_test_pki`` is a TEST-ONLY Zigbee SE CA per crypto suite (1: sect163k1, 2: sect283k1)
issuing ECQV implicit certificates to the hub and to each bench device, for CBKE (issue 13).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type  # x500UniqueIdentifier must be a BIT STRING; no public name
from cryptography.x509.oid import NameOID

from hanrig_errors import eui64_text

from .cbke import SUITES, CbkeIdentity, issue_implicit_certificate
from .cells import METER_CELLS, CellId, InstalledCell
from .exceptions import CertificateInputError
from .model import (
    DEVICE_NOT_AFTER,
    HARDWARE_MODULE_NAME,
    SMKI_TEST_POLICY,
    HardwareModuleName,
    KeyUsage,
    RemotePartyRole,
    parse_eui64,
)

TEST_ONLY = "TEST-ONLY"
DEFAULT_SEED = 1
NOT_BEFORE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
ORG_NOT_AFTER = dt.datetime(2045, 1, 1, tzinfo=dt.UTC)
HW_TYPE = x509.ObjectIdentifier("1.2.826.0.1.8641679.1.2.2")  # our rule: hwType for test device certs
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

# The simulated bench's devices (shared design): role, EUI-64.
BENCH_DEVICES: tuple[tuple[str, str], ...] = (
    ("ESME", "00:0d:6f:00:0a:bc:00:01"),
    ("GSME", "00:0d:6f:00:0a:bc:00:02"),
    ("IHD", "00:0d:6f:00:0a:bc:00:03"),
    ("PPMID", "00:0d:6f:00:0a:bc:00:04"),
    ("HCALCS", "00:0d:6f:00:0a:bc:00:05"),
)
METER_ROLES = frozenset({"ESME", "GSME", "GPF"})  # devices that hold trust anchor cells
HUB = ("HUB", "00:0d:6f:00:0a:bc:00:00")          # the coordinator, which answers CBKE as the hub
CBKE_ISSUER = b"TESTONLY"                          # the implicit certificates' issuer field (ASCII)

# Fixed, documented Entity IDs of the test organisations.
ENTITY_IDS: dict[str, str] = {
    "root": "90:b3:d5:1f:30:00:00:00",
    "orgCA": "90:b3:d5:1f:30:00:00:01",
    "deviceCA": "90:b3:d5:1f:30:00:00:02",
    "supplier": "90:b3:d5:1f:30:01:00:01",
    "networkOperator": "90:b3:d5:1f:30:01:00:02",
    "accessControlBroker": "90:b3:d5:1f:30:01:00:03",
    "recovery": "90:b3:d5:1f:30:01:00:04",
    "transitionalCoS": "90:b3:d5:1f:30:01:00:05",
    "wanProvider": "90:b3:d5:1f:30:01:00:06",
    "loadController": "90:b3:d5:1f:30:01:00:08",
    "wrongNetworkOperator": "90:b3:d5:1f:30:01:00:12",  # a second NO, for SECMP0063 tests
}

ORG_NAMES: dict[str, str] = {
    "supplier": "Supplier", "networkOperator": "Network Operator",
    "accessControlBroker": "Access Control Broker",
    "recovery": "Recovery", "transitionalCoS": "Transitional CoS", "wanProvider": "WAN Provider",
    "loadController": "Load Controller", "wrongNetworkOperator": "Wrong Network Operator",
}

# Which key usages each organisation gets (our rule where GBCS is silent).
ORG_USAGES: tuple[tuple[str, RemotePartyRole, tuple[KeyUsage, ...]], ...] = (
    ("supplier", RemotePartyRole.SUPPLIER, (KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT)),
    ("networkOperator", RemotePartyRole.NETWORK_OPERATOR, (KeyUsage.DIGITAL_SIGNATURE,
                                                           KeyUsage.KEY_AGREEMENT)),
    ("accessControlBroker", RemotePartyRole.ACCESS_CONTROL_BROKER,
     (KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT)),
    ("recovery", RemotePartyRole.RECOVERY, (KeyUsage.DIGITAL_SIGNATURE,)),
    ("transitionalCoS", RemotePartyRole.TRANSITIONAL_COS, (KeyUsage.DIGITAL_SIGNATURE,)),
    ("wanProvider", RemotePartyRole.WAN_PROVIDER, (KeyUsage.DIGITAL_SIGNATURE,)),
    ("loadController", RemotePartyRole.LOAD_CONTROLLER, (KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT)),
    ("wrongNetworkOperator", RemotePartyRole.NETWORK_OPERATOR,
     (KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT)),
)


@dataclass(frozen=True)
class Issued:
    """One certificate and its private key."""

    name: str                                  # file stem without the TEST-ONLY- prefix
    der: bytes = field(repr=False)
    key: ec.EllipticCurvePrivateKey = field(repr=False, compare=False)

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_der_x509_certificate(self.der)

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


@dataclass(frozen=True)
class DeviceCredentials:
    """A device's DS and KA device certificates."""

    role: str
    eui64: str
    digital_signature: Issued
    key_agreement: Issued

    @property
    def directory_name(self) -> str:
        return f"{self.role.lower()}-{self.eui64.replace(':', '')}"


@dataclass(frozen=True)
class TestPki:
    """The whole hierarchy in memory. ``organisations`` is keyed ``"<org>-<DS|KA>"``."""

    __test__ = False  # not a pytest test class, despite the name

    root: Issued
    org_ca: Issued
    device_ca: Issued
    organisations: dict[str, Issued]
    devices: tuple[DeviceCredentials, ...]
    seed: int = DEFAULT_SEED

    @property
    def supplier_signing_key(self) -> ec.EllipticCurvePrivateKey:
        return self.organisations["supplier-DS"].key

    def organisation(self, org: str, usage: KeyUsage) -> Issued:
        return self.organisations[f"{org}-{usage.short}"]

    def device(self, eui64: str) -> DeviceCredentials:
        want = eui64_text(parse_eui64(eui64))
        for device in self.devices:
            if device.eui64 == want:
                return device
        raise CertificateInputError("input.eui64", want, "no device with this EUI-64 in the test PKI")

    def meter_cells(self, *, network_operator: str = "networkOperator") -> tuple[InstalledCell, ...]:
        """The typical ESME/GSME/GPF trust anchor cells; ``network_operator="wrongNetworkOperator"``
        installs the other NO's certificates in the NO cells (the SECMP0063 fault)."""
        cells = []
        for cid in METER_CELLS:
            cells.append(InstalledCell(cid.remote_party_role, cid.key_usage, cid.cell_usage,
                                       self.cell_certificate(cid, network_operator=network_operator).der))
        return tuple(cells)

    def cell_certificate(self, cid: CellId, *, network_operator: str = "networkOperator") -> Issued:
        if cid.remote_party_role is RemotePartyRole.ROOT:
            return self.root
        org = cid.remote_party_role.camel
        if cid.remote_party_role is RemotePartyRole.NETWORK_OPERATOR:
            org = network_operator
        return self.organisation(org, cid.key_usage)

    def cbke(self) -> dict[int, CbkeTestPki]:
        """The CBKE test CAs (suites 1 and 2) for this PKI's seed, the hub and its devices."""
        devices = (HUB, *((d.role, d.eui64) for d in self.devices))
        return {suite: cbke_test_pki(suite, seed=self.seed, devices=devices) for suite in SUITES}

    def write(self, outdir: Path) -> list[Path]:
        """Write PEM certificates, PKCS#8 keys and one ``--cert-dir`` per meter; returns the paths written."""
        written: list[Path] = []

        def put(relative: str, data: bytes) -> None:
            path = outdir / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            written.append(path)

        put(f"{TEST_ONLY}-README.txt", _readme(self).encode())
        for suite, cbke in self.cbke().items():
            folder = f"cbke/suite{suite}/{TEST_ONLY}-"
            put(f"{folder}ca-public-key.hex", cbke.ca_public_key.hex().encode() + b"\n")
            put(f"{folder}ca-private-key.hex", cbke.scalar_hex(cbke.ca_private_key).encode() + b"\n")
            for (role, eui), identity in cbke.identities.items():
                stem = f"{folder}{role.lower()}-{eui.replace(':', '')}"
                put(f"{stem}.cert", identity.certificate)
                put(f"{stem}-key.hex", cbke.scalar_hex(identity.private_key).encode() + b"\n")
        for folder, issued in (("", self.root), ("ca/", self.org_ca), ("ca/", self.device_ca)):
            put(f"{folder}{TEST_ONLY}-{issued.name}.pem", issued.pem)
            put(f"{folder}{TEST_ONLY}-{issued.name}-key.pem", issued.key_pem)
        for issued in self.organisations.values():
            put(f"orgs/{TEST_ONLY}-{issued.name}.pem", issued.pem)
            put(f"orgs/{TEST_ONLY}-{issued.name}-key.pem", issued.key_pem)
        put(f"{TEST_ONLY}-supplier-signing-key.pem", self.organisations["supplier-DS"].key_pem)
        for device in self.devices:
            for issued in (device.digital_signature, device.key_agreement):
                put(f"devices/{TEST_ONLY}-{issued.name}.pem", issued.pem)
                put(f"devices/{TEST_ONLY}-{issued.name}-key.pem", issued.key_pem)
            folder = f"cert-dirs/{device.directory_name}/{TEST_ONLY}-"
            put(f"{folder}device-DS.der", device.digital_signature.der)
            put(f"{folder}device-KA.der", device.key_agreement.der)
            put(f"{folder}ca-device.der", self.device_ca.der)
            if device.role in METER_ROLES:
                put(f"{folder}ca-org.der", self.org_ca.der)
                for cell in self.meter_cells():
                    put(f"{folder}{cell.name}.der", cell.der)
        return written


def derive_key(seed: int, label: str) -> ec.EllipticCurvePrivateKey:
    """A TEST-ONLY P-256 key from the seed and a label: the same pair gives the same key."""
    digest = hashlib.sha256(f"hanrig-test-pki/{seed}/{label}".encode()).digest()
    scalar = int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _serial(seed: int, label: str) -> int:
    return int.from_bytes(hashlib.sha256(f"hanrig-test-pki-serial/{seed}/{label}".encode()).digest()[:15],
                          "big") | 1


def key_identifier(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """8-octet key identifier: the first 64 bits of SHA-256 over the uncompressed point (RFC 7093 style)."""
    point = public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return hashlib.sha256(point).digest()[:8]


def _org_name(common_name: str, role: RemotePartyRole, entity_id: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"{role.value:02X}"),
        # cryptography writes the value as the BIT STRING contents: lead with the unused-bits octet (0)
        x509.NameAttribute(NameOID.X500_UNIQUE_IDENTIFIER, b"\x00" + parse_eui64(entity_id),
                           _ASN1Type.BitString),
    ])


def _sign(*, label: str, seed: int, subject: x509.Name, key: ec.EllipticCurvePrivateKey,
          issuer: Issued | None, issuer_name: x509.Name | None, usage: KeyUsage, not_after: dt.datetime,
          san: x509.SubjectAlternativeName | None = None) -> Issued:
    ski = key_identifier(key.public_key())
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(issuer_name if issuer_name is not None else subject)
               .public_key(key.public_key())
               .serial_number(_serial(seed, label))
               .not_valid_before(NOT_BEFORE)
               .not_valid_after(not_after)
               .add_extension(x509.KeyUsage(
                   digital_signature=usage is KeyUsage.DIGITAL_SIGNATURE, content_commitment=False,
                   key_encipherment=False, data_encipherment=False,
                   key_agreement=usage is KeyUsage.KEY_AGREEMENT,
                   key_cert_sign=usage is KeyUsage.KEY_CERT_SIGN,
                   crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.CertificatePolicies([x509.PolicyInformation(
                   x509.ObjectIdentifier(SMKI_TEST_POLICY), None)]), critical=True)
               .add_extension(x509.SubjectKeyIdentifier(ski), critical=False))
    if usage is KeyUsage.KEY_CERT_SIGN:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    if issuer is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier(
            key_identifier(issuer.key.public_key()), None, None), critical=False)
    if san is not None:
        builder = builder.add_extension(san, critical=True)
    signer = issuer.key if issuer is not None else key
    cert = builder.sign(signer, hashes.SHA256(), ecdsa_deterministic=True)
    return Issued(label, cert.public_bytes(serialization.Encoding.DER), key)


def make_test_pki(outdir: Path | None = None, *, devices: Sequence[tuple[str, str]] = BENCH_DEVICES,
                  supplier_signing_key: ec.EllipticCurvePrivateKey | None = None,
                  seed: int = DEFAULT_SEED) -> TestPki:
    """Build the TEST-ONLY hierarchy (and write it under ``outdir`` when given).

    ``supplier_signing_key`` is the key the sample firmware images are signed with
    (``firmware_images/TEST-ONLY-supplier-signing-key.pem``); the supplier DS certificate certifies it.
    """
    if supplier_signing_key is not None and not (
            isinstance(supplier_signing_key, ec.EllipticCurvePrivateKey)
            and isinstance(supplier_signing_key.curve, ec.SECP256R1)):
        raise CertificateInputError("input.supplier_signing_key", "supplier signing key",
                                    "must be an EC P-256 private key")
    root_name = _org_name(f"{TEST_ONLY} SMKI Root", RemotePartyRole.ROOT, ENTITY_IDS["root"])
    root = _sign(label="root", seed=seed, subject=root_name, key=derive_key(seed, "root"), issuer=None,
                 issuer_name=None, usage=KeyUsage.KEY_CERT_SIGN, not_after=DEVICE_NOT_AFTER)
    org_ca = _sign(label="org-ca", seed=seed, key=derive_key(seed, "org-ca"), issuer=root,
                   issuer_name=root_name,
                   subject=_org_name(f"{TEST_ONLY} SMKI Organisation CA", RemotePartyRole.ISSUING_AUTHORITY,
                                     ENTITY_IDS["orgCA"]),
                   usage=KeyUsage.KEY_CERT_SIGN, not_after=DEVICE_NOT_AFTER)
    device_ca = _sign(label="device-ca", seed=seed, key=derive_key(seed, "device-ca"), issuer=root,
                      issuer_name=root_name,
                      subject=_org_name(f"{TEST_ONLY} SMKI Device CA", RemotePartyRole.ISSUING_AUTHORITY,
                                        ENTITY_IDS["deviceCA"]),
                      usage=KeyUsage.KEY_CERT_SIGN, not_after=DEVICE_NOT_AFTER)
    org_ca_name = org_ca.certificate.subject
    organisations: dict[str, Issued] = {}
    for org, role, usages in ORG_USAGES:
        subject = _org_name(f"{TEST_ONLY} {ORG_NAMES[org]}", role, ENTITY_IDS[org])
        for usage in usages:
            label = f"{org}-{usage.short}"
            key = derive_key(seed, label)
            if label == "supplier-DS" and supplier_signing_key is not None:
                key = supplier_signing_key
            organisations[label] = _sign(label=label, seed=seed, subject=subject, key=key, issuer=org_ca,
                                         issuer_name=org_ca_name, usage=usage, not_after=ORG_NOT_AFTER)
    device_ca_name = device_ca.certificate.subject
    issued_devices = []
    for role, eui in devices:
        eui_bytes = parse_eui64(eui, what=f"{role} EUI-64")
        text = eui64_text(eui_bytes)
        hw = x509.OtherName(HARDWARE_MODULE_NAME, _encode_hw_module_name(eui_bytes))
        pair = []
        for usage in (KeyUsage.DIGITAL_SIGNATURE, KeyUsage.KEY_AGREEMENT):
            label = f"{role.lower()}-{eui_bytes.hex()}-{usage.short}"
            pair.append(_sign(label=label, seed=seed, subject=x509.Name([]), key=derive_key(seed, label),
                              issuer=device_ca, issuer_name=device_ca_name, usage=usage,
                              not_after=DEVICE_NOT_AFTER, san=x509.SubjectAlternativeName([hw])))
        issued_devices.append(DeviceCredentials(role.upper(), text, pair[0], pair[1]))
    pki = TestPki(root, org_ca, device_ca, organisations, tuple(issued_devices), seed)
    if outdir is not None:
        pki.write(outdir)
    return pki


@dataclass(frozen=True)
class CbkeTestPki:
    """One suite's TEST-ONLY CBKE CA and the implicit certificates it issued, keyed (role, EUI-64)."""

    suite: int
    ca_private_key: int = field(repr=False)
    ca_public_key: bytes
    identities: dict[tuple[str, str], CbkeIdentity]

    def identity(self, eui64: str) -> CbkeIdentity:
        want = eui64_text(parse_eui64(eui64))
        for (_role, eui), identity in self.identities.items():
            if eui == want:
                return identity
        raise CertificateInputError("input.eui64", want, f"no suite {self.suite} CBKE certificate for it")

    def scalar_hex(self, k: int) -> str:
        return SUITES[self.suite].curve.scalar_to_bytes(k).hex()


def cbke_ca_private_key(suite: int, seed: int = DEFAULT_SEED, label: str = "cbke-ca") -> int:
    """A CA key derived from the seed (``label`` lets a fault make an unknown issuer)."""
    curve = SUITES[suite].curve
    digest = hashlib.sha512(f"hanrig-test-pki/{seed}/{label}/suite{suite}".encode()).digest()
    return 1 + int.from_bytes(digest, "big") % (curve.n - 1)


@functools.cache
def cbke_test_pki(suite: int, *, seed: int = DEFAULT_SEED,
                  devices: tuple[tuple[str, str], ...] = (HUB, *BENCH_DEVICES),
                  ca_label: str = "cbke-ca", issuer: bytes = CBKE_ISSUER) -> CbkeTestPki:
    """Deterministic implicit certificates for ``devices`` ((role, EUI-64) pairs) from a seed-derived CA
    (another ``ca_label`` and ``issuer`` make a CA nobody trusts, for the unknown-issuer fault).

    Suite 2 certificates are valid from 2025-01-01 with no expiry and carry keyAgreement only.
    """
    ca_private = cbke_ca_private_key(suite, seed, ca_label)
    identities: dict[tuple[str, str], CbkeIdentity] = {}
    for index, (role, eui) in enumerate(devices):
        eui_bytes = parse_eui64(eui, what=f"{role} EUI-64")
        request = cbke_ca_private_key(suite, seed, f"{ca_label}/{eui_bytes.hex()}/request")
        nonce = cbke_ca_private_key(suite, seed, f"{ca_label}/{eui_bytes.hex()}/nonce")
        issued = issue_implicit_certificate(suite, ca_private_key=ca_private, issuer=issuer,
                                            subject=eui_bytes, request_key=request, ca_nonce=nonce,
                                            serial_number=index + 1, valid_from=NOT_BEFORE)
        identities[(role.upper(), eui64_text(eui_bytes))] = CbkeIdentity(
            suite, issued.certificate, issued.private_key, _cbke_ca_public_key(suite, ca_private))
    return CbkeTestPki(suite, ca_private, _cbke_ca_public_key(suite, ca_private), identities)


@functools.cache
def _cbke_ca_public_key(suite: int, ca_private_key: int) -> bytes:
    """The CA's public key, once per CA: each simulated device asks for its own certificate (one call of
    :func:`cbke_test_pki` each), and a scalar product on sect283k1 costs 0.3 ms in OpenSSL, milliseconds
    in the Python fallback."""
    return SUITES[suite].curve.public_key(ca_private_key)


def _encode_hw_module_name(eui64: bytes) -> bytes:
    from cryptography.hazmat.asn1 import encode_der

    return encode_der(HardwareModuleName(hw_type=HW_TYPE, hw_serial_num=eui64))


def _readme(pki: TestPki) -> str:
    lines = [
        "TEST-ONLY SMKI hierarchy made by `hanrig certs make-test-pki`. NEVER install these on a production",
        "device: every private key is derived from a public seed.",
        "",
        "Entity IDs:",
        *(f"  {name:22} {eid}" for name, eid in ENTITY_IDS.items()),
        "",
        "Layout: TEST-ONLY-root.pem (trust this with --root), ca/ (issuing CAs), orgs/ (organisation",
        "certificates and keys), devices/ (device certificates and keys),",
        "TEST-ONLY-supplier-signing-key.pem,",
        "cert-dirs/<role>-<eui64>/ (one `hanrig certs verify --cert-dir` directory per device),",
        "cbke/suite1|suite2/ (Zigbee SE implicit certificates for CBKE: the test CA's public and private",
        "key as hex, and per device and the hub a raw certificate <role>-<eui64>.cert and its key as hex).",
        "",
        "Devices:",
        *(f"  {d.role:7} {d.eui64}  cert-dirs/{d.directory_name}" for d in pki.devices),
        "",
    ]
    return "\n".join(lines)
