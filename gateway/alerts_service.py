"""Device alerts on the live HAN with SECMP0062 storm protection: ``gw.alerts``.

GB meters raise GBCS alerts (16-bit alert codes) through the GB-HRGP tunnel: ``gw.gbcs`` reads them
and hands them here (:meth:`AlertService.watch_gbcs` opens the tunnel and listens); each forwarded
record says ``intake = "gbcs"`` and carries the device's own alert counter. ZCL Alarms stay a second
intake for devices outside GB.

ZCL alerts enter through :class:`~gateway.han_input.HanInput` as ZCL Alarms (0x0009) "alarm" commands
(server to client: alarm code u8 + the cluster the alarm is about), which is what GB HAN devices and
the simulated ones send. hanrig's rule: the *alert code* that throttling and the exclusion list key on
is the alarm code; the cluster it concerns is carried in every record.

Each alert goes through one :class:`~gateway.alerts.AlertThrottler` per session (per (device, alert
code), on the radio loop's clock, so virtual time on ``sim://``). Forwarded alerts become
:class:`AlertRecord` s; suppressed ones are counted, and the counts reach subscribers either in the
next forwarded copy of that code (``throttled_alert_sequence_id`` / ``throttled_alert_count`` /
``throttled_since``: how many, since when, which episode) or, when
no alert of that code came within a further forward period, in a :class:`ThrottleRecord` from the
periodic flush (every ``flush_interval_s``), so none is lost.
Memory per storming device is bounded: the throttler keeps at most ``threshold`` timestamps per
(device, code) and a ZCL alarm code is 8 bits; the record list kept here is a bounded deque.

Subscribers (``subscribe(callback)``) get every AlertRecord and ThrottleRecord as it happens: the rig
runner records them as events.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from zigpy.zcl.clusters.general import Alarms

from hal.roles import Role
from hal.zigpy_fixes import radio_utc_now

from .alerts import AlertPolicy, AlertThrottler, ForwardedAlert, ThrottleReport
from .han_input import FrameSource, HanInput, InputStats

if TYPE_CHECKING:
    from .session import Gateway

LOGGER = logging.getLogger(__name__)

FLUSH_INTERVAL_S: Final = 1.0  # how often suppressed counts whose period ran out are reported
RECENT_RECORDS: Final = 1000  # forwarded records kept for ``recent()`` (subscribers see them all)
ALARM_COMMAND: Final = Alarms.ClientCommandDefs.alarm.id


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """A forwarded alert; the throttled_* fields are set when copies of it were suppressed before it."""

    eui64: str
    role: Role | None
    alert_code: int
    cluster_id: int  # the cluster the alarm is about
    at: datetime  # hub time of receipt
    throttled_alert_sequence_id: int | None = None
    throttled_alert_count: int | None = None
    throttled_since: datetime | None = None  # the first suppressed copy the count covers
    intake: str = "zcl"  # "gbcs": a GBCS alert through the GB-HRGP tunnel; "zcl": a ZCL Alarms alarm
    gbcs_counter: int | None = None  # the device's own alert counter (GBCS originator counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "alert",
            "intake": self.intake,
            "throttled_since": self.throttled_since.isoformat() if self.throttled_since else None,
            "gbcs_counter": self.gbcs_counter,
            "device": self.eui64,
            "role": None if self.role is None else str(self.role),
            "alert_code": f"0x{self.alert_code:04x}" if self.intake == "gbcs" else f"0x{self.alert_code:02x}",
            "alert_code_int": self.alert_code,
            "cluster": f"0x{self.cluster_id:04x}",
            "cluster_int": self.cluster_id,
            "at": self.at.isoformat(),
            "throttled_alert_sequence_id": self.throttled_alert_sequence_id,
            "throttled_alert_count": self.throttled_alert_count,
        }


@dataclass(frozen=True, slots=True)
class ThrottleRecord:
    """Suppressed alerts reported by the periodic flush (no forwarded copy carried them)."""

    eui64: str
    alert_code: int
    throttled_alert_sequence_id: int
    throttled_alert_count: int
    at: datetime
    episode_ended: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": "throttle_report",
            "device": self.eui64,
            "alert_code": f"0x{self.alert_code:02x}",
            "alert_code_int": self.alert_code,
            "throttled_alert_sequence_id": self.throttled_alert_sequence_id,
            "throttled_alert_count": self.throttled_alert_count,
            "at": self.at.isoformat(),
            "episode_ended": self.episode_ended,
        }


AlertEvent = AlertRecord | ThrottleRecord


class AlertService:
    """``gw.alerts``: device alarms in, throttled per ``policy``, out to subscribers and ``recent()``."""

    def __init__(
        self, gateway: Gateway, policy: AlertPolicy | None = None, flush_interval_s: float = FLUSH_INTERVAL_S
    ) -> None:
        self.gateway = gateway
        self._loop = asyncio.get_running_loop()
        self._clock_anchor = (self._loop.time(), self._hub_now())
        self.throttler = AlertThrottler(policy, clock=self._loop.time)
        self.flush_interval_s = flush_interval_s
        self._roles: dict[str, Role | None] = {}
        self._records: deque[AlertEvent] = deque(maxlen=RECENT_RECORDS)
        self._subscribers: list[Callable[[AlertEvent], None]] = []
        self._input = HanInput.of(gateway)
        self._unsubscribe = self._input.on_command(Alarms.cluster_id, ALARM_COMMAND, self._on_alarm)
        self._flusher: asyncio.Task[None] | None = self._loop.create_task(self._flush_loop())

    # ------------------------------------------------------------------ public API
    @property
    def policy(self) -> AlertPolicy:
        return self.throttler.policy

    def configure(self, policy: AlertPolicy) -> None:
        """Throttle by ``policy`` from now on (running episodes are flushed and reported first)."""
        self.flush(force=True)
        self.throttler = AlertThrottler(policy, clock=self._loop.time)

    def subscribe(self, callback: Callable[[AlertEvent], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every forwarded alert and every throttle report; returns the
        unsubscriber."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def recent(self) -> list[AlertEvent]:
        """The last forwarded alerts and throttle reports (bounded), oldest first."""
        return list(self._records)

    def stats(self) -> dict[str, int]:
        """Counts since the session's alert intake started (forwarded + suppressed == received)."""
        stats = self.throttler.stats
        return {
            "received": stats.received,
            "forwarded": stats.forwarded,
            "suppressed": stats.suppressed,
            "reported": stats.reported,
            "pending": self.throttler.pending(),
            "episodes": stats.episodes,
        }

    def device_stats(self, device: str) -> dict[str, int]:
        stats = self.throttler.device_stats.get(device)
        if stats is None:
            return {"received": 0, "forwarded": 0, "suppressed": 0, "reported": 0, "episodes": 0}
        return {
            "received": stats.received,
            "forwarded": stats.forwarded,
            "suppressed": stats.suppressed,
            "reported": stats.reported,
            "episodes": stats.episodes,
        }

    def input_stats(self) -> InputStats:
        """The frame tap's counts (malformed frames ignored, by reason)."""
        return self._input.stats

    def tracked_codes(self, device: str) -> int:
        """(device, code) states held for ``device``: the memory a storming device costs."""
        return self.throttler.tracked_codes(device)

    def flush(self, force: bool = False, device: str | None = None) -> list[ThrottleRecord]:
        """Report suppressed counts now due (all of them with ``force``) to subscribers.

        A count is due one forward period *after* its period ran out (the throttler is asked as of
        ``forward_period_s`` ago): while a storm goes on, the next alert of that code carries the count
        in a forwarded copy; only counts that no alert came to carry are reported on their own."""
        grace = 0.0 if force else self.throttler.policy.forward_period_s
        reports = self.throttler.flush(now=self._loop.time() - grace, force=force, device=device)
        return [self._report(report) for report in reports]

    async def close(self) -> None:
        self._unsubscribe()
        if self._flusher is not None:
            self._flusher.cancel()
            try:
                await self._flusher
            except asyncio.CancelledError:
                pass
            self._flusher = None
        self.flush(force=True)

    # ------------------------------------------------------------------ internals
    def _hub_now(self) -> datetime:
        return radio_utc_now(next(iter(self.gateway.apps.values())))

    def _at(self, loop_time: float) -> datetime:
        # one hub-clock reading per session, then the loop's clock: cheap under a storm
        anchor_loop, anchor_utc = self._clock_anchor
        return anchor_utc + timedelta(seconds=loop_time - anchor_loop)

    def _on_alarm(self, source: FrameSource, args: Any) -> None:
        self._roles[source.eui64] = source.role
        code, cluster_id = int(args.alarm_code), int(args.cluster_id)
        forwarded = self.throttler.receive(source.eui64, code, cluster_id, source.at)
        if forwarded is not None:
            self._forward(forwarded, source.role)

    def _on_gbcs_alert(self, device: str, message: Any, data: bytes) -> None:
        """A GBCS alert from the tunnel (``gw.gbcs``): throttled per (device, 16-bit alert code)."""
        code = message.alert_code
        if code is None:
            return  # gw.gbcs counted it; an alert without a readable code has nothing to key on
        at = self._loop.time()
        forwarded = self.throttler.receive(device, code, ("gbcs", message.originator_counter), at)
        if forwarded is not None:
            self._forward(forwarded, self._roles.get(device))

    def listen_gbcs(self) -> None:
        """Take GBCS alerts from the session's GBCS relay too (the ZCL Alarms intake stays)."""
        relay = self.gateway.gbcs
        if self._on_gbcs_alert not in relay.alert_listeners:
            relay.alert_listeners.append(self._on_gbcs_alert)

    async def watch_gbcs(self, device: Any) -> None:
        """Take ``device``'s GBCS alerts: the hub holds a GB-HRGP tunnel to it (GBCS 10.2.2)."""
        self.listen_gbcs()
        await self.gateway.gbcs.open_tunnel(device)

    def _forward(self, alert: ForwardedAlert, role: Role | None) -> None:
        gbcs_alert = isinstance(alert.payload, tuple)
        record = AlertRecord(
            eui64=str(alert.device),
            role=role,
            alert_code=alert.code,
            cluster_id=0x0704 if gbcs_alert else int(alert.payload),
            at=self._at(alert.at),
            throttled_alert_sequence_id=alert.throttled_alert_sequence_id,
            throttled_alert_count=alert.throttled_alert_count,
            throttled_since=self._at(alert.throttled_since) if alert.throttled_since is not None else None,
            intake="gbcs" if gbcs_alert else "zcl",
            gbcs_counter=alert.payload[1] if gbcs_alert else None,
        )
        self._publish(record)

    def _report(self, report: ThrottleReport) -> ThrottleRecord:
        record = ThrottleRecord(
            eui64=str(report.device),
            alert_code=report.code,
            throttled_alert_sequence_id=report.throttled_alert_sequence_id,
            throttled_alert_count=report.throttled_alert_count,
            at=self._at(self._loop.time()),
            episode_ended=report.episode_ended,
        )
        self._publish(record)
        return record

    def _publish(self, record: AlertEvent) -> None:
        self._records.append(record)
        for callback in list(self._subscribers):
            try:
                callback(record)
            except Exception:  # a subscriber's bug must not stop alert intake
                LOGGER.exception("alert subscriber %r failed", callback)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(self.flush_interval_s)
            self.flush()
