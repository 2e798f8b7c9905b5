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

Counts survive a restart of hanrig: per (device, alert code) received / forwarded / throttled / excluded
and the open episode are saved as they change (``gateway.alert_counts``: one SQLite file per radio, one
transaction per ``SAVE_BATCH_S`` on the radio loop's clock) and reloaded when the service starts, so a
restarted gateway continues an episode (its next forwarded copy carries the count suppressed before the
restart) and ``counts()`` covers every alert since the file was made. With such a file, ``close`` saves
the open episodes rather than reporting them; without one (``sim://`` without a data dir) it reports
them, as nothing would keep them.

Under ``[policies] require_cbke`` a Type 1 device without a CBKE link key gets no SE service: its alerts
(ZCL alarms and GBCS alerts alike) are not forwarded nor throttled, but counted as *refused* with the
reason ``no-key-establishment``, so even they are never lost uncounted (SECMP0062). The SE gate decides
(``gw.cbke``, asked by ``HanInput`` for each frame and counted there per device and service); refused
alerts reach this service only through its ``on_refused`` handlers, to be counted per alert code.

Subscribers (``subscribe(callback)``) get every AlertRecord and ThrottleRecord as it happens: the rig
runner records them as events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from zigpy.zcl.clusters.general import Alarms

from hal.radio import alert_counts_path
from hal.roles import Role
from hal.zigpy_fixes import radio_utc_now

from .alert_counts import AlertCounts, StoredCounts
from .alerts import AlertPolicy, AlertStats, AlertThrottler, EpisodeSnapshot, ForwardedAlert, ThrottleReport
from .cbke import ALERTS
from .exceptions import DeviceNotFound
from .han_input import FrameSource, HanInput, InputStats
from .session import format_eui64

if TYPE_CHECKING:
    from .session import Gateway

LOGGER = logging.getLogger(__name__)

FLUSH_INTERVAL_S: Final = 1.0  # how often suppressed counts whose period ran out are reported
SAVE_BATCH_S: Final = 0.1  # alert counts are saved this long after the first change: what SIGKILL may lose
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
        self._stores: dict[str, AlertCounts] = {}  # radio id -> its alert-count file
        for radio_id, url in gateway.urls.items():
            path = alert_counts_path(url, gateway.configs.get(radio_id))
            if path is not None:
                self._stores[radio_id] = AlertCounts(path)
        self._device_stores: dict[str, AlertCounts] = {}
        self._dirty: set[tuple[str, int]] = set()
        self._save_pending = False
        self._load()
        self._unsubscribe = self._input.on_command(Alarms.cluster_id, ALARM_COMMAND, self._on_alarm,
                                                   service=ALERTS, on_refused=self._on_refused_alarm)
        self._flusher: asyncio.Task[None] | None = self._loop.create_task(self._flush_loop())

    # ------------------------------------------------------------------ public API
    @property
    def policy(self) -> AlertPolicy:
        return self.throttler.policy

    def configure(self, policy: AlertPolicy) -> None:
        """Throttle by ``policy`` from now on. Without a count file, running episodes are flushed and
        reported first; with one, counts and episodes carry over (saved, then reloaded)."""
        if self._stores:
            self._save()
            self.throttler = AlertThrottler(policy, clock=self._loop.time)
            self._load()
            return
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
        """Counts since the session's alert intake started (forwarded + suppressed + refused == received)."""
        stats = self.throttler.stats
        return {
            "received": stats.received,
            "forwarded": stats.forwarded,
            "suppressed": stats.suppressed,
            "reported": stats.reported,
            "pending": self.throttler.pending(),
            "episodes": stats.episodes,
            "refused": stats.refused,
        }

    def device_stats(self, device: str) -> dict[str, int]:
        stats = self.throttler.device_stats.get(device)
        if stats is None:
            stats = AlertStats()
        return {
            "received": stats.received,
            "forwarded": stats.forwarded,
            "suppressed": stats.suppressed,
            "reported": stats.reported,
            "episodes": stats.episodes,
            "refused": stats.refused,
        }

    @property
    def durable(self) -> bool:
        """True when counts and open episodes are kept in a file across restarts."""
        return bool(self._stores)

    def counts(self) -> dict[tuple[str, int], dict[str, Any]]:
        """Per (device, alert code): received / forwarded / throttled / excluded / refused (since the count
        file was made, across restarts), the suppressed count the open episode has not reported yet, and
        ``refused_by_reason``."""
        result = {}
        for (device, code), counts in sorted(self.throttler.code_counts.items(), key=lambda item: item[0]):
            _, episode = self.throttler.snapshot(device, code)
            result[(str(device), code)] = {
                "received": counts.received, "forwarded": counts.forwarded,
                "throttled": counts.throttled, "excluded": counts.excluded,
                "pending": episode.pending if episode is not None else 0,
                "refused": counts.refused_total, "refused_by_reason": dict(counts.refused),
            }
        return result

    def unbalanced(self) -> list[tuple[str, int]]:
        """(device, code) whose received != forwarded + throttled + excluded + refused: an alert lost."""
        return [(str(d), c) for (d, c), counts in self.throttler.code_counts.items() if not counts.balanced()]

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
        throttler = self.throttler
        before = {key: self._episode_key(*key) for key in throttler.tracked()} if self._stores else {}
        reports = throttler.flush(now=self._loop.time() - grace, force=force, device=device)
        for key, state in before.items():  # save only what the flush changed (a report, an episode end)
            if self._episode_key(*key) != state:
                self._changed(*key)
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
        if not self._stores:
            self.flush(force=True)
            return
        self._save()  # the open episodes stay open: the next session's forwarded copies carry them
        for store in self._stores.values():
            store.close()
        self._stores.clear()

    # ------------------------------------------------------------------ internals
    def _hub_now(self) -> datetime:
        return radio_utc_now(next(iter(self.gateway.apps.values())))

    def _at(self, loop_time: float) -> datetime:
        # one hub-clock reading per session, then the loop's clock: cheap under a storm
        anchor_loop, anchor_utc = self._clock_anchor
        return anchor_utc + timedelta(seconds=loop_time - anchor_loop)

    # ------------------------------------------------------------------ durable counts
    def _utc_seconds(self, loop_time: float) -> float:
        return self._at(loop_time).timestamp()

    def _loop_time_of(self, utc_seconds: float) -> float:
        anchor_loop, anchor_utc = self._clock_anchor
        return anchor_loop + (utc_seconds - anchor_utc.timestamp())

    def _load(self) -> None:
        """Give the throttler every stored (device, code): counts, open episode, sequence numbering.

        The window and the forward period are placed on this session's clock, never later than now (a
        hub clock that went back, as a restarted ``sim://`` PAN's does, must not hold a window open for
        longer than it lasts); ``since`` keeps the time the first suppressed copy came."""
        now = self._loop.time()
        for store in self._stores.values():
            next_sequence_id = store.next_sequence_id()
            for row in store.rows():
                self._device_stores[row.device] = store
                episode = row.episode
                if episode is not None:
                    episode = EpisodeSnapshot(
                        episode.sequence_id, episode.pending, self._loop_time_of(episode.first_pending_at),
                        self._loop_time_of(episode.last_pending_at),
                        min(self._loop_time_of(episode.period_start), now),
                        tuple(min(self._loop_time_of(at), now) for at in episode.recent))
                self.throttler.restore(row.device, row.code, row.counts, episode, next_sequence_id)

    def _episode_key(self, device: str, code: int) -> tuple[int | None, int] | None:
        episode = self.throttler.snapshot(device, code)[1]
        return None if episode is None else (episode.sequence_id, episode.pending)

    def _store_for(self, device: str) -> AlertCounts | None:
        store = self._device_stores.get(device)
        if store is None and self._stores:
            for radio_id, app in self.gateway.apps.items():
                if radio_id in self._stores and any(format_eui64(ieee) == device for ieee in app.devices):
                    store = self._stores[radio_id]
                    break
            else:
                store = next(iter(self._stores.values()))  # a device the radios do not list (yet)
            self._device_stores[device] = store
        return store

    def _changed(self, device: str, code: int) -> None:
        """Mark (device, code) for the next save: one transaction per SAVE_BATCH_S, whatever a storm's rate
        (a radio delivers one frame per tick, so saving per tick would cost a commit per alert)."""
        if not self._stores:
            return
        self._dirty.add((device, code))
        if not self._save_pending:
            self._save_pending = True
            self._loop.call_later(SAVE_BATCH_S, self._save)

    def _save(self) -> None:
        self._save_pending = False
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        by_store: dict[int, tuple[AlertCounts, list[StoredCounts]]] = {}
        for device, code in dirty:
            store = self._store_for(device)
            if store is None:
                continue
            counts, episode = self.throttler.snapshot(device, code)
            if episode is not None:
                episode = EpisodeSnapshot(
                    episode.sequence_id, episode.pending, self._utc_seconds(episode.first_pending_at),
                    self._utc_seconds(episode.last_pending_at), self._utc_seconds(episode.period_start),
                    tuple(self._utc_seconds(at) for at in episode.recent))
            by_store.setdefault(id(store), (store, []))[1].append(StoredCounts(device, code, counts, episode))
        for store, rows in by_store.values():
            try:
                store.save(rows, self.throttler.next_sequence_id)
            except sqlite3.Error as exc:  # a full disk must not stop alert intake; say so loudly
                LOGGER.error("alert counts %s: could not save %d rows: %s", store.path, len(rows), exc)

    def _refuse(self, device: str, code: int, refusal: str) -> None:
        """An alert of a device the SE gate refused: counted by reason kind, never forwarded nor throttled."""
        self.throttler.refuse(device, code, refusal.split(":", 1)[0])
        self._changed(device, code)

    def _on_refused_alarm(self, source: FrameSource, args: Any, refusal: str) -> None:
        self._roles[source.eui64] = source.role
        self._refuse(source.eui64, int(args.alarm_code), refusal)

    def _on_alarm(self, source: FrameSource, args: Any) -> None:
        self._roles[source.eui64] = source.role
        code, cluster_id = int(args.alarm_code), int(args.cluster_id)
        forwarded = self.throttler.receive(source.eui64, code, cluster_id, source.at)
        self._changed(source.eui64, code)
        if forwarded is not None:
            self._forward(forwarded, source.role)

    def _on_refused_gbcs_alert(self, device: str, message: Any, refusal: str) -> None:
        if message.alert_code is not None:
            self._refuse(device, message.alert_code, refusal)

    def _on_gbcs_alert(self, device: str, message: Any, data: bytes) -> None:
        """A GBCS alert from the tunnel (``gw.gbcs``): throttled per (device, 16-bit alert code)."""
        code = message.alert_code
        if code is None:
            return  # gw.gbcs counted it; an alert without a readable code has nothing to key on
        if self._roles.get(device) is None and self.gateway.cbke.policy.required:   # the forwarded role
            with contextlib.suppress(DeviceNotFound):
                self._roles[device] = self.gateway.device(device).role
        at = self._loop.time()
        forwarded = self.throttler.receive(device, code, ("gbcs", message.originator_counter), at)
        self._changed(device, code)
        if forwarded is not None:
            self._forward(forwarded, self._roles.get(device))

    def listen_gbcs(self) -> None:
        """Take GBCS alerts from the session's GBCS relay too (the ZCL Alarms intake stays)."""
        relay = self.gateway.gbcs
        if self._on_gbcs_alert not in relay.alert_listeners:
            relay.alert_listeners.append(self._on_gbcs_alert)
            relay.refused_alert_listeners.append(self._on_refused_gbcs_alert)

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
