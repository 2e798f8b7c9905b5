"""Change of tenancy on the simulated bench: Publish Change of Tenancy (0x0708 / 0x00) to a meter, then
history (Metering Get Profile) read across the implementation date; a future-dated change hides nothing
until its time; stale issuer event ids are refused; bad Get Profile answers are named; the profile
arithmetic of the simulated meter."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.exceptions import DeviceNotFound
from gateway.session import Gateway
from gateway.tenancy import (
    DEFAULT_CONTROL,
    HistoryAnswerInvalid,
    ProfileStatus,
    Tenancy,
    TenancyError,
)
from hal.sim.tenancy import MAX_PERIODS, PROFILE_INTERVAL_S, LoadProfile, TenancyStore

pytestmark = pytest.mark.looptime

ESME = "00:0d:6f:00:0a:bc:00:01"


async def test_history_from_before_the_change_of_tenancy_is_refused() -> None:
    async with Gateway.open(["sim://"]) as gw:
        esme = gw.device(ESME)
        tenancy = gw.tenancy
        # before any change: the last 12 half-hours, contiguous, ending at the last whole half-hour
        first = await tenancy.read_history(esme, periods=12)
        assert first.status is ProfileStatus.SUCCESS and len(first.intervals) == 12
        assert all(b.start == a.end for a, b in zip(first.intervals, first.intervals[1:], strict=False))
        now = tenancy_now(esme)
        implementation = now - timedelta(hours=3, minutes=10)
        published = await tenancy.publish(esme, provider_id=0x1234, implementation=implementation)
        assert published.accepted and published.status == "SUCCESS"
        meter = gw.apps["radio0"].han.device("esme")
        [taken] = meter.tenancy.changes
        assert (taken.provider_id, taken.control) == (0x1234, int(DEFAULT_CONTROL))
        check = await tenancy.check_history_hidden(esme, implementation)
        assert check.passed, check.problems
        assert check.before.status is ProfileStatus.NO_INTERVALS_AVAILABLE and check.before.intervals == ()
        across = check.across
        # only the intervals that start at or after the date: 3 h 10 min back -> 6 whole half-hours
        assert len(across.intervals) == 6
        assert across.earliest is not None and across.earliest >= implementation
        assert across.earliest - implementation < timedelta(seconds=PROFILE_INTERVAL_S)
        # the same intervals carry the same values as before the change (nothing else was touched)
        before_values = {i.start: i.value for i in first.intervals}
        assert all(before_values.get(i.start, i.value) == i.value for i in across.intervals)


async def test_a_future_change_hides_nothing_until_its_time() -> None:
    async with Gateway.open(["sim://"]) as gw:
        esme = gw.device(ESME)
        tenancy = gw.tenancy
        implementation = tenancy_now(esme) + timedelta(hours=1)
        assert (await tenancy.publish(esme, provider_id=7, implementation=implementation)).accepted
        early = await tenancy.read_history(esme, periods=4)
        assert early.status is ProfileStatus.SUCCESS and len(early.intervals) == 4
        assert early.earliest is not None and early.earliest < implementation - timedelta(hours=1)
        await asyncio.sleep(2 * 3600 + 5)  # one whole half-hour now lies after the date
        later = await tenancy.read_history(esme, periods=4)
        assert [i.start >= implementation for i in later.intervals] == [True]
        check = await tenancy.check_history_hidden(esme, implementation, periods=4)
        assert check.passed, check.problems


async def test_change_now_and_a_stale_issuer_event_id_is_refused() -> None:
    async with Gateway.open(["sim://"]) as gw:
        esme = gw.device(ESME)
        tenancy = gw.tenancy
        first = await tenancy.publish(esme, provider_id=1, issuer_event_id=100)  # implementation 0 = now
        assert first.accepted
        stale = await tenancy.publish(esme, provider_id=2, issuer_event_id=100)
        assert not stale.accepted and stale.status == "FAILURE"
        history = await tenancy.read_history(esme, periods=12)
        assert history.status is ProfileStatus.NO_INTERVALS_AVAILABLE  # nothing complete since "now"
        await asyncio.sleep(2 * PROFILE_INTERVAL_S + 5)
        history = await tenancy.read_history(esme, periods=12)
        assert len(history.intervals) in (1, 2) and history.earliest >= first.implementation


async def test_devices_without_the_clusters_are_named_and_bad_requests_refused() -> None:
    async with Gateway.open(["sim://"]) as gw:
        ihd = gw.device("00:0d:6f:00:0a:bc:00:03")
        with pytest.raises(DeviceNotFound, match="00:0d:6f:00:0a:bc:00:03: has no Device Management client"):
            await gw.tenancy.publish(ihd, provider_id=1)
        with pytest.raises(DeviceNotFound, match="has no Metering server"):
            await gw.tenancy.read_history(ihd)
        esme = gw.device(ESME)
        with pytest.raises(TenancyError, match="periods 0 outside"):
            await gw.tenancy.read_history(esme, periods=0)
        with pytest.raises(TenancyError, match="provider id"):
            await gw.tenancy.publish(esme, provider_id=-1)


def _reply(**fields: object) -> SimpleNamespace:
    base = {"end_time": 820540800, "status": 0, "profile_interval_period": 2,
            "number_of_periods_delivered": 1, "intervals": [5]}
    base.update(fields)
    return SimpleNamespace(**base)


@pytest.mark.parametrize(("fields", "problem"), [
    ({"status": 0x42}, "status 0x42 undefined"),
    ({"profile_interval_period": 9}, "profile interval period 9 undefined"),
    ({"intervals": [1, 2, 3]}, "3 intervals for 2 requested"),
    ({"status": 5}, "status NO_INTERVALS_AVAILABLE with 1 intervals"),
])
def test_contradictory_history_answers_are_named(fields: dict[str, object], problem: str) -> None:
    device = SimpleNamespace(eui64=ESME)
    with pytest.raises(HistoryAnswerInvalid, match=problem) as info:
        Tenancy._history(device, None, 2, _reply(**fields))  # type: ignore[arg-type]
    assert info.value.exit_code == 1 and ESME in str(info.value)


def test_simulated_profile_arithmetic() -> None:
    epoch = 820540800
    profile = LoadProfile("seed", epoch)
    now = epoch + 3 * PROFILE_INTERVAL_S + 100
    answer = profile.get_profile(0, 0, 50, now, None)
    assert answer.status == 0 and len(answer.intervals) == MAX_PERIODS
    assert answer.end_time == epoch + 3 * PROFILE_INTERVAL_S
    ending = profile.get_profile(0, epoch + PROFILE_INTERVAL_S, 2, now, None)
    assert ending.end_time == epoch + PROFILE_INTERVAL_S
    assert profile.get_profile(1, 0, 2, now, None).status == 0x02
    assert profile.get_profile(3, 0, 2, now, None).status == 0x01
    assert profile.get_profile(0, 0xFFFFFFFF, 2, now, None).status == 0x03
    # a floor inside an interval withholds that whole interval
    floored = profile.get_profile(0, 0, 10, now, epoch + PROFILE_INTERVAL_S + 1)
    assert len(floored.intervals) == 1
    assert profile.interval_value(5) == LoadProfile("seed", epoch).interval_value(5)
    store = TenancyStore()
    args = SimpleNamespace(provider_id=1, issuer_event_id=5, tariff_type=0, implementation_date_time=0,
                           proposed_tenancy_change_control=0)
    assert store.publish(args, now=1000) is not None and store.history_floor(999) is None
    assert store.history_floor(1000) == 1000
    assert store.publish(args, now=2000) is None  # same issuer event id


def tenancy_now(device: object):
    from hal.zigpy_fixes import radio_utc_now

    return radio_utc_now(device.app)  # type: ignore[attr-defined]


_EPOCH = 820540800
_UTC = st.integers(0, 0xFFFFFFFF)


@given(channel=st.integers(0, 255), end=_UTC, periods=st.integers(0, 255),
       now=st.integers(_EPOCH - 40 * 86400, _EPOCH + 400 * 86400), floor=st.one_of(st.none(), _UTC))
def test_get_profile_never_leaks_history_before_the_floor(channel: int, end: int, periods: int, now: int,
                                                          floor: int | None) -> None:
    """Any Get Profile a hub can send: a defined status, at most the periods asked (and MAX_PERIODS),
    no interval starting before the tenancy floor, none ending after the end asked or after now."""
    profile = LoadProfile("seed", _EPOCH)
    answer = profile.get_profile(channel, end, periods, now, floor)
    assert answer.status in {int(s) for s in ProfileStatus}
    assert len(answer.intervals) <= min(periods, MAX_PERIODS)
    if answer.intervals:
        assert answer.status == 0 and channel == 0
        newest_end = answer.end_time
        oldest_start = newest_end - len(answer.intervals) * PROFILE_INTERVAL_S
        assert newest_end <= now and (end == 0 or newest_end <= end)
        assert oldest_start >= profile.start_utc
        assert floor is None or oldest_start >= floor


@pytest.fixture
def tenancy_cli(monkeypatch: pytest.MonkeyPatch):
    """``hanrig tenancy`` through the real entry point (its COMMANDS line is the lead's to add)."""
    from gateway.cli import COMMANDS, main

    monkeypatch.setitem(COMMANDS, "tenancy", ("gateway.cli.tenancy_cmds", "tenancy"))
    return main


def test_cli_publish_with_history_check(tenancy_cli, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        tenancy_cli(["tenancy", "publish", "--radio", "sim://", "--device", ESME, "--provider-id", "0x1234",
                     "--at", "2025-12-31T21:00:00Z", "--check-history", "--json"])
    assert exit_info.value.code == 0
    document = json.loads(capsys.readouterr().out)
    assert document["publication"]["accepted"] and document["publication"]["provider_id"] == "0x00001234"
    assert document["publication"]["control"] == "0x00000083"
    assert document["before"]["status"] == "NO_INTERVALS_AVAILABLE"
    starts = [i["start"] for i in document["across"]["intervals"]]
    assert starts and min(starts) >= "2025-12-31T21:00:00+00:00"
    assert document["problems"] == []
    with pytest.raises(SystemExit) as exit_info:
        tenancy_cli(["tenancy", "history", "--radio", "sim://", "--device", ESME, "--periods", "3"])
    assert exit_info.value.code == 0
    assert "history history: SUCCESS, 3 interval(s)" in capsys.readouterr().out


def test_cli_device_without_the_cluster_exits_3_and_bad_input_2(tenancy_cli,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:  # an IHD has no Device Management client
        tenancy_cli(["tenancy", "publish", "--radio", "sim://", "--device", "00:0d:6f:00:0a:bc:00:03",
                     "--provider-id", "1"])
    assert exit_info.value.code == 3 and "Device Management" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        tenancy_cli(["tenancy", "publish", "--radio", "sim://", "--device", ESME, "--provider-id", "ten"])
    assert exit_info.value.code == 2 and "not a number" in capsys.readouterr().err


async def test_run_publishes_back_dated_and_checks_both_sides() -> None:
    async with Gateway.open(["sim://"]) as gw:
        esme = gw.device(ESME)
        result = await gw.tenancy.run(esme, meter_point="1234567890")
        assert result.passed, result.problems
        assert result.measurements() == [("cot_accepted", True, True), ("history_leaked", 0, 0),
                                         ("history_after_change", True, True)]
        document = result.to_dict()
        assert document["meter_point"] == "1234567890" and document["passed"]
        assert document["before"]["status"] == "NO_INTERVALS_AVAILABLE"
        assert len(document["across"]["intervals"]) == 5  # 3 h back from 00:00:45: 21:30 .. 00:00
        # a meter that ignores the change leaks, and the run says so
        meter = gw.apps["radio0"].han.device("esme")
        meter.tenancy.history_floor = lambda now: None
        leaky = await gw.tenancy.run(esme)
        assert not leaky.passed and dict((n, v) for n, v, _ in leaky.measurements())["history_leaked"] > 0
        assert any("from before the change of tenancy" in p for p in leaky.problems)
