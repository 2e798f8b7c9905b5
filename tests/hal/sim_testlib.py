"""Helpers shared by the simulated-HAN tests: OTA images built with ``ota`` and wrapped for zigpy."""

from __future__ import annotations

from zigpy.ota import OtaImageWithMetadata
from zigpy.ota.image import parse_ota_image
from zigpy.ota.providers import BaseOtaImageMetadata

from ota import build_image

IHD_TYPE = 0x0101
MFR = 0x1234
NEW = 0x00020000


def image_bytes(size: int = 2000, *, image_type: int = IHD_TYPE, version: int = NEW, **kwargs) -> bytes:
    payload = bytes((i * 7 + 3) & 0xFF for i in range(size))
    return build_image(
        payload,
        manufacturer_code=MFR,
        image_type=image_type,
        file_version=version,
        hw_min=kwargs.pop("hw_min", 1),
        hw_max=kwargs.pop("hw_max", 1),
        **kwargs,
    )


def zigpy_image(data: bytes) -> OtaImageWithMetadata:
    firmware, _ = parse_ota_image(data)
    header = firmware.header
    return OtaImageWithMetadata(
        metadata=BaseOtaImageMetadata(
            file_version=header.file_version,
            manufacturer_id=header.manufacturer_id,
            image_type=header.image_type,
        ),
        firmware=firmware,
    )
