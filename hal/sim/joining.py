"""How a simulated device with an install code joins (issue 13): the link key it holds.

A device with ``install_code`` in its ``[[devices]]`` entry joins only when the trust centre holds the
key derived from that code (``VirtualHan.admits``); ``[devices.sim] wrong_install_code = true`` is the
fault where the device was programmed with another code than the one on its label (one bit off, with
a valid CRC), so the key the host derives from the label never works.
"""

from __future__ import annotations

from crccheck.crc import CrcX25
from zigpy.util import convert_install_code

from .config import DeviceSpec


def held_install_code(spec: DeviceSpec) -> bytes | None:
    """The code (with CRC) the device was programmed with."""
    code = spec.install_code
    if code is None or not spec.sim.wrong_install_code:
        return code
    body = bytes([code[0] ^ 0x01]) + code[1:-2]
    return body + CrcX25.calcbytes(body, byteorder="little")


def device_link_key(spec: DeviceSpec) -> bytes | None:
    """The preconfigured link key the device joins with (None: it has no install code)."""
    code = held_install_code(spec)
    return None if code is None else bytes(convert_install_code(code))
