"""Signatures and integrity codes: AES-MMO vectors, P-256 r||s, and interop with the openssl CLI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from zigpy.util import aes_mmo_hash as zigpy_aes_mmo_hash

from ota import (
    KeyFileError,
    Outcome,
    aes_mmo_hash,
    load_private_key,
    load_public_key,
    read_image,
    verify_image,
)
from ota.format import OtaHeader, SignatureLength, serialize_header
from ota.signing import aes_mmo_hash_of, der_to_raw, raw_to_der, sign_raw, verify_raw

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")


def openssl(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False,
                          timeout=30)


def test_aes_mmo_install_code_vector():
    # Zigbee install code 83FED3407A939723A5C639B26916D505 + CRC C3B5 -> link key (published example)
    code = bytes.fromhex("83FED3407A939723A5C639B26916D505C3B5")
    assert aes_mmo_hash([code]).hex() == "66b6900981e1ee3ca4206b6b861c02bb"


@pytest.mark.parametrize("size", [0, 1, 13, 14, 15, 16, 17, 31, 32, 100, 8191])
def test_aes_mmo_agrees_with_zigpy_for_short_messages(size):
    message = bytes((i * 7) & 0xFF for i in range(size))
    assert aes_mmo_hash([message]) == bytes(zigpy_aes_mmo_hash(message))


def test_aes_mmo_is_independent_of_chunking():
    message = bytes(range(256)) * 40  # long form (>= 2^16 bits)
    whole = aes_mmo_hash([message])
    assert aes_mmo_hash([message[:5], memoryview(message)[5:4000], message[4000:]]) == whole
    assert whole != aes_mmo_hash([message[:-1]])


def test_remembered_aes_mmo_is_the_hash_of_those_octets_every_time():
    message = bytes(range(256)) * 40
    whole = aes_mmo_hash([message])
    assert aes_mmo_hash_of(message) == whole
    assert aes_mmo_hash_of(memoryview(message)) == whole          # remembered: the same answer
    flipped = bytearray(message)
    flipped[5000] ^= 1
    assert aes_mmo_hash_of(bytes(flipped)) == aes_mmo_hash([flipped]) != whole
    assert aes_mmo_hash_of(message + b"\x00") == aes_mmo_hash([message + b"\x00"])
    for n in range(12):  # more images than it remembers: the first is computed again, still right
        aes_mmo_hash_of(bytes([n]) * 64)
    assert aes_mmo_hash_of(message) == whole


def test_raw_signature_round_trip(key):
    raw = sign_raw(key, b"manufacturer image")
    assert len(raw) == 64
    assert verify_raw(key.public_key(), b"manufacturer image", raw)
    assert not verify_raw(key.public_key(), b"manufacturer imagE", raw)
    assert der_to_raw(raw_to_der(raw)) == raw


def test_key_loading_rejects_the_wrong_things(tmp_path):
    with pytest.raises(KeyFileError, match=r"k\.pem: not an unencrypted PEM or DER private key"):
        load_private_key(b"junk", name="k.pem")
    other_curve = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(KeyFileError, match="secp384r1"):
        load_public_key(other_curve.public_key().public_bytes(Encoding.PEM,
                                                              PublicFormat.SubjectPublicKeyInfo))
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(KeyFileError, match="expected an EC P-256 public key"):
        load_public_key(rsa_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))


def test_wrong_key_fails_verification(key, make_gbcs):
    image = read_image(make_gbcs(key))
    other = ec.generate_private_key(ec.SECP256R1())
    report = verify_image(image, public_key=other.public_key())
    assert not report.ok
    assert report.first_failure.name == "supplier-signature"
    assert "does not verify" in report.first_failure.message


def test_unsigned_image_fails_when_a_key_is_given(key, make_gbcs):
    report = verify_image(read_image(make_gbcs()), public_key=key.public_key())
    assert report.check("supplier-signature").outcome is Outcome.FAIL


def test_tampered_integrity_code_fails(make_zigbee):
    data = bytearray(make_zigbee())
    data[-1] ^= 0x80
    assert verify_image(read_image(bytes(data))).check("integrity-code").outcome is Outcome.FAIL


@needs_openssl
def test_openssl_key_signs_with_hanrig_and_openssl_verifies(tmp_path, make_gbcs):
    key_pem, pub_pem = tmp_path / "k.pem", tmp_path / "pub.pem"
    assert openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key_pem).returncode == 0
    assert openssl("ec", "-in", key_pem, "-pubout", "-out", pub_pem).returncode == 0
    key = load_private_key(key_pem.read_bytes(), name=str(key_pem))
    image = read_image(make_gbcs(key))
    # hanrig verifies against the openssl-made public key ...
    assert verify_image(image, public_key=load_public_key(pub_pem.read_bytes())).ok
    # ... and openssl verifies hanrig's signature (as DER) over the Manufacturer Image
    (tmp_path / "mi.bin").write_bytes(image.manufacturer_image)
    (tmp_path / "sig.der").write_bytes(raw_to_der(image.signature))
    result = openssl("dgst", "-sha256", "-verify", pub_pem, "-signature", tmp_path / "sig.der",
                     tmp_path / "mi.bin")
    assert result.returncode == 0 and "Verified OK" in result.stdout
    (tmp_path / "mi.bin").write_bytes(bytes(image.manufacturer_image) + b"x")
    result = openssl("dgst", "-sha256", "-verify", pub_pem, "-signature", tmp_path / "sig.der",
                     tmp_path / "mi.bin")
    assert result.returncode != 0


@needs_openssl
def test_openssl_signs_and_hanrig_verifies_against_a_der_certificate(tmp_path, make_gbcs):
    key_pem, cert_der = tmp_path / "k.pem", tmp_path / "cert.der"
    made = openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                   "-keyout", key_pem, "-outform", "DER", "-out", cert_der, "-days", "2",
                   "-subj", "/CN=TEST-ONLY openssl supplier")
    assert made.returncode == 0, made.stderr
    unsigned = read_image(make_gbcs())
    mi = tmp_path / "mi.bin"
    mi.write_bytes(unsigned.manufacturer_image)
    assert openssl("dgst", "-sha256", "-sign", key_pem, "-out", tmp_path / "sig.der", mi).returncode == 0
    trailer = SignatureLength(length=64).serialize() + der_to_raw((tmp_path / "sig.der").read_bytes())
    header: OtaHeader = unsigned.header
    body = bytes(unsigned.manufacturer_image) + trailer
    signed = serialize_header(header, len(unsigned.data) + len(trailer)) + body
    image = read_image(signed)
    assert image.signature_kind == "gbcs-trailer"
    cert = load_public_key(cert_der.read_bytes(), name=str(cert_der))
    assert isinstance(x509.load_der_x509_certificate(cert_der.read_bytes()), x509.Certificate)
    assert verify_image(image, public_key=cert).ok
