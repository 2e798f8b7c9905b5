"""Wire types of the simulated HAN: ZCL/ZDO frames built/parsed with zigpy's own schemas; trace records.

Nothing here packs bytes by hand: ZCL headers are ``foundation.ZCLHeader``, command payloads are the
cluster's ``CommandSchema`` classes, ZDO payloads follow ``zigpy.zdo.types.CLUSTERS``. The virtual devices
speak through these helpers, so what zigpy receives is exactly what a real device would send.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import zigpy.types as zigpy_t
import zigpy.zdo.types as zdo_t
from zigpy.zcl import Cluster, foundation

SE_PROFILE = 0x0109  # Zigbee Smart Energy
ZDO_PROFILE = 0x0000
ZDO_ENDPOINT = 0
DEVICE_ENDPOINT = 1  # every virtual device keeps its SE application on endpoint 1
COORDINATOR_ENDPOINT = 1

TRACE = 5  # log level below DEBUG for raw bytes (zigpy_znp/logger.py convention)
logging.addLevelName(TRACE, "TRACE")


def _schema_bytes(schema: Any, kwargs: dict[str, Any]) -> bytes:
    if isinstance(schema, type) and issubclass(schema, foundation.CommandSchema):
        return schema(**kwargs).serialize()
    raise TypeError(f"not a command schema: {schema!r}")


def zcl_general(
    tsn: int,
    command: foundation.GeneralCommand,
    *,
    server_to_client: bool,
    disable_default_response: bool = True,
    **fields: Any,
) -> bytes:
    """A profile-wide (general) ZCL frame, e.g. Read Attributes Response or Report Attributes."""
    direction = (
        foundation.Direction.Server_to_Client if server_to_client else foundation.Direction.Client_to_Server
    )
    hdr = foundation.ZCLHeader.general(tsn, command, direction=direction)
    hdr.frame_control = hdr.frame_control.replace(disable_default_response=disable_default_response)
    return hdr.serialize() + _schema_bytes(foundation.GENERAL_COMMANDS[command].schema, fields)


def zcl_cluster_command(
    cluster: type[Cluster],
    tsn: int,
    name: str,
    *,
    server_to_client: bool,
    disable_default_response: bool = False,
    **fields: Any,
) -> bytes:
    """A cluster-specific ZCL frame by command name (client commands when ``server_to_client``)."""
    defs = cluster.ClientCommandDefs if server_to_client else cluster.ServerCommandDefs
    command = getattr(defs, name)
    direction = (
        foundation.Direction.Server_to_Client if server_to_client else foundation.Direction.Client_to_Server
    )
    hdr = foundation.ZCLHeader.cluster(tsn, command.id, direction=direction)
    hdr.frame_control = hdr.frame_control.replace(disable_default_response=disable_default_response)
    return hdr.serialize() + _schema_bytes(command.schema, fields)


@dataclass(frozen=True)
class ZclFrame:
    """A parsed ZCL frame: header, the command definition's name, and the parsed payload (or None)."""

    header: foundation.ZCLHeader
    name: str
    payload: Any

    @property
    def tsn(self) -> int:
        return int(self.header.tsn)

    @property
    def is_general(self) -> bool:
        return self.header.frame_control.frame_type == foundation.FrameType.GLOBAL_COMMAND

    @property
    def from_server(self) -> bool:
        return self.header.direction == foundation.Direction.Server_to_Client


def parse_zcl(cluster: type[Cluster] | None, data: bytes) -> ZclFrame:
    """Parse a ZCL frame with zigpy's schemas; unknown commands give ``payload=None``, name ``"unknown"``."""
    hdr, rest = foundation.ZCLHeader.deserialize(data)
    if hdr.frame_control.frame_type == foundation.FrameType.GLOBAL_COMMAND:
        try:
            command_id = foundation.GeneralCommand(hdr.command_id)
        except ValueError:
            return ZclFrame(hdr, "unknown", None)
        schema = foundation.GENERAL_COMMANDS[command_id].schema
        payload, _ = schema.deserialize(rest)
        return ZclFrame(hdr, command_id.name, payload)
    if cluster is None:
        return ZclFrame(hdr, "unknown", None)
    commands = (
        cluster.client_commands
        if hdr.direction == foundation.Direction.Server_to_Client
        else cluster.server_commands
    )
    command = commands.get(hdr.command_id)
    if command is None:
        return ZclFrame(hdr, "unknown", None)
    payload, _ = command.schema.deserialize(rest)
    return ZclFrame(hdr, command.name, payload)


def typed_value(python_type: type, value: Any) -> foundation.TypeValue:
    """Wrap ``value`` in the ZCL TypeValue its attribute type calls for."""
    data_type = foundation.DataType.from_python_type(python_type)
    return foundation.TypeValue(type=data_type.type_id, value=python_type(value))


def zdo_frame(tsn: int, command: zdo_t.ZDOCmd, *args: Any) -> bytes:
    """A ZDO frame (TSN + the command's fields per zigpy's ``CLUSTERS`` table)."""
    _, param_types = zdo_t.CLUSTERS[command]
    return zigpy_t.uint8_t(tsn).serialize() + zigpy_t.serialize(args, param_types)


def parse_zdo(cluster_id: int, data: bytes) -> tuple[int, list[Any]]:
    """Parse a ZDO frame into its TSN and argument list."""
    _, param_types = zdo_t.CLUSTERS[cluster_id]
    tsn, rest = zigpy_t.uint8_t.deserialize(data)
    args, _ = zigpy_t.deserialize(rest, param_types)
    return int(tsn), list(args)


@dataclass(frozen=True)
class TraceRecord:
    """One frame on the virtual PAN: when, who to whom, what, how long, and what happened to it."""

    time: float  # seconds since the PAN started (virtual clock), rounded to 1 µs
    src: int  # NWK address
    dst: int  # NWK address (0xFFFC/0xFFFD/0xFFFF for broadcasts)
    profile: int
    cluster: int
    length: int  # APS payload octets
    data: bytes
    outcome: str  # delivered | lost | corrupted | delayed | queued-expired

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.time,
            self.src,
            self.dst,
            self.profile,
            self.cluster,
            self.length,
            self.data.hex(),
            self.outcome,
        )
