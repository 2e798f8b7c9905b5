"""Zigbee install codes (Zigbee 3.0 / ZSE 5.4.8.1): 6, 8, 12 or 16 bytes followed by a CRC-16/X.25
(little-endian), and the preconfigured link key derived from them: the AES-MMO hash of code and CRC.

zigpy's ``convert_install_code`` does the hashing; this module adds the checks that name what is wrong
(length, CRC, hex) so the CLI and rig files can say so in one line.
"""

from __future__ import annotations

from dataclasses import dataclass

from crccheck.crc import CrcX25
from zigpy.util import convert_install_code

from .exceptions import InvalidInstallCode

CODE_LENGTHS = (6, 8, 12, 16)       # without the 2-byte CRC


@dataclass(frozen=True)
class InstallCode:
    """A checked install code (code and CRC bytes) and its link key."""

    code: bytes                     # including the CRC

    @property
    def link_key(self) -> bytes:
        return bytes(convert_install_code(self.code))

    @property
    def text(self) -> str:
        return self.code.hex().upper()


def parse_install_code(text: str | bytes, *, what: str = "install code") -> InstallCode:
    """Hex (spaces, colons and dashes ignored) or raw bytes -> a CRC-checked ``InstallCode``."""
    if isinstance(text, str):
        cleaned = "".join(ch for ch in text if ch not in " :-")
        try:
            raw = bytes.fromhex(cleaned)
        except ValueError:
            raise InvalidInstallCode(f"{what} {text!r}: not hexadecimal") from None
    else:
        raw = bytes(text)
    if len(raw) - 2 not in CODE_LENGTHS:
        raise InvalidInstallCode(
            f"{what} {raw.hex().upper()}: {len(raw)} bytes; an install code is 6, 8, 12 or 16 bytes "
            "plus a 2-byte CRC (8, 10, 14 or 18 in all)")
    crc = CrcX25()
    crc.process(raw[:-2])
    expected = crc.finalbytes(byteorder="little")
    if raw[-2:] != expected:
        raise InvalidInstallCode(f"{what} {raw.hex().upper()}: CRC {raw[-2:].hex().upper()} does not match "
                                 f"the code (expected {expected.hex().upper()})")
    return InstallCode(raw)
