"""Cryptographic primitives for OTA images, all on ``cryptography``: the GBCS Supplier signature
(ECDSA P-256 / SHA-256, raw r||s), key and certificate loading, and the Zigbee AES-MMO hash used by
the image integrity code (sub-element 0x0003).

Nothing here knows the file layout; ``ota.format`` decides which bytes are signed or hashed.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .exceptions import KeyFileError

# GBCS Supplier signature: P-256 coordinates are 32 octets, so r||s is 64 (the 0x0040 length prefix).
SIGNATURE_SIZE = 64
_COORDINATE = SIGNATURE_SIZE // 2
_AES_BLOCK = 16
# Zigbee spec B.6: short messages carry a 16-bit bit-length, longer ones a 32-bit one.
_MMO_SHORT_LIMIT_BITS = 1 << 16
_MMO_LONG_LIMIT_BITS = 1 << 32
_ECB = modes.ECB()  # stateless: one instance serves every block
_MMO_REMEMBERED = 8  # hashes aes_mmo_hash_of keeps, by SHA-256 and length (no image bytes)
_mmo_by_sha256: OrderedDict[bytes, bytes] = OrderedDict()
_mmo_lock = threading.Lock()


def sign_raw(key: ec.EllipticCurvePrivateKey, message: bytes | memoryview) -> bytes:
    """ECDSA P-256 / SHA-256 over ``message``, as the 64-octet raw r||s GBCS carries.

    Deterministic (RFC 6979) so rebuilding a sample image gives the same bytes.
    """
    _require_p256(key.curve, "signing key")
    der = key.sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    return r.to_bytes(_COORDINATE, "big") + s.to_bytes(_COORDINATE, "big")


def verify_raw(public_key: ec.EllipticCurvePublicKey, message: bytes | memoryview,
               signature: bytes | memoryview) -> bool:
    """True when ``signature`` (raw r||s, 64 octets) is a valid P-256/SHA-256 signature of ``message``."""
    if len(signature) != SIGNATURE_SIZE or not isinstance(public_key.curve, ec.SECP256R1):
        return False
    raw = bytes(signature)
    der = encode_dss_signature(int.from_bytes(raw[:_COORDINATE], "big"),
                               int.from_bytes(raw[_COORDINATE:], "big"))
    try:
        public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))  # buffers are hashed in place
    except InvalidSignature:
        return False
    return True


def raw_to_der(signature: bytes | memoryview) -> bytes:
    """The DER ECDSA-Sig-Value for a raw r||s signature (what ``openssl dgst -verify`` reads)."""
    raw = bytes(signature)
    if len(raw) != SIGNATURE_SIZE:
        raise ValueError(f"raw signature is {len(raw)} octets, expected {SIGNATURE_SIZE}")
    return encode_dss_signature(int.from_bytes(raw[:_COORDINATE], "big"),
                                int.from_bytes(raw[_COORDINATE:], "big"))


def der_to_raw(der: bytes) -> bytes:
    """The raw r||s form of a DER ECDSA-Sig-Value made with a P-256 key."""
    r, s = decode_dss_signature(der)
    return r.to_bytes(_COORDINATE, "big") + s.to_bytes(_COORDINATE, "big")


def load_private_key(data: bytes, *, name: str = "<key>") -> ec.EllipticCurvePrivateKey:
    """An unencrypted EC P-256 private key from PEM or DER bytes."""
    loaders = (serialization.load_pem_private_key, serialization.load_der_private_key)
    key = _first_that_loads(loaders, data, password=None)
    if key is None:
        raise KeyFileError(name, "not an unencrypted PEM or DER private key")
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyFileError(name, f"a {type(key).__name__.lstrip('_')}, expected an EC P-256 private key")
    _require_p256(key.curve, name)
    return key


def load_public_key(data: bytes, *, name: str = "<key>") -> ec.EllipticCurvePublicKey:
    """The EC P-256 public key in an X.509 certificate or a public key, PEM or DER."""
    cert = _first_that_loads((x509.load_pem_x509_certificate, x509.load_der_x509_certificate), data)
    if cert is not None:
        try:
            key = cert.public_key()
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyFileError(name, f"certificate public key unreadable: {exc}") from None
    else:
        key = _first_that_loads((serialization.load_pem_public_key, serialization.load_der_public_key), data)
        if key is None:
            raise KeyFileError(name, "not an X.509 certificate or a public key (PEM or DER)")
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise KeyFileError(name, f"a {type(key).__name__.lstrip('_')}, expected an EC P-256 public key")
    _require_p256(key.curve, name)
    return key


def aes_mmo_hash(chunks: Iterable[bytes | memoryview]) -> bytes:
    """The Zigbee AES-128 Matyas-Meyer-Oseas hash (Zigbee spec B.6) of the concatenated ``chunks``.

    Includes the long-message padding (32-bit length, for messages of 2^16 bits or more) that
    ``zigpy.util.aes_mmo_hash`` lacks; the Ubisys corpus file's integrity code confirms it. Each block
    is keyed by the previous hash value, so this is one AES call per 16 octets: slow in Python, but
    integrity codes are only computed when building or verifying.
    """
    state = bytes(_AES_BLOCK)
    pending = b""
    length = 0
    for chunk in chunks:
        length += len(chunk)
        view = memoryview(chunk).cast("B")
        if pending:
            need = _AES_BLOCK - len(pending)
            pending += bytes(view[:need])
            view = view[need:]
            if len(pending) < _AES_BLOCK:
                continue
            state = _mmo_block(state, pending)
            pending = b""
        whole = len(view) - len(view) % _AES_BLOCK
        for start in range(0, whole, _AES_BLOCK):
            state = _mmo_block(state, view[start:start + _AES_BLOCK])
        pending = bytes(view[whole:])
    bits = length * 8
    if bits >= _MMO_LONG_LIMIT_BITS:
        raise ValueError(f"AES-MMO input of {length} octets is beyond the 2^32-bit limit")
    if bits < _MMO_SHORT_LIMIT_BITS:
        tail_size, suffix = 2, bits.to_bytes(2, "big")
    else:
        tail_size, suffix = 6, bits.to_bytes(4, "big") + b"\x00\x00"
    padded = pending + b"\x80"
    padded += bytes((-(len(padded) + tail_size)) % _AES_BLOCK) + suffix
    for start in range(0, len(padded), _AES_BLOCK):
        state = _mmo_block(state, padded[start:start + _AES_BLOCK])
    return state


def aes_mmo_hash_of(data: bytes | memoryview) -> bytes:
    """``aes_mmo_hash([data])``, remembered for the last few inputs by their SHA-256.

    A campaign's simulated devices each check the integrity code of the same image on completion: one
    AES call per 16 octets, a fifth of a 200-device run's CPU. The same octets give the same hash, so
    it is computed once per image (SHA-256 runs in C at hundreds of MB/s); no image bytes are kept.
    """
    key = hashlib.sha256(data).digest() + len(data).to_bytes(8, "big")
    with _mmo_lock:
        known = _mmo_by_sha256.get(key)
        if known is not None:
            _mmo_by_sha256.move_to_end(key)
            return known
    digest = aes_mmo_hash([data])
    with _mmo_lock:
        _mmo_by_sha256[key] = digest
        while len(_mmo_by_sha256) > _MMO_REMEMBERED:
            _mmo_by_sha256.popitem(last=False)
    return digest


def sha256_hex(data: bytes | memoryview) -> str:
    """Hex SHA-256, the hash Activate Firmware (CS06) names an image by."""
    return hashlib.sha256(data).hexdigest()


def _mmo_block(state: bytes, block: bytes | memoryview) -> bytes:
    encrypted = Cipher(algorithms.AES(state), _ECB).encryptor().update(block)
    return (int.from_bytes(encrypted, "big") ^ int.from_bytes(block, "big")).to_bytes(_AES_BLOCK, "big")


def _require_p256(curve: ec.EllipticCurve, name: str) -> None:
    if not isinstance(curve, ec.SECP256R1):
        raise KeyFileError(name, f"curve {curve.name}, expected secp256r1 (P-256)")


def _first_that_loads(loaders: Iterable, data: bytes, **kwargs: object) -> object | None:
    for loader in loaders:
        try:
            return loader(data, **kwargs)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
    return None
