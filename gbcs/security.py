"""GBCS security: key agreement, key derivation, the MAC, content encryption, ECDSA signatures and the
originator-counter rules. Checked against every MAC and signature of the DCC's RTDS sample.

- **Key agreement**: static-static ECDH on P-256 between a remote party's key-agreement key and a
  device's (the shared secret Z). Z depends only on the pair, so it is cached per (remote party, device,
  key use); verifying a stream costs one SHA-256 and one GMAC per message, not a point multiplication.
- **Key derivation**: NIST SP 800-56A single-step KDF with SHA-256, one round:
  ``SHA-256(00000001 || Z || OtherInfo)[:16]``, OtherInfo = AlgorithmID ``60 85 74 06 08 03 00`` ||
  business originator || ``09`` || CRA flag || originator counter || business target. The message's
  own CRA flag (1/2/3) keys its MAC; flag ``04`` keys encrypted content.
- **MAC**: AES-128-GCM with no plaintext, 12-octet tag, IV = business originator || ``00000000``,
  AAD = ``11 00 00 00 00 00`` (security control, zero invocation counter, and the octet GBCS puts
  before the APDU) || the General-Signing APDU. Commands to devices are MACed with the Access Control
  Broker's key (it checks and forwards them); responses and alerts with the business target's key.
- **Encryption** (e.g. the GSME's registers in a GCS13a response): AES-128-GCM, same IV, AAD = the
  inner security control octet ``31``, key from the encryption KDF above.
- **Signatures**: ECDSA P-256 / SHA-256 over the General-Signing APDU from the octet after ``DF``
  through the content; carried as raw r || s.
- **Originator counters**: ``CounterTracker`` names a replay (a counter already accepted) and an
  out-of-order counter (lower than the highest accepted).
"""

from __future__ import annotations

import enum
import hashlib
from collections import deque
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .exceptions import BuildError, CounterRejected, SecurityCheckFailed
from .keystore import Keystore, KeyUse
from .wire import MAC_LENGTH, Message

ALGORITHM_ID = bytes.fromhex("60857406080300")
MAC_AAD_PREFIX = bytes.fromhex("110000000000")
ENCRYPTION_CRA_FLAG = 0x04
CONTENT_SECURITY_CONTROL = 0x31  # inner security header of encrypted content: encrypted + authenticated


class Verdict(enum.StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    NO_KEY = "no-key"
    ABSENT = "absent"


def derive_key(shared_secret: bytes, originator: bytes, cra_flag: int, counter: int, target: bytes) -> bytes:
    """The 128-bit AES key GBCS derives for one message (SP 800-56A concatenation KDF, SHA-256)."""
    other_info = ALGORITHM_ID + originator + bytes([9, cra_flag]) + counter.to_bytes(8, "big") + target
    return hashlib.sha256(b"\x00\x00\x00\x01" + shared_secret + other_info).digest()[:16]


def gcm_iv(originator: bytes) -> bytes:
    return originator + b"\x00\x00\x00\x00"


def gmac(key: bytes, originator: bytes, aad: bytes) -> bytes:
    return AESGCM(key).encrypt(gcm_iv(originator), b"", aad)[:MAC_LENGTH]


@dataclass(frozen=True)
class SecurityReport:
    """What ``Security.check`` found; ``mac_party``/``signer`` are the EUI-64s whose keys were used."""

    mac: Verdict
    signature: Verdict
    mac_party: bytes | None = None
    signer: bytes | None = None

    @property
    def ok(self) -> bool:
        return Verdict.INVALID not in (self.mac, self.signature)


class Security:
    """Keys for MACs, encryption and signatures from a ``Keystore``, with the shared-secret cache."""

    def __init__(self, keystore: Keystore, *, access_control_broker: bytes | None = None) -> None:
        self.keystore = keystore
        self._acb = access_control_broker
        self._acb_looked_up = access_control_broker is not None
        self._secrets: dict[tuple[bytes, bytes, KeyUse], bytes | None] = {}
        self.key_agreements = 0  # how many ECDH computations the cache could not spare

    @property
    def access_control_broker(self) -> bytes | None:
        if not self._acb_looked_up:
            self._acb = self.keystore.access_control_broker()
            self._acb_looked_up = True
        return self._acb

    # -- key agreement
    def shared_secret(self, remote_party: bytes, device: bytes, use: KeyUse = KeyUse.KA) -> bytes | None:
        """Z between a remote party's ``use`` key and the device's KA key (either private key will do)."""
        cache_key = (remote_party, device, use)
        if cache_key in self._secrets:
            return self._secrets[cache_key]
        secret = None
        private = self.keystore.private_key(remote_party, use)
        public = self.keystore.public_key(device, KeyUse.KA) if private is not None else None
        if private is None or public is None:
            private = self.keystore.private_key(device, KeyUse.KA)
            public = self.keystore.public_key(remote_party, use) if private is not None else None
        if private is not None and public is not None:
            secret = private.exchange(ec.ECDH(), public)
            self.key_agreements += 1
        self._secrets[cache_key] = secret
        return secret

    # -- MAC
    def mac_parties(self, message: Message) -> tuple[bytes, bytes]:
        """(remote party whose key MACs it, device) for a message."""
        if message.cra_flag == 1:
            return self.access_control_broker or message.originator, message.target
        return message.target, message.originator

    def mac_key(self, message: Message) -> bytes | None:
        remote_party, device = self.mac_parties(message)
        secret = self.shared_secret(remote_party, device)
        if secret is None:
            return None
        return derive_key(secret, message.originator, message.cra_flag, message.originator_counter,
                          message.target)

    def compute_mac(self, message: Message) -> bytes | None:
        key = self.mac_key(message)
        if key is None:
            return None
        return gmac(key, message.originator, MAC_AAD_PREFIX + message.general_signing_apdu())

    def verify_mac(self, message: Message) -> Verdict:
        if message.mac is None:
            return Verdict.ABSENT
        expected = self.compute_mac(message)
        if expected is None:
            return Verdict.NO_KEY
        return Verdict.VALID if expected == message.mac else Verdict.INVALID

    def apply_mac(self, message: Message) -> Message:
        """The message wrapped in General-Ciphering with its MAC (``BuildError`` without the key)."""
        mac = self.compute_mac(message.with_(mac=b"\0" * MAC_LENGTH))
        if mac is None:
            remote_party, device = self.mac_parties(message)
            raise BuildError(f"no key agreement keys for {remote_party.hex()} and {device.hex()} to MAC with")
        return message.with_(mac=mac)

    # -- signatures
    def verify_signature(self, message: Message) -> Verdict:
        if not message.signature:
            return Verdict.ABSENT
        public = self.keystore.public_key(message.originator, KeyUse.DS)
        if public is None:
            return Verdict.NO_KEY
        r = int.from_bytes(message.signature[:32], "big")
        s = int.from_bytes(message.signature[32:], "big")
        try:
            public.verify(encode_dss_signature(r, s), message.signed_part()[1:], ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return Verdict.INVALID
        return Verdict.VALID

    def sign(self, message: Message) -> Message:
        """The message signed by its business originator's DS key (``BuildError`` without it)."""
        private = self.keystore.private_key(message.originator, KeyUse.DS)
        if private is None:
            raise BuildError(f"no digital signature key for {message.originator.hex()} to sign with")
        # RFC 6979 (as ota.signing): the same message signs to the same bytes, so a seeded run repeats
        der = private.sign(message.signed_part()[1:], ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
        r, s = decode_dss_signature(der)
        return message.with_(signature=r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    # -- encrypted content
    def encryption_key(self, message: Message) -> bytes | None:
        """The key of encrypted content between the business remote party and the device."""
        if message.cra_flag == 1:
            remote_party, device = message.originator, message.target
        else:
            remote_party, device = message.target, message.originator
        remote_party = message.supplementary_remote_party or remote_party
        secret = self.shared_secret(remote_party, device)
        if secret is None:
            return None
        counter = message.supplementary_originator_counter
        return derive_key(secret, message.originator, ENCRYPTION_CRA_FLAG,
                          message.originator_counter if counter is None else counter,
                          message.supplementary_remote_party or message.target)

    def decrypt(self, message: Message, ciphertext_and_tag: bytes) -> bytes | None:
        """Plaintext of encrypted content; None without the key; ``SecurityCheckFailed`` on a bad tag."""
        key = self.encryption_key(message)
        if key is None:
            return None
        if len(ciphertext_and_tag) < MAC_LENGTH:
            raise SecurityCheckFailed("encrypted content shorter than its 12-octet tag")
        ciphertext, tag = ciphertext_and_tag[:-MAC_LENGTH], ciphertext_and_tag[-MAC_LENGTH:]
        decryptor = Cipher(algorithms.AES(key), modes.GCM(gcm_iv(message.originator), tag,
                                                          min_tag_length=MAC_LENGTH)).decryptor()
        decryptor.authenticate_additional_data(bytes([CONTENT_SECURITY_CONTROL]))
        try:
            return decryptor.update(ciphertext) + decryptor.finalize()
        except InvalidTag:
            raise SecurityCheckFailed("encrypted content: authentication tag does not verify") from None

    def encrypt(self, message: Message, plaintext: bytes) -> bytes:
        key = self.encryption_key(message)
        if key is None:
            raise BuildError("no key agreement keys to encrypt this content with")
        sealed = AESGCM(key).encrypt(gcm_iv(message.originator), plaintext, bytes([CONTENT_SECURITY_CONTROL]))
        return sealed[:len(plaintext) + MAC_LENGTH]

    # -- everything at once
    def check(self, message: Message) -> SecurityReport:
        mac_party = self.mac_parties(message)[0] if message.mac is not None else None
        signer = message.originator if message.signature else None
        return SecurityReport(self.verify_mac(message), self.verify_signature(message), mac_party, signer)


class CounterTracker:
    """GBCS originator-counter rules for one receiver: per (originator, target, CRA flag) a counter must
    be higher than any accepted before. A counter already accepted is a replay; one below the highest
    accepted (but never seen) arrived out of order. Both are refused and named."""

    def __init__(self, memory: int = 1024) -> None:
        self._highest: dict[tuple[bytes, bytes, int], int] = {}
        self._recent: dict[tuple[bytes, bytes, int], deque[int]] = {}
        self._memory = memory

    def accept(self, message: Message) -> None:
        key = (message.originator, message.target, message.cra_flag)
        counter = message.originator_counter
        highest = self._highest.get(key)
        recent = self._recent.setdefault(key, deque(maxlen=self._memory))
        who = f"{message.originator.hex()} -> {message.target.hex()}"
        if counter in recent:
            raise CounterRejected("replay", f"replay: {who} counter {counter} was already accepted")
        if highest is not None and counter < highest:
            raise CounterRejected(
                "out-of-order", f"out-of-order: {who} counter {counter} is below the last accepted {highest}")
        self._highest[key] = counter
        recent.append(counter)
