"""EZSP commands of the virtual NCP: messaging.

Unicast, broadcast and multicast sends into the simulated HAN (``messageSentHandler`` once delivered),
APS fragmentation as EmberZNet's NCP does it for a host that fragments (blocks out with
APS_OPTION_FRAGMENT, blocks in as separate ``incomingMessageHandler`` callbacks, ``sendReply`` fragment
acknowledgements; ``hal.aps_fragmentation``),
the multicast table, frames from the HAN to the host (``incomingMessageHandler``), the NCP's own answers
to ZDO requests addressed to itself, and custom frames (XNCP extensions belong here). Handlers and the
registration table follow ``hal.ezsp_stick.commands``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import bellows.types as t
import zigpy.types as zigpy_t
import zigpy.zdo.types as zdo_t

from ota.link_model import max_aps_payload

from ...aps_fragmentation import aps_secured, fragment_group_id, parse_fragment_group_id, reply_fragment_data
from .. import xncp
from ..stack import (
    COORDINATOR_NWK,
    DEFAULT_LQI,
    DEFAULT_RSSI,
    MANUFACTURER_CODE,
)
from . import Handler

LOGGER = logging.getLogger("hal.ezsp_stick.ncp")  # one logger for the whole NCP


class MessagingCommands:
    """Messaging: a mixin of :class:`~hal.ezsp_stick.ncp.EzspNcp` (``self`` is the NCP)."""

    def on_packet(self, packet: zigpy_t.ZigbeePacket) -> None:
        self._incoming(packet, packet.data.serialize())

    def on_fragment(self, packet: zigpy_t.ZigbeePacket, index: int, blocks: int, block: bytes) -> None:
        """One APS fragment from the air, handed up as EmberZNet's NCP does: ``incomingMessageHandler``
        with APS_OPTION_FRAGMENT and ``groupId = (blocks << 8) | index``, all blocks with the transfer's
        APS sequence; the host reassembles (bellows ``ezsp/fragmentation.py``) and acknowledges each block
        with ``sendReply`` (:meth:`_cmd_sendReply`)."""
        self.stats.fragments_in += 1
        self._incoming(packet, block, fragment=fragment_group_id(blocks, index))

    def _incoming(self, packet: zigpy_t.ZigbeePacket, message: bytes, fragment: int | None = None) -> None:
        if not self.network_up:
            self.stats.dropped_incoming += 1
            LOGGER.debug("ezsp ncp: network down, dropped %r", packet)
            return
        self.stats.incoming += 1
        mode = packet.dst.addr_mode if packet.dst is not None else zigpy_t.AddrMode.NWK
        if mode == zigpy_t.AddrMode.Broadcast:
            msg_type = t.EmberIncomingMessageType.INCOMING_BROADCAST
        elif mode == zigpy_t.AddrMode.Group:
            msg_type = t.EmberIncomingMessageType.INCOMING_MULTICAST
        else:
            msg_type = t.EmberIncomingMessageType.INCOMING_UNICAST
        options = t.EmberApsOption.APS_OPTION_NONE
        if aps_secured(packet):
            options |= t.EmberApsOption.APS_OPTION_ENCRYPTION
        group = packet.dst.address if mode == zigpy_t.AddrMode.Group else 0
        if fragment is not None:
            options |= t.EmberApsOption.APS_OPTION_FRAGMENT | t.EmberApsOption.APS_OPTION_RETRY
            group = fragment
        aps = t.EmberApsFrame(
            profileId=packet.profile_id, clusterId=packet.cluster_id, sourceEndpoint=packet.src_ep or 0,
            destinationEndpoint=packet.dst_ep or 0, options=options, groupId=group, sequence=packet.tsn or 0)
        nwk = packet.src.address
        lqi = DEFAULT_LQI if packet.lqi is None else packet.lqi
        rssi = DEFAULT_RSSI if packet.rssi is None else packet.rssi
        eui64 = self._ieee_of(nwk) or zigpy_t.EUI64.convert("00:00:00:00:00:00:00:00")
        self.callback("incomingMessageHandler", {
            "type": msg_type, "message_type": msg_type, "apsFrame": aps, "aps_frame": aps,
            "lastHopLqi": lqi, "lqi": lqi, "lastHopRssi": rssi, "rssi": rssi, "sender": nwk, "nwk": nwk,
            "eui64": eui64, "bindingIndex": 0xFF, "binding_index": 0xFF,
            "addressIndex": 0xFF, "address_index": 0xFF, "timestamp": 0,
            "messageContents": message, "message": message})

    def _next_aps_seq(self) -> int:
        self._aps_seq = (self._aps_seq + 1) % 256
        return self._aps_seq

    def _transmit(self, packet: zigpy_t.ZigbeePacket, sent: dict[str, Any],
                  fragment: tuple[int, int] | None = None) -> None:
        """Put a frame on the air (``fragment``: block index and count of a host-fragmented message); the
        host learns the outcome from ``messageSentHandler``."""
        generation = self._generation

        async def deliver() -> None:
            status = t.sl_Status.OK
            try:
                if fragment is not None:
                    await self.han.send_fragment(packet, *fragment)
                else:
                    await self.han.send(packet)
            except Exception as exc:  # the HAN raises SimDeliveryError; anything else is a failure too
                self.stats.delivery_failures += 1
                LOGGER.debug("ezsp ncp: delivery to %s failed: %s", packet.dst, exc)
                status = t.sl_Status.ZIGBEE_DELIVERY_FAILED
            self._nwk_frame_counter += 1
            if generation == self._generation:
                self.callback("messageSentHandler", {**sent, "status": status})

        self._spawn(deliver(), "ezsp-ncp-send")

    def _loopback(self, packet: zigpy_t.ZigbeePacket, sent: dict[str, Any]) -> None:
        """A unicast to the NCP itself never goes on air: the stack answers the ZDO requests it
        supports and, with APP_RECEIVES_SUPPORTED_ZDO_REQUESTS, passes the request up as well."""
        generation = self._generation

        async def deliver() -> None:
            await asyncio.sleep(0)
            if generation != self._generation:
                return
            self.callback("messageSentHandler", {**sent, "status": t.sl_Status.OK})
            self.on_packet(packet.replace(src=packet.dst, src_ep=packet.src_ep, dst_ep=packet.dst_ep))
            response = self._own_zdo_response(packet)
            if response is not None:
                self.on_packet(response)

        self._spawn(deliver(), "ezsp-ncp-loopback")

    def _own_zdo_response(self, packet: zigpy_t.ZigbeePacket) -> zigpy_t.ZigbeePacket | None:
        if packet.profile_id != 0x0000:
            return None
        data = packet.data.serialize()
        if not data:
            return None
        tsn, nwk, ok = data[:1], zigpy_t.NWK(COORDINATOR_NWK).serialize(), zdo_t.Status.SUCCESS.serialize()
        if packet.cluster_id == zdo_t.ZDOCmd.Node_Desc_req:
            desc = zdo_t.NodeDescriptor(
                logical_type=zdo_t.LogicalType.Coordinator, complex_descriptor_available=0,
                user_descriptor_available=0, reserved=0, aps_flags=0,
                frequency_band=zdo_t.NodeDescriptor.FrequencyBand.Freq2400MHz, mac_capability_flags=0x8F,
                manufacturer_code=MANUFACTURER_CODE, maximum_buffer_size=82,
                maximum_incoming_transfer_size=128, server_mask=0x2C41, maximum_outgoing_transfer_size=128,
                descriptor_capability_field=0)
            cluster, body = zdo_t.ZDOCmd.Node_Desc_rsp, ok + nwk + desc.serialize()
        elif packet.cluster_id == zdo_t.ZDOCmd.Active_EP_req:
            eps = sorted(self._endpoints)
            cluster, body = zdo_t.ZDOCmd.Active_EP_rsp, ok + nwk + bytes([len(eps), *eps])
        elif (packet.cluster_id == zdo_t.ZDOCmd.Simple_Desc_req and len(data) >= 4
              and data[3] in self._endpoints):
            ep = self._endpoints[data[3]]
            desc = zdo_t.SizePrefixedSimpleDescriptor(endpoint=data[3], **ep)
            cluster, body = zdo_t.ZDOCmd.Simple_Desc_rsp, ok + nwk + desc.serialize()
        else:
            return None
        return packet.replace(cluster_id=cluster, data=zigpy_t.SerializableBytes(tsn + body),
                              src_ep=0, dst_ep=0)

    def _aps_to_packet(self, dst: zigpy_t.AddrModeAddress, aps: t.EmberApsFrame, message: bytes,
                       radius: int = 0) -> zigpy_t.ZigbeePacket:
        options = zigpy_t.TransmitOptions.NONE
        if t.EmberApsOption.APS_OPTION_RETRY in aps.options:
            options |= zigpy_t.TransmitOptions.ACK
        if t.EmberApsOption.APS_OPTION_ENCRYPTION in aps.options:
            options |= zigpy_t.TransmitOptions.APS_Encryption
        return zigpy_t.ZigbeePacket(
            src=zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=COORDINATOR_NWK),
            src_ep=aps.sourceEndpoint, dst=dst, dst_ep=aps.destinationEndpoint, tsn=aps.sequence,
            profile_id=aps.profileId, cluster_id=aps.clusterId, data=zigpy_t.SerializableBytes(message),
            tx_options=options, radius=radius)

    def _sent_fields(self, msg_type: t.EmberOutgoingMessageType, dest: int, aps: t.EmberApsFrame,
                     tag: int, message: bytes) -> dict[str, Any]:
        # messageSentHandler echoes the message only when the host asked for it (UG100: the default
        # decision of MESSAGE_CONTENTS_IN_CALLBACK_POLICY is MESSAGE_TAG_ONLY_IN_CALLBACK)
        policy = self._policies.get(t.EzspPolicyId.MESSAGE_CONTENTS_IN_CALLBACK_POLICY)
        if policy != t.EzspDecisionId.MESSAGE_TAG_AND_CONTENTS_IN_CALLBACK:
            message = b""
        return {"type": msg_type, "message_type": msg_type, "indexOrDestination": dest, "nwk": dest,
                "apsFrame": aps, "aps_frame": aps, "messageTag": tag, "message_tag": tag,
                "messageContents": message, "message": message}

    async def _cmd_customFrame(self, after: list, payload: bytes) -> dict[str, Any]:
        if not self.xncp:  # stock EmberZNet answers custom frames with INVALID_CALL
            return {"status": t.sl_Status.INVALID_STATE, "reply": b""}
        reply = await xncp.handle(bytes(payload), send_unicast=self._xncp_send_unicast,
                                  set_extended_timeout=self._set_extended_timeout)
        return {"status": t.sl_Status.OK, "reply": reply}

    async def _xncp_send_unicast(self, nwk: int, aps: t.EmberApsFrame, tag: int,
                                 message: bytes) -> tuple[t.sl_Status, int]:
        response = await self._cmd_sendUnicast(
            [], type=t.EmberOutgoingMessageType.OUTGOING_DIRECT, indexOrDestination=nwk, apsFrame=aps,
            messageTag=tag, messageContents=message)
        return response["status"], response["sequence"]

    async def _cmd_sendUnicast(self, after: list, **fields: Any) -> dict[str, Any]:
        self._host_ready()
        msg_type = fields.get("type", fields.get("message_type"))
        nwk = fields.get("indexOrDestination", fields.get("nwk"))
        aps: t.EmberApsFrame = fields.get("apsFrame", fields.get("aps_frame"))
        tag = fields.get("messageTag", fields.get("message_tag"))
        message = fields.get("messageContents", fields.get("message"))
        if not self.network_up:
            return {"status": t.sl_Status.NETWORK_DOWN, "sequence": 0}
        if msg_type != t.EmberOutgoingMessageType.OUTGOING_DIRECT:
            via_table = msg_type == t.EmberOutgoingMessageType.OUTGOING_VIA_ADDRESS_TABLE
            if not via_table or nwk not in self._address_table:
                return {"status": t.sl_Status.INVALID_PARAMETER, "sequence": 0}
            nwk = self._address_table[nwk][1]
        self.stats.unicasts += 1
        fragment = None
        if t.EmberApsOption.APS_OPTION_FRAGMENT in aps.options:
            # a block of the host's fragmentation (fragmentation.c): groupId = (blocks << 8) | index;
            # every block of one message goes out with the APS counter of its first block
            blocks, index = parse_fragment_group_id(aps.groupId)
            if not index < blocks or (index and nwk not in self._fragment_seq):
                return {"status": t.sl_Status.INVALID_PARAMETER, "sequence": 0}
            if index == 0:
                self._fragment_seq[nwk] = self._next_aps_seq()
            aps = aps.replace(sequence=self._fragment_seq[nwk])
            fragment = (index, blocks)
            self.stats.fragments_out += 1
        elif len(message) > self._max_payload(aps):
            return {"status": t.sl_Status.MESSAGE_TOO_LONG, "sequence": 0}  # EmberZNet: fragment it first
        else:
            aps = aps.replace(sequence=self._next_aps_seq())
        dst = zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.NWK, address=nwk)
        if fragment is not None:
            self._transmit(self._aps_to_packet(dst, aps, message),
                           self._sent_fields(msg_type, nwk, aps, tag, message), fragment)
            return {"status": t.sl_Status.OK, "sequence": aps.sequence}
        if nwk == COORDINATOR_NWK:
            self._loopback(self._aps_to_packet(dst, aps, message),
                           self._sent_fields(msg_type, nwk, aps, tag, message))
            return {"status": t.sl_Status.OK, "sequence": aps.sequence}
        self._transmit(self._aps_to_packet(dst, aps, message),
                       self._sent_fields(msg_type, nwk, aps, tag, message))
        return {"status": t.sl_Status.OK, "sequence": aps.sequence}

    def _max_payload(self, aps: t.EmberApsFrame) -> int:
        """The longest unfragmented APS payload (EmberZNet's maximumPayloadLength), for this frame's
        security."""
        return max_aps_payload(aps_security=t.EmberApsOption.APS_OPTION_ENCRYPTION in aps.options)

    async def _cmd_sendReply(self, after: list, **fields: Any) -> dict[str, Any]:
        """An APS reply to the sender of the message the host is handling. With APS_OPTION_FRAGMENT it is
        the host's acknowledgement of a received fragment (``emberSetReplyFragmentData``: groupId =
        (ACK bitfield << 8) | window's first block; bellows sends one per block, bitfield 0xFF): the NCP
        puts the APS ACK of that window on the air with that block number and bitfield
        (``VirtualHan.fragment_acknowledged``); blocks the bitfield leaves out are sent again."""
        self._host_ready()
        aps: t.EmberApsFrame = fields.get("apsFrame", fields.get("aps_frame"))
        sender = fields.get("sender", fields.get("nwk"))
        message = fields.get("messageContents", fields.get("message")) or b""
        if not self.network_up:
            return {"status": t.sl_Status.NETWORK_DOWN}
        if t.EmberApsOption.APS_OPTION_FRAGMENT in aps.options:
            first, bitfield = reply_fragment_data(aps.groupId)
            self.stats.fragment_acks += 1
            if not self.han.fragment_acknowledged(sender, aps.sequence, first, bitfield):
                self.stats.fragment_acks_unmatched += 1
            LOGGER.debug("ezsp ncp: host acknowledged fragments from 0x%04x: block %d, bitfield 0x%02x",
                         sender, first, bitfield)
            return {"status": t.sl_Status.OK}
        response = await self._cmd_sendUnicast(
            after, type=t.EmberOutgoingMessageType.OUTGOING_DIRECT, indexOrDestination=sender, apsFrame=aps,
            messageTag=0, messageContents=message)
        return {"status": response["status"]}

    async def _cmd_sendBroadcast(self, after: list, **fields: Any) -> dict[str, Any]:
        destination = fields["destination"]
        dst = zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.Broadcast, address=destination)
        return self._send_to_many(dst, destination, t.EmberOutgoingMessageType.OUTGOING_BROADCAST,
                                  fields.get("radius", 0), fields)

    async def _cmd_sendMulticast(self, after: list, **fields: Any) -> dict[str, Any]:
        aps: t.EmberApsFrame = fields.get("apsFrame", fields.get("aps_frame"))
        dst = zigpy_t.AddrModeAddress(addr_mode=zigpy_t.AddrMode.Group, address=aps.groupId)
        return self._send_to_many(dst, aps.groupId, t.EmberOutgoingMessageType.OUTGOING_MULTICAST,
                                  fields.get("hops", 0), fields)

    def _send_to_many(self, dst: zigpy_t.AddrModeAddress, dest: int, msg_type: t.EmberOutgoingMessageType,
                      radius: int, fields: dict[str, Any]) -> dict[str, Any]:
        """The common body of sendBroadcast and sendMulticast (both count as broadcasts)."""
        self._host_ready()
        aps: t.EmberApsFrame = fields.get("apsFrame", fields.get("aps_frame"))
        tag = fields.get("messageTag", fields.get("message_tag"))
        message = fields.get("messageContents", fields.get("message"))
        if not self.network_up:
            return {"status": t.sl_Status.NETWORK_DOWN, "sequence": 0}
        self.stats.broadcasts += 1
        aps = aps.replace(sequence=self._next_aps_seq())
        self._transmit(self._aps_to_packet(dst, aps, message, radius),
                       self._sent_fields(msg_type, dest, aps, tag, message))
        return {"status": t.sl_Status.OK, "sequence": aps.sequence}

    async def _cmd_getMulticastTableEntry(self, after: list, index: int) -> dict[str, Any]:
        if index >= self._config[t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE]:
            return {"status": t.sl_Status.INVALID_INDEX}
        entry = self.nvm.multicast.get(index, t.EmberMulticastTableEntry(
            multicastId=0, endpoint=0, networkIndex=0))
        return {"status": t.sl_Status.OK, "value": entry}

    async def _cmd_setMulticastTableEntry(self, after: list, index: int,
                                          value: t.EmberMulticastTableEntry) -> dict[str, Any]:
        if index >= self._config[t.EzspConfigId.CONFIG_MULTICAST_TABLE_SIZE]:
            return {"status": t.sl_Status.INVALID_INDEX}
        self.nvm.multicast[index] = value
        return {"status": t.sl_Status.OK}


# EZSP command name -> handler (see hal.ezsp_stick.commands for how to add one)
COMMANDS: dict[str, Handler] = {
    "customFrame": MessagingCommands._cmd_customFrame,
    "sendUnicast": MessagingCommands._cmd_sendUnicast,
    "sendReply": MessagingCommands._cmd_sendReply,
    "sendBroadcast": MessagingCommands._cmd_sendBroadcast,
    "sendMulticast": MessagingCommands._cmd_sendMulticast,
    "getMulticastTableEntry": MessagingCommands._cmd_getMulticastTableEntry,
    "setMulticastTableEntry": MessagingCommands._cmd_setMulticastTableEntry,
}
