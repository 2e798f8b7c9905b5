"""Wire types of the simulated HAN: ZCL/ZDO frames built/parsed with zigpy's own schemas; trace records.

Command payloads are the cluster's ``CommandSchema`` classes, ZDO payloads follow
``zigpy.zdo.types.CLUSTERS``. The virtual devices speak through these helpers, so what zigpy receives is
exactly what a real device would send.

The hot path (every OTA block passes here twice) does not build zigpy Structs: constructing one goes
through ``inspect.Signature.bind`` (tens of microseconds; a dozen per block were most of a 200-device
run's CPU). :class:`SchemaCodec` walks the same ``CommandSchema`` fields with zigpy's own field types,
and the three-octet ZCL header is read and written from its frame-control bits (ZCL 2.4.1.1);
``tests/hal/test_sim_wire.py`` checks both against zigpy's Struct path, octet for octet.
"""

from __future__ import annotations

import enum
import functools
import logging
import types
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


# ZCL frame control (ZCL 2.4.1.1): frame type in bits 0-1, then manufacturer specific, direction,
# disable default response
FRAME_TYPE_CLUSTER = 0x01
FC_MANUFACTURER_SPECIFIC = 0x04
FC_SERVER_TO_CLIENT = 0x08
FC_DISABLE_DEFAULT_RESPONSE = 0x10


def zcl_header(tsn: int, command_id: int, *, cluster_specific: bool, server_to_client: bool,
               disable_default_response: bool) -> bytes:
    """The three-octet ZCL header (no manufacturer code)."""
    control = ((FRAME_TYPE_CLUSTER if cluster_specific else 0)
               | (FC_SERVER_TO_CLIENT if server_to_client else 0)
               | (FC_DISABLE_DEFAULT_RESPONSE if disable_default_response else 0))
    return bytes((control, tsn & 0xFF, command_id))


class SchemaCodec:
    """A ``CommandSchema``'s fields, serialised and parsed with zigpy's field types but without building
    the Struct (no ``Signature.bind``). Schemas with bit fields or counted arrays are left to zigpy."""

    def __init__(self, schema: type[foundation.CommandSchema]) -> None:
        self.schema = schema
        self.fields = tuple(schema.fields)
        self.fast = all(
            field.length is None
            and not (issubclass(field.type, zigpy_t.FixedIntType) and field.type._bits % 8)
            for field in self.fields
        )
        self._blank = dict.fromkeys(field.name for field in self.fields)
        self._readers = tuple((field, _int_reader(field.type)) for field in self.fields)

    def serialize(self, values: dict[str, Any]) -> bytes:
        if not self.fast:
            return self.schema(**values).serialize()
        view = types.SimpleNamespace(**{**self._blank, **values})
        chunks = []
        for field, reader in self._readers:
            if field.requires is not None and not field.requires(view):
                continue
            value = values.get(field.name)
            if value is None:
                if field.optional:
                    continue
                raise ValueError(f"{self.schema.__name__}: {field.name} is required")
            plain_int = type(value) is int and reader is not None and reader[3] is None
            if reader is not None and (type(value) is field.type or plain_int):
                size, byteorder, signed, _members = reader  # zigpy's serialize, without its checks
                try:
                    chunks.append(value.to_bytes(size, byteorder, signed=signed))
                except OverflowError:
                    raise ValueError(f"{int(value)} is not an {'' if signed else 'un'}signed {8 * size} bit "
                                     f"integer") from None
                continue
            chunks.append(value.serialize() if type(value) is field.type else field.type(value).serialize())
        return b"".join(chunks)

    def deserialize(self, data: bytes) -> tuple[Any, bytes]:
        """The payload (attributes by field name; fields the frame leaves out are None) and what is left."""
        if not self.fast:
            return self.schema.deserialize(data)
        view = types.SimpleNamespace(**self._blank)
        for field, reader in self._readers:
            if (field.requires is not None and not field.requires(view)) or (not data and field.optional):
                continue
            if reader is None:
                value, data = field.type.deserialize(data)
            else:
                size, byteorder, signed, members = reader
                if len(data) < size:
                    raise ValueError(f"Data is too short to contain {size} bytes")
                number = int.from_bytes(data[:size], byteorder, signed=signed)
                data = data[size:]
                if members is None:  # in range by construction: what zigpy's range check would pass
                    value = int.__new__(field.type, number)
                else:  # an enum: the member (zigpy's own call makes the undefined_0x.. ones)
                    value = members.get(number)
                    if value is None:
                        value = field.type(number)
            setattr(view, field.name, value)
        return view, data


def _int_reader(field_type: type) -> tuple[int, str, bool, dict[int, Any] | None] | None:
    """How :class:`SchemaCodec` reads (and writes) a whole-octet integer or integer enum field without
    zigpy's per-value ``from_bytes`` -> ``__new__`` range check (octets, byte order, signed, the enum's
    members by value), giving the same value of the same type; None for every other type (bitmaps
    included), which zigpy reads itself."""
    if not issubclass(field_type, zigpy_t.FixedIntType) or field_type._bits % 8:
        return None
    if issubclass(field_type, enum.Flag):
        return None
    if issubclass(field_type, enum.Enum):
        members: dict[int, Any] | None = dict(field_type._value2member_map_)
    elif field_type.__new__ is zigpy_t.FixedIntType.__new__:
        members = None
    else:
        return None  # a type with its own constructor: let zigpy build it
    return field_type._bits // 8, field_type._byteorder, field_type._signed, members


@functools.cache
def schema_codec(schema: type[foundation.CommandSchema]) -> SchemaCodec:
    return SchemaCodec(schema)


def _schema_bytes(schema: Any, kwargs: dict[str, Any]) -> bytes:
    if isinstance(schema, type) and issubclass(schema, foundation.CommandSchema):
        return schema_codec(schema).serialize(kwargs)
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
    header = zcl_header(tsn, command, cluster_specific=False, server_to_client=server_to_client,
                        disable_default_response=disable_default_response)
    return header + _schema_bytes(foundation.GENERAL_COMMANDS[command].schema, fields)


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
    header = zcl_header(tsn, command.id, cluster_specific=True, server_to_client=server_to_client,
                        disable_default_response=disable_default_response)
    return header + _schema_bytes(command.schema, fields)


@dataclass(frozen=True)
class ZclFrame:
    """A parsed ZCL frame: header fields, the command definition's name, and the parsed payload (or None).
    ``header`` gives zigpy's ``ZCLHeader`` of it, built only when asked for."""

    control: int  # the frame control octet
    tsn: int
    command_id: int
    name: str
    payload: Any
    raw_header: bytes

    @property
    def is_general(self) -> bool:
        return not self.control & FRAME_TYPE_CLUSTER

    @property
    def from_server(self) -> bool:
        return bool(self.control & FC_SERVER_TO_CLIENT)

    @property
    def disable_default_response(self) -> bool:
        return bool(self.control & FC_DISABLE_DEFAULT_RESPONSE)

    @property
    def header(self) -> foundation.ZCLHeader:
        return foundation.ZCLHeader.deserialize(self.raw_header)[0]


def parse_zcl(cluster: type[Cluster] | None, data: bytes) -> ZclFrame:
    """Parse a ZCL frame with zigpy's schemas; unknown commands give ``payload=None``, name ``"unknown"``.
    Cluster-specific payloads come back as attribute namespaces (:class:`SchemaCodec`); profile-wide
    ones as zigpy's own Structs."""
    size = 5 if data and data[0] & FC_MANUFACTURER_SPECIFIC else 3
    if len(data) < size:
        raise ValueError(f"ZCL frame of {len(data)} octets is shorter than its header")
    control, tsn, command_id, rest = data[0], data[size - 2], data[size - 1], data[size:]
    raw = data[:size]

    def frame(name: str, payload: Any) -> ZclFrame:
        return ZclFrame(control, tsn, command_id, name, payload, raw)

    if not control & FRAME_TYPE_CLUSTER:
        try:
            general = foundation.GeneralCommand(command_id)
        except ValueError:
            return frame("unknown", None)
        payload, _ = foundation.GENERAL_COMMANDS[general].schema.deserialize(rest)
        return frame(general.name, payload)
    if cluster is None:
        return frame("unknown", None)
    commands = cluster.client_commands if control & FC_SERVER_TO_CLIENT else cluster.server_commands
    command = commands.get(command_id)
    if command is None:
        return frame("unknown", None)
    payload, _ = schema_codec(command.schema).deserialize(rest)
    return frame(command.name, payload)


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


APS_ACK = "aps-ack"  # TraceRecord.outcome of an APS acknowledgement


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
    # an APS fragment (``hal.aps_fragmentation``): its index, the transfer's block count and the PAN's
    # number for the transfer (the capture gives all blocks of one transfer one APS counter); ``data``
    # is then the block, not the message
    block: int = -1
    blocks: int = 0
    transfer: int = 0
    # an APS ACK (outcome ``APS_ACK``; never in the trace's ring, only handed to its sinks): src is the
    # acknowledging node, dst the sender of the frame acknowledged, profile/cluster that frame's; an ACK
    # of a window of fragments has ``block`` = the window's first block and this bitfield
    ack_bitfield: int = -1

    @property
    def fragment(self) -> bool:
        return self.blocks > 0

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
