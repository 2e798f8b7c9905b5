"""APS fragmentation on the host of an EZSP radio: what EmberZNet's host fragmentation plugin
(``fragmentation.c``) does, for bellows, which reassembles incoming fragments but cannot send them.

A unicast longer than one APS payload (a GB-HRGP Transfer Data carrying a GBCS message of up to 1500
octets) is cut into blocks (``hal.aps_fragmentation``); each block goes to the NCP as its own
``sendUnicast`` with APS_OPTION_FRAGMENT | APS_OPTION_RETRY and ``groupId = (blocks << 8) | index``,
all with the message's APS sequence, ``window`` blocks at a time; the next window goes once the NCP's
``messageSentHandler`` confirmed every block of this one (the NCP's APS layer resends blocks the
receiver's ACK shows missing). A block that fails ends the transfer with zigpy's ``DeliveryError``,
naming the block. The frames go through bellows' own send path (its ``_ezsp`` protocol object, its
pending-request table that ``messageSentHandler`` resolves, its concurrency limit): bellows has no
public API for the APS options this needs. ``hal.zigpy_fixes`` (fix ``ezsp_fragmented_send``) routes
bellows' ``send_packet`` here for such frames.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

import zigpy.exceptions
import zigpy.types as zigpy_t

from ota.link_model import fragment_block_size, max_aps_payload

from .aps_fragmentation import (
    DEFAULT_WINDOW,
    aps_secured,
    fragment_group_id,
    needs_fragmentation,
    split,
    window_blocks,
)

LOGGER = logging.getLogger(__name__)

MESSAGE_SENT_TIMEOUT_S: Final = 15.0  # per window, as bellows waits for a mains device's messageSentHandler


def unicast_needs_fragmentation(packet: zigpy_t.ZigbeePacket) -> bool:
    """A unicast longer than one unfragmented APS payload."""
    if packet.dst is None or packet.dst.addr_mode not in (zigpy_t.AddrMode.NWK, zigpy_t.AddrMode.IEEE):
        return False
    secured = aps_secured(packet)
    return needs_fragmentation(len(packet.data.serialize()), aps_security=secured)


def refuse_fragmented_sends(app: Any, radio: str) -> None:
    """On a radio whose library hanrig cannot make fragment (zigpy-znp, zigpy-deconz: not checked to
    fragment, not driven here), a unicast longer than one APS payload fails at once with a one-line
    ``DeliveryError`` naming the radio and the size, instead of whatever the stick does with it."""
    send = app.send_packet

    async def send_packet(packet: zigpy_t.ZigbeePacket) -> None:
        if unicast_needs_fragmentation(packet):
            size = len(packet.data.serialize())
            raise zigpy.exceptions.DeliveryError(
                f"{radio} radio: a {size}-octet message needs APS fragmentation (one frame carries "
                f"{max_aps_payload()}), which hanrig sends only on ezsp: and sim:// radios")
        await send(packet)

    app.send_packet = send_packet


async def send_fragmented(app: Any, packet: zigpy_t.ZigbeePacket, window: int = DEFAULT_WINDOW) -> None:
    """Send ``packet`` in APS fragments through a bellows ``ControllerApplication`` (see the module
    docstring); returns when every block was confirmed, raises ``DeliveryError`` otherwise."""
    import bellows.types as t

    nwk = packet.dst.address
    if packet.dst.addr_mode == zigpy_t.AddrMode.IEEE:
        nwk = app.get_device(ieee=packet.dst.address).nwk
    secured = aps_secured(packet)
    blocks = split(packet.data.serialize(), fragment_block_size(aps_security=secured))
    options = (t.EmberApsOption.APS_OPTION_FRAGMENT | t.EmberApsOption.APS_OPTION_RETRY
               | t.EmberApsOption.APS_OPTION_ENABLE_ROUTE_DISCOVERY)
    if secured:
        options |= t.EmberApsOption.APS_OPTION_ENCRYPTION
    aps = t.EmberApsFrame(profileId=t.uint16_t(packet.profile_id), clusterId=t.uint16_t(packet.cluster_id),
                          sourceEndpoint=t.uint8_t(packet.src_ep),
                          destinationEndpoint=t.uint8_t(packet.dst_ep or 0), options=options,
                          groupId=t.uint16_t(0), sequence=t.uint8_t(packet.tsn or 0))
    LOGGER.debug("sending %d octets to 0x%04x in %d APS fragments", len(packet.data.serialize()), nwk,
                 len(blocks))
    async with app._limit_concurrency(priority=packet.priority):
        for first in range(0, len(blocks), window):
            pending: list[tuple[int, tuple[int, int], asyncio.Future[Any]]] = []
            try:
                for index in window_blocks(first, window, len(blocks)):
                    tag = app.get_sequence()
                    key = (nwk, tag)
                    future = app._pending_requests[key] = asyncio.get_running_loop().create_future()
                    pending.append((index, key, future))
                    async with app._req_lock:
                        status, _ = await app._ezsp.send_unicast(
                            nwk=nwk, aps_frame=aps.replace(groupId=fragment_group_id(len(blocks), index)),
                            message_tag=tag, data=blocks[index])
                    if status != t.sl_Status.OK:
                        raise zigpy.exceptions.DeliveryError(
                            f"APS fragment {index} of {len(blocks)}: the NCP refused it: {status!r}", status)
                async with asyncio.timeout(MESSAGE_SENT_TIMEOUT_S):
                    for index, _, future in pending:
                        sent, _ = await future
                        if t.sl_Status.from_ember_status(sent) != t.sl_Status.OK:
                            raise zigpy.exceptions.DeliveryError(
                                f"APS fragment {index} of {len(blocks)} not delivered: {sent!r}", sent)
            except TimeoutError:
                raise zigpy.exceptions.DeliveryError(
                    f"APS fragments {first}..{pending[-1][0]} of {len(blocks)}: no messageSentHandler within "
                    f"{MESSAGE_SENT_TIMEOUT_S:g} s") from None
            finally:
                for _, key, _ in pending:
                    app._pending_requests.pop(key, None)
