"""The NCP side of ASH, the EZSP serial framing (Silicon Labs UG101), paced at a UART's baud rate.

Owns: frame encoding (control byte, CRC-CCITT, byte stuffing, DATA randomisation), the receive
buffer with resync on garbage (Flag, Cancel, Substitute, XON/XOFF), RST/RSTACK, DATA/ACK/NAK with
frame numbers, the reject condition, retransmission with the adaptive ACK timeout, the ERROR frame of
the failed state, serial-layer faults, and the time each byte takes on the wire (10 bits per byte).

The codec is written from UG101, not borrowed from bellows, so the golden-bytes tests that compare it
with ``bellows.ash`` check two independent implementations against each other.
"""

from __future__ import annotations

import asyncio
import binascii
import collections
import dataclasses
import enum
import logging
import re
from collections.abc import Callable

from bellows.types import NcpResetCode

from .exceptions import AshFrameError

LOGGER = logging.getLogger(__name__)
TRACE = 5  # raw bytes are logged below DEBUG

# UG101 section 4: reserved bytes, escaped on the wire as ESCAPE, byte ^ 0x20
FLAG = 0x7E  # ends a frame
ESCAPE = 0x7D  # the next byte has bit 5 inverted
XON = 0x11  # resume transmission (software flow control)
XOFF = 0x13  # stop transmission
SUBSTITUTE = 0x18  # a UART low-level error replaced a byte: discard up to the next Flag
CANCEL = 0x1A  # discard everything since the previous Flag
RESERVED = frozenset({FLAG, ESCAPE, XON, XOFF, SUBSTITUTE, CANCEL})

ASH_VERSION = 0x02  # the version byte of RSTACK and ERROR frames
MAX_EZSP_FRAME = 220  # UG100: the longest EZSP frame an NCP accepts

# UG101 section 3.3 timing (seconds); module constants so tests can patch them
T_RX_ACK_INIT = 1.6  # initial time the NCP waits for an ACK to a DATA frame
T_RX_ACK_MIN = 0.4
T_RX_ACK_MAX = 3.2
ACK_TIMEOUTS = 4  # consecutive ACK timeouts before the NCP enters the failed state
BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit


def _pseudo_random_sequence(length: int) -> bytes:
    """UG101 4.3: the LFSR sequence DATA payloads are XORed with (seed 0x42, polynomial 0xB8)."""
    out = bytearray()
    value = 0x42
    for _ in range(length):
        out.append(value)
        value = (value >> 1) ^ 0xB8 if value & 0x01 else value >> 1
    return bytes(out)


_RANDOM = _pseudo_random_sequence(256)


def randomise(data: bytes) -> bytes:
    """XOR a DATA payload with the ASH pseudo-random sequence (the operation is its own inverse)."""
    size = len(data)
    if size > len(_RANDOM):
        raise AshFrameError(f"ash: DATA payload of {size} bytes exceeds {len(_RANDOM)}")
    # one XOR of two big integers instead of a Python loop over the bytes (the stick's hot path)
    return (int.from_bytes(data, "big") ^ int.from_bytes(_RANDOM[:size], "big")).to_bytes(size, "big")


def crc_ccitt(data: bytes) -> bytes:
    """CRC-CCITT (polynomial 0x1021, initial 0xFFFF), big-endian, over control byte and payload."""
    return binascii.crc_hqx(data, 0xFFFF).to_bytes(2, "big")


# ESCAPE first, so the escapes the others insert are not escaped again
_STUFFING = tuple((bytes((byte,)), bytes((ESCAPE, byte ^ 0x20)))
                  for byte in (ESCAPE, FLAG, XON, XOFF, SUBSTITUTE, CANCEL))
_ESCAPED = bytes((ESCAPE,))
_RESERVED_NOT_ESCAPE = re.compile(b"[" + re.escape(bytes(sorted(RESERVED - {ESCAPE}))) + b"]")


def stuff(data: bytes) -> bytes:
    """Escape the reserved bytes of a frame body for the wire."""
    for plain, escaped in _STUFFING:
        data = data.replace(plain, escaped)
    return bytes(data)


def unstuff(data: bytes) -> bytes:
    """Undo :func:`stuff`; an escape that does not yield a reserved byte is an error."""
    first, *escaped = bytes(data).split(_ESCAPED)
    if not escaped:
        return first
    out = [first]
    for index, part in enumerate(escaped):
        if not part:  # the escape was the last byte, or escaped an escape
            if index == len(escaped) - 1:
                raise AshFrameError("ash: frame ends inside an escape sequence")
            raise AshFrameError(f"ash: escaped byte 0x{ESCAPE ^ 0x20:02x} is not a reserved byte")
        value = part[0] ^ 0x20
        if value not in RESERVED:
            raise AshFrameError(f"ash: escaped byte 0x{value:02x} is not a reserved byte")
        out.append(bytes((value,)))
        out.append(part[1:])
    return b"".join(out)


class FrameType(enum.Enum):
    """UG101 table 2: the six ASH frame types, told apart by the control byte."""

    DATA = "DATA"  # 0b0nnnrAAA: frame number, retransmit flag, ack number
    ACK = "ACK"  # 0b100xRAAA: nRdy flag, ack number
    NAK = "NAK"  # 0b101xRAAA
    RST = "RST"  # 0xC0, host to NCP only
    RSTACK = "RSTACK"  # 0xC1, NCP to host: version, reset code
    ERROR = "ERROR"  # 0xC2, NCP to host: version, error code


@dataclasses.dataclass(frozen=True)
class AshFrame:
    """One ASH frame (UG101 section 3). ``payload`` of DATA is the plain EZSP frame."""

    kind: FrameType
    frm_num: int = 0
    re_tx: bool = False
    ack_num: int = 0
    not_ready: bool = False
    payload: bytes = b""

    @property
    def control(self) -> int:
        if self.kind is FrameType.DATA:
            return (self.frm_num & 7) << 4 | int(self.re_tx) << 3 | (self.ack_num & 7)
        if self.kind in (FrameType.ACK, FrameType.NAK):
            base = 0x80 if self.kind is FrameType.ACK else 0xA0
            return base | int(self.not_ready) << 3 | (self.ack_num & 7)
        return {FrameType.RST: 0xC0, FrameType.RSTACK: 0xC1, FrameType.ERROR: 0xC2}[self.kind]

    def to_bytes(self) -> bytes:
        """Control byte, payload (randomised for DATA), CRC: the frame before stuffing."""
        body = randomise(self.payload) if self.kind is FrameType.DATA else self.payload
        data = bytes([self.control]) + body
        return data + crc_ccitt(data)

    def to_wire(self) -> bytes:
        """The bytes sent on the serial line: stuffed frame plus the closing Flag."""
        return stuff(self.to_bytes()) + bytes([FLAG])

    @classmethod
    def from_bytes(cls, data: bytes) -> AshFrame:
        """Parse an unstuffed frame (without its Flag); reject bad CRC, length or control byte."""
        if len(data) < 3:
            raise AshFrameError(f"ash: frame of {len(data)} bytes is shorter than 3")
        body, crc = data[:-2], data[-2:]
        if crc_ccitt(body) != crc:
            raise AshFrameError(f"ash: CRC expected {crc_ccitt(body).hex()}, got {crc.hex()}")
        control, payload = body[0], body[1:]
        if control & 0x80 == 0:
            if not payload:
                raise AshFrameError("ash: DATA frame without payload")
            return cls(FrameType.DATA, frm_num=(control >> 4) & 7, re_tx=bool(control & 0x08),
                       ack_num=control & 7, payload=randomise(payload))
        if control & 0xE0 in (0x80, 0xA0):
            if payload:
                raise AshFrameError(f"ash: ACK/NAK frame with {len(payload)} payload bytes")
            kind = FrameType.ACK if control & 0xE0 == 0x80 else FrameType.NAK
            return cls(kind, ack_num=control & 7, not_ready=bool(control & 0x08))
        if control == 0xC0:
            if payload:
                raise AshFrameError(f"ash: RST frame with {len(payload)} payload bytes")
            return cls(FrameType.RST)
        if control in (0xC1, 0xC2):
            if len(payload) != 2:
                raise AshFrameError(f"ash: RSTACK/ERROR payload of {len(payload)} bytes, expected 2")
            return cls(FrameType.RSTACK if control == 0xC1 else FrameType.ERROR, payload=payload)
        raise AshFrameError(f"ash: unknown control byte 0x{control:02x}")

    @classmethod
    def data(cls, frm_num: int, ack_num: int, payload: bytes, *, re_tx: bool = False) -> AshFrame:
        return cls(FrameType.DATA, frm_num=frm_num, ack_num=ack_num, re_tx=re_tx, payload=payload)

    @classmethod
    def rstack(cls, code: NcpResetCode) -> AshFrame:
        return cls(FrameType.RSTACK, payload=bytes([ASH_VERSION, code]))

    @classmethod
    def error(cls, code: NcpResetCode) -> AshFrame:
        return cls(FrameType.ERROR, payload=bytes([ASH_VERSION, code]))

    def __repr__(self) -> str:
        if self.kind is FrameType.DATA:
            return (f"<DATA frm={self.frm_num} ack={self.ack_num} re_tx={int(self.re_tx)}"
                    f" {self.payload.hex()}>")
        if self.kind in (FrameType.ACK, FrameType.NAK):
            return f"<{self.kind.value} ack={self.ack_num} nrdy={int(self.not_ready)}>"
        return f"<{self.kind.value} {self.payload.hex()}>"


def resample_uart(data: bytes, sent_baud: int, read_baud: int) -> bytes:
    """What a UART reading at ``read_baud`` makes of 8N1 bytes sent at ``sent_baud``.

    The receiver waits for a start bit, samples eight data bits and the stop bit at the middle of
    its own bit times; a low stop bit is a framing error, which the NCP's UART driver reports as
    SUBSTITUTE (UG101 4.2). With equal rates this returns ``data`` unchanged.
    """
    bits: list[int] = []
    for byte in data:
        bits += [0, *((byte >> i) & 1 for i in range(8)), 1]
    step = sent_baud / read_baud  # one receiver bit, in sender bits

    def level(pos: float) -> int:
        index = int(pos)
        return bits[index] if index < len(bits) else 1  # an idle line is high

    out = bytearray()
    pos = 0.0
    while pos < len(bits):
        if level(pos) == 1:
            pos += 0.5
            continue
        value = sum(level(pos + (k + 1.5) * step) << k for k in range(8))
        out.append(value if level(pos + 9.5 * step) == 1 else SUBSTITUTE)
        pos += 9.6 * step  # resynchronise on the next falling edge after the stop bit
    return bytes(out)


@dataclasses.dataclass
class AshStats:
    """Counters of what the serial layer saw and did; tests and the CLI read them."""

    frames_in: int = 0
    frames_out: int = 0
    data_in: int = 0
    data_out: int = 0
    bad_frames: int = 0
    naks_sent: int = 0
    naks_received: int = 0
    duplicates: int = 0
    retransmissions: int = 0
    ack_timeouts: int = 0
    resets: int = 0
    errors_sent: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    # the UART's clocking timers (a frame's bytes arriving, a frame leaving): how many fired and their
    # total lateness against the baud rate's schedule (what the loop adds to the link model; see
    # hal.ezsp_stick.realtime)
    uart_timers: int = 0
    uart_late_us: int = 0
    # wire bytes (stuffing and closing Flag included) per frame label: the ASH frame type, or for
    # DATA the label the link's ``classify`` gives its EZSP payload (e.g. "sendUnicast")
    wire_in: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    wire_out: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    # frames per label, the same way (each host DATA frame is one EZSP command: one round trip)
    count_in: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    count_out: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)


@dataclasses.dataclass
class AshFaults:
    """Serial-layer faults on demand: each counter is how many of the next frames it hits."""

    corrupt_rx: int = 0  # flip a CRC bit in the next host DATA frames before the NCP parses them
    corrupt_tx: int = 0  # flip a bit in the next DATA frames the NCP sends
    drop_tx_ack: int = 0  # lose the next ACK frames the NCP sends
    drop_rx_ack: int = 0  # lose the next ACK frames the host sends


class _State(enum.Enum):
    AWAITING_RST = "awaiting RST"  # after power-on until the host resets the link
    CONNECTED = "connected"
    FAILED = "failed"  # too many ACK timeouts: ERROR sent, only RST is accepted
    UNPOWERED = "unpowered"  # the stick is unplugged: every byte is lost


class AshNcp:
    """The NCP end of one ASH link.

    ``write`` puts bytes on the wire; ``deliver`` receives each in-sequence EZSP frame;
    ``on_reset`` is told when the host's RST resets the NCP. With ``baudrate`` > 0 both directions
    cost ``len(bytes) * 10 / baudrate`` seconds of loop time, in order, as on a real UART.
    ``classify`` names a DATA frame's EZSP payload for the per-label byte counts in :class:`AshStats`.
    """

    def __init__(self, *, write: Callable[[bytes], None], deliver: Callable[[bytes], None],
                 on_reset: Callable[[NcpResetCode], None], baudrate: int = 115200,
                 classify: Callable[[bytes], str] | None = None) -> None:
        self._write = write
        self._classify = classify
        self._deliver = deliver
        self._on_reset = on_reset
        self.baudrate = baudrate
        self.stats = AshStats()
        self.faults = AshFaults()
        self._state = _State.AWAITING_RST
        self._buffer = bytearray()
        self._discarding = False
        self._rx_expected = 0  # frame number of the next DATA frame the host should send
        self._tx_next = 0
        self._rejecting = False
        self._t_rx_ack = T_RX_ACK_INIT
        self._tx_queue: collections.deque[bytes] = collections.deque()
        self._tx_wakeup = asyncio.Event()
        self._ack_event = asyncio.Event()
        self._nak_received = False
        self._in_flight: int | None = None
        self._tx_free_at = 0.0
        self._rx_free_at = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._state is _State.CONNECTED

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._tx_loop(), name="ash-ncp-tx")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def label(self, frame: AshFrame) -> str:
        """The byte-count label of ``frame``: its ASH type, or its EZSP name for DATA when known."""
        if frame.kind is FrameType.DATA and self._classify is not None:
            return self._classify(frame.payload)
        return frame.kind.value

    def wire_time(self, nbytes: int) -> float:
        """Seconds ``nbytes`` take on the UART at the configured rate (0 when unpaced)."""
        return nbytes * BITS_PER_BYTE / self.baudrate if self.baudrate else 0.0

    # ---- receiving

    def feed(self, data: bytes) -> None:
        """Bytes from the host; processed once the UART would have clocked them in."""
        if not data:
            return
        loop = asyncio.get_running_loop()
        if not self.baudrate:
            self._receive(data)
            return
        self._rx_free_at = max(loop.time(), self._rx_free_at) + self.wire_time(len(data))
        loop.call_at(self._rx_free_at, self._clocked, self._rx_free_at, self._receive, bytes(data))

    def _clocked(self, due: float, then: Callable[[bytes], None], data: bytes) -> None:
        """A UART timer fired: count how late, then pass the bytes on."""
        self.stats.uart_timers += 1
        self.stats.uart_late_us += int((asyncio.get_running_loop().time() - due) * 1e6)
        then(data)

    def _receive(self, data: bytes) -> None:
        LOGGER.log(TRACE, "rx %s", data.hex())
        self.stats.bytes_in += len(data)
        self._buffer += data
        while self._buffer:
            if self._discarding:
                index = self._buffer.find(FLAG)
                if index < 0:
                    self._buffer.clear()
                    return
                del self._buffer[: index + 1]
                self._discarding = False
                continue
            found = _RESERVED_NOT_ESCAPE.search(self._buffer)
            if found is None:
                return
            index = found.start()
            byte = self._buffer[index]
            if byte == FLAG:
                raw = bytes(self._buffer[:index])
                del self._buffer[: index + 1]
                if raw:
                    self._raw_frame(raw)
            elif byte == CANCEL:
                del self._buffer[: index + 1]
            elif byte == SUBSTITUTE:
                del self._buffer[: index + 1]
                self._discarding = True
            else:  # XON/XOFF: flow control is not modelled, the bytes are dropped
                del self._buffer[index]

    def _raw_frame(self, raw: bytes) -> None:
        try:
            data = unstuff(raw)
            if self.faults.corrupt_rx and data and data[0] & 0x80 == 0:
                self.faults.corrupt_rx -= 1
                data = bytes([data[0], *data[1:-1], data[-1] ^ 0x01])
                LOGGER.info("ash fault: corrupted a frame from the host")
            frame = AshFrame.from_bytes(data)
        except AshFrameError as exc:
            self.stats.bad_frames += 1
            self.stats.wire_in["bad"] += len(raw) + 1
            LOGGER.debug("ash: dropped bad frame %s: %s", raw.hex(), exc)
            # UG101: a DATA frame with an error is answered with NAK (once, in the reject condition)
            if raw and raw[0] & 0x80 == 0 and self._state is _State.CONNECTED:
                self._reject()
            return
        self.stats.frames_in += 1
        label = self.label(frame)
        self.stats.wire_in[label] += len(raw) + 1
        self.stats.count_in[label] += 1
        LOGGER.debug("ash <- %r", frame)
        self._frame(frame)

    def _frame(self, frame: AshFrame) -> None:
        if self._state is _State.UNPOWERED:
            return
        if frame.kind is FrameType.RST:
            self._reset_link()
            self._on_reset(NcpResetCode.RESET_SOFTWARE)
            self._send_frame(AshFrame.rstack(NcpResetCode.RESET_SOFTWARE))
            return
        if self._state is not _State.CONNECTED:
            LOGGER.debug("ash: ignoring %r while %s", frame, self._state.value)
            return
        if frame.kind is FrameType.ACK and self.faults.drop_rx_ack:
            self.faults.drop_rx_ack -= 1
            LOGGER.info("ash fault: lost an ACK from the host")
            return
        if frame.kind in (FrameType.DATA, FrameType.ACK, FrameType.NAK):
            self._handle_ack_num(frame.ack_num)
        if frame.kind is FrameType.NAK:
            self.stats.naks_received += 1
            if self._in_flight is not None:
                self._nak_received = True
                self._ack_event.set()
        elif frame.kind is FrameType.DATA:
            self._data(frame)

    def _data(self, frame: AshFrame) -> None:
        if frame.frm_num == self._rx_expected:
            self._rx_expected = (self._rx_expected + 1) % 8
            self._rejecting = False
            self.stats.data_in += 1
            self._send_ack()
            self._deliver(frame.payload)
        elif frame.re_tx:
            # a retransmission of a frame already taken: acknowledge it again, deliver nothing
            self.stats.duplicates += 1
            self._send_ack()
        else:
            self._reject()

    def _handle_ack_num(self, ack_num: int) -> None:
        # ackNum is the next frame the host expects, so it acknowledges ackNum - 1
        if self._in_flight is not None and (self._in_flight + 1) % 8 == ack_num:
            self._ack_event.set()

    def _send_ack(self) -> None:
        if self.faults.drop_tx_ack:
            self.faults.drop_tx_ack -= 1
            LOGGER.info("ash fault: lost an ACK to the host")
            return
        self._send_frame(AshFrame(FrameType.ACK, ack_num=self._rx_expected))

    def _reject(self) -> None:
        if not self._rejecting:
            self._rejecting = True
            self.stats.naks_sent += 1
            self._send_frame(AshFrame(FrameType.NAK, ack_num=self._rx_expected))

    # ---- resets

    def _reset_link(self) -> None:
        self.stats.resets += 1
        self._state = _State.CONNECTED
        self._rx_expected = 0
        self._tx_next = 0
        self._rejecting = False
        self._t_rx_ack = T_RX_ACK_INIT
        self._tx_queue.clear()
        self._in_flight = None
        self._nak_received = False
        self._ack_event.set()  # release a sender waiting for an ACK that will never come

    def power(self, on: bool) -> None:
        """Power off: the NCP hears and says nothing. Power on: it boots and sends RSTACK (power-on)."""
        if on:
            self.ncp_reset(NcpResetCode.RESET_POWER_ON)
        else:
            LOGGER.warning("ash: NCP lost power")
            self._reset_link()
            self._state = _State.UNPOWERED
            self._on_reset(NcpResetCode.RESET_POWER_ON)

    def ncp_reset(self, code: NcpResetCode = NcpResetCode.RESET_WATCHDOG) -> None:
        """The NCP resets on its own (watchdog, assert): state is lost and RSTACK goes out unasked."""
        LOGGER.warning("ash: NCP reset (%s)", code.name)
        self._reset_link()
        self._on_reset(code)
        self._send_frame(AshFrame.rstack(code))

    # ---- sending

    def send(self, ezsp_frame: bytes) -> None:
        """Queue an EZSP frame for the host; frames go out one at a time, each acknowledged."""
        if len(ezsp_frame) > MAX_EZSP_FRAME:
            raise AshFrameError(f"ash: EZSP frame of {len(ezsp_frame)} bytes exceeds {MAX_EZSP_FRAME}")
        if self._state is not _State.CONNECTED:
            LOGGER.debug("ash: not connected, dropping outgoing frame %s", ezsp_frame.hex())
            return
        self._tx_queue.append(ezsp_frame)
        self._tx_wakeup.set()

    def _send_frame(self, frame: AshFrame, *, corrupt: bool = False) -> float:
        """Write a frame; return the loop time at which its last byte has left the UART."""
        wire = frame.to_wire()
        if corrupt:
            # flip a data bit of the CRC: the frame still ends at its Flag but fails the check
            body = bytearray(frame.to_bytes())
            body[-1] ^= 0x01
            wire = stuff(bytes(body)) + bytes([FLAG])
        LOGGER.debug("ash -> %r", frame)
        self.stats.frames_out += 1
        self.stats.bytes_out += len(wire)
        label = self.label(frame)
        self.stats.wire_out[label] += len(wire)
        self.stats.count_out[label] += 1
        if frame.kind is FrameType.ERROR:
            self.stats.errors_sent += 1
        loop = asyncio.get_running_loop()
        if not self.baudrate:
            self._write(wire)
            return loop.time()
        self._tx_free_at = max(loop.time(), self._tx_free_at) + self.wire_time(len(wire))
        loop.call_at(self._tx_free_at, self._clocked, self._tx_free_at, self._write, wire)
        return self._tx_free_at

    async def _tx_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._tx_queue:
                self._tx_wakeup.clear()
                await self._tx_wakeup.wait()
                continue
            payload = self._tx_queue.popleft()
            frm_num = self._tx_next
            self._tx_next = (self._tx_next + 1) % 8
            self._in_flight = frm_num
            generation = self.stats.resets
            for attempt in range(ACK_TIMEOUTS + 1):
                if attempt == ACK_TIMEOUTS:
                    self._fail()
                    break
                self._ack_event.clear()
                self._nak_received = False
                frame = AshFrame.data(frm_num, self._rx_expected, payload, re_tx=attempt > 0)
                corrupt = self.faults.corrupt_tx > 0
                if corrupt:
                    self.faults.corrupt_tx -= 1
                    LOGGER.info("ash fault: corrupted a frame to the host")
                if attempt:
                    self.stats.retransmissions += 1
                else:
                    self.stats.data_out += 1
                sent_at = loop.time()
                done_at = self._send_frame(frame, corrupt=corrupt)
                try:
                    async with asyncio.timeout(done_at - sent_at + self._t_rx_ack):
                        await self._ack_event.wait()
                except TimeoutError:
                    self.stats.ack_timeouts += 1
                    self._t_rx_ack = min(T_RX_ACK_MAX, 2 * self._t_rx_ack)
                    LOGGER.debug("ash: no ACK for frame %d (attempt %d)", frm_num, attempt + 1)
                    continue
                if generation != self.stats.resets:
                    break  # the link was reset while this frame was in flight
                delta = max(0.0, loop.time() - done_at)
                self._t_rx_ack = max(T_RX_ACK_MIN, min(T_RX_ACK_MAX, 7 / 8 * self._t_rx_ack + delta / 2))
                if self._nak_received:
                    continue  # NAK: send it again at once
                break
            if generation == self.stats.resets:
                self._in_flight = None

    def _fail(self) -> None:
        LOGGER.warning("ash: %d ACK timeouts, NCP enters the failed state", ACK_TIMEOUTS)
        self._state = _State.FAILED
        self._tx_queue.clear()
        self._send_frame(AshFrame.error(NcpResetCode.ERROR_EXCEEDED_MAXIMUM_ACK_TIMEOUT_COUNT))
