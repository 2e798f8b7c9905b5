"""GB-HRGP framing (hal.gbhrgp): message lengths of the DCC's RTDS messages, multi-frame reassembly,
the GSME headers, and random streams that are refused by name, never anything else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.exceptions import TunnelFramingError
from hal.gbhrgp import (
    MAX_INCOMING_TRANSFER_SIZE,
    Header,
    StreamReassembler,
    encode,
    message_length,
    transfer_data,
)


def rtds_messages() -> list[bytes]:
    import os

    base = Path(os.environ.get("HANRIG_SHARED_DIR", "/work/shared")) / "gbcs-rtds" / "messages"
    if not base.is_dir():
        pytest.skip("RTDS not available (HANRIG_SHARED_DIR)")
    return [bytes.fromhex(p.read_text().strip()) for p in sorted(base.glob("*/*.HEX"))
            if "PRECOMMAND" not in p.name]


def test_every_rtds_message_length_is_read_from_its_own_header() -> None:
    messages = rtds_messages()
    assert len(messages) >= 40
    for data in messages:
        assert message_length(data) == len(data)
        assert all(message_length(data[:n]) in (None, len(data)) for n in range(len(data)))


def test_each_message_is_one_transfer_data_and_a_split_stream_is_tolerated() -> None:
    messages = rtds_messages()
    stream = StreamReassembler()
    out = []
    for data in messages:  # GBCS 10.2.2: one message, one Transfer Data (up to 1500 octets)
        out += [m.message for m in stream.feed(transfer_data(data))]
    assert out == messages and not stream.buffer
    big = max(messages, key=len)
    assert 1400 < len(big) <= MAX_INCOMING_TRANSFER_SIZE  # CS02b: 1420 octets, still one command
    with pytest.raises(TunnelFramingError, match=r"1501-octet GBCS message exceeds .* 1500"):
        transfer_data(bytes(1501))
    # a device that splits a message anyway (GBCS says it must not) loses nothing: the receiver cuts the
    # stream by each message's own length
    stream = StreamReassembler()
    joined = b"".join(messages)
    out = []
    for start in range(0, len(joined), 77):
        out += [m.message for m in stream.feed(joined[start:start + 77])]
    assert out == messages and not stream.buffer


def test_gsme_headers_and_timeout() -> None:
    message = rtds_messages()[0]
    stream = StreamReassembler(headed=True)
    got = stream.feed(encode(b"", Header.GET) + encode(message, Header.GET_RESPONSE, remaining=2)
                      + encode(message, Header.PUT))
    assert [(m.header, m.remaining, len(m.message)) for m in got] == [
        (Header.GET, None, 0), (Header.GET_RESPONSE, 2, len(message)), (Header.PUT, None, len(message))]
    stream.feed(encode(message, Header.PUT)[:10], now=0.0)
    assert stream.expire(100.0) and stream.dropped == 1 and "not completed" in (stream.last_error or "")


def test_oversized_and_foreign_streams_are_refused_by_name() -> None:
    stream = StreamReassembler()
    with pytest.raises(TunnelFramingError, match="MaximumIncomingTransferSize 1500"):
        stream.feed(bytes.fromhex("dd000000000000821000"))
    with pytest.raises(TunnelFramingError, match="0x42 starts no GBCS message"):
        stream.feed(b"\x42")
    assert stream.dropped == 2 and not stream.buffer


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=90), max_size=8), st.booleans())
def test_random_streams_only_ever_raise_framing_errors(parts: list[bytes], headed: bool) -> None:
    stream = StreamReassembler(headed=headed)
    for part in parts:
        try:
            stream.feed(part)
        except TunnelFramingError:
            assert not stream.buffer
    assert len(stream.buffer) <= 1500 + 2
