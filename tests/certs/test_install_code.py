"""Install codes: CRC-16/X.25 checked, link key = AES-MMO(code | CRC).

The 16-byte example and its key are the Zigbee specification's (and Silicon Labs AN1089's) install code
example: 83FED3407A939723A5C639B26916D505 C3B5 -> 66B6900981E1EE3CA4206B6B861C02BB.
"""

from __future__ import annotations

import re

import pytest
from crccheck.crc import CrcX25

from certs.exceptions import InvalidInstallCode
from certs.install_code import parse_install_code

SPEC_CODE = "83FED3407A939723A5C639B26916D505C3B5"
SPEC_KEY = "66B6900981E1EE3CA4206B6B861C02BB"


def test_the_specification_example() -> None:
    code = parse_install_code(SPEC_CODE)
    assert code.link_key.hex().upper() == SPEC_KEY
    assert parse_install_code("83:FE:D3:40:7A:93:97:23:A5:C6:39:B2:69:16:D5:05:C3:B5") == code


@pytest.mark.parametrize("length", [6, 8, 12, 16])
def test_every_length(length: int) -> None:
    body = bytes(range(1, length + 1))
    crc = CrcX25.calcbytes(body, byteorder="little")
    assert len(parse_install_code(body + crc).link_key) == 16


@pytest.mark.parametrize(("text", "message"), [
    ("83FED3407A939723A5C639B26916D505C3B4", "CRC C3B4 does not match the code (expected C3B5)"),
    ("83FED3407A93", "6 bytes; an install code is 6, 8, 12 or 16 bytes plus a 2-byte CRC"),
    ("83FED3407A9G", "not hexadecimal"),
])
def test_bad_codes_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(InvalidInstallCode, match=re.escape(message)) as info:
        parse_install_code(text)
    assert info.value.exit_code == 2
