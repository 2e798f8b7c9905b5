"""Each real-world quirk on the real vendor files in ../shared/ota-corpus (skipped when absent)."""

from __future__ import annotations

import hashlib

import pytest
from zigpy.ota.image import parse_ota_image

from ota import ImageError, Layout, read_image, verify_image


def _codes(image) -> list[str]:
    return [q.code for q in image.quirks]


def test_every_corpus_file_matches_its_manifest(corpus):
    for data, entry in corpus.values():
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        image = read_image(data, name=entry["path"])
        notes = entry["notes"]
        assert image.layout is Layout.ZIGBEE
        assert image.header_offset == notes["offset"]
        assert image.trailing_bytes == notes["trailingBytes"]
        assert int(image.header.total_image_size) == notes["totalImageSize"]
        assert int(image.header.field_control) == notes["fieldControl"]
        if entry["index_entry"]:
            index = entry["index_entry"]
            assert image.identity.manufacturer_code == index["manufacturerCode"]
            assert image.identity.image_type == index["imageType"]
            assert image.identity.file_version == index["fileVersion"]
            assert image.header.header_text == index["otaHeaderString"]


def test_plain_file_has_no_quirks(corpus):
    data, _ = corpus["nodon"]
    image = read_image(data)
    assert image.quirks == ()
    assert [int(e.tag) for e in image.elements] == [0x0000]
    assert len(image.manufacturer_image) == len(data) - 56 - 6
    assert verify_image(image).ok


def test_ubisys_hw_range_tag_before_upgrade_image_and_integrity_code(corpus):
    data, entry = corpus["ubisys"]
    image = read_image(data)
    assert (image.identity.hw_min, image.identity.hw_max) == (entry["index_entry"]["hardwareVersionMin"],
                                                              entry["index_entry"]["hardwareVersionMax"])
    assert _codes(image) == ["tag-before-upgrade-image"]
    assert image.quirks[0].offset == 60
    assert [int(e.tag) for e in image.elements] == [0xF7BD, 0x0000, 0x0003]
    # the vendor's own integrity code checks out under hanrig's AES-MMO definition
    report = verify_image(image)
    assert report.check("integrity-code").outcome == "pass"
    corrupted = bytearray(data)
    corrupted[1000] ^= 0x01
    assert verify_image(read_image(bytes(corrupted))).check("integrity-code").outcome == "fail"


def test_lumi_manufacturer_specific_tags(corpus):
    data, _ = corpus["lumi"]
    image = read_image(data)
    assert [int(e.tag) for e in image.elements] == [0xF001]
    assert _codes(image) == ["no-upgrade-image"]
    assert bytes(image.manufacturer_image) == bytes(image.elements[0].data)


def test_sonoff_telink_element_lengths(corpus):
    data, _ = corpus["sonoff"]
    image = read_image(data)
    assert "telink-tag-info" in _codes(image)
    # same data zigpy's Telink reader extracts
    theirs, _ = parse_ota_image(data)
    assert bytes(image.elements[0].data) == theirs.subelements[0].data
    assert verify_image(image).check("size").outcome == "pass"


def test_salus_trailing_bytes(corpus):
    data, _ = corpus["saluscontrols"]
    image = read_image(data)
    assert _codes(image) == ["trailing-bytes"]
    assert image.quirks[0].offset == 152766 and image.trailing_bytes == 4


def test_ikea_wrapper(corpus):
    data, entry = corpus["ikea"]
    image = read_image(data)
    assert _codes(image) == ["wrapped", "trailing-bytes"]
    assert image.quirks[0].offset == 424 and "IKEA" in image.quirks[0].message
    assert len(image.data) == entry["index_entry"]["fileSize"]
    theirs, _ = parse_ota_image(data)
    assert image.sha256 == hashlib.sha256(theirs.subelements[0].data).hexdigest()


@pytest.mark.parametrize("short", ["nodon", "ubisys", "lumi", "sonoff", "saluscontrols"])
def test_truncated_real_file_is_an_error(corpus, short):
    data, _ = corpus[short]
    with pytest.raises(ImageError, match="truncated") as info:
        read_image(data[:len(data) // 2], name=short)
    assert info.value.offset == 52
