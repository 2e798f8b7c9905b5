"""The GBCS wrappers: General-Ciphering (0xDD, the MAC Header), General-Signing (0xDF, the Grouping
Header) and the DLMS date-time; reading them from bytes and writing them back byte for byte.

Layout (GBCS section 7, checked against the DCC's RTDS files):

    DD 00 00 00 00 00 00 <len> 11 00000000 <General-Signing APDU> <12-octet MAC>
       five empty octet strings + key-info absent; <len> covers security header, APDU and MAC
    DF 09 <CRA flag> <originator counter, 8>  08 <business originator>  08 <business target>
       <date-time: 00 or 0C + 12 octets>  <other-info length> <message code, 2> [supplementary ...]
       <content length> <content>  [<signature length: 00 or 40> <r || s>]

A PRECOMMAND (before the remote party signs it) ends after the content, with no signature length.
Lengths are DER-style (one octet below 0x80, else 0x81/0x82 + big-endian length).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from .exceptions import BuildError, GbcsError
from .names import CRA_KINDS, Kind, alert_name, use_case, use_case_title

GENERAL_CIPHERING = 0xDD
GENERAL_SIGNING = 0xDF
SECURITY_CONTROL_MAC = 0x11  # authentication only, suite 1
MAC_LENGTH = 12
SIGNATURE_LENGTH = 64
DATE_TIME_LENGTH = 12


class Cursor:
    """Bytes being read, with the absolute offset every error names."""

    __slots__ = ("base", "data", "end", "pos")

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None, base: int = 0) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end
        self.base = base  # offset of data[0] in the outermost input, for messages about inner buffers

    @property
    def offset(self) -> int:
        return self.base + self.pos

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def fail(self, problem: str, at: int | None = None) -> GbcsError:
        return GbcsError(self.base + (self.pos if at is None else at), problem)

    def take(self, count: int, what: str) -> bytes:
        if count > self.end - self.pos:
            raise self.fail(f"{what}: needs {count} octets, only {self.end - self.pos} left")
        chunk = self.data[self.pos:self.pos + count]
        self.pos += count
        return chunk

    def byte(self, what: str) -> int:
        if self.pos >= self.end:
            raise self.fail(f"{what}: message ends here")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def length(self, what: str) -> int:
        """A DER-style length octet(s)."""
        start = self.pos
        first = self.byte(f"{what} length")
        if first < 0x80:
            return first
        count = first & 0x7F
        if count == 0 or count > 3:
            raise self.fail(f"{what} length: form 0x{first:02x} not supported", start)
        return int.from_bytes(self.take(count, f"{what} length"), "big")

    def sub(self, count: int, what: str) -> Cursor:
        """The next ``count`` octets as their own cursor (offsets still absolute)."""
        if count > self.end - self.pos:
            raise self.fail(f"{what}: length {count} runs past the end ({self.end - self.pos} octets left)")
        inner = Cursor(self.data, self.pos, self.pos + count, self.base)
        self.pos += count
        return inner


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    if length < 0x100:
        return bytes([0x81, length])
    if length < 0x10000:
        return b"\x82" + length.to_bytes(2, "big")
    raise BuildError(f"length {length} too long for a GBCS message")


# ------------------------------------------------------------------------------------- DLMS date-time


class ClockStatus(enum.IntFlag):
    """The clock-status octet of a DLMS date-time (IEC 62056-6-2)."""

    OK = 0x00
    INVALID_VALUE = 0x01
    DOUBTFUL_VALUE = 0x02
    DIFFERENT_CLOCK_BASE = 0x04
    INVALID_CLOCK_STATUS = 0x08
    DAYLIGHT_SAVING_ACTIVE = 0x80


@dataclass(frozen=True)
class DlmsDateTime:
    """The 12-octet DLMS date-time: ``0xFF`` (``0x8000`` for the deviation) means "not specified",
    kept as None so encoding gives the same octets back."""

    year: int | None
    month: int | None
    day: int | None
    weekday: int | None
    hour: int | None
    minute: int | None
    second: int | None
    hundredths: int | None
    deviation_min: int | None
    clock_status: int

    @classmethod
    def decode(cls, raw: bytes) -> DlmsDateTime:
        def spec(value: int) -> int | None:
            return None if value == 0xFF else value

        year = int.from_bytes(raw[0:2], "big")
        deviation = int.from_bytes(raw[9:11], "big", signed=True)
        return cls(None if year == 0xFFFF else year, spec(raw[2]), spec(raw[3]), spec(raw[4]), spec(raw[5]),
                   spec(raw[6]), spec(raw[7]), spec(raw[8]), None if deviation == -0x8000 else deviation,
                   raw[11])

    @classmethod
    def parse(cls, raw: bytes) -> DlmsDateTime:
        """``decode`` that refuses what IEC 62056-6-2 does not allow, naming the field (``GbcsError``):
        12 octets; month 1..12 (or 0xFD/0xFE, daylight saving end/begin), day 1..31 (or 0xFD/0xFE,
        second last/last), weekday 1..7, hour, minute, second, hundredths in range, deviation within
        +-720 minutes, a real calendar date, and a weekday that agrees with it."""
        if len(raw) != DATE_TIME_LENGTH:
            raise GbcsError(0, f"dlms date-time: expected {DATE_TIME_LENGTH} octets, got {len(raw)}")
        checks = ((2, "month", 1, 12, (0xFD, 0xFE)), (3, "day", 1, 31, (0xFD, 0xFE)),
                  (4, "weekday", 1, 7, ()), (5, "hour", 0, 23, ()), (6, "minute", 0, 59, ()),
                  (7, "second", 0, 59, ()), (8, "hundredths", 0, 99, ()))
        for at, name, low, high, extra in checks:
            value = raw[at]
            if value != 0xFF and not (low <= value <= high or value in extra):
                raise GbcsError(at, f"dlms date-time: {name} {value} outside {low}..{high}")
        decoded = cls.decode(raw)
        if decoded.deviation_min is not None and not -720 <= decoded.deviation_min <= 720:
            raise GbcsError(9, f"dlms date-time: deviation {decoded.deviation_min} outside -720..720")
        year, month, day = decoded.year, decoded.month, decoded.day
        if year is not None and month is not None and day is not None and month < 0xFD and day < 0xFD:
            try:
                date = datetime(year, month, day)
            except ValueError:
                raise GbcsError(0, f"dlms date-time: {year:04d}-{month:02d}-{day:02d} is not a date"
                                ) from None
            if decoded.weekday is not None and decoded.weekday != date.isoweekday():
                raise GbcsError(4, f"dlms date-time: weekday {decoded.weekday}, but {date:%Y-%m-%d} is "
                                   f"weekday {date.isoweekday()}")
        return decoded

    @classmethod
    def from_datetime(cls, when: datetime | None, clock_status: int = 0,
                      deviation_min: int | None = None, weekday: bool = False) -> DlmsDateTime:
        """``when`` (timezone-aware) as a DLMS date-time written in local time = UTC + ``deviation_min``
        (None: deviation "not specified", UTC written); the RTDS leaves weekday and deviation unspecified.
        ``when`` None gives every field "not specified" with ``clock_status``."""
        if when is None:
            return cls(None, None, None, None, None, None, None, None, deviation_min, clock_status & 0xFF)
        if when.tzinfo is None:
            raise BuildError(f"dlms date-time: {when.isoformat()} has no time zone")
        try:
            local = when.astimezone(UTC) + timedelta(minutes=deviation_min or 0)
        except OverflowError:
            raise BuildError(f"dlms date-time: {when.isoformat()} with deviation {deviation_min} is outside "
                             "the representable range") from None
        return cls(local.year, local.month, local.day, local.isoweekday() if weekday else None,
                   local.hour, local.minute, local.second, local.microsecond // 10_000, deviation_min,
                   clock_status & 0xFF)

    def encode(self) -> bytes:
        def spec(value: int | None) -> int:
            return 0xFF if value is None else value

        deviation = -0x8000 if self.deviation_min is None else self.deviation_min
        year = 0xFFFF if self.year is None else self.year
        fields = (self.month, self.day, self.weekday, self.hour, self.minute, self.second, self.hundredths)
        return (year.to_bytes(2, "big") + bytes(spec(value) for value in fields)
                + deviation.to_bytes(2, "big", signed=True) + bytes([self.clock_status]))

    @property
    def status_flags(self) -> list[str]:
        return [flag.name.lower() for flag in ClockStatus if flag and self.clock_status & flag]

    @property
    def reliable(self) -> bool:
        """Neither invalid nor doubtful (a GSME-based time, "different clock base", is still reliable)."""
        return not self.clock_status & (ClockStatus.INVALID_VALUE | ClockStatus.DOUBTFUL_VALUE
                                        | ClockStatus.INVALID_CLOCK_STATUS)

    def to_datetime(self) -> datetime | None:
        """The instant in UTC, or None when a date or time field is not specified or out of range."""
        try:
            return self.instant()
        except GbcsError:
            return None

    def instant(self) -> datetime | None:
        """The instant in UTC; None when a date or time field is not specified (or a DST/last-day
        marker); ``GbcsError`` when the fields name no representable instant."""
        parts = (self.year, self.month, self.day, self.hour, self.minute, self.second)
        if any(part is None for part in parts) or (self.month or 0) >= 0xFD or (self.day or 0) >= 0xFD:
            return None
        try:
            local = datetime(*parts, (self.hundredths or 0) * 10_000, tzinfo=UTC)  # type: ignore[misc]
            return local - timedelta(minutes=self.deviation_min or 0)
        except (ValueError, OverflowError):
            raise GbcsError(0, f"dlms date-time: {self.year}-{self.month}-{self.day} "
                               f"{self.hour}:{self.minute} with deviation {self.deviation_min} is outside "
                               "the representable range") from None

    def to_json(self) -> dict[str, object]:
        instant = self.to_datetime()
        return {"raw": self.encode().hex(), "utc": instant.isoformat() if instant else None,
                "clock_status": f"0x{self.clock_status:02x}", "clock_status_int": self.clock_status,
                "clock_status_flags": self.status_flags, "reliable": self.reliable}


# ------------------------------------------------------------------------------------------- message


@dataclass(frozen=True)
class Message:
    """One GBCS message. ``content`` is the payload as sent (its meaning: ``gbcs.content``).

    ``signature``: None when the message has no signature-length octet at all (a PRECOMMAND),
    ``b""`` when the length is 0 (unsigned), else the 64-octet r || s. ``mac``: None when the message
    is not MAC-protected (no General-Ciphering wrapper).
    """

    cra_flag: int
    originator_counter: int
    originator: bytes
    target: bytes
    date_time: bytes | None
    other_info: bytes
    content: bytes
    signature: bytes | None = b""
    mac: bytes | None = None
    # Where the content starts in the bytes read (for error offsets); 0 for a built message.
    content_offset: int = field(default=0, compare=False)

    # -- what the header says
    @property
    def kind(self) -> Kind | None:
        return CRA_KINDS.get(self.cra_flag)

    @property
    def message_code(self) -> int:
        return int.from_bytes(self.other_info[:2], "big")

    @property
    def use_case(self) -> str | None:
        return use_case(self.message_code)

    @property
    def use_case_title(self) -> str | None:
        return use_case_title(self.message_code)

    @property
    def supplementary_remote_party(self) -> bytes | None:
        """Other-info's Supplementary Remote Party ID (10+ octets of other-info), if present."""
        return self.other_info[2:10] if len(self.other_info) >= 10 else None

    @property
    def supplementary_originator_counter(self) -> int | None:
        if len(self.other_info) == 26:
            return int.from_bytes(self.other_info[18:26], "big")
        return None

    @property
    def mac_protected(self) -> bool:
        return self.mac is not None

    @property
    def signed(self) -> bool:
        return bool(self.signature)

    @property
    def dlms_date_time(self) -> DlmsDateTime | None:
        return DlmsDateTime.decode(self.date_time) if self.date_time else None

    @property
    def alert_code(self) -> int | None:
        """The 16-bit alert code of an alert (from its content, whatever its format), else None."""
        if self.cra_flag != 3:
            return None
        from .content import find_alert_code

        return find_alert_code(self)

    @property
    def alert_name(self) -> str | None:
        code = self.alert_code
        return alert_name(code) if code is not None else None

    # -- bytes
    def general_signing_apdu(self) -> bytes:
        """The Grouping Header, content and signature: what a MAC covers and a DF-only message is."""
        return self.signed_part() + self._signature_field()

    def signed_part(self) -> bytes:
        """DF through the content (the ECDSA signature covers this without the leading DF)."""
        date_time = self.date_time or b""
        return b"".join((
            bytes([GENERAL_SIGNING, 9, self.cra_flag]), self.originator_counter.to_bytes(8, "big"),
            b"\x08", self.originator, b"\x08", self.target, encode_length(len(date_time)), date_time,
            encode_length(len(self.other_info)), self.other_info,
            encode_length(len(self.content)), self.content,
        ))

    def _signature_field(self) -> bytes:
        if self.signature is None:
            return b""
        return encode_length(len(self.signature)) + self.signature

    def to_bytes(self) -> bytes:
        """The message as sent, with the MAC and signature this object holds (see ``gbcs.security``
        to compute them)."""
        apdu = self.general_signing_apdu()
        if self.mac is None:
            return apdu
        return wrap_general_ciphering(apdu, self.mac)

    def with_(self, **changes: object) -> Message:
        return replace(self, **changes)  # type: ignore[arg-type]


def wrap_general_ciphering(apdu: bytes, mac: bytes) -> bytes:
    """DD header + security header + ``apdu`` + ``mac``."""
    if len(mac) != MAC_LENGTH:
        raise BuildError(f"MAC must be {MAC_LENGTH} octets, got {len(mac)}")
    ciphered = bytes([SECURITY_CONTROL_MAC, 0, 0, 0, 0]) + apdu + mac
    return bytes([GENERAL_CIPHERING, 0, 0, 0, 0, 0, 0]) + encode_length(len(ciphered)) + ciphered


def read_message(data: bytes | bytearray | memoryview) -> Message:
    """Read one GBCS message (General-Ciphering or General-Signing); ``GbcsError`` names what is wrong
    and at which offset. The content is kept as bytes; ``gbcs.content.decode_content`` reads it."""
    data = bytes(data)
    cursor = Cursor(data)
    if not data:
        raise GbcsError(0, "empty input, not a GBCS message")
    tag = data[0]
    if tag == GENERAL_CIPHERING:
        message = _read_general_ciphering(cursor)
    elif tag == GENERAL_SIGNING:
        message = _read_general_signing(cursor)
    else:
        raise GbcsError(0, f"tag 0x{tag:02x} is neither General-Ciphering (0xdd) nor General-Signing (0xdf)")
    if cursor.remaining:
        raise cursor.fail(f"{cursor.remaining} trailing octets after the message")
    return message


def _read_general_ciphering(cursor: Cursor) -> Message:
    cursor.byte("General-Ciphering tag")
    for what in ("transaction-id", "originator-system-title", "recipient-system-title", "date-time",
                 "other-information"):
        at = cursor.pos
        length = cursor.length(f"General-Ciphering {what}")
        if length:
            raise cursor.fail(f"General-Ciphering {what} has length {length}; GBCS leaves it empty", at)
    at = cursor.pos
    if cursor.byte("General-Ciphering key-info") != 0:
        raise cursor.fail("General-Ciphering key-info present; GBCS leaves it absent", at)
    ciphered = cursor.sub(cursor.length("ciphered content"), "ciphered content")
    at = ciphered.pos
    control = ciphered.byte("security control")
    if control != SECURITY_CONTROL_MAC:
        raise ciphered.fail(f"security control 0x{control:02x}, expected 0x11 (authenticated, suite 1)", at)
    at = ciphered.pos
    invocation = ciphered.take(4, "invocation counter")
    if invocation != b"\0\0\0\0":
        raise ciphered.fail(f"invocation counter {invocation.hex()}, GBCS sets it to zero", at)
    if ciphered.remaining < MAC_LENGTH:
        raise ciphered.fail(f"ciphered content too short for a {MAC_LENGTH}-octet MAC")
    inner = Cursor(ciphered.data, ciphered.pos, ciphered.end - MAC_LENGTH, ciphered.base)
    if inner.pos >= inner.end or inner.data[inner.pos] != GENERAL_SIGNING:
        raise inner.fail("General-Ciphering does not wrap a General-Signing APDU (0xdf)")
    message = _read_general_signing(inner, ciphered.data[ciphered.end - MAC_LENGTH:ciphered.end])
    if inner.remaining:
        raise inner.fail(f"{inner.remaining} octets between the signature and the MAC")
    ciphered.pos = ciphered.end
    return message


def _read_general_signing(cursor: Cursor, mac: bytes | None = None) -> Message:
    cursor.byte("General-Signing tag")
    at = cursor.pos
    if (length := cursor.length("transaction-id")) != 9:
        raise cursor.fail(f"transaction-id length {length}, expected 9 (CRA flag + originator counter)", at)
    at = cursor.pos
    cra_flag = cursor.byte("CRA flag")
    if cra_flag not in CRA_KINDS:
        raise cursor.fail(f"CRA flag 0x{cra_flag:02x} is none of 1 command, 2 response, 3 alert", at)
    counter = int.from_bytes(cursor.take(8, "originator counter"), "big")
    ids = []
    for what in ("business originator", "business target"):
        at = cursor.pos
        if (length := cursor.length(what)) != 8:
            raise cursor.fail(f"{what} length {length}, expected 8 (an EUI-64)", at)
        ids.append(cursor.take(8, what))
    at = cursor.pos
    length = cursor.length("date-time")
    if length not in (0, DATE_TIME_LENGTH):
        raise cursor.fail(f"date-time length {length}, expected 0 or 12", at)
    date_time = cursor.take(length, "date-time") if length else None
    at = cursor.pos
    other_length = cursor.length("other-information")
    if other_length < 2:
        raise cursor.fail(f"other-information length {other_length}, too short for a message code", at)
    other_info = cursor.take(other_length, "other-information")
    content_length = cursor.length("content")
    content_offset = cursor.offset
    content = cursor.take(content_length, "content")
    signature: bytes | None = None
    if not cursor.remaining and cra_flag != 1:
        # Only a command before its remote party signs it (a PRECOMMAND) ends after the content.
        raise cursor.fail("signature length missing: only an unsigned command ends after its content")
    if cursor.remaining:
        at = cursor.pos
        sig_length = cursor.length("signature")
        if sig_length not in (0, SIGNATURE_LENGTH):
            raise cursor.fail(f"signature length {sig_length}, expected 0 or 64", at)
        signature = cursor.take(sig_length, "signature")
    return Message(cra_flag, counter, ids[0], ids[1], date_time, other_info, content, signature, mac,
                   content_offset)


def command(originator: bytes, target: bytes, counter: int, message_code: int, content: bytes, *,
            date_time: bytes | DlmsDateTime | None = None, supplementary: bytes = b"") -> Message:
    """A command as a remote party sends it (unsigned, un-MACed: see ``gbcs.security``)."""
    return _new(1, originator, target, counter, message_code, content, date_time, supplementary)


def response(originator: bytes, target: bytes, counter: int, message_code: int, content: bytes, *,
             date_time: bytes | DlmsDateTime | None = None, supplementary: bytes = b"") -> Message:
    """A response as a device or the hub sends it: ``counter`` is the command's originator counter."""
    return _new(2, originator, target, counter, message_code, content, date_time, supplementary)


def alert(originator: bytes, target: bytes, counter: int, message_code: int, content: bytes, *,
          date_time: bytes | DlmsDateTime | None = None, supplementary: bytes = b"") -> Message:
    """An alert as a device or the hub sends it: ``counter`` is the device's own alert counter."""
    return _new(3, originator, target, counter, message_code, content, date_time, supplementary)


def _new(cra_flag: int, originator: bytes, target: bytes, counter: int, message_code: int, content: bytes,
         date_time: bytes | DlmsDateTime | None, supplementary: bytes) -> Message:
    if len(originator) != 8 or len(target) != 8:
        raise BuildError("business originator and target must be 8-octet EUI-64s")
    if not 0 <= counter < 1 << 64:
        raise BuildError(f"originator counter {counter} outside 0..2^64-1")
    if not 0 <= message_code <= 0xFFFF:
        raise BuildError(f"message code {message_code} outside 0..0xffff")
    if isinstance(date_time, DlmsDateTime):
        date_time = date_time.encode()
    if date_time is not None and len(date_time) != DATE_TIME_LENGTH:
        raise BuildError("date-time must be the 12 octets of a DLMS date-time")
    return Message(cra_flag, counter, originator, target, date_time,
                   message_code.to_bytes(2, "big") + supplementary, content, b"")
