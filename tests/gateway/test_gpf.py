"""SECMP0015 classification: every rule, the tolerance boundaries exactly, DLMS date-time codec, history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import gpf
from gateway.gpf import ClockStatus, GpfPolicy, GsmePush, Source
from gbcs import BuildError, DlmsDateTime, GbcsError
from gbcs import ClockStatus as ClockStatusOctet
from hanrig_errors import BadInput

GPF_TIME = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
M3 = 0x01


def _zcl(when: datetime) -> int:
    return int((when - gpf.ZIGBEE_EPOCH).total_seconds())


def _push(offset_s: float | None, synchronised: bool | None = True, **kwargs) -> GsmePush:
    timestamp = None if offset_s is None else _zcl(GPF_TIME + timedelta(seconds=offset_s))
    fields = {"instantaneous": 1234, "summation": 987654, "unit": M3, "multiplier": 1, "divisor": 1000}
    fields.update(kwargs)
    return GsmePush(timestamp=timestamp, time_synchronised=synchronised, **fields)


def _expect(reading: gpf.GasReading, source: Source, status: ClockStatus, octet: int) -> None:
    assert (reading.source, reading.clock_status) == (source, status)
    assert len(reading.dlms_datetime) == 12
    assert reading.dlms_datetime[11] == octet


def test_gsme_timestamp_within_tolerance_is_gsme_reliable() -> None:
    reading = gpf.classify(_push(-3), GPF_TIME)
    _expect(reading, Source.GSME, ClockStatus.RELIABLE, 0x04)
    assert reading.timestamp == GPF_TIME - timedelta(seconds=3)
    assert reading.value == pytest.approx(1.234)
    assert reading.summation == pytest.approx(987.654)
    assert (reading.unit, reading.instantaneous_unit) == ("m3", "m3/h")
    # 2026-11-29 11:59:57 UTC; weekday and deviation "not specified" (FF, 8000) as in the RTDS GCS13a
    # responses; status 0x04
    assert reading.dlms_datetime.hex() == "07ea0b1dff0b3b3900800004"
    assert reading.age_s(GPF_TIME + timedelta(seconds=7)) == 10


def test_no_gsme_timestamp_is_gpf_time_reliable() -> None:
    reading = gpf.classify(_push(None), GPF_TIME)
    _expect(reading, Source.GPF, ClockStatus.RELIABLE, 0x00)
    assert reading.timestamp == GPF_TIME
    assert reading.dlms_datetime.hex() == "07ea0b1dff0c000000800000"


def test_missing_timestamp_when_required_is_invalid() -> None:
    reading = gpf.classify(_push(None), GPF_TIME, GpfPolicy(require_gsme_timestamp=True))
    _expect(reading, Source.GSME, ClockStatus.INVALID, 0x01)
    assert reading.timestamp is None
    assert reading.dlms_datetime.hex() == "ffff" + "ff" * 7 + "8000" + "01"


def test_unsynchronised_gsme_is_unreliable_even_within_tolerance() -> None:
    reading = gpf.classify(_push(0, synchronised=False), GPF_TIME)
    _expect(reading, Source.GSME, ClockStatus.UNRELIABLE, 0x02)
    assert reading.timestamp == GPF_TIME


def test_unknown_time_status_follows_the_policy() -> None:
    assert gpf.classify(_push(0, synchronised=None), GPF_TIME).clock_status is ClockStatus.RELIABLE
    strict = GpfPolicy(unknown_time_status_is_synchronised=False)
    assert gpf.classify(_push(0, synchronised=None), GPF_TIME, strict).clock_status is ClockStatus.UNRELIABLE


@pytest.mark.parametrize(
    ("offset", "status", "octet"),
    [
        (-9, ClockStatus.RELIABLE, 0x04),
        (-10, ClockStatus.RELIABLE, 0x04),
        (-11, ClockStatus.UNRELIABLE, 0x02),
        (9, ClockStatus.RELIABLE, 0x04),
        (10, ClockStatus.RELIABLE, 0x04),
        (11, ClockStatus.INVALID, 0x01),  # in the future beyond tolerance
        (0, ClockStatus.RELIABLE, 0x04),
        (-3600, ClockStatus.UNRELIABLE, 0x02),
        (86400, ClockStatus.INVALID, 0x01),
    ],
)
def test_tolerance_boundaries(offset: int, status: ClockStatus, octet: int) -> None:
    reading = gpf.classify(_push(offset), GPF_TIME)
    _expect(reading, Source.GSME, status, octet)
    assert reading.timestamp == GPF_TIME + timedelta(seconds=offset)


@pytest.mark.parametrize("tolerance", [0, 1, 30])
def test_tolerance_is_configurable(tolerance: int) -> None:
    policy = GpfPolicy(tolerance_s=tolerance)
    assert gpf.classify(_push(-tolerance), GPF_TIME, policy).clock_status is ClockStatus.RELIABLE
    assert gpf.classify(_push(-tolerance - 1), GPF_TIME, policy).clock_status is ClockStatus.UNRELIABLE
    assert gpf.classify(_push(tolerance), GPF_TIME, policy).clock_status is ClockStatus.RELIABLE
    assert gpf.classify(_push(tolerance + 1), GPF_TIME, policy).clock_status is ClockStatus.INVALID


@pytest.mark.parametrize(
    ("timestamp", "why"),
    [
        (0, "zero"),
        (gpf.ZCL_UTC_INVALID, "outside 1..0xFFFFFFFE"),
        (-5, "outside"),
        (b"\x07\xea\x0b\x1d", "undecodable"),
        (bytes.fromhex("07ea0d1d070c000000000000"), "month 13"),
        (bytes.fromhex("07ea0b1d010c000000000000"), "weekday 1"),
        (bytes.fromhex("ffff0b1d070c000000000000"), "unspecified"),
        ("yesterday", "not a count of seconds"),
    ],
)
def test_zero_and_undecodable_timestamps_are_invalid(timestamp, why: str) -> None:
    push = GsmePush(instantaneous=1, summation=None, unit=M3, timestamp=timestamp, time_synchronised=True)
    reading = gpf.classify(push, GPF_TIME)
    _expect(reading, Source.GSME, ClockStatus.INVALID, 0x01)
    assert reading.timestamp is None
    assert why in reading.reason


def test_dlms_timestamp_from_gsme_is_read() -> None:
    stamp = DlmsDateTime.from_datetime(GPF_TIME - timedelta(seconds=4), 0x00).encode()
    reading = gpf.classify(GsmePush(1, 2, M3, timestamp=stamp, time_synchronised=True), GPF_TIME)
    _expect(reading, Source.GSME, ClockStatus.RELIABLE, 0x04)
    assert reading.timestamp == GPF_TIME - timedelta(seconds=4)


def test_unix_epoch_timestamps() -> None:
    unix = int((GPF_TIME - gpf.UNIX_EPOCH).total_seconds()) - 2
    push = GsmePush(1, 2, M3, timestamp=unix, epoch=gpf.TimestampEpoch.UNIX_1970, time_synchronised=True)
    assert gpf.classify(push, GPF_TIME).timestamp == GPF_TIME - timedelta(seconds=2)


def test_bcd_values_and_units() -> None:
    push = GsmePush(instantaneous=0x1234, summation=0x99, unit=0x81, multiplier=1, divisor=100)
    reading = gpf.classify(push, GPF_TIME)
    assert reading.value == pytest.approx(12.34)
    assert reading.summation == pytest.approx(0.99)
    with pytest.raises(gpf.GpfError, match="instantaneous value 0x12a is not BCD"):
        gpf.classify(GsmePush(0x12A, None, 0x81), GPF_TIME)


@pytest.mark.parametrize(
    ("push", "message"),
    [
        (GsmePush(1, 1, M3, divisor=0), "gpf: divisor 0"),
        (GsmePush(1, 1, 0x42), "gpf: unit of measure 0x42 unknown"),
    ],
)
def test_unreadable_pushes_raise_one_line_bad_input(push: GsmePush, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        gpf.classify(push, GPF_TIME)


def test_naive_gpf_time_and_bad_policy_are_refused() -> None:
    with pytest.raises(gpf.GpfError, match="has no time zone"):
        gpf.classify(_push(0), datetime(2026, 1, 1))
    with pytest.raises(gpf.GpfError, match="tolerance_s -1"):
        GpfPolicy(tolerance_s=-1)
    with pytest.raises(gpf.GpfError, match="dlms_deviation_min 900"):
        GpfPolicy(dlms_deviation_min=900)


def test_dlms_deviation_from_policy() -> None:
    reading = gpf.classify(_push(None), GPF_TIME, GpfPolicy(dlms_deviation_min=60))
    decoded = DlmsDateTime.parse(reading.dlms_datetime)
    assert (decoded.hour, decoded.deviation_min) == (13, 60)
    assert decoded.to_datetime() == GPF_TIME
    unspecified = gpf.classify(_push(None), GPF_TIME, GpfPolicy(dlms_deviation_min=None))
    assert unspecified.dlms_datetime[9:11] == b"\x80\x00"
    assert DlmsDateTime.parse(unspecified.dlms_datetime).to_datetime() == GPF_TIME


@pytest.mark.parametrize(
    ("data_hex", "message"),
    [
        ("07ea0b1d", "expected 12 octets, got 4"),
        ("07ea001d070c000000000000", "month 0 outside 1..12"),
        ("07ea0b20070c000000000000", "day 32 outside 1..31"),
        ("07ea0b1d080c000000000000", "weekday 8 outside 1..7"),
        ("07ea0b1d0718000000000000", "hour 24 outside 0..23"),
        ("07ea0b1d070c3c0000000000", "minute 60 outside 0..59"),
        ("07ea0b1d070c003c00000000", "second 60 outside 0..59"),
        ("07ea0b1d070c000064000000", "hundredths 100 outside 0..99"),
        ("07ea0b1d070c0000000bb800", "deviation 3000 outside -720..720"),
        ("07ea021e010c000000000000", "2026-02-30 is not a date"),
    ],
)
def test_dlms_decode_rejects_bad_fields_by_name(data_hex: str, message: str) -> None:
    with pytest.raises(GbcsError, match=message):
        DlmsDateTime.parse(bytes.fromhex(data_hex))


def test_dlms_times_at_the_edge_of_the_calendar_are_refused_not_crashed() -> None:
    edge = bytes.fromhex("00010101010000000002d000")  # 0001-01-01, deviation +720
    with pytest.raises(GbcsError, match="outside the representable range"):
        DlmsDateTime.parse(edge).instant()
    push = GsmePush(1, 1, M3, timestamp=edge, time_synchronised=True)
    reading = gpf.classify(push, GPF_TIME)
    assert reading.clock_status is ClockStatus.INVALID and "representable" in reading.reason
    with pytest.raises(BuildError, match="outside the representable range"):
        DlmsDateTime.from_datetime(datetime(9999, 12, 31, 23, tzinfo=UTC), 0, 720).encode()


def test_dlms_special_values_decode() -> None:
    decoded = DlmsDateTime.parse(bytes.fromhex("fffffefdff020000ff800082"))
    assert (decoded.year, decoded.month, decoded.day, decoded.hundredths) == (None, 0xFE, 0xFD, None)
    assert decoded.deviation_min is None
    assert (
        decoded.clock_status
        == ClockStatusOctet.DOUBTFUL_VALUE | ClockStatusOctet.DAYLIGHT_SAVING_ACTIVE
    )
    assert decoded.to_datetime() is None


@given(
    when=st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(9998, 12, 30), timezones=st.just(UTC)
    ),
    status=st.integers(0, 255),
    deviation=st.one_of(st.none(), st.integers(-720, 720)),
)
def test_dlms_round_trip(when: datetime, status: int, deviation: int | None) -> None:
    when = when.replace(microsecond=when.microsecond // 10_000 * 10_000)
    data = DlmsDateTime.from_datetime(when, status, deviation).encode()
    decoded = DlmsDateTime.parse(data)
    assert decoded.to_datetime() == when
    assert int(decoded.clock_status) == status
    assert decoded.deviation_min == deviation


@given(st.binary(min_size=12, max_size=12))
def test_dlms_decode_of_random_octets_is_value_or_gbcs_error(data: bytes) -> None:
    try:
        DlmsDateTime.parse(data).instant()
    except GbcsError:
        pass


def test_history_is_bounded_per_gsme() -> None:
    history = gpf.GasHistory(maxlen=3)
    for second in range(5):
        history.add("gsme-a", gpf.classify(_push(-second), GPF_TIME))
    history.add("gsme-b", gpf.classify(_push(None), GPF_TIME))
    kept = history.readings("gsme-a")
    assert len(kept) == 3
    assert [GPF_TIME - r.timestamp for r in kept] == [timedelta(seconds=s) for s in (2, 3, 4)]
    assert history.latest("gsme-a") is kept[-1]
    assert history.latest("gsme-b").source is Source.GPF
    assert history.latest("nobody") is None
    assert history.devices() == ("gsme-a", "gsme-b")
    assert len(list(history)) == 4
    with pytest.raises(gpf.GpfError, match="maxlen 0"):
        gpf.GasHistory(maxlen=0)


def test_as_dict_for_the_cli() -> None:
    reading = gpf.classify(_push(-5), GPF_TIME)
    document = reading.as_dict(GPF_TIME + timedelta(seconds=5))
    assert document["source"] == "GSME"
    assert document["clock_status"] == "reliable"
    assert document["dlms_datetime"] == reading.dlms_datetime.hex()
    assert document["age_s"] == 10
    assert document["timestamp"] == "2026-11-29T11:59:55+00:00"


OCTET = {
    (Source.GSME, ClockStatus.RELIABLE): 0x04,
    (Source.GPF, ClockStatus.RELIABLE): 0x00,
    (Source.GSME, ClockStatus.UNRELIABLE): 0x02,
    (Source.GSME, ClockStatus.INVALID): 0x01,
}


@given(
    timestamp=st.one_of(st.none(), st.integers(-10, 2**33), st.binary(min_size=0, max_size=14)),
    synchronised=st.one_of(st.none(), st.booleans()),
    unit=st.sampled_from([0x00, 0x01, 0x81, 0x0B]),
    raw=st.one_of(st.none(), st.integers(0, 2**48 - 1)),
    divisor=st.integers(1, 10_000),
    offset=st.integers(-100_000, 100_000),
)
def test_any_push_classifies_consistently_or_is_a_gpf_error(
    timestamp, synchronised, unit, raw, divisor, offset
) -> None:
    push = GsmePush(raw, raw, unit, 1, divisor, timestamp, time_synchronised=synchronised)
    try:
        reading = gpf.classify(push, GPF_TIME + timedelta(seconds=offset))
    except gpf.GpfError as exc:
        assert "is not BCD" in str(exc)
        return
    assert reading.dlms_datetime[11] == OCTET[(reading.source, reading.clock_status)]
    decoded = DlmsDateTime.parse(reading.dlms_datetime)
    stamp = reading.timestamp
    if stamp is not None:
        stamp = stamp.replace(microsecond=stamp.microsecond // 10_000 * 10_000)
    assert decoded.to_datetime() == stamp
    if reading.clock_status is ClockStatus.RELIABLE and reading.source is Source.GSME:
        assert abs((reading.timestamp - reading.received_at).total_seconds()) <= 10
