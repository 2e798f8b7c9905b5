"""The one EUI-64 spelling every layer shares (``hanrig_errors``): text as the CLI contract writes it, and
the same octets in that order as certificates and GBCS headers carry them (zigpy's EUI64 is the reverse)."""

from __future__ import annotations

import pytest
import zigpy.types as zigpy_t

from certs.exceptions import CertificateInputError
from certs.model import parse_eui64 as certificate_eui64
from hanrig_errors import eui64_bytes, eui64_text, parse_eui64

TEXT = "00:0d:6f:00:0a:bc:12:34"


@pytest.mark.parametrize("spelling", [TEXT, "000D6F000ABC1234", "00-0d-6f-00-0a-bc-12-34"])
def test_spellings_normalise_and_round_trip(spelling: str) -> None:
    assert parse_eui64(spelling) == TEXT
    raw = eui64_bytes(TEXT)
    assert raw == bytes([0x00, 0x0D, 0x6F, 0x00, 0x0A, 0xBC, 0x12, 0x34])
    assert eui64_text(raw) == TEXT
    assert bytes(zigpy_t.EUI64.convert(TEXT))[::-1] == raw   # zigpy holds the octets the other way round
    assert certificate_eui64(f" {spelling} ") == raw


@pytest.mark.parametrize("bad", ["00:0d:6f", "00:0d:6f:00:0a:bc:12:3g", "", "00:0d:6f:00:0a:bc:12:34:56"])
def test_what_is_not_an_eui64(bad: str) -> None:
    assert parse_eui64(bad) is None
    with pytest.raises(CertificateInputError, match="is not an EUI-64"):
        certificate_eui64(bad)
