"""OTA image files, bytes in and bytes out: the Zigbee OTA layout (ZCL ch. 11.4: header, then
tag/length sub-elements) and the GBCS layout (header, then the Manufacturer Image directly, then an
optional big-endian length and a raw r||s Supplier signature).

``read_image`` decides the layout from the bytes, tolerates and reports real-world quirks, and copies
nothing: an ``Image`` holds memoryviews into the caller's buffer. ``build_image``/``sign_image`` write
images and refuse to write one that would not read back exactly as built.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import struct
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

import zigpy.types as t
from cryptography.hazmat.primitives.asymmetric import ec
from zigpy.ota.image import HeaderString

from . import signing
from .exceptions import BuildError, ImageError

MAGIC = 0x0BEEF11E
MAGIC_BYTES = MAGIC.to_bytes(4, "little")
HEADER_VERSION = 0x0100
HEADER_LENGTH_MIN = 56
HEADER_LENGTH_MAX = 69
# How far into a file a vendor wrapper may push the OTA header (IKEA: 424, Legrand: 4).
WRAPPER_SEARCH_LIMIT = 64 * 1024
# "A last element a few bytes short": tolerated up to this many missing octets, reported as a quirk.
SHORT_ELEMENT_TOLERANCE = 16
INTEGRITY_CODE_SIZE = 16
# GBCS Supplier signature trailer: u16 big-endian length (0x0040), then raw r||s.
SIGNATURE_TRAILER_SIZE = 2 + signing.SIGNATURE_SIZE


class Layout(enum.StrEnum):
    """How the bytes after the OTA header are organised."""

    ZIGBEE = "zigbee"  # ZCL ch. 11.4: tag u16 + length u32 + data sub-elements
    GBCS = "gbcs"  # GBCS: the Manufacturer Image directly, then an optional Supplier signature


class FieldControl(t.bitmap16):
    """OTA header field control (ZCL 11.4.2.4); bits 3..15 are reserved and must be zero."""

    SECURITY_CREDENTIAL_VERSION_PRESENT = 0x0001  # bit 0: security credential version octet follows
    DEVICE_SPECIFIC_FILE = 0x0002  # bit 1: upgrade file destination (IEEE) follows
    HARDWARE_VERSIONS_PRESENT = 0x0004  # bit 2: minimum and maximum hardware version follow


FIELD_CONTROL_DEFINED = 0x0007


class ElementTag(t.enum16):
    """Sub-element tag identifiers (ZCL 11.4.3); 0xF000-0xFFFF are manufacturer specific."""

    UPGRADE_IMAGE = 0x0000
    ECDSA_SIGNATURE_SUITE_1 = 0x0001  # signer IEEE 8 + signature 42 (ZSE ECQV, sect163k1)
    ECDSA_SIGNING_CERTIFICATE_SUITE_1 = 0x0002  # 48-octet ECQV certificate
    IMAGE_INTEGRITY_CODE = 0x0003  # 16-octet AES-MMO hash of everything before this element
    PICTURE_DATA = 0x0004
    ECDSA_SIGNATURE_SUITE_2 = 0x0005  # signer IEEE 8 + signature 72 (ZSE ECQV, sect283k1)
    ECDSA_SIGNING_CERTIFICATE_SUITE_2 = 0x0006  # 74-octet ECQV certificate
    # hanrig's own manufacturer-specific tag: the GBCS Supplier signature trailer (00 40 + r||s over
    # the upgrade-image data) carried in a Zigbee-layout file, which has no standard P-256 slot.
    HANRIG_SUPPLIER_SIGNATURE = 0xF100


STANDARD_TAGS = frozenset(range(0x0000, 0x0007))
MANUFACTURER_TAG_MIN = 0xF000
TELINK_TAG = 0xF000  # Telink puts a 2-octet "tag info" between the length and the data
_NAMED_TAGS = frozenset(int(member) for member in ElementTag.__members__.values())
_MANAGED_TAGS = frozenset({ElementTag.UPGRADE_IMAGE, ElementTag.IMAGE_INTEGRITY_CODE,
                           ElementTag.HANRIG_SUPPLIER_SIGNATURE})


class OtaHeader(t.Struct):
    """The OTA upgrade file header (ZCL 11.4.2), little-endian; optional fields per field control."""

    file_id: t.uint32_t
    header_version: t.uint16_t
    header_length: t.uint16_t
    field_control: FieldControl
    manufacturer_code: t.uint16_t  # 0xFFFF: wildcard
    image_type: t.uint16_t  # 0xFFC0 security credentials .. 0xFFC3 picture, 0xFFFF wildcard
    file_version: t.uint32_t
    stack_version: t.uint16_t  # 0x0002: Zigbee PRO
    header_string: HeaderString
    total_image_size: t.uint32_t  # header included
    security_credential_version: t.uint8_t = t.StructField(
        requires=lambda s: bool(s.field_control & FieldControl.SECURITY_CREDENTIAL_VERSION_PRESENT))
    destination_ieee: t.EUI64 = t.StructField(
        requires=lambda s: bool(s.field_control & FieldControl.DEVICE_SPECIFIC_FILE))
    hw_min: t.uint16_t = t.StructField(
        requires=lambda s: bool(s.field_control & FieldControl.HARDWARE_VERSIONS_PRESENT))
    hw_max: t.uint16_t = t.StructField(
        requires=lambda s: bool(s.field_control & FieldControl.HARDWARE_VERSIONS_PRESENT))

    @property
    def header_text(self) -> str:
        """The header string up to its NUL padding, undecodable octets escaped."""
        return bytes(self.header_string).split(b"\x00", 1)[0].decode("utf-8", "backslashreplace")


class FixedHeader(t.Struct):
    """The first 56 octets of every OTA header: enough to learn its length and optional fields."""

    file_id: t.uint32_t
    header_version: t.uint16_t
    header_length: t.uint16_t
    field_control: t.uint16_t
    manufacturer_code: t.uint16_t
    image_type: t.uint16_t
    file_version: t.uint32_t
    stack_version: t.uint16_t
    header_string: HeaderString
    total_image_size: t.uint32_t


class FixedCodec:
    """A zigpy Struct of fixed-size fields, compiled to one ``struct.Struct`` for the hot path.

    The declaration stays the zigpy Struct; this only derives a C-speed codec from it (building a
    zigpy Struct costs tens of microseconds, which would make parsing a 1 MiB image cost more than a
    noticeable fraction of hashing it, and cap the OTA server's block path below 5,000 blocks/s).
    ``offset(name)`` gives a field's byte offset for error messages.
    """

    _INT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}

    def __init__(self, declared: type[t.Struct]) -> None:
        codes, names, offsets, orders, position = [], [], {}, set(), 0
        for field in declared.fields:
            kind = field.type
            if issubclass(kind, HeaderString):
                code, size = f"{HeaderString._size}s", HeaderString._size
            elif issubclass(kind, t.FixedIntType) and kind._size in self._INT_CODES:
                size = kind._size
                code = self._INT_CODES[size].lower() if kind._signed else self._INT_CODES[size]
                orders.add(kind._byteorder)
            else:
                raise TypeError(f"{declared.__name__}.{field.name}: {kind.__name__} is not fixed-size")
            codes.append(code)
            names.append(field.name)
            offsets[field.name] = position
            position += size
        if len(orders) > 1:
            raise TypeError(f"{declared.__name__} mixes byte orders")
        self.declared = declared
        self.size = position
        self._offsets = offsets
        self._struct = struct.Struct(("<" if orders != {"big"} else ">") + "".join(codes))
        self._tuple = collections.namedtuple(f"{declared.__name__}Values", names)  # type: ignore[misc]
        self.pack = self._struct.pack  # field values in declaration order -> bytes (the OTA server's replies)
        self.unpack_values = self._struct.unpack_from  # a plain tuple, for the OTA block path

    def unpack_from(self, buffer: memoryview, offset: int = 0) -> Any:
        """The raw field values (ints, bytes) at ``offset``, by name."""
        return self._tuple._make(self._struct.unpack_from(buffer, offset))

    def offset(self, name: str) -> int:
        return self._offsets[name]


FIXED_HEADER = FixedCodec(FixedHeader)
FIXED_HEADER_SIZE = FIXED_HEADER.size
# Offsets of fields named in error messages.
_OFF_HEADER_VERSION = FIXED_HEADER.offset("header_version")
_OFF_HEADER_LENGTH = FIXED_HEADER.offset("header_length")
_OFF_FIELD_CONTROL = FIXED_HEADER.offset("field_control")
_OFF_HEADER_STRING = FIXED_HEADER.offset("header_string")
_OFF_TOTAL_SIZE = FIXED_HEADER.offset("total_image_size")
# Octets each optional header field takes, by its field-control bit (plain ints: this is the hot path).
_OPTIONAL_SIZES = ((int(FieldControl.SECURITY_CREDENTIAL_VERSION_PRESENT), 1),
                   (int(FieldControl.DEVICE_SPECIFIC_FILE), 8),
                   (int(FieldControl.HARDWARE_VERSIONS_PRESENT), 4))


class SubElementHeader(t.Struct):
    """A sub-element's tag and length (ZCL 11.4.3); its data follows."""

    tag: ElementTag
    length: t.uint32_t


SUB_ELEMENT_HEADER = FixedCodec(SubElementHeader)
SUB_ELEMENT_HEADER_SIZE = SUB_ELEMENT_HEADER.size


class SignatureLength(t.Struct):
    """The GBCS Supplier signature length prefix: big-endian, 0x0040 for P-256 r||s."""

    length: t.uint16_t_be


SIGNATURE_LENGTH = FixedCodec(SignatureLength)


@dataclasses.dataclass(frozen=True)
class Quirk:
    """Something unusual a tolerant reader accepted; ``offset`` is the byte offset in the file."""

    code: str
    offset: int
    message: str


@dataclasses.dataclass(frozen=True, repr=False)
class Element:
    """One Zigbee sub-element: ``offset`` of its tag in the file, stated ``length``, ``data`` as read."""

    tag: ElementTag
    offset: int
    length: int
    data_offset: int
    data: memoryview

    @property
    def name(self) -> str:
        if int(self.tag) in _NAMED_TAGS:
            return self.tag.name.lower()
        return "manufacturer_specific" if self.tag >= MANUFACTURER_TAG_MIN else "reserved"

    def __repr__(self) -> str:
        return f"<Element tag=0x{int(self.tag):04x} ({self.name}) offset={self.offset} length={self.length}>"


@dataclasses.dataclass(frozen=True)
class ImageIdentity:
    """What a device matches an image by (Query Next Image: manufacturer, type, version, hardware)."""

    manufacturer_code: int
    image_type: int
    file_version: int
    hw_min: int | None
    hw_max: int | None

    def fits_hardware(self, hardware_version: int | None) -> bool:
        """True when ``hardware_version`` is within the range, or either is not stated."""
        if hardware_version is None or self.hw_min is None or self.hw_max is None:
            return True
        return self.hw_min <= hardware_version <= self.hw_max


@dataclasses.dataclass(frozen=True, repr=False)
class Image:
    """A parsed OTA file. Every buffer is a memoryview into the bytes given to ``read_image``."""

    name: str
    layout: Layout
    header_data: memoryview  # the header's fields (header length minus any padding)
    header_offset: int
    file_size: int
    data: memoryview  # the OTA file as served: header .. total_image_size
    elements: tuple[Element, ...]
    manufacturer_image: memoryview
    manufacturer_image_offset: int
    signature: memoryview | None  # raw r||s of the Supplier signature, where one is carried
    signature_offset: int | None
    quirks: tuple[Quirk, ...]

    @cached_property
    def header(self) -> OtaHeader:
        """Every header field, optional ones included (built on first use; ``read_image`` validated it)."""
        header, _ = OtaHeader.deserialize(self.header_data)
        return header

    @cached_property
    def sha256(self) -> str:
        """SHA-256 of the Manufacturer Image (the upgrade-image element's data in Zigbee layout)."""
        return signing.sha256_hex(self.manufacturer_image)

    @property
    def identity(self) -> ImageIdentity:
        h = self.header
        return ImageIdentity(int(h.manufacturer_code), int(h.image_type), int(h.file_version),
                             None if h.hw_min is None else int(h.hw_min),
                             None if h.hw_max is None else int(h.hw_max))

    @property
    def trailing_bytes(self) -> int:
        return self.file_size - self.header_offset - len(self.data)

    def element(self, tag: int) -> Element | None:
        """The first sub-element with ``tag``, if any."""
        return next((e for e in self.elements if e.tag == tag), None)

    @property
    def integrity_code(self) -> memoryview | None:
        element = self.element(ElementTag.IMAGE_INTEGRITY_CODE)
        return None if element is None else element.data

    def integrity_covered(self) -> memoryview | None:
        """The bytes the integrity code hashes: the file from its header up to that sub-element."""
        element = self.element(ElementTag.IMAGE_INTEGRITY_CODE)
        if element is None:
            return None
        return self.data[:element.offset - self.header_offset]

    @property
    def signature_kind(self) -> str | None:
        """Where the Supplier signature sits: ``gbcs-trailer``, ``hanrig-tag-0xf100`` or None."""
        if self.signature is None:
            return None
        return "gbcs-trailer" if self.layout is Layout.GBCS else "hanrig-tag-0xf100"

    def __repr__(self) -> str:
        i = self.identity
        return (f"<Image {self.name} {self.layout} mfr=0x{i.manufacturer_code:04x} type=0x{i.image_type:04x}"
                f" version=0x{i.file_version:08x} size={len(self.data)} quirks={len(self.quirks)}>")


# ----------------------------------------------------------------------------------------- reading


def read_image(data: bytes | bytearray | memoryview, *, name: str = "<bytes>",
               layout: Layout | str | None = None) -> Image:
    """Parse an OTA file, deciding its layout from the bytes unless ``layout`` forces one.

    Raises ``ImageError`` (name, offset, problem) for anything invalid or truncated.
    """
    view = memoryview(data)
    if view.ndim != 1 or view.itemsize != 1:
        view = view.cast("B")
    return _Reader(view, name).read(None if layout is None else Layout(layout))


class _Reader:
    """One pass over one buffer; collects quirks as it goes."""

    def __init__(self, view: memoryview, name: str) -> None:
        self.view = view
        self.name = name
        self.quirks: list[Quirk] = []

    def fail(self, offset: int, problem: str) -> ImageError:
        return ImageError(self.name, offset, problem)

    def quirk(self, code: str, offset: int, message: str) -> None:
        self.quirks.append(Quirk(code, offset, message))

    def read(self, forced: Layout | None) -> Image:
        view = self.view
        origin = self._find_header()
        fixed, needed = self._read_header(origin)
        total = fixed.total_image_size
        available = len(view) - origin
        if total > available:
            raise self.fail(origin + _OFF_TOTAL_SIZE,
                            f"truncated: stated total image size {total} but only {available} bytes "
                            f"from the header on")
        if available > total:
            self.quirk("trailing-bytes", origin + total,
                       f"{available - total} trailing bytes past the stated total image size {total}")
        start, end = origin + fixed.header_length, origin + total
        layout = forced or self._decide_layout(start, end)
        if layout is Layout.ZIGBEE:
            elements = self._walk(start, end)
            image, image_offset, signature, signature_offset = self._zigbee_payload(elements, start)
        else:
            elements = ()
            image, image_offset, signature, signature_offset = self._gbcs_payload(start, end)
        return Image(self.name, layout, view[origin:origin + needed], origin, len(view), view[origin:end],
                     tuple(elements),
                     image, image_offset, signature, signature_offset, tuple(self.quirks))

    def _find_header(self) -> int:
        view = self.view
        if len(view) == 0:
            raise self.fail(0, "empty file")
        if view[:4] == MAGIC_BYTES:
            return 0
        head = bytes(view[:WRAPPER_SEARCH_LIMIT])
        origin = head.find(MAGIC_BYTES)
        if origin < 0:
            if len(view) < 4:
                raise self.fail(0, f"{len(view)} bytes: too short for an OTA header")
            found = int.from_bytes(view[:4], "little")
            raise self.fail(0, f"file identifier 0x{found:08x} is not the OTA magic 0x{MAGIC:08x}, "
                               f"and no OTA header in the first {len(head)} bytes")
        wrapper = "an IKEA NGIS container" if head.startswith(b"NGIS") else "a vendor wrapper"
        self.quirk("wrapped", origin, f"OTA header at offset {origin} inside {wrapper}")
        return origin

    def _read_header(self, origin: int) -> tuple[Any, int]:
        """The fixed header's values and the size of all its fields, after every header check."""
        view = self.view
        if len(view) - origin < FIXED_HEADER_SIZE:
            raise self.fail(origin, f"truncated header: {len(view) - origin} bytes, "
                                    f"a header needs at least {FIXED_HEADER_SIZE}")
        fixed = FIXED_HEADER.unpack_from(view, origin)
        length = fixed.header_length
        if not HEADER_LENGTH_MIN <= length <= HEADER_LENGTH_MAX:
            raise self.fail(origin + _OFF_HEADER_LENGTH,
                            f"header length {length} outside {HEADER_LENGTH_MIN}..{HEADER_LENGTH_MAX}")
        control = fixed.field_control
        if control & ~FIELD_CONTROL_DEFINED:
            raise self.fail(origin + _OFF_FIELD_CONTROL,
                            f"field control 0x{control:04x} sets reserved bits "
                            f"0x{control & ~FIELD_CONTROL_DEFINED:04x}")
        needed = FIXED_HEADER_SIZE + sum(size for bit, size in _OPTIONAL_SIZES if control & bit)
        if length < needed:
            raise self.fail(origin + _OFF_HEADER_LENGTH,
                            f"header length {length} too short for field control 0x{control:04x} "
                            f"(needs {needed})")
        if len(view) - origin < length:
            raise self.fail(origin, f"truncated header: {len(view) - origin} bytes, header length {length}")
        if length > needed:
            self.quirk("header-padding", origin + needed,
                       f"header length {length} but its fields take {needed}: "
                       f"{length - needed} bytes skipped")
        if fixed.header_version != HEADER_VERSION:
            self.quirk("header-version", origin + _OFF_HEADER_VERSION,
                       f"header version 0x{fixed.header_version:04x}, expected 0x{HEADER_VERSION:04x}")
        total = fixed.total_image_size
        if total < length:
            raise self.fail(origin + _OFF_TOTAL_SIZE,
                            f"total image size {total} smaller than the header length {length}")
        self._check_header_string(fixed.header_string, origin + _OFF_HEADER_STRING)
        return fixed, needed

    def _check_header_string(self, raw: bytes, offset: int) -> None:
        text = raw.split(b"\x00", 1)[0]
        controls = [i for i, octet in enumerate(text) if octet < 0x20 or octet == 0x7F]
        if controls:
            self.quirk("header-string-control", offset + controls[0],
                       f"header string has {len(controls)} control character(s), first at its octet "
                       f"{controls[0]}")
        try:
            text.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.quirk("header-string-encoding", offset + exc.start, "header string is not UTF-8")

    def _decide_layout(self, start: int, end: int) -> Layout:
        """Zigbee when the region opens with a standard tag, or is a clean chain of sub-elements."""
        if start == end:
            return Layout.ZIGBEE
        if end - start >= SUB_ELEMENT_HEADER_SIZE and \
                SUB_ELEMENT_HEADER.unpack_from(self.view, start).tag in STANDARD_TAGS:
            return Layout.ZIGBEE
        probe = _Reader(self.view, self.name)
        try:
            elements = probe._walk(start, end, probe=True)
        except ImageError:
            return Layout.GBCS
        return Layout.ZIGBEE if elements else Layout.GBCS

    def _walk(self, start: int, end: int, *, probe: bool = False) -> list[Element]:
        """The sub-elements in ``start..end``; a probe gives up at the first reserved tag."""
        view = self.view
        elements: list[Element] = []
        pos = start
        while pos < end:
            left = end - pos
            if left < SUB_ELEMENT_HEADER_SIZE:
                last = elements[-1] if elements else None
                if last is not None and last.tag == TELINK_TAG and left == 2:
                    # Telink: the 2 octets are the tag-info field after the length, not slack.
                    elements[-1] = Element(last.tag, last.offset, last.length, last.data_offset + 2,
                                           view[last.data_offset + 2:end])
                    self.quirk("telink-tag-info", last.data_offset,
                               f"tag 0x{TELINK_TAG:04x} carries a 2-byte Telink tag-info before its "
                               f"{last.length} data bytes")
                else:
                    self.quirk("element-slack", pos,
                               f"{left} stray bytes after the last sub-element, too few for another")
                break
            header = SUB_ELEMENT_HEADER.unpack_from(view, pos)
            if probe and header.tag not in STANDARD_TAGS and header.tag < MANUFACTURER_TAG_MIN:
                raise self.fail(pos, f"sub-element tag 0x{header.tag:04x} is reserved")
            tag, length = ElementTag(header.tag), header.length
            data_start = pos + SUB_ELEMENT_HEADER_SIZE
            data_end = data_start + length
            if data_end > end:
                missing = data_end - end
                if missing > SHORT_ELEMENT_TOLERANCE:
                    raise self.fail(pos + 2, f"sub-element tag 0x{int(tag):04x} length {length} runs past "
                                             f"the end of the image ({end - data_start} bytes left)")
                self.quirk("short-last-element", pos,
                           f"last sub-element tag 0x{int(tag):04x} states {length} bytes, "
                           f"{missing} short of that")
                data_end = end
            if int(tag) not in STANDARD_TAGS and int(tag) < MANUFACTURER_TAG_MIN:
                self.quirk("reserved-tag", pos, f"sub-element tag 0x{int(tag):04x} is reserved")
            elements.append(Element(tag, pos, length, data_start, view[data_start:data_end]))
            pos = data_end
        return elements

    def _zigbee_payload(self, elements: Sequence[Element], start: int
                        ) -> tuple[memoryview, int, memoryview | None, int | None]:
        upgrade = next((e for e in elements if e.tag == ElementTag.UPGRADE_IMAGE), None)
        for element in elements if upgrade is not None else ():
            if element is upgrade:
                break
            if element.tag >= MANUFACTURER_TAG_MIN:
                self.quirk("tag-before-upgrade-image", element.offset,
                           f"manufacturer tag 0x{int(element.tag):04x} before the upgrade image (tag 0x0000)")
        if upgrade is None:
            if elements:
                upgrade = elements[0]
                self.quirk("no-upgrade-image", upgrade.offset,
                           f"no upgrade-image sub-element (tag 0x0000); manufacturer image taken from "
                           f"the first sub-element (tag 0x{int(upgrade.tag):04x})")
            else:
                self.quirk("no-upgrade-image", start, "no sub-elements at all: empty manufacturer image")
        integrity = [e for e in elements if e.tag == ElementTag.IMAGE_INTEGRITY_CODE]
        if integrity:
            if integrity[0] is not elements[-1]:
                self.quirk("integrity-code-not-last", integrity[0].offset,
                           "integrity code (tag 0x0003) is not the last sub-element")
            if len(integrity[0].data) != INTEGRITY_CODE_SIZE:
                self.quirk("integrity-code-size", integrity[0].offset,
                           f"integrity code is {len(integrity[0].data)} bytes, "
                           f"expected {INTEGRITY_CODE_SIZE}")
        signature = signature_offset = None
        for element in elements:
            if element.tag == ElementTag.HANRIG_SUPPLIER_SIGNATURE and _is_signature_trailer(element.data):
                signature = element.data[2:]
                signature_offset = element.data_offset + 2
                break
        image = self.view[start:start] if upgrade is None else upgrade.data
        image_offset = start if upgrade is None else upgrade.data_offset
        return image, image_offset, signature, signature_offset

    def _gbcs_payload(self, start: int, end: int) -> tuple[memoryview, int, memoryview | None, int | None]:
        region = self.view[start:end]
        if len(region) > SIGNATURE_TRAILER_SIZE and _is_signature_trailer(region[-SIGNATURE_TRAILER_SIZE:]):
            return region[:-SIGNATURE_TRAILER_SIZE], start, region[-signing.SIGNATURE_SIZE:], \
                end - signing.SIGNATURE_SIZE
        return region, start, None, None


def _is_signature_trailer(data: memoryview | bytes) -> bool:
    if len(data) != SIGNATURE_TRAILER_SIZE:
        return False
    return SIGNATURE_LENGTH.unpack_from(data).length == signing.SIGNATURE_SIZE


# ---------------------------------------------------------------------------------------- building


def build_image(payload: bytes | memoryview, *, manufacturer_code: int, image_type: int, file_version: int,
                layout: Layout | str = Layout.ZIGBEE, hw_min: int | None = None, hw_max: int | None = None,
                header_string: str = "", destination_ieee: str | t.EUI64 | None = None,
                security_credential_version: int | None = None,
                extra_tags: Iterable[tuple[int, bytes]] = (), stack_version: int = 2,
                sign_key: ec.EllipticCurvePrivateKey | None = None, integrity_code: bool = False) -> bytes:
    """An OTA file holding ``payload`` as its Manufacturer Image; ``read_image`` gives it back exactly.

    Zigbee layout: upgrade image (0x0000), ``extra_tags`` in order, the Supplier signature (hanrig tag
    0xF100) when ``sign_key`` is given, the integrity code (0x0003) last when asked. GBCS layout: the
    payload, then the signature trailer when ``sign_key`` is given.
    """
    layout = _layout(layout)
    _check_range("manufacturer code", manufacturer_code, 0xFFFF)
    _check_range("image type", image_type, 0xFFFF)
    _check_range("file version", file_version, 0xFFFFFFFF)
    _check_range("stack version", stack_version, 0xFFFF)
    if (hw_min is None) != (hw_max is None):
        raise BuildError("hardware range needs both hw_min and hw_max")
    if hw_min is not None and hw_max is not None:
        _check_range("hw_min", hw_min, 0xFFFF)
        _check_range("hw_max", hw_max, 0xFFFF)
        if hw_min > hw_max:
            raise BuildError(f"hw_min {hw_min} is above hw_max {hw_max}")
    if security_credential_version is not None:
        _check_range("security credential version", security_credential_version, 0xFF)
    header = _new_header(manufacturer_code, image_type, file_version, stack_version,
                         _header_string(header_string), hw_min, hw_max,
                         _eui64(destination_ieee), security_credential_version)
    extras = [(_tag(tag), bytes(data)) for tag, data in extra_tags]
    if layout is Layout.GBCS:
        if extras or integrity_code:
            raise BuildError("GBCS layout has no sub-elements: extra tags and the integrity code "
                             "are Zigbee only")
        if len(payload) == 0:
            raise BuildError("GBCS layout needs a non-empty Manufacturer Image")
        return _assemble_gbcs(header, payload, sign_key, check=True)
    elements = [(ElementTag.UPGRADE_IMAGE, bytes(payload)), *extras]
    return _assemble_zigbee(header, elements, sign_key, integrity_code, check=True)


def sign_image(data: bytes | memoryview, key: ec.EllipticCurvePrivateKey, *, name: str = "<bytes>") -> bytes:
    """The OTA file in ``data`` with a (new) Supplier signature over its Manufacturer Image.

    Any old signature is replaced, an integrity code is recomputed, other sub-elements keep their order,
    and a vendor wrapper or trailing bytes are dropped: the result is the OTA file as served.
    """
    image = read_image(data, name=name)
    structural = [q for q in image.quirks if q.code in _UNSIGNABLE_QUIRKS]
    if structural:
        raise BuildError(f"{name}: offset {structural[0].offset}: will not re-sign an image with an "
                         f"inconsistent layout: {structural[0].message}")
    header = image.header.replace()
    if image.layout is Layout.GBCS:
        return _assemble_gbcs(header, image.manufacturer_image, key, check=False, name=name)
    if image.element(ElementTag.UPGRADE_IMAGE) is None:
        raise BuildError(f"{name}: no upgrade-image sub-element (tag 0x0000) to sign")
    elements = [(e.tag, bytes(e.data)) for e in image.elements
                if e.tag not in (ElementTag.HANRIG_SUPPLIER_SIGNATURE, ElementTag.IMAGE_INTEGRITY_CODE)]
    had_integrity = image.integrity_code is not None
    return _assemble_zigbee(header, elements, key, had_integrity, check=False, name=name)


# Quirks whose sub-elements cannot be rewritten faithfully.
_UNSIGNABLE_QUIRKS = frozenset({"telink-tag-info", "short-last-element", "element-slack"})


def serialize_header(header: OtaHeader, total_image_size: int) -> bytes:
    """The header octets with the given total size and a header length matching its fields."""
    probe = header.replace(header_length=0, total_image_size=0)
    length = len(probe.serialize())
    return header.replace(header_length=length, total_image_size=total_image_size).serialize()


def _assemble_gbcs(header: OtaHeader, payload: bytes | memoryview, key: ec.EllipticCurvePrivateKey | None,
                   *, check: bool, name: str = "<built>") -> bytes:
    trailer = b""
    if key is not None:
        trailer = SignatureLength(length=signing.SIGNATURE_SIZE).serialize() + signing.sign_raw(key, payload)
    size = _header_size(header) + len(payload) + len(trailer)
    out = serialize_header(header, _check_total(size)) + bytes(payload) + trailer
    return _confirm(out, Layout.GBCS, header, payload, check, name)


def _assemble_zigbee(header: OtaHeader, elements: list[tuple[int, bytes]],
                     key: ec.EllipticCurvePrivateKey | None, integrity_code: bool,
                     *, check: bool, name: str = "<built>") -> bytes:
    upgrade = next((data for tag, data in elements if tag == ElementTag.UPGRADE_IMAGE), b"")
    if key is not None:
        trailer = SignatureLength(length=signing.SIGNATURE_SIZE).serialize() + signing.sign_raw(key, upgrade)
        elements = [*elements, (ElementTag.HANRIG_SUPPLIER_SIGNATURE, trailer)]
    size = _header_size(header) + sum(SUB_ELEMENT_HEADER_SIZE + len(data) for _, data in elements)
    if integrity_code:
        size += SUB_ELEMENT_HEADER_SIZE + INTEGRITY_CODE_SIZE
    parts = [serialize_header(header, _check_total(size))]
    for tag, data in elements:
        parts.append(SubElementHeader(tag=ElementTag(tag), length=len(data)).serialize())
        parts.append(data)
    if integrity_code:
        code = signing.aes_mmo_hash(parts)
        parts.append(SubElementHeader(tag=ElementTag.IMAGE_INTEGRITY_CODE, length=len(code)).serialize())
        parts.append(code)
    out = b"".join(parts)
    return _confirm(out, Layout.ZIGBEE, header, upgrade, check, name)


def _confirm(out: bytes, layout: Layout, header: OtaHeader, payload: bytes | memoryview, strict: bool,
             name: str) -> bytes:
    """Refuse to hand out bytes that would not read back as what was built."""
    try:
        image = read_image(out, name=name)
    except ImageError as exc:
        if layout is Layout.GBCS:  # the payload opens like a standard sub-element, so it reads as zigbee
            raise BuildError(f"{name}: refusing to write a gbcs image whose Manufacturer Image would read "
                             f"back as zigbee (it starts like a standard sub-element)") from None
        raise BuildError(f"{name}: refusing to write an invalid image: {exc.problem}") from None
    if image.layout is not layout:
        raise BuildError(f"{name}: refusing to write a {layout} image whose Manufacturer Image would read "
                         f"back as {image.layout} (it starts like a Zigbee sub-element or ends like a "
                         f"GBCS signature trailer)")
    if image.manufacturer_image != memoryview(payload).cast("B"):
        raise BuildError(f"{name}: refusing to write a {layout} image: its Manufacturer Image would not read "
                         f"back unchanged (it ends like a GBCS signature trailer)")
    expected = header.replace(header_length=image.header.header_length,
                              total_image_size=image.header.total_image_size)
    if image.header != expected:
        raise BuildError(f"{name}: refusing to write an image whose header would not read back unchanged")
    if strict and image.quirks:
        quirk = image.quirks[0]
        raise BuildError(f"{name}: refusing to write an image with a quirk at offset {quirk.offset}: "
                         f"{quirk.message}")
    return out


def _new_header(manufacturer_code: int, image_type: int, file_version: int, stack_version: int,
                header_string: HeaderString, hw_min: int | None, hw_max: int | None,
                destination: t.EUI64 | None, credential_version: int | None) -> OtaHeader:
    control = FieldControl(0)
    if credential_version is not None:
        control |= FieldControl.SECURITY_CREDENTIAL_VERSION_PRESENT
    if destination is not None:
        control |= FieldControl.DEVICE_SPECIFIC_FILE
    if hw_min is not None:
        control |= FieldControl.HARDWARE_VERSIONS_PRESENT
    return OtaHeader(file_id=MAGIC, header_version=HEADER_VERSION, header_length=0, field_control=control,
                     manufacturer_code=manufacturer_code, image_type=image_type, file_version=file_version,
                     stack_version=stack_version, header_string=header_string, total_image_size=0,
                     security_credential_version=credential_version, destination_ieee=destination,
                     hw_min=hw_min, hw_max=hw_max)


def _header_size(header: OtaHeader) -> int:
    return len(header.replace(header_length=0, total_image_size=0).serialize())


def _check_total(size: int) -> int:
    if size > 0xFFFFFFFF:
        raise BuildError(f"image of {size} bytes does not fit the 32-bit total image size")
    return size


def _check_range(what: str, value: int, maximum: int) -> None:
    if not isinstance(value, int) or not 0 <= value <= maximum:
        raise BuildError(f"{what} {value!r} outside 0..0x{maximum:x}")


def _header_string(text: str) -> HeaderString:
    raw = text.encode("utf-8")
    if len(raw) > 32:
        raise BuildError(f"header string is {len(raw)} bytes in UTF-8, at most 32 fit")
    if any(octet < 0x20 or octet == 0x7F for octet in raw):
        raise BuildError(f"header string {text!r} has control characters")
    return HeaderString(raw.ljust(32, b"\x00"))


def _eui64(value: str | t.EUI64 | None) -> t.EUI64 | None:
    if value is None or isinstance(value, t.EUI64):
        return value
    try:
        return t.EUI64.convert(value)
    except (ValueError, TypeError):
        raise BuildError(f"destination IEEE {value!r} is not an EUI-64") from None


def _tag(tag: int) -> ElementTag:
    _check_range("sub-element tag", tag, 0xFFFF)
    if tag in _MANAGED_TAGS:
        raise BuildError(f"sub-element tag 0x{tag:04x} is written by build_image itself, not as an extra tag")
    if tag not in STANDARD_TAGS and tag < MANUFACTURER_TAG_MIN:
        raise BuildError(f"sub-element tag 0x{tag:04x} is reserved (use 0x0001-0x0006 or 0xF000-0xFFFF)")
    return ElementTag(tag)


def _layout(layout: Layout | str) -> Layout:
    try:
        return Layout(layout)
    except ValueError:
        raise BuildError(f"layout {layout!r} is not one of zigbee, gbcs") from None
