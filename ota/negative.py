"""Negative OTA conformance cases (SECMP0007): images a device must refuse, and what refusing means.

A manufacturer shows a device does the right thing, including refusing what it must refuse; only the
host can provoke that on a bench. Each :class:`NegativeCase` turns a good image for the device into a
bad one (:func:`make_negative_offer`, bytes in, bytes out) and states the outcome the ZCL OTA cluster
defines for it (:data:`NEGATIVE_CASES`):

- the image is **not requested**: a client asks only for images for its own manufacturer code and
  image type (ZCL 11.13.7, Query Next Image Response), and does not step back to an older version;
- an **Upgrade End Request with INVALID_IMAGE** (0x96): the client checks the complete image (size,
  hardware version range, integrity code, Supplier signature) before it keeps it (ZCL 11.13.9);
- the download is **aborted**: a device that loses power mid-transfer keeps running its old image and
  holds no image when it comes back (it may resume the download later; it must never run half of one).

Bad images keep everything else right (the header fields re-coded, the integrity code recomputed and the
Supplier signature kept when the case is not about them), so the device's refusal names the one fault.
"""

from __future__ import annotations

import dataclasses
import enum

from cryptography.hazmat.primitives.asymmetric import ec

from .exceptions import ImageError
from .format import FieldControl, Image, read_image
from .signing import aes_mmo_hash, sign_raw

# byte offsets in the OTA header (ZCL 11.4.2)
MANUFACTURER_OFFSET = 10
IMAGE_TYPE_OFFSET = 12
FILE_VERSION_OFFSET = 14
FIXED_HEADER_SIZE = 56
TRUNCATE_TO = 0.75  # a truncated image is served up to three quarters of its stated size
POWER_LOSS_AT = 0.5  # power is lost when the device holds half the image


class NegativeCase(enum.StrEnum):
    WRONG_MANUFACTURER = "wrong-manufacturer"
    WRONG_IMAGE_TYPE = "wrong-image-type"
    HARDWARE_OUT_OF_RANGE = "hardware-out-of-range"
    OLDER_VERSION = "older-version"
    CORRUPTED_IMAGE = "corrupted-image"
    UNKNOWN_SUPPLIER = "unknown-supplier"
    TRUNCATED = "truncated"
    POWER_LOSS = "power-loss"


class Expected(enum.StrEnum):
    """What a conforming device does with the bad image (and the vocabulary of what one did)."""

    NOT_REQUESTED = "not-requested"  # queried, never sent an Image Block/Page Request
    INVALID_IMAGE = "upgrade-end-invalid-image"  # Upgrade End Request status INVALID_IMAGE
    ABORTED = "aborted"  # after power loss: old version running, no image held


@dataclasses.dataclass(frozen=True)
class CaseSpec:
    expected: Expected
    what: str  # what the bad image is
    clause: str  # where the expected behaviour is defined


NEGATIVE_CASES: dict[NegativeCase, CaseSpec] = {
    NegativeCase.WRONG_MANUFACTURER: CaseSpec(
        Expected.NOT_REQUESTED, "the device's image with another manufacturer code", "ZCL 11.13.7"),
    NegativeCase.WRONG_IMAGE_TYPE: CaseSpec(
        Expected.NOT_REQUESTED, "the device's image with another image type", "ZCL 11.13.7"),
    NegativeCase.HARDWARE_OUT_OF_RANGE: CaseSpec(
        Expected.INVALID_IMAGE, "a hardware version range the device is not in", "ZCL 11.4.2.13, 11.13.9"),
    NegativeCase.OLDER_VERSION: CaseSpec(
        Expected.NOT_REQUESTED, "a file version older than the one the device runs", "ZCL 11.13.7"),
    NegativeCase.CORRUPTED_IMAGE: CaseSpec(
        Expected.INVALID_IMAGE, "one Manufacturer Image octet flipped: integrity code and signature broken",
        "ZCL 11.4.3.4, GBCS 11.2.1"),
    NegativeCase.UNKNOWN_SUPPLIER: CaseSpec(
        Expected.INVALID_IMAGE, "signed by a supplier key the device does not hold", "GBCS 11.2.1"),
    NegativeCase.TRUNCATED: CaseSpec(
        Expected.INVALID_IMAGE, f"served up to {TRUNCATE_TO:.0%} of its stated total size", "ZCL 11.4.2.11"),
    NegativeCase.POWER_LOSS: CaseSpec(
        Expected.ABORTED, f"a good image; the device loses power at {POWER_LOSS_AT:.0%} of it", "ZCL 11.11"),
}


@dataclasses.dataclass(frozen=True)
class NegativeOffer:
    """The bad image (as an :class:`Image`, for its identity) and the bytes to serve."""

    case: NegativeCase
    image: Image
    served: bytes
    note: str  # one line: what exactly was changed


class CaseNotApplicable(ValueError):
    """The base image cannot carry this case (e.g. nothing to corrupt, no signature to replace)."""


def make_negative_offer(case: NegativeCase, good: Image, *, device_version: int,
                        device_hardware: int | None) -> NegativeOffer:
    """The bad image of ``case`` made from ``good`` (an image the device would accept)."""
    data = bytearray(good.data)
    base = good.header_offset
    identity = good.identity
    name = good.name.rsplit("/", 1)[-1]
    note: str
    if case is NegativeCase.WRONG_MANUFACTURER:
        other = identity.manufacturer_code ^ 0x0001
        _put(data, MANUFACTURER_OFFSET, 2, other)
        note = f"manufacturer code 0x{identity.manufacturer_code:04x} -> 0x{other:04x}"
    elif case is NegativeCase.WRONG_IMAGE_TYPE:
        other = identity.image_type ^ 0x0001
        _put(data, IMAGE_TYPE_OFFSET, 2, other)
        note = f"image type 0x{identity.image_type:04x} -> 0x{other:04x}"
    elif case is NegativeCase.OLDER_VERSION:
        if device_version == 0:
            raise CaseNotApplicable("the device runs version 0x00000000: nothing is older")
        _put(data, FILE_VERSION_OFFSET, 4, device_version - 1)
        note = f"file version 0x{identity.file_version:08x} -> 0x{device_version - 1:08x} (device runs " \
               f"0x{device_version:08x})"
    elif case is NegativeCase.HARDWARE_OUT_OF_RANGE:
        field_control = int(good.header.field_control)
        if not field_control & FieldControl.HARDWARE_VERSIONS_PRESENT:
            raise CaseNotApplicable(f"{name} states no hardware version range")
        position = FIXED_HEADER_SIZE
        if field_control & FieldControl.SECURITY_CREDENTIAL_VERSION_PRESENT:
            position += 1
        if field_control & FieldControl.DEVICE_SPECIFIC_FILE:
            position += 8
        low = (device_hardware + 1) if device_hardware is not None and device_hardware < 0xFFFF else 0xFFFF
        _put(data, position, 2, low)
        _put(data, position + 2, 2, 0xFFFF)
        note = f"hardware range {identity.hw_min}..{identity.hw_max} -> {low}..65535 (device is hardware " \
               f"{device_hardware if device_hardware is not None else 'unknown'})"
    elif case is NegativeCase.CORRUPTED_IMAGE:
        if good.integrity_code is None and good.signature is None:
            raise CaseNotApplicable(f"{name} carries neither an integrity code nor a Supplier signature")
        at = good.manufacturer_image_offset - base + len(good.manufacturer_image) // 2
        data[at] ^= 0x01
        return NegativeOffer(case, _read(data, good.name), bytes(data),
                             f"octet {at} of the file flipped (integrity code and signature left as "
                             f"they were)")
    elif case is NegativeCase.UNKNOWN_SUPPLIER:
        if good.signature is None or good.signature_offset is None:
            raise CaseNotApplicable(f"{name} carries no Supplier signature to replace")
        stranger = ec.generate_private_key(ec.SECP256R1())
        at = good.signature_offset - base
        data[at:at + len(good.signature)] = sign_raw(stranger, good.manufacturer_image)
        note = "Supplier signature replaced by one from a fresh P-256 key nobody certified"
    elif case is NegativeCase.TRUNCATED:
        cut = int(len(data) * TRUNCATE_TO)
        return NegativeOffer(case, good, bytes(data[:cut]),
                             f"{cut} of {len(data)} octets served; the header still states {len(data)}")
    elif case is NegativeCase.POWER_LOSS:
        return NegativeOffer(case, good, bytes(data), f"the good image {name}; power lost at "
                                                      f"{POWER_LOSS_AT:.0%}")
    else:  # pragma: no cover - every case is handled above
        raise AssertionError(case)
    _refresh_integrity_code(data, good)
    return NegativeOffer(case, _read(data, good.name), bytes(data), note)


def _put(data: bytearray, offset: int, size: int, value: int) -> None:
    data[offset:offset + size] = value.to_bytes(size, "little")


def _refresh_integrity_code(data: bytearray, good: Image) -> None:
    """Recompute the integrity code over the changed bytes, so it is not what the device refuses."""
    code = good.integrity_code
    covered = good.integrity_covered()
    if code is None or covered is None:
        return
    end = len(covered)
    at = end + 6  # the sub-element's tag and length come first
    data[at:at + len(code)] = aes_mmo_hash([bytes(data[:end])])


def _read(data: bytearray, name: str) -> Image:
    try:
        return read_image(bytes(data), name=name)
    except ImageError as exc:  # pragma: no cover - every mutation keeps the layout readable
        raise CaseNotApplicable(f"the changed image no longer reads: {exc}") from exc
