"""ota.catalogue: selection rules, conflicts, index.json round trip, stale files, the committed samples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from firmware_images import DIRECTORY as SAMPLES
from firmware_images.make_samples import make_samples
from ota import (
    Catalogue,
    CatalogueConflict,
    CatalogueError,
    ImageError,
    build_image,
    load_public_key,
    read_image,
    verify_image,
    write_index,
)


def _image(directory: Path, name: str, version: int, *, hw: tuple[int, int] | None = (1, 3),
           mfr: int = 0x1234, image_type: int = 0x0101, filler: bytes = b"x") -> Path:
    path = directory / name
    hw_args = {} if hw is None else {"hw_min": hw[0], "hw_max": hw[1]}
    path.write_bytes(build_image(filler * 100 + version.to_bytes(4, "big"), manufacturer_code=mfr,
                                 image_type=image_type, file_version=version, **hw_args))
    return path


@pytest.fixture
def shelf(tmp_path) -> Path:
    _image(tmp_path, "v1.ota", 0x100)
    _image(tmp_path, "v2.ota", 0x200)
    _image(tmp_path, "v3-hw5.ota", 0x300, hw=(5, 6))
    _image(tmp_path, "other-type.zigbee", 0x900, image_type=0x0102)
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_select_newest_newer_within_hardware(shelf):
    catalogue = Catalogue.load(shelf)
    assert len(catalogue) == 4
    assert catalogue.select(0x1234, 0x0101, 0x100, hardware_version=2).file == "v2.ota"
    assert catalogue.select(0x1234, 0x0101, 0x100, hardware_version=5).file == "v3-hw5.ota"
    assert catalogue.select(0x1234, 0x0101, 0x200, hardware_version=2) is None  # already newest
    assert catalogue.select(0x1234, 0x0101, 0x100, hardware_version=9) is None  # no hw fits
    assert catalogue.select(0x1234, 0x0101, 0x000).file == "v3-hw5.ota"  # hw not stated: not checked
    assert catalogue.select(0x9999, 0x0101, 0x000) is None
    assert catalogue.select(0x1234, 0x0102, 0x000).file == "other-type.zigbee"


def test_downgrade_only_when_asked(shelf):
    catalogue = Catalogue.load(shelf)
    assert catalogue.select(0x1234, 0x0101, 0x200, hardware_version=2, target_version=0x100) is None
    chosen = catalogue.select(0x1234, 0x0101, 0x200, hardware_version=2, target_version=0x100,
                              allow_downgrade=True)
    assert chosen.file == "v1.ota"
    assert catalogue.select(0x1234, 0x0101, 0x100, hardware_version=2, target_version=0x200).file == "v2.ota"
    assert catalogue.select(0x1234, 0x0101, 0x100, hardware_version=2, target_version=0x100) is None
    # no target: the newest image even if older than what runs, only with allow_downgrade
    assert catalogue.select(0x1234, 0x0101, 0x250, hardware_version=2) is None
    assert catalogue.select(0x1234, 0x0101, 0x250, hardware_version=2, allow_downgrade=True).file == "v2.ota"


def test_wildcard_manufacturer_and_type(tmp_path):
    _image(tmp_path, "any.ota", 0x500, mfr=0xFFFF, image_type=0xFFFF, hw=None)
    catalogue = Catalogue.load(tmp_path)
    assert catalogue.select(0x4321, 0x0042, 0x100, hardware_version=7).file == "any.ota"


def test_conflicting_entries_raise(tmp_path):
    _image(tmp_path, "a.ota", 0x100)
    _image(tmp_path, "b.ota", 0x100, hw=(3, 4), filler=b"y")  # overlaps hw 3
    conflict = r"a\.ota and b\.ota both claim .* version 0x00000100"
    with pytest.raises(CatalogueConflict, match=conflict) as info:
        Catalogue.load(tmp_path)
    assert info.value.exit_code == 1


def test_same_identity_disjoint_hardware_or_same_bytes_is_fine(tmp_path):
    _image(tmp_path, "a.ota", 0x100, hw=(1, 2))
    _image(tmp_path, "b.ota", 0x100, hw=(3, 4), filler=b"y")
    (tmp_path / "a-copy.ota").write_bytes((tmp_path / "a.ota").read_bytes())
    catalogue = Catalogue.load(tmp_path)
    assert catalogue.select(0x1234, 0x0101, 0, hardware_version=4).file == "b.ota"


def test_invalid_image_in_directory_is_an_image_error(tmp_path):
    (tmp_path / "broken.ota").write_bytes(b"\x1e\xf1\xee\x0b" + bytes(10))
    with pytest.raises(ImageError, match=r"broken\.ota: offset 0: truncated header"):
        Catalogue.load(tmp_path)


def test_index_round_trip_and_stale_file(shelf):
    path = write_index(shelf)
    document = json.loads(path.read_text())
    assert [e["file"] for e in document["images"]] == ["other-type.zigbee", "v1.ota", "v2.ota", "v3-hw5.ota"]
    entry = document["images"][1]
    assert entry["file_version"] == "0x00000100" and entry["file_version_int"] == 0x100
    assert (entry["hw_min"], entry["hw_max"], entry["layout"], entry["signature"], entry["role"]) == \
        (1, 3, "zigbee", "absent", "IHD")
    reloaded = Catalogue.from_index(shelf)
    assert reloaded.to_json() == Catalogue.load(shelf).to_json()
    chosen = reloaded.select(0x1234, 0x0101, 0x100, hardware_version=2)
    assert chosen.read().sha256 == chosen.manufacturer_image_sha256
    _image(shelf, "v2.ota", 0x200, filler=b"z")  # replaced behind the index's back
    with pytest.raises(CatalogueError, match="re-run 'hanrig ota index'"):
        reloaded.select(0x1234, 0x0101, 0x100, hardware_version=2).read()


@pytest.mark.parametrize("mutate,message", [
    (lambda d: d | {"extra": 1}, "expected an object with 'version' and 'images'"),
    (lambda d: d | {"version": 9}, "version 9"),
    (lambda d: {**d, "images": [{**d["images"][0], "colour": "red"}]},
     r"images\[0\]: unknown keys \['colour'\]"),
    (lambda d: {**d, "images": [{**d["images"][0], "file": "../x.ota"}]}, "plain file name"),
    (lambda d: {**d, "images": [{**d["images"][0], "role": "TOASTER"}]}, "role 'TOASTER'"),
    (lambda d: {**d, "images": [{**d["images"][0], "size": "big"}]}, "size: expected an integer"),
])
def test_malformed_index_is_bad_input(shelf, mutate, message):
    path = write_index(shelf)
    path.write_text(json.dumps(mutate(json.loads(path.read_text()))))
    with pytest.raises(CatalogueError, match=message) as info:
        Catalogue.from_index(path)
    assert info.value.exit_code == 2


def test_committed_samples_are_what_the_script_builds(tmp_path):
    for name in ("TEST-ONLY-supplier-signing-key.pem", "TEST-ONLY-supplier-signing-cert.pem"):
        (tmp_path / name).write_bytes((SAMPLES / name).read_bytes())
    built = make_samples(tmp_path)
    assert len(built) == 8
    for path in built:
        assert path.read_bytes() == (SAMPLES / path.name).read_bytes(), path.name
    assert (tmp_path / "index.json").read_text() == (SAMPLES / "index.json").read_text()


def test_committed_samples_verify_and_select(tmp_path):
    cert = load_public_key((SAMPLES / "TEST-ONLY-supplier-signing-cert.pem").read_bytes())
    catalogue = Catalogue.from_index(SAMPLES)
    roles = {}
    for entry in catalogue:
        image = entry.read()
        assert 20_000 <= entry.size <= 60_000
        assert image.header.header_text.startswith("TEST-ONLY")
        assert verify_image(image, public_key=cert).ok
        assert entry.signature == "valid"
        roles.setdefault(entry.role, set()).add((str(entry.layout), entry.identity.file_version))
    assert roles == {"IHD": {("zigbee", 0x10000), ("zigbee", 0x10100)},
                     "PPMID": {("gbcs", 0x10000), ("gbcs", 0x10100)},
                     "HCALCS": {("gbcs", 0x10000), ("gbcs", 0x10100)},
                     "ESME": {("gbcs", 0x10100), ("gbcs", 0x10200)}}  # SECMP0024: held, then CS06
    for image_type, newest in ((0x0101, 0x10100), (0x0084, 0x10100), (0x0103, 0x10100), (0x0000, 0x10200)):
        chosen = catalogue.select(0x1234, image_type, 0x10000, hardware_version=1)
        assert chosen.identity.file_version == newest
        assert read_image(chosen.path.read_bytes()).sha256 == chosen.manufacturer_image_sha256
