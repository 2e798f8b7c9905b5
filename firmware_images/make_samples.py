"""Rebuild the sample OTA images in this directory, and their ``index.json``, with hanrig's own toolkit.

Run ``python firmware_images/make_samples.py`` (``--new-key`` also replaces the TEST-ONLY key and
certificate). Payloads are deterministic and signatures are RFC 6979 deterministic, so with the same
key the output is byte-identical. The key is a TEST-ONLY key: its private half is public in this
repository; never trust it outside a test bench.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ota import Layout, build_image, load_private_key, load_public_key, write_index

HERE = Path(__file__).resolve().parent
KEY_FILE = "TEST-ONLY-supplier-signing-key.pem"
CERT_FILE = "TEST-ONLY-supplier-signing-cert.pem"
MANUFACTURER_CODE = 0x1234  # "hanrig-sim": the simulated devices' manufacturer code
HW_MIN, HW_MAX = 1, 3
VERSIONS = (0x00010000, 0x00010100)


@dataclasses.dataclass(frozen=True)
class Sample:
    """One role's sample: its image type, layout and payload sizes (one per version)."""

    role: str
    image_type: int
    layout: Layout
    sizes: tuple[int, int]
    versions: tuple[int, int] = VERSIONS


# IHDs left the SEC OTA scope (SECMP0007) and update over plain Zigbee OTA, so the IHD sample is a
# classic Zigbee file (integrity code + hanrig's supplier-signature tag). PPMID and HCALCS firmware is
# GBCS-distributed: header, Manufacturer Image, Supplier signature.
SAMPLES = (
    Sample("IHD", 0x0101, Layout.ZIGBEE, (24 * 1024, 26 * 1024)),
    Sample("PPMID", 0x0084, Layout.GBCS, (32 * 1024, 34 * 1024)),
    Sample("HCALCS", 0x0103, Layout.GBCS, (40 * 1024, 44 * 1024)),
    # SECMP0024: an ESME takes its image over the HAN and holds it until a CS06 activates it. The
    # simulated ESME runs 0x00010000, so both ESME samples are newer: one for an immediate CS06, the
    # next for a future-dated one (the main job's plan pushes and activates both).
    Sample("ESME", 0x0000, Layout.GBCS, (20 * 1024, 22 * 1024), (0x00010100, 0x00010200)),
)


def payload(role: str, version: int, size: int) -> bytes:
    """A deterministic stand-in firmware image: a readable preamble, then SHAKE-256 output."""
    preamble = (f"TEST-ONLY hanrig sample firmware for a simulated {role}, version 0x{version:08x}. "
                f"Not firmware for any real device.\n").encode("ascii")
    filler = hashlib.shake_256(f"hanrig-sample/{role}/{version:08x}".encode("ascii"))
    return preamble + filler.digest(size - len(preamble))


def file_name(sample: Sample, version: int) -> str:
    identity = f"{MANUFACTURER_CODE:04x}-{sample.image_type:04x}-{version:08x}"
    return f"TEST-ONLY-{sample.role.lower()}-{identity}.ota"


def make_key_and_cert(directory: Path) -> None:
    """A fresh TEST-ONLY P-256 key and a self-signed certificate for it (valid 30 years)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, "TEST-ONLY hanrig supplier signing key"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hanrig TEST-ONLY (never trust in production)"),
    ])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start.replace(year=2056))
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                                         key_cert_sign=False, crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    (directory / KEY_FILE).write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (directory / CERT_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def make_samples(directory: Path = HERE, *, new_key: bool = False) -> list[Path]:
    """Write every sample image and the index; returns the image paths."""
    if new_key or not (directory / KEY_FILE).exists():
        make_key_and_cert(directory)
    key = load_private_key((directory / KEY_FILE).read_bytes(), name=KEY_FILE)
    public_key = load_public_key((directory / CERT_FILE).read_bytes(), name=CERT_FILE)
    written = []
    for sample in SAMPLES:
        for version, size in zip(sample.versions, sample.sizes, strict=True):
            data = build_image(
                payload(sample.role, version, size), manufacturer_code=MANUFACTURER_CODE,
                image_type=sample.image_type, file_version=version, layout=sample.layout,
                hw_min=HW_MIN, hw_max=HW_MAX,
                header_string=f"TEST-ONLY hanrig {sample.role} {version >> 16}.{(version >> 8) & 0xFF}",
                sign_key=key, integrity_code=sample.layout is Layout.ZIGBEE)
            path = directory / file_name(sample, version)
            path.write_bytes(data)
            written.append(path)
    write_index(directory, public_key=public_key)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-key", action="store_true", help="replace the TEST-ONLY key and certificate")
    parser.add_argument("--directory", type=Path, default=HERE)
    args = parser.parse_args()
    for path in make_samples(args.directory, new_key=args.new_key):
        print(path.name, path.stat().st_size)


if __name__ == "__main__":
    main()
