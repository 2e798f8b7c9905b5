"""ota.format: golden bytes, layout decision, bad input, synthetic quirks, round trips, zigpy agreement."""

from __future__ import annotations

import hashlib

import pytest
from zigpy.ota.image import OTAImage, OTAImageHeader, parse_ota_image

from ota import BuildError, ElementTag, ImageError, Layout, build_image, read_image, sign_image
from ota.format import MAGIC_BYTES, SubElementHeader

# Hand-assembled from ZCL 11.4.2/11.4.3 (all little-endian), not produced by hanrig.
GOLDEN_ZIGBEE = bytes.fromhex(
    "1ef1ee0b"  # file identifier 0x0BEEF11E
    "0001"  # header version 0x0100
    "3800"  # header length 56
    "0000"  # field control: no optional fields
    "3412"  # manufacturer code 0x1234
    "0101"  # image type 0x0101
    "04030201"  # file version 0x01020304
    "0200"  # stack version 2 (Zigbee PRO)
) + b"hanrig".ljust(32, b"\x00") + bytes.fromhex(
    "41000000"  # total image size 65 = 56 + 6 + 3
    "0000" "03000000" "010203"  # upgrade image sub-element, 3 octets
)
# GBCS (DCC sample shape): field control 0x0004, hw 1..3, then the Manufacturer Image directly.
GOLDEN_GBCS = bytes.fromhex("1ef1ee0b" "0001" "3c00" "0400" "3412" "8400" "00000100" "0200") + \
    b"TEST".ljust(32, b"\x00") + bytes.fromhex("44000000" "0100" "0300") + b"FIRMWARE"


def test_golden_zigbee_bytes():
    built = build_image(b"\x01\x02\x03", manufacturer_code=0x1234, image_type=0x0101,
                        file_version=0x01020304, header_string="hanrig")
    assert built == GOLDEN_ZIGBEE
    image = read_image(GOLDEN_ZIGBEE, name="golden")
    assert image.layout is Layout.ZIGBEE
    assert [(int(e.tag), e.offset, e.length) for e in image.elements] == [(0, 56, 3)]
    assert bytes(image.manufacturer_image) == b"\x01\x02\x03"
    assert image.sha256 == hashlib.sha256(b"\x01\x02\x03").hexdigest()
    assert image.header.header_text == "hanrig"
    assert image.quirks == ()


def test_golden_gbcs_bytes():
    built = build_image(b"FIRMWARE", manufacturer_code=0x1234, image_type=0x0084, file_version=0x00010000,
                        layout="gbcs", hw_min=1, hw_max=3, header_string="TEST")
    assert built == GOLDEN_GBCS
    image = read_image(GOLDEN_GBCS)
    assert image.layout is Layout.GBCS
    assert (image.identity.hw_min, image.identity.hw_max) == (1, 3)
    assert bytes(image.manufacturer_image) == b"FIRMWARE"
    assert image.signature is None and image.elements == ()


def test_parsing_copies_nothing(make_zigbee):
    data = bytearray(make_zigbee())
    image = read_image(data)
    assert image.manufacturer_image.obj is data and image.data.obj is data
    data[image.manufacturer_image_offset] ^= 0xFF  # the view sees the caller's buffer change
    assert image.manufacturer_image[0] == data[image.manufacturer_image_offset]


def test_all_optional_fields_round_trip(key, make_zigbee):
    data = make_zigbee(key)
    image = read_image(data)
    h = image.header
    assert int(h.field_control) == 0x0007 and int(h.header_length) == 69
    assert int(h.security_credential_version) == 2
    assert str(h.destination_ieee) == "00:0d:6f:00:0a:bc:00:03"
    assert (int(h.hw_min), int(h.hw_max)) == (1, 3)
    assert [int(e.tag) for e in image.elements] == [0x0000, 0xF123, 0xF100, 0x0003]
    assert bytes(image.element(0xF123).data) == b"vendor"
    assert image.signature_kind == "hanrig-tag-0xf100" and len(image.signature) == 64
    assert image.quirks == ()
    assert bytes(image.data) == data


@pytest.mark.parametrize("layout", ["zigbee", "gbcs"])
def test_zigpy_reads_hanrig_images_with_the_same_header(layout, key, make_zigbee, make_gbcs):
    maker = make_zigbee if layout == "zigbee" else make_gbcs
    data = maker(key)
    ours = read_image(data).header
    if layout == "zigbee":
        theirs, rest = parse_ota_image(data)
        assert rest == b""
        h = theirs.header
    else:  # zigpy has no GBCS reader (no sub-elements): compare the header alone
        h, _ = OTAImageHeader.deserialize(data)
    assert (h.manufacturer_id, h.image_type, h.file_version, h.stack_version, h.image_size,
            h.header_length, int(h.field_control)) == \
        (ours.manufacturer_code, ours.image_type, ours.file_version, ours.stack_version,
         ours.total_image_size, ours.header_length, int(ours.field_control))
    assert bytes(h.header_string) == bytes(ours.header_string)
    assert (h.minimum_hardware_version, h.maximum_hardware_version) == (ours.hw_min, ours.hw_max)
    assert h.upgrade_file_destination == ours.destination_ieee
    assert h.security_credential_version == ours.security_credential_version
    if layout == "zigbee":
        assert isinstance(theirs, OTAImage)
        assert [(int(s.tag_id), bytes(s.data)) for s in theirs.subelements] == \
            [(int(e.tag), bytes(e.data)) for e in read_image(data).elements]


# ------------------------------------------------------------------------------------------ bad input


def _patch(data: bytes, offset: int, new: bytes) -> bytes:
    return data[:offset] + new + data[offset + len(new):]


@pytest.mark.parametrize("mutate,offset,problem", [
    (lambda d: b"", 0, "empty file"),
    (lambda d: b"\x1e\xf1", 0, "too short"),
    (lambda d: _patch(d, 0, b"\x00\x00\x00\x00"), 0, "is not the OTA magic"),
    (lambda d: _patch(d, 6, b"\x0c\x00"), 6, "header length 12 outside 56..69"),
    (lambda d: _patch(d, 6, b"\x46\x00"), 6, "header length 70 outside 56..69"),
    (lambda d: _patch(d, 8, b"\x08\x00"), 8, "field control 0x0008 sets reserved bits 0x0008"),
    (lambda d: _patch(d, 8, b"\x04\x00"), 6, "header length 56 too short for field control 0x0004"),
    (lambda d: d[:40], 0, "truncated header"),
    (lambda d: d[:-1], 52, "truncated: stated total image size 65 but only 64 bytes"),
    (lambda d: _patch(d, 52, b"\x10\x00\x00\x00"), 52, "smaller than the header length"),
    (lambda d: _patch(d, 58, b"\x00\x01\x00\x00"), 58, "length 256 runs past the end"),
])
def test_bad_input_names_offset_and_problem(mutate, offset, problem):
    with pytest.raises(ImageError) as info:
        read_image(mutate(GOLDEN_ZIGBEE), name="fw.ota")
    assert info.value.offset == offset
    assert problem in info.value.problem
    assert str(info.value).startswith(f"fw.ota: offset {offset}: ")
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 1


def test_random_bytes_are_an_image_error():
    with pytest.raises(ImageError, match="no OTA header"):
        read_image(hashlib.sha512(b"x").digest() * 10, name="junk")


# ------------------------------------------------------------------------------------ synthetic quirks


def _codes(image) -> list[str]:
    return [q.code for q in image.quirks]


def test_wrapper_and_trailing_bytes_are_reported():
    data = b"WRAP" + GOLDEN_ZIGBEE + b"\x00" * 17  # Legrand-like: 4-byte prefix, 17-byte suffix
    image = read_image(data)
    assert image.header_offset == 4 and image.trailing_bytes == 17
    assert _codes(image) == ["wrapped", "trailing-bytes"]
    assert image.quirks[1].offset == 4 + 65
    assert bytes(image.data) == GOLDEN_ZIGBEE


def test_header_string_control_characters_are_reported():
    image = read_image(_patch(GOLDEN_ZIGBEE, 20, b"ha\x07rig"))
    assert _codes(image) == ["header-string-control"]
    assert image.quirks[0].offset == 22


def test_short_last_element_is_tolerated_and_reported():
    data = _patch(GOLDEN_ZIGBEE, 58, (3 + 5).to_bytes(4, "little"))  # states 8 octets, 3 present
    image = read_image(data)
    assert _codes(image) == ["short-last-element"]
    assert bytes(image.manufacturer_image) == b"\x01\x02\x03"


def test_integrity_code_not_last_and_manufacturer_tag_first():
    body = (SubElementHeader(tag=0xF001, length=2).serialize() + b"ab"
            + SubElementHeader(tag=ElementTag.IMAGE_INTEGRITY_CODE, length=16).serialize() + bytes(16)
            + SubElementHeader(tag=0, length=3).serialize() + b"xyz")
    data = _patch(GOLDEN_ZIGBEE[:56], 52, (56 + len(body)).to_bytes(4, "little")) + body
    image = read_image(data)
    assert _codes(image) == ["tag-before-upgrade-image", "integrity-code-not-last"]
    assert bytes(image.manufacturer_image) == b"xyz"


def test_header_padding_is_skipped_and_reported():
    data = bytearray(GOLDEN_ZIGBEE[:56] + b"\xee\xee" + GOLDEN_ZIGBEE[56:])
    data[6] = 58
    data[52] = 67
    image = read_image(bytes(data))
    assert _codes(image) == ["header-padding"]
    assert bytes(image.manufacturer_image) == b"\x01\x02\x03"


# ----------------------------------------------------------------------------------- layout decision


def test_signed_gbcs_trailer_is_found(key, make_gbcs):
    image = read_image(make_gbcs(key))
    assert image.layout is Layout.GBCS
    assert image.signature_kind == "gbcs-trailer"
    assert image.signature_offset == len(image.data) - 64
    assert bytes(image.manufacturer_image).startswith(b"I am a test firmware image")


def test_forced_layout_overrides_the_decision():
    image = read_image(GOLDEN_ZIGBEE, layout="gbcs")
    assert image.layout is Layout.GBCS
    assert len(image.manufacturer_image) == 9


def test_build_refuses_a_gbcs_payload_that_reads_as_zigbee():
    ambiguous = SubElementHeader(tag=0, length=4).serialize() + b"abcd"
    with pytest.raises(BuildError, match="would read back as zigbee"):
        build_image(ambiguous, manufacturer_code=1, image_type=2, file_version=3, layout="gbcs")


def test_build_refuses_an_unsigned_gbcs_payload_ending_like_a_signature():
    with pytest.raises(BuildError, match="would not read back unchanged"):
        build_image(b"\x10" * 100 + b"\x00\x40" + bytes(64), manufacturer_code=1, image_type=2,
                    file_version=3, layout="gbcs")


@pytest.mark.parametrize("kwargs,message", [
    ({"manufacturer_code": 0x10000}, "manufacturer code"),
    ({"hw_min": 1}, "both hw_min and hw_max"),
    ({"hw_min": 4, "hw_max": 3}, "above hw_max"),
    ({"header_string": "x" * 33}, "at most 32"),
    ({"header_string": "bell\x07"}, "control characters"),
    ({"destination_ieee": "nope"}, "not an EUI-64"),
    ({"extra_tags": [(0x0000, b"")]}, "written by build_image itself"),
    ({"extra_tags": [(0x1000, b"")]}, "reserved"),
    ({"layout": "gbcs", "integrity_code": True}, "Zigbee only"),
    ({"layout": "other"}, "not one of"),
])
def test_build_refuses_bad_metadata(kwargs, message):
    args = {"manufacturer_code": 1, "image_type": 2, "file_version": 3} | kwargs
    with pytest.raises(BuildError, match=message):
        build_image(b"payload", **args)


def test_sign_image_keeps_elements_and_recomputes_the_integrity_code(key, make_zigbee):
    from ota import verify_image

    unsigned = make_zigbee()
    signed = sign_image(unsigned, key)
    image = read_image(signed)
    assert [int(e.tag) for e in image.elements] == [0x0000, 0xF123, 0xF100, 0x0003]
    report = verify_image(image, public_key=key.public_key())
    assert report.ok, report
    assert report.check("integrity-code").outcome == "pass"
    # re-signing replaces rather than stacks
    assert sign_image(signed, key) == signed


def test_sign_image_drops_a_wrapper(key, make_gbcs):
    signed = sign_image(b"WRAP" + make_gbcs() + b"tail", key)
    image = read_image(signed)
    assert image.quirks == () and image.signature is not None
    assert signed.startswith(MAGIC_BYTES)


def test_gbcs_image_of_zero_length_lookalike_elements_reads_as_gbcs():
    # 'x' 00 then zeros looks like a reserved tag followed by thousands of empty sub-elements
    payload = b"x" + bytes(256 * 1024)
    data = build_image(payload, manufacturer_code=1, image_type=2, file_version=3, layout="gbcs")
    image = read_image(data)
    assert image.layout is Layout.GBCS and image.elements == ()
    assert bytes(image.manufacturer_image) == payload
