"""Where GBCS keys come from: a directory laid out like the RTDS test keystore, plus keys added in code.

Files are named by EUI-64 (16 lower-case hex digits) and key use:
``<eui64>-ds.pem`` / ``<eui64>-ka.pem`` certificates (public keys), ``<eui64>-ds.key`` / ``-ka.key``
TEST-ONLY private keys (PKCS#8 PEM), ``<eui64>-pp-ka.*`` the prepayment key agreement pair.
Files are loaded when first needed; ``add_test_pki`` adds the bench's TEST-ONLY PKI (``certs.testpki``).
Private keys never leave this module as text: nothing here prints,
logs or serialises them, and ``repr`` shows only which keys are held.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certs import RemotePartyRole, load_certificate
from certs.testpki import ENTITY_IDS, TestPki
from hanrig_errors import eui64_bytes

from .exceptions import KeystoreError


class KeyUse(enum.StrEnum):
    """Which of an entity's keys: digital signature, key agreement, prepayment key agreement."""

    DS = "ds"
    KA = "ka"
    PP_KA = "pp-ka"


_FILE = re.compile(r"^([0-9a-f]{16})-(ds|ka|pp-ka)\.(pem|key)$")


class Keystore:
    """Public and private P-256 keys by (EUI-64, key use)."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self._files: dict[tuple[bytes, KeyUse, str], Path] = {}
        self._public: dict[tuple[bytes, KeyUse], ec.EllipticCurvePublicKey] = {}
        self._private: dict[tuple[bytes, KeyUse], ec.EllipticCurvePrivateKey] = {}
        self._roles: dict[bytes, RemotePartyRole | None] = {}
        self.directory = Path(directory) if directory is not None else None
        if self.directory is not None:
            if not self.directory.is_dir():
                raise KeystoreError(f"{self.directory}: keystore is not a directory")
            for path in sorted(self.directory.iterdir()):
                match = _FILE.match(path.name.lower())
                if match:
                    eui, use, suffix = match.groups()
                    self._files[(bytes.fromhex(eui), KeyUse(use), suffix)] = path

    def __repr__(self) -> str:
        return (f"Keystore({str(self.directory) if self.directory else 'in memory'}, "
                f"{len(self.entities())} entities)")

    def entities(self) -> list[bytes]:
        found = {eui for eui, _, _ in self._files} | {eui for eui, _ in self._public} | {
            eui for eui, _ in self._private}
        return sorted(found)

    # -- adding keys in code (the bench PKI, simulated devices)
    def add_private_key(self, eui64: bytes, use: KeyUse, key: ec.EllipticCurvePrivateKey) -> None:
        self._private[(eui64, use)] = key
        self._public.setdefault((eui64, use), key.public_key())

    def add_public_key(self, eui64: bytes, use: KeyUse, key: ec.EllipticCurvePublicKey) -> None:
        self._public[(eui64, use)] = key

    def add_certificate(self, eui64: bytes, use: KeyUse, der_or_pem: bytes) -> None:
        self._public[(eui64, use)] = _public_key(_load_cert(der_or_pem, f"{eui64.hex()}-{use}"),
                                                 f"{eui64.hex()}-{use}")

    def add_test_pki(self, pki: TestPki) -> None:
        """The bench's TEST-ONLY PKI (``certs.testpki``): every organisation's keys by its Entity ID and
        role, and the simulated devices' own DS/KA keys (they sign and MAC as devices do)."""
        for label, issued in pki.organisations.items():
            org, usage = label.rsplit("-", 1)
            eui = eui64_bytes(ENTITY_IDS[org])
            self.add_private_key(eui, KeyUse.DS if usage == "DS" else KeyUse.KA, issued.key)
            self._roles[eui] = load_certificate(issued.der, name=label).role
        for device in pki.devices:
            eui = eui64_bytes(device.eui64)
            self.add_private_key(eui, KeyUse.DS, device.digital_signature.key)
            self.add_private_key(eui, KeyUse.KA, device.key_agreement.key)
            self._roles[eui] = None

    # -- lookups (None when the keystore does not hold it)
    def public_key(self, eui64: bytes, use: KeyUse) -> ec.EllipticCurvePublicKey | None:
        key = self._public.get((eui64, use))
        if key is None:
            path = self._files.get((eui64, use, "pem"))
            if path is not None:
                key = _public_key(_load_cert(path.read_bytes(), path.name), path.name)
            elif (private := self.private_key(eui64, use)) is not None:
                key = private.public_key()
            if key is not None:
                self._public[(eui64, use)] = key
        return key

    def private_key(self, eui64: bytes, use: KeyUse) -> ec.EllipticCurvePrivateKey | None:
        key = self._private.get((eui64, use))
        if key is None:
            path = self._files.get((eui64, use, "key"))
            if path is None:
                return None
            try:
                loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except (ValueError, TypeError) as exc:
                raise KeystoreError(f"{path}: not an unencrypted PEM private key ({exc})") from None
            p256 = isinstance(loaded, ec.EllipticCurvePrivateKey) and isinstance(loaded.curve, ec.SECP256R1)
            if not p256:
                raise KeystoreError(f"{path}: not an EC P-256 private key")
            key = self._private[(eui64, use)] = loaded
        return key

    def role(self, eui64: bytes) -> RemotePartyRole | None:
        """The remote party role an organisation certificate's OU names; None for a device or unknown."""
        if eui64 not in self._roles:
            role = None
            for use in (KeyUse.DS, KeyUse.KA):
                path = self._files.get((eui64, use, "pem"))
                if path is not None:
                    role = load_certificate(path.read_bytes(), name=path.name).role
                    if role is not None:
                        break
            self._roles[eui64] = role
        return self._roles[eui64]

    def access_control_broker(self) -> bytes | None:
        """The entity whose certificate says Access Control Broker (it MACs commands to devices)."""
        # Only remote parties hold private keys in a keystore; devices appear by certificate alone.
        candidates = sorted({eui for eui, _, suffix in self._files if suffix == "key"} | {
            eui for eui, _ in self._private})
        for eui in candidates:
            if self.role(eui) is RemotePartyRole.ACCESS_CONTROL_BROKER:
                return eui
        return None


def _load_cert(data: bytes, name: str) -> x509.Certificate:
    try:
        if data.lstrip().startswith(b"-----"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise KeystoreError(f"{name}: not an X.509 certificate ({exc})") from None


def _public_key(cert: x509.Certificate, name: str) -> ec.EllipticCurvePublicKey:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeystoreError(f"{name}: certificate key is not EC P-256")
    return key
