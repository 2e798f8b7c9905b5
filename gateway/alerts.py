"""Alert storm protection (SECMP0062), as pure code on an injected clock.

Throttling is per (device, alert code) ("our rule" in gb-han-reference.md, every number in
``AlertPolicy``):

- a sliding window of ``window_s`` seconds: while fewer than ``threshold`` alerts of that code arrived
  in the window, each alert is forwarded;
- the alert that would exceed the threshold starts a throttling *episode* with a fresh sequence id:
  that alert and the following ones are suppressed and **counted**, and one copy is forwarded per
  ``forward_period_s``, carrying ``throttled_alert_sequence_id`` and ``throttled_alert_count`` (how many
  were suppressed since the previous report);
- the episode ends when the window holds fewer than ``threshold`` alerts again; the next forwarded
  alert carries whatever was still unreported;
- codes in ``exclude`` are never throttled: they are passed on and counted as *excluded*;
- an alert the hub must not act on (``refuse``: a Type 1 device without a CBKE key when the rig requires
  one) is neither forwarded nor throttled but counted as *refused*, by reason, so it is not lost silently;
- ``flush(now)`` reports counts that no later alert will carry (periods that ran out, quiet episodes),
  so no suppressed alert is lost: forwarded + suppressed == received, and every suppressed alert is
  reported exactly once, in a forwarded copy or a flush report.

Per (device, code) the throttler also keeps :class:`CodeCounts` (received == forwarded + throttled +
excluded + refused), and :meth:`AlertThrottler.snapshot` / :meth:`AlertThrottler.restore` hand its
counts and open episode to ``gateway.alert_counts`` so they survive a restart of hanrig.

Memory per (device, code) is bounded by ``threshold`` timestamps plus a few counters, whatever the
storm's length: nothing is stored per suppressed alert.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .exceptions import AlertPolicyError


@dataclass(frozen=True)
class AlertPolicy:
    """SECMP0062 throttling numbers (the DCC's own are not public; these are hanrig's defaults)."""

    window_s: float = 60.0
    threshold: int = 10
    forward_period_s: float = 300.0
    exclude: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.window_s <= 0:
            raise AlertPolicyError(f"alerts policy: window_s {self.window_s} must be positive")
        if self.threshold < 1:
            raise AlertPolicyError(f"alerts policy: threshold {self.threshold} must be at least 1")
        if self.forward_period_s <= 0:
            raise AlertPolicyError(
                f"alerts policy: forward_period_s {self.forward_period_s} must be positive"
            )
        object.__setattr__(self, "exclude", frozenset(self.exclude))
        for code in self.exclude:
            if not isinstance(code, int) or not 0 <= code <= 0xFFFF:
                raise AlertPolicyError(f"alerts policy: exclude code {code!r} outside 0x0000..0xffff")


@dataclass(frozen=True, slots=True)
class ForwardedAlert:
    """An alert passed on; the two throttling fields are set when suppression happened before it."""

    device: Hashable
    code: int
    at: float
    payload: Any = None
    throttled_alert_sequence_id: int | None = None
    throttled_alert_count: int | None = None
    throttled_since: float | None = None  # when the first of the counted suppressed copies arrived


@dataclass(frozen=True, slots=True)
class ThrottleReport:
    """Suppressed alerts that no forwarded copy carried, reported by ``flush``."""

    device: Hashable
    code: int
    throttled_alert_sequence_id: int
    throttled_alert_count: int
    first_suppressed_at: float
    last_suppressed_at: float
    episode_ended: bool


class _CodeState:
    """Throttling state of one (device, code): bounded, whatever the storm does."""

    __slots__ = ("first_pending_at", "last_pending_at", "pending", "period_start", "recent", "sequence_id")

    def __init__(self, threshold: int) -> None:
        self.recent: deque[float] = deque(maxlen=threshold)  # the latest arrivals, at most threshold
        self.sequence_id: int | None = None  # set while an episode runs
        self.pending = 0  # suppressed, not yet reported
        self.period_start = 0.0
        self.first_pending_at = 0.0
        self.last_pending_at = 0.0


@dataclass
class CodeCounts:
    """What happened to the alerts of one (device, code): every received alert is exactly one of the
    others (``forwarded`` counts only alerts that went through throttling and out; an alert of an
    excluded code is ``excluded``, and passed on unthrottled; ``refused`` counts, by reason, the alerts the
    hub did not act on)."""

    received: int = 0
    forwarded: int = 0
    throttled: int = 0
    excluded: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # reason -> count

    @property
    def refused_total(self) -> int:
        return sum(self.refused.values())

    def balanced(self) -> bool:
        return self.received == self.forwarded + self.throttled + self.excluded + self.refused_total


@dataclass(frozen=True)
class EpisodeSnapshot:
    """The throttling state of one (device, code), on the throttler's clock: what a restart must keep."""

    sequence_id: int | None
    pending: int
    first_pending_at: float
    last_pending_at: float
    period_start: float
    recent: tuple[float, ...]


@dataclass
class AlertStats:
    """Counts since the throttler was made."""

    received: int = 0
    forwarded: int = 0
    suppressed: int = 0
    reported: int = 0  # suppressed alerts already carried by a forwarded copy or a flush report
    episodes: int = 0
    refused: int = 0  # not acted on (received == forwarded + suppressed + refused)


class AlertThrottler:
    """Per (device, alert code) storm protection; call ``receive`` for every alert, ``flush`` now and then."""

    def __init__(
        self, policy: AlertPolicy | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy or AlertPolicy()
        self._clock = clock
        self._devices: dict[Hashable, dict[int, _CodeState]] = {}
        self._next_sequence_id = 1
        self.stats = AlertStats()
        self.device_stats: dict[Hashable, AlertStats] = {}
        self.code_counts: dict[tuple[Hashable, int], CodeCounts] = {}

    @property
    def next_sequence_id(self) -> int:
        return self._next_sequence_id

    def snapshot(self, device: Hashable, code: int) -> tuple[CodeCounts, EpisodeSnapshot | None]:
        """The counts and throttling state of (device, code) (None: nothing held, the window is empty)."""
        counts = self.code_counts.get((device, code)) or CodeCounts()
        state = self._devices.get(device, {}).get(code)
        if state is None:
            return counts, None
        return counts, EpisodeSnapshot(state.sequence_id, state.pending, state.first_pending_at,
                                       state.last_pending_at, state.period_start, tuple(state.recent))

    def restore(self, device: Hashable, code: int, counts: CodeCounts, episode: EpisodeSnapshot | None,
                next_sequence_id: int) -> None:
        """Take back what :meth:`snapshot` gave (after a restart): counts, the open episode and its
        pending count (the next forwarded copy carries it), and the sequence numbering."""
        self.code_counts[(device, code)] = counts
        stats = self.device_stats.setdefault(device, AlertStats())
        for target in (stats, self.stats):
            target.received += counts.received
            target.forwarded += counts.forwarded + counts.excluded
            target.suppressed += counts.throttled
            target.reported += counts.throttled - (episode.pending if episode is not None else 0)
            target.refused += counts.refused_total
        self._next_sequence_id = max(self._next_sequence_id, next_sequence_id)
        if episode is None:
            return
        state = _CodeState(self.policy.threshold)
        state.recent.extend(episode.recent)
        state.sequence_id = episode.sequence_id
        state.pending = episode.pending
        state.first_pending_at = episode.first_pending_at
        state.last_pending_at = episode.last_pending_at
        state.period_start = episode.period_start
        self._devices.setdefault(device, {})[code] = state
        if episode.sequence_id is not None:
            self._next_sequence_id = max(self._next_sequence_id, episode.sequence_id + 1)

    def receive(
        self, device: Hashable, code: int, payload: Any = None, now: float | None = None
    ) -> ForwardedAlert | None:
        """Take one alert; return what to forward, or None when it is suppressed (and counted)."""
        at = self._clock() if now is None else now
        policy = self.policy
        stats = self.stats
        device_stats = self.device_stats.get(device)
        if device_stats is None:
            device_stats = self.device_stats[device] = AlertStats()
        stats.received += 1
        device_stats.received += 1
        counts = self.code_counts.get((device, code))
        if counts is None:
            counts = self.code_counts[(device, code)] = CodeCounts()
        counts.received += 1
        if code in policy.exclude:
            stats.forwarded += 1
            device_stats.forwarded += 1
            counts.excluded += 1
            return ForwardedAlert(device, code, at, payload)

        codes = self._devices.get(device)
        if codes is None:
            codes = self._devices[device] = {}
        state = codes.get(code)
        if state is None:
            state = codes[code] = _CodeState(policy.threshold)
        recent = state.recent
        horizon = at - policy.window_s
        while recent and recent[0] <= horizon:
            recent.popleft()
        over = len(recent) >= policy.threshold
        recent.append(at)

        if state.sequence_id is None:
            if not over:
                stats.forwarded += 1
                device_stats.forwarded += 1
                counts.forwarded += 1
                return ForwardedAlert(device, code, at, payload)
            state.sequence_id = self._next_sequence_id
            self._next_sequence_id += 1
            stats.episodes += 1
            device_stats.episodes += 1
            state.period_start = at
            counts.throttled += 1
            return self._suppress(state, at, stats, device_stats)

        if over and at - state.period_start < policy.forward_period_s:
            counts.throttled += 1
            return self._suppress(state, at, stats, device_stats)

        # A period ran out during the episode, or the window drained and the episode ends here:
        # this alert goes out carrying the count suppressed since the last report.
        sequence_id, count, since = state.sequence_id, state.pending, state.first_pending_at
        self._mark_reported(state, stats, device_stats)
        if over:
            state.period_start = at
        else:
            state.sequence_id = None
        stats.forwarded += 1
        device_stats.forwarded += 1
        counts.forwarded += 1
        if count == 0:  # a flush report already told everything: nothing for this copy to carry
            return ForwardedAlert(device, code, at, payload)
        return ForwardedAlert(device, code, at, payload, sequence_id, count, since)

    def refuse(self, device: Hashable, code: int, reason: str) -> None:
        """Count one alert the hub does not act on (neither forwarded nor throttled), under ``reason``."""
        device_stats = self.device_stats.get(device)
        if device_stats is None:
            device_stats = self.device_stats[device] = AlertStats()
        counts = self.code_counts.get((device, code))
        if counts is None:
            counts = self.code_counts[(device, code)] = CodeCounts()
        for stats in (self.stats, device_stats):
            stats.received += 1
            stats.refused += 1
        counts.received += 1
        counts.refused[reason] = counts.refused.get(reason, 0) + 1

    @staticmethod
    def _suppress(state: _CodeState, at: float, stats: AlertStats, device_stats: AlertStats) -> None:
        if state.pending == 0:
            state.first_pending_at = at
        state.pending += 1
        state.last_pending_at = at
        stats.suppressed += 1
        device_stats.suppressed += 1
        return None

    def _mark_reported(self, state: _CodeState, stats: AlertStats, device_stats: AlertStats) -> None:
        stats.reported += state.pending
        device_stats.reported += state.pending
        state.pending = 0

    def flush(self, now: float | None = None, force: bool = False,
              device: Hashable | None = None) -> list[ThrottleReport]:
        """Report suppressed counts whose forward period ran out (all of them with ``force``; only
        ``device``'s when given), end episodes whose window drained, and forget idle (device, code)
        state."""
        at = self._clock() if now is None else now
        policy = self.policy
        reports: list[ThrottleReport] = []
        only = device
        for key, codes in list(self._devices.items()):
            if only is not None and key != only:
                continue
            device_stats = self.device_stats[key]
            for code, state in list(codes.items()):
                recent = state.recent
                horizon = at - policy.window_s
                while recent and recent[0] <= horizon:
                    recent.popleft()
                ended = state.sequence_id is not None and len(recent) < policy.threshold
                # SECMP0062: suppressed counts travel in the next forwarded copy of the code; a standalone
                # report only when none came within the forward period (or on a forced flush)
                due = force or at - state.period_start >= policy.forward_period_s
                if state.sequence_id is not None and state.pending and due:
                    reports.append(
                        ThrottleReport(
                            key,
                            code,
                            state.sequence_id,
                            state.pending,
                            state.first_pending_at,
                            state.last_pending_at,
                            ended,
                        )
                    )
                    self._mark_reported(state, self.stats, device_stats)
                    state.period_start = at
                if ended and not state.pending:
                    state.sequence_id = None
                if not recent and state.sequence_id is None:
                    del codes[code]
            if not codes:
                del self._devices[key]
        return reports

    def throttling(self) -> list[tuple[Hashable, int, int]]:
        """(device, code, sequence id) of every running episode."""
        return [
            (device, code, state.sequence_id)
            for device, codes in self._devices.items()
            for code, state in codes.items()
            if state.sequence_id is not None
        ]

    def tracked(self) -> list[tuple[Hashable, int]]:
        """Every (device, code) whose throttling state is held (a flush may change any of them)."""
        return [(device, code) for device, codes in self._devices.items() for code in codes]

    def pending(self) -> int:
        """Suppressed alerts not yet reported."""
        return self.stats.suppressed - self.stats.reported

    def tracked_codes(self, device: Hashable) -> int:
        """How many (device, code) states are held for ``device``."""
        return len(self._devices.get(device, ()))


def parse_codes(values: Iterable[str | int], where: str = "alerts.exclude") -> frozenset[int]:
    """Alert codes as a rig file or the CLI gives them ("0x8f01", "36609", 0x8f01)."""
    codes = set()
    for index, value in enumerate(values):
        try:
            code = value if isinstance(value, int) else int(str(value), 0)
        except ValueError:
            raise AlertPolicyError(f"{where}[{index}]: {value!r} is not an alert code") from None
        if not 0 <= code <= 0xFFFF:
            raise AlertPolicyError(f"{where}[{index}]: {value!r} outside 0x0000..0xffff")
        codes.add(code)
    return frozenset(codes)
