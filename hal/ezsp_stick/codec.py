"""EZSP frames of the virtual NCP: headers (the legacy v4 header for ``version``, the extended v8+
header for everything else), commands decoded and responses/callbacks encoded with bellows' own schema
for the negotiated protocol version, so field order, widths and status types are the ones an unmodified
host expects; statuses go out as the version's ``EzspStatus``/``EmberStatus``/``sl_Status``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import bellows.types as t
from bellows.ezsp import EZSP
from bellows.types.named import SL_STATUS_MAP

LOGGER = logging.getLogger("hal.ezsp_stick.ncp")

FC_RESPONSE = 0x80  # frame control, low byte: this is a response
FC_ASYNC_CALLBACK = 0x10  # callbackType = 2 (asynchronous), bits 3-4
FC_HIGH_FORMAT_1 = 0x01  # frame control, high byte: frame format version 1 (v8+)


def to_status_type(status: t.sl_Status, target: type) -> Any:
    """Express an ``sl_Status`` in the status type a version's schema uses (inverse of bellows' map)."""
    if target is t.sl_Status:
        return status
    for (kind, value), mapped in SL_STATUS_MAP.items():
        if kind is target and mapped == status:
            return value
    return t.EzspStatus.ERROR_INVALID_CALL if target is t.EzspStatus else t.EmberStatus.ERR_FATAL


def zeroed(kind: type) -> Any:
    """The all-zero value of a type, as an NCP fills the unused fields of a failed response."""
    value, _ = kind.deserialize(b"\x00" * 256)
    return value


@dataclasses.dataclass(frozen=True)
class Command:
    """A decoded command frame."""

    seq: int
    name: str
    args: dict[str, Any]
    legacy: bool  # sent with the legacy header (``version`` only): answered the same way


class FrameRejected(Exception):
    """A frame answered ``invalidCommand`` with ``status`` (``unknown``: the command id names nothing)."""

    def __init__(self, seq: int, status: t.EzspStatus, *, legacy: bool, unknown: bool = False) -> None:
        super().__init__(status.name)
        self.seq, self.status, self.legacy, self.unknown = seq, status, legacy, unknown


class EzspCodec:
    """Encode and decode EZSP frames of one protocol version (v8 or later)."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.commands = EZSP._BY_VERSION[version].COMMANDS
        self.legacy = EZSP._BY_VERSION[4].COMMANDS
        self._by_id = {cmd_id: name for name, (cmd_id, _, _) in self.commands.items()}

    def frame_name(self, data: bytes) -> str:
        """The EZSP frame name of a command, response or callback (for byte accounting), else "DATA"."""
        if len(data) >= 5 and data[2] == FC_HIGH_FORMAT_1:
            return self._by_id.get(int.from_bytes(data[3:5], "little"), "DATA")
        if len(data) >= 3 and data[2] == 0x00:
            return "version"
        return "DATA"

    def decode(self, data: bytes) -> Command:
        """A command frame from the host (at least 3 bytes); ``FrameRejected`` says how to refuse it."""
        seq = data[0]
        # The legacy header [seq, fc, id] is always accepted for `version` (id 0x00), as a real
        # NCP does, so that a host can negotiate from v4; everything else needs format 1.
        legacy = data[2] == 0x00 and len(data) == 4
        if legacy:
            params, name, table = data[3:], "version", self.legacy
        else:
            if data[2] != FC_HIGH_FORMAT_1 or len(data) < 5:
                LOGGER.warning("ezsp ncp: frame %s has no v8+ header, answered invalidCommand", data.hex())
                raise FrameRejected(seq, t.EzspStatus.ERROR_UNSUPPORTED_CONTROL, legacy=False)
            frame_id = int.from_bytes(data[3:5], "little")
            params = data[5:]
            table = self.commands
            found = self._by_id.get(frame_id)
            if found is None:
                LOGGER.warning("ezsp ncp: unknown command 0x%04x (EZSPv%d), answered invalidCommand",
                               frame_id, self.version)
                raise FrameRejected(seq, t.EzspStatus.ERROR_INVALID_FRAME_ID, legacy=False, unknown=True)
            name = found
        _, tx_schema, _ = table[name]
        try:
            args, rest = t.deserialize_dict(params, tx_schema)
        except (ValueError, KeyError) as exc:
            LOGGER.warning("ezsp ncp: %s parameters %s do not decode: %s", name, params.hex(), exc)
            raise FrameRejected(seq, t.EzspStatus.ERROR_TRUNCATED, legacy=legacy) from None
        if rest:
            LOGGER.debug("ezsp ncp: %s has %d trailing bytes", name, len(rest))
        return Command(seq, name, args, legacy)

    def _header(self, seq: int, frame_id: int, *, legacy: bool, callback: bool) -> bytes:
        low = FC_RESPONSE | (FC_ASYNC_CALLBACK if callback else 0)
        if legacy or self.version < 8:
            return bytes([seq, low, frame_id])
        return bytes([seq, low, FC_HIGH_FORMAT_1]) + frame_id.to_bytes(2, "little")

    def encode(self, seq: int, name: str, fields: dict[str, Any], *, table: dict[str, Any] | None = None,
               legacy: bool = False, callback: bool = False) -> bytes:
        """A response (or, with ``callback``, an asynchronous callback) frame with ``fields`` by name."""
        table = table if table is not None else (self.legacy if legacy else self.commands)
        frame_id, _, rx_schema = table[name]
        header = self._header(seq, frame_id, legacy=legacy, callback=callback)
        if not isinstance(rx_schema, dict):  # a Struct response (e.g. getTokenData)
            values = {f.name: self._field(fields, f.name, f.type) for f in rx_schema.fields
                      if f.name in fields or not f.optional}
            return header + rx_schema(**values).serialize()
        return header + b"".join(self._as(kind, self._field(fields, key, kind)).serialize()
                                 for key, kind in rx_schema.items())

    @staticmethod
    def _as(kind: type, value: Any) -> Any:
        # a value already of the field's type is serialised as it is: zigpy's copy constructor (a
        # Signature.bind per struct) would only rebuild the same bytes
        return value if type(value) is kind else kind(value)

    @staticmethod
    def _field(fields: dict[str, Any], key: str, kind: type) -> Any:
        if key not in fields:
            status = fields.get("status", t.sl_Status.OK)
            if status == t.sl_Status.OK:
                raise KeyError(f"response field {key!r} missing")
            return zeroed(kind)
        value = fields[key]
        if isinstance(value, t.sl_Status) and kind in (t.EmberStatus, t.EzspStatus, t.sl_Status):
            return to_status_type(value, kind)
        return value

    def invalid(self, seq: int, status: t.EzspStatus, *, legacy: bool) -> bytes:
        """An ``invalidCommand`` response in the version's status type."""
        table = self.legacy if legacy else self.commands
        kind = table["invalidCommand"][2]["status"]
        value = status if kind is t.EzspStatus else t.sl_Status.INVALID_PARAMETER
        return self.encode(seq, "invalidCommand", {"status": value}, table=table, legacy=legacy)
