"""Shared fixtures for the OTA toolkit tests: a P-256 test key, sample builders, the real corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ota import build_image

# CI checks out shared/ beside the clone; the corpus is never committed into hanrig.
CORPUS = Path(__file__).resolve().parents[2] / "../shared/ota-corpus"


@pytest.fixture(scope="session")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def corpus() -> dict[str, tuple[bytes, dict]]:
    """Real vendor files by short name (first word of the vendor directory), with their corpus notes."""
    if not (CORPUS / "corpus.json").is_file():
        pytest.skip(f"OTA corpus not present at {CORPUS}")
    manifest = json.loads((CORPUS / "corpus.json").read_text())
    return {Path(entry["path"]).parts[1].lower(): ((CORPUS / entry["path"]).read_bytes(), entry)
            for entry in manifest["files"]}


def zigbee_sample(key: ec.EllipticCurvePrivateKey | None = None, size: int = 3000) -> bytes:
    return build_image(bytes(range(256)) * (size // 256) + b"tail", manufacturer_code=0x1234,
                       image_type=0x0101, file_version=0x00010000, hw_min=1, hw_max=3,
                       header_string="TEST-ONLY sample", destination_ieee="00:0d:6f:00:0a:bc:00:03",
                       security_credential_version=2, extra_tags=[(0xF123, b"vendor")],
                       sign_key=key, integrity_code=True)


def gbcs_sample(key: ec.EllipticCurvePrivateKey | None = None, size: int = 3000) -> bytes:
    return build_image(b"I am a test firmware image " + bytes(size), manufacturer_code=0x1234,
                       image_type=0x0084, file_version=0x00010100, layout="gbcs", hw_min=1, hw_max=3,
                       header_string="TEST-ONLY gbcs", sign_key=key)


@pytest.fixture(scope="session")
def make_zigbee():
    return zigbee_sample


@pytest.fixture(scope="session")
def make_gbcs():
    return gbcs_sample
