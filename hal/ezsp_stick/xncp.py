"""The virtual stick's XNCP extension: custom EZSP frames as current community NCP firmware answers them.

XNCP frames travel inside EZSP ``customFrame`` (command id 2 octets, status 1, payload). Firmware with
the extension advertises its features in GET_SUPPORTED_FEATURES; bellows asks at connect (EZSPv13 and
later) and, with COMBINED_SEND, hands each unicast to the NCP as one SEND_UNICAST_REQ carrying the
message, its APS frame and the extended-timeout flag for the destination, instead of
getExtendedTimeout (+ setExtendedTimeout) and sendUnicast. The frame layouts are bellows' own
(``bellows.ezsp.xncp``): the host's parser is the judge of what this module sends.

The stick offers the features it implements: COMBINED_SEND, BUILD_STRING and FLOW_CONTROL_TYPE.
Commands it does not offer are answered with the UNKNOWN command id, as the firmware does. A stick
started with ``xncp=False`` answers every custom frame as stock EmberZNet does (no extension).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import bellows.types as t
import zigpy.types as zigpy_t
from bellows.ezsp import xncp

FEATURES = (xncp.FirmwareFeatures.COMBINED_SEND | xncp.FirmwareFeatures.BUILD_STRING
            | xncp.FirmwareFeatures.FLOW_CONTROL_TYPE)
BUILD_STRING = b"hanrig virtual stick (EmberZNet 7.4.4.0 with XNCP)"

# (destination, APS frame, message tag, message) -> (status, APS sequence): the NCP's sendUnicast path
SendUnicast = Callable[[int, t.EmberApsFrame, int, bytes], Awaitable[tuple[t.sl_Status, int]]]


def _reply(payload: xncp.XncpCommandPayload, status: xncp.XncpStatus = xncp.XncpStatus.OK) -> bytes:
    frame = xncp.XncpCommand.from_payload(payload)
    frame.status = status
    return bytes(frame.serialize())


def _unknown() -> bytes:
    return bytes(xncp.XncpCommand(command_id=xncp.XncpCommandId.UNKNOWN, status=xncp.XncpStatus.OK,
                                  payload=xncp.Unknown()).serialize())


async def handle(payload: bytes, *, send_unicast: SendUnicast,
                 set_extended_timeout: Callable[[zigpy_t.EUI64, bool], None]) -> bytes:
    """The reply to one XNCP request frame (``customFrame``'s ``reply``)."""
    try:
        request = xncp.XncpCommand.from_bytes(payload)
    except ValueError:
        return _unknown()
    body: Any = request.payload
    match request.command_id:
        case xncp.XncpCommandId.GET_SUPPORTED_FEATURES_REQ:
            return _reply(xncp.GetSupportedFeaturesRsp(features=FEATURES))
        case xncp.XncpCommandId.GET_BUILD_STRING_REQ:
            return _reply(xncp.GetBuildStringRsp(build_string=xncp.Bytes(BUILD_STRING)))
        case xncp.XncpCommandId.GET_FLOW_CONTROL_TYPE_REQ:
            return _reply(xncp.GetFlowControlTypeRsp(flow_control_type=xncp.FlowControlType.SOFTWARE))
        case xncp.XncpCommandId.SEND_UNICAST_REQ:
            if xncp.SendUnicastFlags.SOURCE_ROUTE in body.flags:  # not offered (MANUAL_SOURCE_ROUTE)
                return _reply(xncp.SendUnicastRsp(status=t.sl_Status.INVALID_PARAMETER, sequence=0),
                              xncp.XncpStatus.SL_STATUS_INVALID_PARAMETER)
            if xncp.SendUnicastFlags.EXTENDED_TIMEOUT in body.flags:
                set_extended_timeout(zigpy_t.EUI64(body.ieee), bool(body.extended_timeout))
            status, sequence = await send_unicast(int(body.destination), body.aps_frame,
                                                  int(body.message_tag), bytes(body.data))
            return _reply(xncp.SendUnicastRsp(status=status, sequence=sequence))
    return _unknown()
