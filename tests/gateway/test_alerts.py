"""SECMP0062 throttling: window, threshold, forward period, exclusions, counting, bounded memory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.alerts import AlertPolicy, AlertPolicyError, AlertThrottler, ForwardedAlert, parse_codes
from hanrig_errors import BadInput

POLICY = AlertPolicy(window_s=60, threshold=3, forward_period_s=300)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_below_threshold_everything_is_forwarded_untouched() -> None:
    throttler = AlertThrottler(POLICY)
    out = [throttler.receive("ihd", 0x8F01, payload=i, now=1000 + 30 * i) for i in range(10)]
    # 30 s apart in a 60 s window: at most 2 earlier alerts in the window, threshold 3.
    assert all(isinstance(alert, ForwardedAlert) for alert in out)
    assert all(alert.throttled_alert_count is None for alert in out)
    assert [alert.payload for alert in out] == list(range(10))
    assert throttler.stats.suppressed == 0


def test_storm_is_suppressed_counted_and_reported_once_per_period() -> None:
    clock = FakeClock()
    throttler = AlertThrottler(POLICY, clock=clock)
    forwarded = []
    for _ in range(1000):  # 10 alerts/s for 100 s
        alert = throttler.receive("esme", 0x8F10)
        if alert is not None:
            forwarded.append(alert)
        clock.now += 0.1
    # The first three pass; the fourth starts the episode; the period is 300 s, so nothing else passes.
    assert len(forwarded) == 3
    assert throttler.stats.suppressed == 997
    assert throttler.throttling() == [("esme", 0x8F10, 1)]
    # The storm goes on past the forward period (1 alert/s): exactly one copy, carrying the count.
    copies = []
    for second in range(100, 401):
        clock.now = 1000 + second
        alert = throttler.receive("esme", 0x8F10)
        if alert is not None:
            copies.append(alert)
    assert len(copies) == 1
    # The episode began at ~1000.3, so the first arrival a full period later is at 1301.
    assert copies[0].at == 1301
    assert (copies[0].throttled_alert_sequence_id, copies[0].throttled_alert_count) == (1, 997 + 201)
    assert throttler.pending() == 99  # 1302..1400
    assert throttler.throttling() == [("esme", 0x8F10, 1)]


def test_episode_ends_when_the_window_drains_and_next_alert_carries_the_rest() -> None:
    throttler = AlertThrottler(POLICY)
    for i in range(6):
        throttler.receive("gsme", 7, now=100 + i)
    assert throttler.stats.suppressed == 3
    # 61 s of quiet: the window is empty, the episode is over; the next alert carries the count.
    alert = throttler.receive("gsme", 7, now=100 + 5 + 61)
    assert (alert.throttled_alert_sequence_id, alert.throttled_alert_count) == (1, 3)
    assert throttler.throttling() == []
    after = throttler.receive("gsme", 7, now=170)
    assert after.throttled_alert_count is None
    # A new storm is a new episode with a new sequence id.
    for i in range(5):
        throttler.receive("gsme", 7, now=171 + i)
    assert throttler.throttling() == [("gsme", 7, 2)]


def test_threshold_boundary_exactly() -> None:
    throttler = AlertThrottler(POLICY)
    assert throttler.receive("x", 1, now=0) is not None
    assert throttler.receive("x", 1, now=1) is not None
    assert throttler.receive("x", 1, now=2) is not None  # threshold (3) reached, not exceeded
    assert throttler.receive("x", 1, now=3) is None  # the one above the threshold
    # The window is (now - window_s, now]: an alert exactly window_s old has left it.
    other = AlertThrottler(POLICY)
    for at in (0, 1, 2):
        other.receive("x", 1, now=at)
    assert other.receive("x", 1, now=60) is not None


def test_throttling_is_per_device_and_per_code() -> None:
    throttler = AlertThrottler(POLICY)
    for i in range(10):
        throttler.receive("ihd", 1, now=i)
    assert throttler.receive("ihd", 2, now=10) is not None
    assert throttler.receive("ppmid", 1, now=10) is not None
    assert throttler.device_stats["ihd"].suppressed == 7
    assert throttler.device_stats["ppmid"].suppressed == 0


def test_excluded_codes_are_never_throttled() -> None:
    throttler = AlertThrottler(
        AlertPolicy(window_s=60, threshold=1, forward_period_s=300, exclude=frozenset({0}))
    )
    assert all(throttler.receive("esme", 0, now=i / 100) is not None for i in range(500))
    assert throttler.stats.suppressed == 0
    assert throttler.tracked_codes("esme") == 0


def test_a_stopped_storm_is_told_by_the_next_copy_else_reported_at_period_end() -> None:
    """SECMP0062: users learn of throttling from the alerts let through. When a storm stops, the
    suppressed count waits for the next copy of the code (which carries count, since and sequence id);
    only when none comes within the forward period does a standalone report tell it."""
    throttler = AlertThrottler(POLICY)
    for i in range(50):
        throttler.receive("hcalcs", 9, now=i * 0.5)
    assert throttler.pending() == 47
    assert throttler.flush(now=30) == []  # period not over, window still full
    assert throttler.flush(now=24.5 + 60) == []  # window drained: held for the next copy
    copy = throttler.receive("hcalcs", 9, now=90.0)
    assert copy is not None
    carried = (copy.throttled_alert_sequence_id, copy.throttled_alert_count, copy.throttled_since)
    assert carried == (1, 47, 1.5)
    assert throttler.pending() == 0
    # the same storm with no later copy: reported once its forward period has run out
    quiet = AlertThrottler(POLICY)
    for i in range(50):
        quiet.receive("hcalcs", 9, now=i * 0.5)
    assert quiet.flush(now=24.5 + 60) == []
    reports = quiet.flush(now=1.5 + POLICY.forward_period_s)
    assert len(reports) == 1
    report = reports[0]
    assert (report.device, report.code, report.throttled_alert_sequence_id) == ("hcalcs", 9, 1)
    assert report.throttled_alert_count == 47
    assert (report.first_suppressed_at, report.last_suppressed_at) == (1.5, 24.5)
    assert report.episode_ended
    assert quiet.pending() == 0
    assert quiet.tracked_codes("hcalcs") == 0  # idle state is forgotten
    assert quiet.flush(now=1000, force=True) == []


def test_flush_reports_at_period_end_while_the_storm_goes_on() -> None:
    throttler = AlertThrottler(POLICY)
    for i in range(250):  # 1 alert/s; the episode starts at t=3
        throttler.receive("esme", 3, now=float(i))
    assert throttler.flush(now=302.0) == []  # period (300 s) not over yet
    reports = throttler.flush(now=303.0)  # window still holds 3 alerts (247..249): episode goes on
    assert [(r.throttled_alert_count, r.episode_ended) for r in reports] == [(247, False)]
    # The period restarts at the report; the next copy carries only what came after it.
    out = [throttler.receive("esme", 3, now=float(i)) for i in range(303, 604)]
    assert out[:-1] == [None] * 300
    assert (out[-1].throttled_alert_sequence_id, out[-1].throttled_alert_count) == (1, 300)


def test_a_copy_after_a_flush_report_carries_no_empty_count() -> None:
    throttler = AlertThrottler(AlertPolicy(window_s=600, threshold=2, forward_period_s=100))
    for at in (0, 1, 2, 3):
        throttler.receive("esme", 1, now=at)
    assert [r.throttled_alert_count for r in throttler.flush(now=102)] == [2]
    # Still over the threshold (600 s window) and the period restarted at 102: the copy at 202 has
    # nothing left to carry, so it goes out plain.
    alert = throttler.receive("esme", 1, now=202)
    assert alert is not None
    assert (alert.throttled_alert_sequence_id, alert.throttled_alert_count) == (None, None)
    assert throttler.throttling() == [("esme", 1, 1)]


def test_forced_flush_reports_everything_pending() -> None:
    throttler = AlertThrottler(POLICY)
    for i in range(5):
        throttler.receive("a", 1, now=i)
    reports = throttler.flush(now=5, force=True)
    assert [r.throttled_alert_count for r in reports] == [2]
    assert not reports[0].episode_ended


def test_memory_stays_bounded_under_a_storm() -> None:
    throttler = AlertThrottler(AlertPolicy(window_s=60, threshold=10, forward_period_s=300))
    for i in range(100_000):
        throttler.receive("esme", 0x8F01, now=i / 1000)
    state = throttler._devices["esme"][0x8F01]
    assert len(state.recent) == 10
    assert throttler.tracked_codes("esme") == 1
    assert throttler.stats.received == 100_000


def test_uses_the_injected_clock() -> None:
    clock = FakeClock()
    throttler = AlertThrottler(POLICY, clock=clock)
    alert = throttler.receive("ihd", 5)
    assert alert.at == 1000.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window_s": 0}, "window_s 0 must be positive"),
        ({"threshold": 0}, "threshold 0 must be at least 1"),
        ({"forward_period_s": -1}, "forward_period_s -1 must be positive"),
        ({"exclude": frozenset({0x10000})}, "exclude code 65536 outside"),
    ],
)
def test_bad_policies_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(AlertPolicyError, match=message):
        AlertPolicy(**kwargs)


def test_parse_codes() -> None:
    assert parse_codes(["0x0000", "36610", 0x8F01]) == frozenset({0, 36610, 0x8F01})
    with pytest.raises(BadInput, match=r"alerts.exclude\[1\]: 'zz' is not an alert code"):
        parse_codes(["0x1", "zz"])
    with pytest.raises(BadInput, match=r"alerts.exclude\[0\]: '0x10000' outside"):
        parse_codes(["0x10000"])


events = st.lists(
    st.tuples(
        st.sampled_from(["esme", "gsme", "ihd"]),
        st.sampled_from([0x0000, 0x8F01, 0x8F02]),
        st.floats(min_value=0, max_value=40, allow_nan=False),  # gap before this alert
    ),
    max_size=400,
)


@settings(max_examples=200, deadline=None)
@given(
    events=events,
    window=st.floats(1, 100),
    threshold=st.integers(1, 6),
    period=st.floats(1, 200),
    exclude=st.sets(st.sampled_from([0x0000, 0x8F01]), max_size=1),
    flush_every=st.integers(1, 50),
)
def test_every_alert_is_forwarded_or_counted_and_every_count_reported(
    events, window, threshold, period, exclude, flush_every
) -> None:
    throttler = AlertThrottler(AlertPolicy(window, threshold, period, frozenset(exclude)))
    now = 0.0
    forwarded = 0
    carried = 0
    for index, (device, code, gap) in enumerate(events):
        now += gap
        alert = throttler.receive(device, code, now=now)
        if alert is not None:
            forwarded += 1
            carried += alert.throttled_alert_count or 0
            assert (alert.throttled_alert_count is None) == (alert.throttled_alert_sequence_id is None)
            assert alert.throttled_alert_count is None or alert.throttled_alert_count >= 1
        if index % flush_every == 0:
            carried += sum(report.throttled_alert_count for report in throttler.flush(now=now))
        # Memory: never more than threshold timestamps per (device, code).
        for codes in throttler._devices.values():
            assert all(len(state.recent) <= threshold for state in codes.values())
    suppressed = throttler.stats.suppressed
    assert forwarded + suppressed == len(events) == throttler.stats.received
    assert throttler.stats.forwarded == forwarded
    carried += sum(report.throttled_alert_count for report in throttler.flush(now=now, force=True))
    assert carried == suppressed
    assert throttler.pending() == 0
    for stats in throttler.device_stats.values():
        assert stats.forwarded + stats.suppressed == stats.received
        assert stats.reported == stats.suppressed
    assert sum(stats.received for stats in throttler.device_stats.values()) == len(events)


def test_per_code_counts_balance_and_an_episode_moves_to_a_new_throttler() -> None:
    policy = AlertPolicy(window_s=10, threshold=2, forward_period_s=5, exclude=frozenset({7}))
    first = AlertThrottler(policy)
    for at in range(6):
        first.receive("d", 1, now=at * 0.5)
        first.receive("d", 7, now=at * 0.5)
    ones, sevens = first.code_counts[("d", 1)], first.code_counts[("d", 7)]
    assert (ones.received, ones.forwarded, ones.throttled, ones.excluded) == (6, 2, 4, 0)
    assert (sevens.received, sevens.forwarded, sevens.throttled, sevens.excluded) == (6, 0, 0, 6)
    assert ones.balanced() and sevens.balanced()
    counts, episode = first.snapshot("d", 1)
    assert episode is not None and episode.pending == 4 and episode.sequence_id == 1

    second = AlertThrottler(policy)  # a restarted hanrig, given what the first one saved
    second.restore("d", 1, counts, episode, first.next_sequence_id)
    forwarded = second.receive("d", 1, now=episode.period_start + 5)
    assert forwarded is not None
    assert (forwarded.throttled_alert_sequence_id, forwarded.throttled_alert_count) == (1, 4)
    assert forwarded.throttled_since == episode.first_pending_at
    assert second.stats.suppressed - second.stats.reported == 0
    assert second.code_counts[("d", 1)].received == 7 and second.code_counts[("d", 1)].balanced()
