"""The Gas Proxy Function's classification of what a GSME pushes (SECMP0015), as pure code.

A GSME sleeps and pushes its values to the GPF; the GPF keeps them and answers for it. SECMP0015 makes
the GPF say *whose clock* timestamped an instantaneous value and whether that clock can be trusted,
as a 12-octet DLMS date-time whose clock-status octet is 0x00 (reliable, GPF's own time), 0x04
(reliable, GSME's time: "different clock base"), 0x02 (unreliable: "doubtful") or 0x01 (invalid value).

The rules are hanrig's own ("our rule" in gb-han-reference.md), every threshold in ``GpfPolicy``:

1. GSME timestamp absent: the GPF's receipt time, reliable (or invalid if the policy requires one).
2. Undecodable, zero, or ahead of GPF time by more than ``tolerance_s``: invalid.
3. The GSME says its clock is unsynchronised: unreliable.
4. Behind GPF time by more than ``tolerance_s``: unreliable.
5. Otherwise (within +-``tolerance_s``, inclusive): the GSME's time, reliable.

Nothing here touches a radio; the gateway feeds it Metering attributes/reports and a clock reading.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from gbcs import BuildError, DlmsDateTime, GbcsError
from gbcs import ClockStatus as DlmsClockStatus

from .exceptions import GpfError

ZIGBEE_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)
UNIX_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
ZCL_UTC_INVALID: Final = 0xFFFFFFFF  # ZCL UTCTime "invalid"


class Source(enum.StrEnum):
    """Whose clock the reading's timestamp comes from."""

    GSME = "GSME"
    GPF = "GPF"


class ClockStatus(enum.StrEnum):
    """The DCC's three-valued clock status (MMC schema ``ClockStatus``)."""

    RELIABLE = "reliable"
    UNRELIABLE = "unreliable"
    INVALID = "invalid"


class TimestampEpoch(enum.Enum):
    """How a GSME's integer timestamp counts seconds."""

    ZIGBEE_2000 = "zigbee"  # ZCL UTCTime: seconds since 2000-01-01T00:00:00Z
    UNIX_1970 = "unix"


@dataclass(frozen=True)
class GpfPolicy:
    """Every threshold of the classification ("our rule"), so a lab can change it."""

    tolerance_s: int = 10
    require_gsme_timestamp: bool = False  # True: an absent GSME timestamp is invalid, not GPF time
    unknown_time_status_is_synchronised: bool = True  # a GSME that does not say is taken at its word
    dlms_deviation_min: int | None = None  # deviation written in DLMS date-times; None = not specified
    # (0x8000, as the DCC's RTDS GCS13a responses have it)

    def __post_init__(self) -> None:
        if self.tolerance_s < 0:
            raise GpfError(f"gpf policy: tolerance_s {self.tolerance_s} must not be negative")
        if self.dlms_deviation_min is not None and not -720 <= self.dlms_deviation_min <= 720:
            raise GpfError(f"gpf policy: dlms_deviation_min {self.dlms_deviation_min} outside -720..720")


@dataclass(frozen=True)
class GsmePush:
    """What a GSME pushed, as raw Metering values (unit: MeteringUnitofMeasure, bit 7 = BCD).

    ``timestamp`` is an integer count of seconds in ``epoch`` (ZCL UTCTime by default), the 12 octets
    of a DLMS date-time, or None when the GSME sent none. ``time_synchronised`` is the GSME's own
    time status, None when it did not say.
    """

    instantaneous: int | None
    summation: int | None
    unit: int
    multiplier: int = 1
    divisor: int = 1
    timestamp: int | bytes | None = None
    epoch: TimestampEpoch = TimestampEpoch.ZIGBEE_2000
    time_synchronised: bool | None = None


_UNIT_NAMES: Final = {
    0x00: ("kWh", "kW"),
    0x01: ("m3", "m3/h"),
    0x02: ("ft3", "ft3/h"),
    0x03: ("ccf", "ccf/h"),
    0x04: ("US gal", "US gal/h"),
    0x05: ("imp gal", "imp gal/h"),
    0x06: ("BTU", "BTU/h"),
    0x07: ("l", "l/h"),
    0x08: ("kPa gauge", "kPa gauge"),
    0x09: ("kPa absolute", "kPa absolute"),
    0x0A: ("mcf", "mcf/h"),
    0x0B: ("unitless", "unitless"),
    0x0C: ("MJ", "MJ/s"),
    0x0D: ("kVArh", "kVAr"),
}
_BCD_FLAG: Final = 0x80


def unit_names(unit: int) -> tuple[str, str]:
    """(summation unit, instantaneous unit) of a MeteringUnitofMeasure value."""
    try:
        return _UNIT_NAMES[unit & ~_BCD_FLAG]
    except KeyError:
        raise GpfError(f"gpf: unit of measure 0x{unit:02x} unknown") from None


def _from_bcd(raw: int, name: str) -> int:
    digits = f"{raw:x}"
    if not digits.isdigit():
        raise GpfError(f"gpf: {name} 0x{raw:x} is not BCD")
    return int(digits)


def _scale(raw: int | None, push: GsmePush, name: str) -> float | None:
    if raw is None:
        return None
    if push.unit & _BCD_FLAG:
        raw = _from_bcd(raw, name)
    return raw * push.multiplier / push.divisor


@dataclass(frozen=True)
class GasReading:
    """One classified GSME value, as the GPF reports it."""

    value: float | None  # instantaneous value, scaled by multiplier/divisor
    summation: float | None
    unit: str  # of the summation
    instantaneous_unit: str
    timestamp: datetime | None  # None when invalid and not decodable
    source: Source
    clock_status: ClockStatus
    dlms_datetime: bytes
    received_at: datetime  # GPF time at receipt
    reason: str  # which rule decided, in words

    def age_s(self, now: datetime) -> float:
        """Seconds since the value's timestamp (since receipt when it has none)."""
        return (now - (self.timestamp or self.received_at)).total_seconds()

    def as_dict(self, now: datetime) -> dict[str, object]:
        """The JSON shape of ``hanrig gas read`` (hex as a string)."""
        return {
            "value": self.value,
            "summation": self.summation,
            "unit": self.unit,
            "instantaneous_unit": self.instantaneous_unit,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "source": str(self.source),
            "clock_status": str(self.clock_status),
            "dlms_datetime": self.dlms_datetime.hex(),
            "received_at": self.received_at.isoformat(),
            "age_s": self.age_s(now),
            "reason": self.reason,
        }


def _decode_timestamp(push: GsmePush) -> tuple[datetime | None, str | None]:
    """(instant, None) or (None, why it is undecodable / zero)."""
    raw = push.timestamp
    if isinstance(raw, bytes | bytearray):
        try:
            when = DlmsDateTime.parse(bytes(raw)).instant()
        except GbcsError as exc:
            return None, f"GSME timestamp undecodable ({exc.problem})"
        if when is None:
            return None, "GSME timestamp has unspecified date/time fields"
        return when, None
    if isinstance(raw, bool) or not isinstance(raw, int):
        return None, f"GSME timestamp {raw!r} is not a count of seconds"
    if raw == 0:
        return None, "GSME timestamp is zero"
    base = ZIGBEE_EPOCH if push.epoch is TimestampEpoch.ZIGBEE_2000 else UNIX_EPOCH
    if raw < 0 or raw >= ZCL_UTC_INVALID:
        return None, f"GSME timestamp {raw} outside 1..0xFFFFFFFE"
    return base + timedelta(seconds=raw), None


def dlms_date_time(when: datetime | None, clock_status: int, deviation_min: int | None) -> bytes:
    """The 12 octets the GPF writes: the RTDS's layout (weekday not specified)."""
    try:
        return DlmsDateTime.from_datetime(when, clock_status, deviation_min).encode()
    except BuildError as exc:
        raise GpfError(str(exc)) from None


def classify(push: GsmePush, gpf_time: datetime, policy: GpfPolicy | None = None) -> GasReading:
    """Apply SECMP0015 to one push received at ``gpf_time`` (timezone-aware)."""
    policy = policy or GpfPolicy()
    if gpf_time.tzinfo is None:
        raise GpfError(f"gpf: GPF time {gpf_time.isoformat()} has no time zone")
    if push.divisor == 0:
        raise GpfError("gpf: divisor 0")
    unit, rate_unit = unit_names(push.unit)
    value = _scale(push.instantaneous, push, "instantaneous value")
    summation = _scale(push.summation, push, "summation")
    tolerance = policy.tolerance_s
    deviation = policy.dlms_deviation_min

    def reading(
        timestamp: datetime | None, source: Source, status: ClockStatus, octet: DlmsClockStatus, reason: str
    ) -> GasReading:
        return GasReading(
            value,
            summation,
            unit,
            rate_unit,
            timestamp,
            source,
            status,
            dlms_date_time(timestamp, octet, deviation),
            gpf_time,
            reason,
        )

    if push.timestamp is None:
        if policy.require_gsme_timestamp:
            return reading(
                None,
                Source.GSME,
                ClockStatus.INVALID,
                DlmsClockStatus.INVALID_VALUE,
                "GSME timestamp missing and required",
            )
        return reading(
            gpf_time,
            Source.GPF,
            ClockStatus.RELIABLE,
            DlmsClockStatus.OK,
            "no GSME timestamp: GPF receipt time",
        )
    when, problem = _decode_timestamp(push)
    if when is None:
        return reading(
            None,
            Source.GSME,
            ClockStatus.INVALID,
            DlmsClockStatus.INVALID_VALUE,
            problem or "GSME timestamp undecodable",
        )
    ahead = (when - gpf_time).total_seconds()
    if ahead > tolerance:
        return reading(
            when,
            Source.GSME,
            ClockStatus.INVALID,
            DlmsClockStatus.INVALID_VALUE,
            f"GSME timestamp {ahead:g} s ahead of GPF time, tolerance {tolerance} s",
        )
    synchronised = push.time_synchronised
    if synchronised is None:
        synchronised = policy.unknown_time_status_is_synchronised
    if not synchronised:
        return reading(
            when,
            Source.GSME,
            ClockStatus.UNRELIABLE,
            DlmsClockStatus.DOUBTFUL_VALUE,
            "GSME reports its clock unsynchronised",
        )
    if -ahead > tolerance:
        return reading(
            when,
            Source.GSME,
            ClockStatus.UNRELIABLE,
            DlmsClockStatus.DOUBTFUL_VALUE,
            f"GSME timestamp {-ahead:g} s behind GPF time, tolerance {tolerance} s",
        )
    return reading(
        when,
        Source.GSME,
        ClockStatus.RELIABLE,
        DlmsClockStatus.DIFFERENT_CLOCK_BASE,
        f"GSME timestamp within {tolerance} s of GPF time",
    )


@dataclass
class GasHistory:
    """The last ``maxlen`` readings of each GSME, oldest first."""

    maxlen: int = 96
    _by_device: dict[str, deque[GasReading]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.maxlen < 1:
            raise GpfError(f"gpf: history maxlen {self.maxlen} must be at least 1")

    def add(self, device: str, reading: GasReading) -> None:
        self._by_device.setdefault(device, deque(maxlen=self.maxlen)).append(reading)

    def latest(self, device: str) -> GasReading | None:
        readings = self._by_device.get(device)
        return readings[-1] if readings else None

    def readings(self, device: str) -> tuple[GasReading, ...]:
        return tuple(self._by_device.get(device, ()))

    def devices(self) -> tuple[str, ...]:
        return tuple(self._by_device)

    def __iter__(self) -> Iterator[tuple[str, GasReading]]:
        for device, readings in self._by_device.items():
            for item in readings:
                yield device, item
