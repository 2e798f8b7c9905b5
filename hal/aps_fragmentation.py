"""Zigbee PRO APS fragmentation: the extended header on the air, the windowed acknowledgement, and the
EmberZNet/EZSP conventions a host uses to drive it (GB-HRGP carries GBCS messages of up to 1500
octets in one Tunneling Transfer Data command; the APS layer carries them in blocks).

On the air (Zigbee PRO 2015, 2.2.5.1.8; Wireshark's ``packet-zbee-aps.c`` reads it the same way):

* APS frame control bit 7 (``EXTENDED_HEADER``) says an extended header follows the APS counter.
* Data frame: extended frame control (bits 0-1 fragmentation: ``FIRST`` 0b01 on the first block,
  ``SUBSEQUENT`` 0b10 on every other), then the block number: the **total number of blocks** on the
  first block, the block's index on the others. Every block repeats the APS header with the same APS
  counter; fragmented transfers are acknowledged unicasts (ACK request bit set).
* ACK frame: extended frame control, the block number of the first block of the window it answers,
  and an ACK bitfield: bit ``i`` set = block ``first + i`` received; bits beyond the window, or beyond
  the last block, are 1 (EmberZNet's ``setBlockMask``).
* ``window`` blocks (apsMaxWindowSize; EmberZNet's ``CONFIG_FRAGMENT_WINDOW_SIZE``, 1 by default) are
  sent before the receiver's ACK; blocks the ACK shows missing are sent again, up to apsMaxFrameRetries
  times, then the transfer fails.

On EZSP (EmberZNet's host fragmentation plugin, ``fragmentation.c``; bellows ``ezsp/fragmentation.py``):
each block crosses the UART as its own ``sendUnicast`` / ``incomingMessageHandler`` with
``APS_OPTION_FRAGMENT`` and ``groupId = (total blocks << 8) | index`` (:func:`fragment_group_id`); the
receiving host acknowledges with ``sendReply`` whose ``groupId`` is ``(bitfield << 8) | window first
block`` (``emberSetReplyFragmentData``; bellows answers every block with bitfield 0xFF).
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

import zigpy.types as zigpy_t

from ota.link_model import APS_FRAGMENT_ACK_HEADER, APS_FRAGMENT_HEADER, APS_FRAGMENT_WINDOW, max_aps_payload

EXTENDED_HEADER: Final = 0x80  # APS frame control: extended header present
ACK_REQUEST: Final = 0x40
FRAME_TYPE_ACK: Final = 0x02
DATA_EXTENDED_HEADER: Final = APS_FRAGMENT_HEADER  # extended frame control + block number
ACK_EXTENDED_HEADER: Final = APS_FRAGMENT_ACK_HEADER  # extended frame control + block number + ACK bitfield
DEFAULT_WINDOW: Final = APS_FRAGMENT_WINDOW  # EmberZNet's EMBER_FRAGMENT_WINDOW_SIZE default
MAX_WINDOW: Final = 8  # apsMaxWindowSize range 1..8 (the bitfield has 8 bits)
MAX_BLOCKS: Final = 255  # the block number is one octet
APS_OPTION_FRAGMENT: Final = 0x8000  # EmberApsOption (bellows.types.named)


class Fragmentation(enum.IntEnum):
    """The extended frame control's fragmentation field."""

    NONE = 0b00
    FIRST = 0b01
    SUBSEQUENT = 0b10


class FragmentationError(ValueError):
    """A transfer or header that APS fragmentation cannot carry; says what and why."""


def aps_secured(packet: zigpy_t.ZigbeePacket) -> bool:
    """Whether ``packet``'s sender asked for APS encryption: its frames carry the APS auxiliary header
    and MIC, so fewer payload octets fit in one (the ``aps_security`` of the functions below)."""
    return zigpy_t.TransmitOptions.APS_Encryption in (packet.tx_options or zigpy_t.TransmitOptions.NONE)


def needs_fragmentation(length: int, *, aps_security: bool = False) -> bool:
    """Whether an APS payload of ``length`` octets is longer than one unfragmented frame carries."""
    return length > max_aps_payload(aps_security=aps_security)


def split(message: bytes, block_size: int) -> list[bytes]:
    """``message`` cut into blocks of ``block_size`` octets (the last may be shorter)."""
    if block_size < 1:
        raise FragmentationError(f"block size {block_size} must be at least 1")
    blocks = [message[i:i + block_size] for i in range(0, len(message), block_size)]
    if len(blocks) > MAX_BLOCKS:
        raise FragmentationError(f"a {len(message)}-octet message needs {len(blocks)} blocks of "
                                 f"{block_size}; APS fragmentation carries at most {MAX_BLOCKS}")
    return blocks or [b""]


def data_extended_header(index: int, blocks: int) -> bytes:
    """The extended header of block ``index`` of a ``blocks``-block transfer."""
    if not 0 <= index < blocks <= MAX_BLOCKS:
        raise FragmentationError(f"block {index} of {blocks}: not a block of an APS transfer")
    if index == 0:
        return bytes((Fragmentation.FIRST, blocks))
    return bytes((Fragmentation.SUBSEQUENT, index))


@dataclass(frozen=True)
class ExtendedHeader:
    """A parsed extended header: the fragmentation field, the block number as sent (the total on a
    FIRST block) and, on an ACK, the bitfield."""

    fragmentation: Fragmentation
    block_number: int
    ack_bitfield: int | None = None

    @property
    def index(self) -> int:
        """The block's index (0 for the first block)."""
        return 0 if self.fragmentation is Fragmentation.FIRST else self.block_number


def parse_extended_header(data: bytes, *, ack: bool = False) -> tuple[ExtendedHeader, bytes]:
    """The extended header at the start of ``data`` and what follows it."""
    if not data:
        raise FragmentationError("offset 0: the APS extended header is missing")
    try:
        fragmentation = Fragmentation(data[0] & 0x03)
    except ValueError:
        raise FragmentationError(f"offset 0: fragmentation field 0b{data[0] & 3:02b} is reserved") from None
    if fragmentation is Fragmentation.NONE:
        return ExtendedHeader(fragmentation, 0), data[1:]
    size = ACK_EXTENDED_HEADER if ack else DATA_EXTENDED_HEADER
    if len(data) < size:
        raise FragmentationError(f"offset {len(data)}: the APS extended header ends early")
    return ExtendedHeader(fragmentation, data[1], data[2] if ack else None), data[size:]


def window_blocks(first: int, window: int, blocks: int) -> range:
    """The blocks of the window starting at ``first``."""
    return range(first, min(first + window, blocks))


def ack_bitfield(first: int, window: int, blocks: int, received: Collection[int]) -> int:
    """The ACK bitfield for the window starting at ``first``: received blocks and unused bits are 1."""
    if not 1 <= window <= MAX_WINDOW:
        raise FragmentationError(f"window {window} is outside apsMaxWindowSize 1..{MAX_WINDOW}")
    bits = 0xFF
    for offset, block in enumerate(window_blocks(first, window, blocks)):
        if block not in received:
            bits &= ~(1 << offset)
    return bits


def missing_blocks(first: int, bitfield: int, window: int, blocks: int) -> list[int]:
    """The blocks of the window an ACK with ``bitfield`` asks for again."""
    return [block for offset, block in enumerate(window_blocks(first, window, blocks))
            if not bitfield & (1 << offset)]


def ack_extended_header(first: int, bitfield: int) -> bytes:
    """The extended header of the APS ACK answering the window that starts at block ``first``."""
    fragmentation = Fragmentation.FIRST if first == 0 else Fragmentation.SUBSEQUENT
    return bytes((fragmentation, first, bitfield))


# ------------------------------------------------------------------------------------ EZSP conventions
def fragment_group_id(blocks: int, index: int) -> int:
    """The EmberApsFrame groupId of block ``index`` of a ``blocks``-block message (both directions)."""
    return (blocks << 8) | index


def parse_fragment_group_id(group_id: int) -> tuple[int, int]:
    """(total blocks, index) from a fragment's groupId."""
    return (group_id >> 8) & 0xFF, group_id & 0xFF


def reply_fragment_data(group_id: int) -> tuple[int, int]:
    """(window first block, bitfield) of a host's fragment acknowledgement (sendReply's groupId)."""
    return group_id & 0xFF, (group_id >> 8) & 0xFF


__all__ = [
    "ACK_EXTENDED_HEADER",
    "APS_OPTION_FRAGMENT",
    "DATA_EXTENDED_HEADER",
    "DEFAULT_WINDOW",
    "EXTENDED_HEADER",
    "MAX_BLOCKS",
    "ExtendedHeader",
    "Fragmentation",
    "FragmentationError",
    "ack_bitfield",
    "ack_extended_header",
    "aps_secured",
    "data_extended_header",
    "fragment_group_id",
    "missing_blocks",
    "needs_fragmentation",
    "parse_extended_header",
    "parse_fragment_group_id",
    "reply_fragment_data",
    "split",
    "window_blocks",
]
