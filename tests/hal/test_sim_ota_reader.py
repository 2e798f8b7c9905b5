"""The simulated OTA client's own image reader against ``ota.read_image`` and a vendor's real file.

The two readers were written apart (the client's from ZCL 11.4 and the GBCS layout), so where they
disagree one of them misreads the format; the Ubisys file's integrity code was made by its vendor.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from firmware_images import DIRECTORY as SAMPLES
from hal.sim.ota_client import ImageRejected, read_received_image, signature_verifies
from ota import build_image, load_public_key, read_image
from ota.signing import aes_mmo_hash

CORPUS = Path(__file__).resolve().parents[2] / "../shared/ota-corpus"
SUPPLIER_KEY = load_public_key((SAMPLES / "TEST-ONLY-supplier-signing-cert.pem").read_bytes())


def agree(data: bytes) -> None:
    ours, theirs = read_received_image(data), read_image(data)
    identity = theirs.identity
    assert (ours.manufacturer_code, ours.image_type, ours.file_version) == (
        identity.manufacturer_code, identity.image_type, identity.file_version)
    expected_range = None if identity.hw_min is None else (identity.hw_min, identity.hw_max)
    assert ours.hardware_range == expected_range
    assert ours.sha256 == theirs.sha256
    assert ours.signature == (None if theirs.signature is None else bytes(theirs.signature))
    assert ours.integrity_code == (None if theirs.integrity_code is None else bytes(theirs.integrity_code))


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.ota")), ids=lambda p: p.name)
def test_the_bundled_samples_read_the_same_and_their_signatures_verify(path):
    data = path.read_bytes()
    agree(data)
    image = read_received_image(data)
    assert signature_verifies(SUPPLIER_KEY, image.manufacturer_image, image.signature)
    if image.integrity_code is not None:
        assert aes_mmo_hash([image.integrity_covered]) == image.integrity_code


def test_optional_header_fields_and_vendor_tags_shift_nothing():
    key = ec.generate_private_key(ec.SECP256R1())
    data = build_image(bytes(range(256)) * 12, manufacturer_code=0x1234, image_type=0x0101,
                       file_version=0x00010000, hw_min=2, hw_max=9,
                       destination_ieee="00:0d:6f:00:0a:bc:00:03",
                       security_credential_version=2, extra_tags=[(0xF123, b"vendor")], sign_key=key,
                       integrity_code=True)
    agree(data)
    gbcs = build_image(b"I am a test firmware image " + bytes(500), manufacturer_code=0x1234,
                       image_type=0x0084, file_version=0x00010100, layout="gbcs", hw_min=1, hw_max=3,
                       sign_key=key)
    agree(gbcs)
    assert read_received_image(gbcs).manufacturer_image.startswith(b"I am a test firmware image")


def test_a_truncated_image_and_a_wrong_file_identifier_are_rejected():
    data = (SAMPLES / "TEST-ONLY-ihd-1234-0101-00010100.ota").read_bytes()
    with pytest.raises(ImageRejected, match="total image size 26784 in the header, 20000 octets received"):
        read_received_image(data[:20000])
    with pytest.raises(ImageRejected, match="file identifier"):
        read_received_image(b"\x00" + data[1:])


def test_real_vendor_files_read_the_same_and_the_ubisys_integrity_code_checks_out():
    if not (CORPUS / "corpus.json").is_file():
        pytest.skip(f"OTA corpus not present at {CORPUS}")
    files = {Path(entry["path"]).parts[1].lower(): (CORPUS / entry["path"]).read_bytes()
             for entry in json.loads((CORPUS / "corpus.json").read_text())["files"]}
    for name in ("nodon", "ubisys"):  # header at offset 0, stated size = file size, a tag 0x0000
        agree(files[name])
    ubisys = read_received_image(files["ubisys"])
    assert ubisys.hardware_range is not None and ubisys.integrity_code is not None
    assert aes_mmo_hash([ubisys.integrity_covered]) == ubisys.integrity_code
