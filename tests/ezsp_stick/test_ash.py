"""ASH on the NCP side: golden bytes against bellows' own codec, and the link state machine driven by
bellows' real ``AshProtocol`` in memory, with serial faults injected through the transport."""

from __future__ import annotations

import asyncio

import bellows.ash as host_ash
import bellows.types as bt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hal.ezsp_stick import ash
from hal.ezsp_stick.ash import AshFrame, AshFrameError, AshNcp, FrameType
from hal.ezsp_stick.exceptions import AshFrameError as ExportedAshFrameError

# an EZSP payload that contains every reserved byte, before and after randomisation
TRICKY = bytes([0x00, 0x7E, 0x7D, 0x11, 0x13, 0x18, 0x1A, 0x42, 0x21, 0xA8, 0x54, 0x2A, 0xFF, *range(40)])


def test_random_sequence_matches_ug101_and_bellows() -> None:
    # UG101 4.3 gives the first bytes of the sequence: 42 21 A8 54 2A
    assert ash.randomise(bytes(5)) == bytes.fromhex("4221a8542a")
    assert ash.randomise(bytes(256)) == bytes(host_ash.PSEUDO_RANDOM_DATA_SEQUENCE)


def test_crc_of_rst_frame_is_the_ug101_example() -> None:
    # UG101 appendix: RST is 1A C0 38 BC 7E on the wire
    assert AshFrame(FrameType.RST).to_wire() == bytes.fromhex("c038bc7e")
    assert ash.crc_ccitt(b"\xc0") == bytes.fromhex("38bc")


@pytest.mark.parametrize("frame, bellows_frame", [
    (AshFrame.data(3, 5, TRICKY, re_tx=True),
     host_ash.DataFrame(frm_num=3, re_tx=True, ack_num=5, ezsp_frame=TRICKY)),
    (AshFrame.data(0, 0, b"\x01\x80\x01\x00\x00\x0d"),
     host_ash.DataFrame(frm_num=0, re_tx=False, ack_num=0, ezsp_frame=b"\x01\x80\x01\x00\x00\x0d")),
    (AshFrame(FrameType.ACK, ack_num=6, not_ready=True),
     host_ash.AckFrame(res=0, ncp_ready=True, ack_num=6)),
    (AshFrame(FrameType.NAK, ack_num=2), host_ash.NakFrame(res=0, ncp_ready=False, ack_num=2)),
    (AshFrame(FrameType.RST), host_ash.RstFrame()),
    (AshFrame.rstack(bt.NcpResetCode.RESET_SOFTWARE),
     host_ash.RStackFrame(version=2, reset_code=bt.NcpResetCode.RESET_SOFTWARE)),
    (AshFrame.error(bt.NcpResetCode.ERROR_EXCEEDED_MAXIMUM_ACK_TIMEOUT_COUNT),
     host_ash.ErrorFrame(version=2, reset_code=bt.NcpResetCode.ERROR_EXCEEDED_MAXIMUM_ACK_TIMEOUT_COUNT)),
])
def test_golden_bytes_against_bellows(frame: AshFrame, bellows_frame: host_ash.AshFrame) -> None:
    ours = frame.to_bytes()
    assert ours == bellows_frame.to_bytes()
    assert host_ash.parse_frame(ours) == bellows_frame
    assert AshFrame.from_bytes(bellows_frame.to_bytes()) == frame
    # stuffing: the same wire bytes as bellows' writer, and none of the reserved bytes inside
    wire = frame.to_wire()
    assert wire == bytes(host_ash.AshProtocol._stuff_bytes(ours)) + b"\x7e"
    assert not (set(wire[:-1]) & {0x7E, 0x11, 0x13, 0x18, 0x1A})
    assert ash.unstuff(wire[:-1]) == ours


@pytest.mark.parametrize("raw, problem", [
    (b"\xc0\x38", "shorter than 3"),
    (b"\xc0\x38\xbd", "CRC expected 38bc, got 38bd"),
    (b"\xc1\x02" + ash.crc_ccitt(b"\xc1\x02"), "RSTACK/ERROR payload of 1 bytes"),
    (b"\xc5" + ash.crc_ccitt(b"\xc5"), "unknown control byte 0xc5"),
])
def test_bad_frames_are_rejected_with_one_line(raw: bytes, problem: str) -> None:
    with pytest.raises(AshFrameError, match=problem) as info:
        AshFrame.from_bytes(raw)
    assert isinstance(info.value, ExportedAshFrameError)
    assert "\n" not in str(info.value)


def test_bad_escape_is_rejected() -> None:
    with pytest.raises(AshFrameError, match="escaped byte 0x41"):
        ash.unstuff(b"\x7d\x61")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_codec_agrees_with_bellows_on_any_bytes(data: bytes) -> None:
    # the stick's C-speed stuffing, unstuffing and randomisation against bellows' byte loops
    assert ash.stuff(data) == bytes(host_ash.AshProtocol._stuff_bytes(data))
    assert ash.unstuff(ash.stuff(data)) == data
    assert ash.randomise(data[:256]) == bytes(host_ash.DataFrame._randomize(data[:256]))
    try:
        ours: bytes | None = ash.unstuff(data)
    except AshFrameError:
        ours = None
    try:
        theirs: bytes | None = bytes(host_ash.AshProtocol._unstuff_bytes(data))
    except host_ash.ParsingError:
        theirs = None
    if data.endswith(b"\x7d") and theirs is not None and ours is None:
        return  # bellows drops a trailing escape silently; the stick rejects the frame (UG101: an error)
    assert ours == theirs


def test_resample_uart_is_identity_at_equal_rates_and_garbles_otherwise() -> None:
    data = bytes(range(256))
    assert ash.resample_uart(data, 115200, 115200) == data
    garbled = ash.resample_uart(AshFrame(FrameType.RST).to_wire() * 4, 57600, 115200)
    assert garbled and b"\xc0\x38\xbc\x7e" not in garbled


class Wire(asyncio.Transport):
    """One direction of an in-memory serial line, with a byte filter for fault injection."""

    def __init__(self, sink) -> None:
        super().__init__()
        self.sink = sink
        self.filter = None
        self.closing = False
        self.log: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.log.append(bytes(data))
        if self.filter is not None:
            data = self.filter(bytes(data))
        if data:
            asyncio.get_running_loop().call_soon(self.sink, bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True


class Host:
    """bellows' AshProtocol as the host: records the EZSP frames it receives and its resets."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.resets: list[bt.NcpResetCode] = []
        self.errors: list[bt.NcpResetCode] = []

    def connection_made(self, proto) -> None: ...
    def connection_lost(self, exc) -> None: ...
    def data_received(self, data: bytes) -> None:
        self.frames.append(bytes(data))

    def reset_received(self, code) -> None:
        self.resets.append(code)

    def error_received(self, code) -> None:
        self.errors.append(code)


@pytest.fixture
def link(monkeypatch):
    """bellows' AshProtocol <-> AshNcp, unpaced, with short ACK timeouts (both sides patched)."""
    monkeypatch.setattr(ash, "T_RX_ACK_INIT", 0.05)
    monkeypatch.setattr(ash, "T_RX_ACK_MIN", 0.02)
    monkeypatch.setattr(host_ash, "T_RX_ACK_INIT", 0.05)
    monkeypatch.setattr(host_ash, "T_RX_ACK_MIN", 0.02)
    host = Host()
    delivered: list[bytes] = []
    resets: list[bt.NcpResetCode] = []
    proto = host_ash.AshProtocol(host)
    to_ncp = Wire(None)
    ncp = AshNcp(write=lambda data: to_host.write(data), deliver=delivered.append, on_reset=resets.append,
                 baudrate=0)
    to_ncp.sink = ncp.feed
    to_host = Wire(proto.data_received)
    proto.connection_made(to_ncp)
    return proto, ncp, host, delivered, resets, to_ncp, to_host


async def _connect(proto, ncp, host) -> None:
    ncp.start()
    proto.send_reset()
    for _ in range(50):
        if host.resets:
            break
        await asyncio.sleep(0.001)
    assert host.resets == [bt.NcpResetCode.RESET_SOFTWARE]


async def _echo(ncp, delivered, count: int) -> None:
    """The NCP answers every delivered frame with the same bytes (like a response)."""
    seen = 0
    while seen < count:
        await asyncio.sleep(0.001)
        while seen < len(delivered):
            ncp.send(delivered[seen])
            seen += 1


async def test_data_exchange_with_bellows_ash(link) -> None:
    proto, ncp, host, delivered, resets, _, _ = link
    await _connect(proto, ncp, host)
    assert resets == [bt.NcpResetCode.RESET_SOFTWARE]
    frames = [bytes([i, 0x00, 0x01]) + TRICKY[: 5 + i] for i in range(12)]  # frame numbers wrap past 7
    echo = asyncio.create_task(_echo(ncp, delivered, len(frames)))
    for frame in frames:
        await proto.send_data(frame)
    await asyncio.wait_for(echo, 2)
    for _ in range(100):
        if len(host.frames) == len(frames):
            break
        await asyncio.sleep(0.002)
    assert delivered == frames
    assert host.frames == frames
    assert ncp.stats.data_in == 12 and ncp.stats.naks_sent == 0 and ncp.stats.retransmissions == 0
    await ncp.stop()


async def test_corrupted_host_frame_is_naked_and_recovered(link) -> None:
    proto, ncp, host, delivered, _, _, _ = link
    await _connect(proto, ncp, host)
    ncp.faults.corrupt_rx = 1
    await proto.send_data(b"\x01\x00\x01\x05\x00")
    assert delivered == [b"\x01\x00\x01\x05\x00"]  # delivered exactly once, after the retransmission
    assert ncp.stats.bad_frames == 1 and ncp.stats.naks_sent == 1
    await ncp.stop()


async def test_corrupted_ncp_frame_is_naked_by_bellows_and_resent(link) -> None:
    proto, ncp, host, _, _, _, _ = link
    await _connect(proto, ncp, host)
    ncp.faults.corrupt_tx = 1
    ncp.send(b"\x07\x90\x01\x19\x00\x90")
    for _ in range(200):
        if host.frames:
            break
        await asyncio.sleep(0.002)
    assert host.frames == [b"\x07\x90\x01\x19\x00\x90"]
    assert ncp.stats.naks_received == 1 and ncp.stats.retransmissions == 1
    await ncp.stop()


async def test_lost_host_ack_makes_the_ncp_retransmit_without_duplicates(link) -> None:
    proto, ncp, host, _, _, _, _ = link
    await _connect(proto, ncp, host)
    ncp.faults.drop_rx_ack = 1
    ncp.send(b"\x08\x90\x01\x19\x00\x90")
    for _ in range(300):
        if ncp.stats.retransmissions and ncp._in_flight is None:
            break
        await asyncio.sleep(0.002)
    assert ncp.stats.ack_timeouts == 1 and ncp.stats.retransmissions == 1
    assert host.frames == [b"\x08\x90\x01\x19\x00\x90"]  # bellows ACKed the re_tx copy and dropped it
    await ncp.stop()


async def test_lost_ncp_ack_is_recovered_by_bellows_retransmission(link) -> None:
    proto, ncp, host, delivered, _, _, _ = link
    await _connect(proto, ncp, host)
    ncp.faults.drop_tx_ack = 1
    await proto.send_data(b"\x02\x00\x01\x05\x00")
    assert delivered == [b"\x02\x00\x01\x05\x00"]
    assert ncp.stats.duplicates == 1  # the retransmitted copy was acknowledged, not delivered again
    await ncp.stop()


async def test_garbage_and_cancel_bytes_resync(link) -> None:
    proto, ncp, host, delivered, _, to_ncp, _ = link
    await _connect(proto, ncp, host)
    to_ncp.write(b"\x33\x44\x1a")  # junk then Cancel: discarded
    to_ncp.write(b"\x55\x18\x66\x77")  # Substitute: discard to the next Flag
    to_ncp.write(b"\x7e")
    await proto.send_data(b"\x03\x00\x01\x05\x00")
    assert delivered == [b"\x03\x00\x01\x05\x00"]
    await ncp.stop()


async def test_unacknowledged_frames_lead_to_error_frame(link) -> None:
    proto, ncp, host, _, _, _, to_host = link
    await _connect(proto, ncp, host)
    to_host.filter = lambda data: b""  # the host hears nothing any more
    ncp.send(b"\x09\x90\x01\x19\x00\x90")
    for _ in range(500):
        if ncp.stats.errors_sent:
            break
        await asyncio.sleep(0.002)
    assert ncp.stats.ack_timeouts == ash.ACK_TIMEOUTS
    assert ncp.stats.errors_sent == 1 and not ncp.connected
    to_host.filter = None
    proto.send_reset()  # only RST brings it back
    for _ in range(50):
        if ncp.connected:
            break
        await asyncio.sleep(0.001)
    assert ncp.connected
    await ncp.stop()


@pytest.mark.looptime  # virtual loop time: the figure is exact, not at the mercy of a busy machine
async def test_pacing_costs_ten_bits_per_byte() -> None:
    written: list[tuple[float, bytes]] = []
    loop = asyncio.get_running_loop()
    ncp = AshNcp(write=lambda d: written.append((loop.time(), d)), deliver=lambda d: None,
                 on_reset=lambda c: None, baudrate=9600)
    start = loop.time()
    ncp.feed(AshFrame(FrameType.RST).to_wire())  # 4 bytes in: 4.2 ms at 9600 baud
    await asyncio.sleep(0.05)
    (when, data), = written
    assert data == AshFrame.rstack(bt.NcpResetCode.RESET_SOFTWARE).to_wire()
    # 4 bytes received then 6 bytes sent: 10 bytes x 10 bits / 9600 baud = 10.4 ms
    assert when - start == pytest.approx(10 * 10 / 9600, abs=1e-6)
    assert ncp.wire_time(96) == pytest.approx(0.1)
    # two UART timers (the RST clocked in, the RSTACK clocked out), on time in virtual time
    assert (ncp.stats.uart_timers, ncp.stats.uart_late_us) == (2, 0)


async def test_power_loss_silences_the_ncp_and_power_on_announces_itself(link) -> None:
    proto, ncp, host, _, resets, _, _ = link
    await _connect(proto, ncp, host)
    ncp.power(False)
    assert resets[-1] == bt.NcpResetCode.RESET_POWER_ON and not ncp.connected
    proto.send_reset()  # an unplugged stick hears nothing, not even RST
    await asyncio.sleep(0.01)
    assert len(host.resets) == 1 and not ncp.connected
    ncp.power(True)
    for _ in range(50):
        if len(host.resets) == 2:
            break
        await asyncio.sleep(0.001)
    assert host.resets[-1] == bt.NcpResetCode.RESET_POWER_ON and ncp.connected
    await ncp.stop()
