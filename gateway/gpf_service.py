"""The Gas Proxy Function on the live HAN (SECMP0015): what each GSME pushes, classified and kept.

A GSME sleeps and pushes; the hub's GPF keeps what it pushed and answers for it. ``GpfService`` (the
session's ``gw.gpf``) takes the pushes through :class:`~gateway.han_input.HanInput`:

* a Metering (0x0702) Report Attributes: CurrentSummationDelivered, InstantaneousDemand,
  UnitOfMeasure, Multiplier, Divisor and ReadingSnapshotTime (the GSME's timestamp, ZCL UTCTime;
  0xFFFFFFFF, ZCL's "no time", counts as *no GSME timestamp*);
* the Time (0x000A) Report Attributes that follows it: TimeStatus (bit 1 Synchronized) and Time.

The two are paired per GSME: the Metering report opens a push, the Time report closes it; a push whose
Time report does not come within ``pair_window_s`` is classified with the last time status the GSME
gave (or none). Unit, multiplier and divisor a GSME reported once are remembered for pushes that omit
them. Each push is classified by :func:`gateway.gpf.classify` under the service's ``GpfPolicy`` against
the hub's clock at the Metering report's receipt (:func:`hal.zigpy_fixes.radio_utc_now`, the clock the
hub's Time server gives devices), and kept in a bounded :class:`~gateway.gpf.GasHistory` per GSME.
A push that cannot be classified (unknown unit, divisor 0, non-BCD digits, negative demand) is a
malformed frame: logged, counted by the tap, not recorded.

Under ``[policies] require_cbke`` a GSME without a CBKE link key gets no SE service: its push frames
(Metering and Time reports) do not reach this service (nothing classified, kept or handed to a waiting
read) and the SE gate counts them per device under ``gpf`` (``gw.cbke.refusals``); a read for it is
refused (``gw.cbke.admit``).

Pushes are only seen once the service exists: touch ``gw.gpf`` right after opening a session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from zigpy.zcl.clusters.general import Time
from zigpy.zcl.clusters.smartenergy import Metering

from hal.roles import Role
from hal.zigpy_fixes import radio_utc_now
from hanrig_errors import eui64_bytes

from .cbke import GPF
from .exceptions import DeviceNotFound, GatewayError
from .gcs13a import GasProxyGbcs, Gcs13aAnswer
from .gpf import ZCL_UTC_INVALID, GasHistory, GasReading, GpfError, GpfPolicy, GsmePush, classify
from .han_input import FrameSource, HanInput, MalformedFrame

if TYPE_CHECKING:
    from .session import Gateway

LOGGER = logging.getLogger(__name__)

PAIR_WINDOW_S: Final = 5.0  # a GSME's Time report follows its Metering report within this time
NEXT_PUSH_TIMEOUT_S: Final = 3600.0  # default wait for a sleepy GSME's next push (it pushes ~ every 30 min)
HISTORY_LEN: Final = 96  # readings kept per GSME (two days of half-hourly pushes)

_M = Metering.AttributeDefs
_T = Time.AttributeDefs
_SCALING = (_M.unit_of_measure.id, _M.multiplier.id, _M.divisor.id)


class GasTimeout(DeviceNotFound):
    """A GSME did not push within the time allowed (exit 3)."""


@dataclass(frozen=True)
class GasRecord:
    """One classified push of one GSME: what the runner records and ``hanrig gas read`` prints."""

    eui64: str
    reading: GasReading
    push: GsmePush  # the raw values, as received

    def as_dict(self, now: datetime) -> dict[str, Any]:
        document: dict[str, Any] = {"device": self.eui64, **self.reading.as_dict(now)}
        document["gsme_time_synchronised"] = self.push.time_synchronised
        raw = self.push.timestamp
        document["gsme_timestamp_raw"] = f"0x{raw:08x}" if isinstance(raw, int) else None
        document["gsme_timestamp_raw_int"] = raw if isinstance(raw, int) else None
        return document


@dataclass
class _OpenPush:
    source: FrameSource
    values: dict[int, Any]
    received_at: datetime
    timer: asyncio.TimerHandle | None


class GpfService:
    """``gw.gpf``: every GSME's pushes, classified under ``policy``, the last ``history_len`` kept each."""

    def __init__(
        self, gateway: Gateway, policy: GpfPolicy | None = None, history_len: int = HISTORY_LEN
    ) -> None:
        self.gateway = gateway
        self.policy = policy or GpfPolicy()
        self.history = GasHistory(history_len)
        self.pair_window_s = PAIR_WINDOW_S
        self.ignored_non_gsme = 0  # Metering reports from devices that are not GSMEs
        self._records: dict[str, GasRecord] = {}  # latest per GSME, with its raw push
        self._open: dict[str, _OpenPush] = {}
        self._scaling: dict[str, dict[int, Any]] = {}
        self._time_status: dict[str, bool] = {}
        self._subscribers: list[Callable[[GasRecord], None]] = []
        self._waiters: list[tuple[str | None, asyncio.Future[GasRecord]]] = []
        self._gbcs: GasProxyGbcs | None = None
        self._input = HanInput.of(gateway)
        self._unsubscribe = [
            self._input.on_reports(Metering.cluster_id, self._on_metering, service=GPF),
            self._input.on_reports(Time.cluster_id, self._on_time, service=GPF),
        ]

    # ------------------------------------------------------------------ public API
    def configure(self, policy: GpfPolicy | None = None, history_len: int | None = None) -> None:
        """Change the classification policy (applies to later pushes) or the history length (clears it)."""
        if policy is not None:
            self.policy = policy
        if history_len is not None:
            self.history = GasHistory(history_len)
            self._records.clear()

    def now(self) -> datetime:
        """The hub's (GPF's) UTC clock."""
        app = next(iter(self.gateway.apps.values()))
        return radio_utc_now(app)

    @property
    def gbcs(self) -> GasProxyGbcs:
        """The GPF's GBCS face (GCS13a), keyed as the session's GBCS relay is (``gw.gbcs``)."""
        if self._gbcs is None:
            relay = self.gateway.gbcs
            self._gbcs = GasProxyGbcs(eui64_bytes(relay.gpf_eui64()), relay.security)
        return self._gbcs

    async def read_gcs13a(self, device: str | None = None,
                          timeout_s: float = NEXT_PUSH_TIMEOUT_S) -> tuple[GasRecord, Gcs13aAnswer]:
        """A supplier's GCS13a to the GPF, answered from the GSME's latest push (waiting for one if the
        GPF holds none): the push and the checked exchange."""
        record = await self.read(device, timeout_s)
        relay = self.gateway.gbcs
        answer = self.gbcs.exchange(self.gbcs.command(relay.supplier, relay.next_counter()), record)
        return record, answer

    def latest(self, device: str) -> GasRecord | None:
        return self._records.get(self._eui64(device))

    def readings(self, device: str) -> tuple[GasReading, ...]:
        return self.history.readings(self._eui64(device))

    def subscribe(self, callback: Callable[[GasRecord], None]) -> Callable[[], None]:
        """Call ``callback(record)`` for every classified push; returns the unsubscriber."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def gsme(self, device: str | None = None) -> str:
        """The EUI-64 of the GSME ``device`` names (rig id or EUI-64), or of the only GSME joined."""
        if device is not None:
            found = self.gateway.device(device)
            if found.role not in (Role.GSME, None):
                raise GatewayError(f"device {found.eui64}: is a {found.role}, not a GSME")
            return found.eui64
        gsmes = self.gateway.devices(role=Role.GSME)
        if not gsmes:
            joined = ", ".join(f"{d.eui64} ({d.role})" for d in self.gateway.devices()) or "none"
            raise DeviceNotFound("GSME", f"no GSME has joined (joined: {joined})")
        if len(gsmes) > 1:
            names = ", ".join(d.eui64 for d in gsmes)
            raise GatewayError(f"gas read: {len(gsmes)} GSMEs joined ({names}); name one with --device")
        return gsmes[0].eui64

    async def next_reading(
        self, device: str | None = None, timeout_s: float = NEXT_PUSH_TIMEOUT_S
    ) -> GasRecord:
        """Wait for the next classified push (of ``device`` when given); GasTimeout after ``timeout_s``."""
        eui64 = self._eui64(device) if device is not None else None
        future: asyncio.Future[GasRecord] = asyncio.get_running_loop().create_future()
        waiter = (eui64, future)
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout_s):
                return await future
        except TimeoutError:
            raise GasTimeout(
                eui64 or "GSME", f"no gas push within {timeout_s:g} s (a sleepy GSME pushes when it wakes)"
            ) from None
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    async def read(self, device: str | None = None, timeout_s: float = NEXT_PUSH_TIMEOUT_S) -> GasRecord:
        """What the GPF holds for the GSME; with nothing held yet, wait for its next push. A GSME without a
        CBKE link key gets nothing when the rig requires CBKE (SE service)."""
        eui64 = self.gsme(device)
        await self.gateway.cbke.admit(eui64, Role.GSME, GPF)
        record = self._records.get(eui64)
        if record is not None:
            return record
        return await self.next_reading(eui64, timeout_s)

    async def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        for push in self._open.values():
            if push.timer is not None:
                push.timer.cancel()
        self._open.clear()
        for _, future in self._waiters:
            if not future.done():
                future.cancel()

    # ------------------------------------------------------------------ frames in
    def _eui64(self, device: str) -> str:
        with contextlib.suppress(DeviceNotFound):
            return self.gateway.device(device).eui64
        return device  # a GSME that left still has its history under its EUI-64

    def _on_metering(self, source: FrameSource, values: dict[int, Any]) -> None:
        if source.role is not Role.GSME:
            self.ignored_non_gsme += 1
            return
        demand = values.get(_M.instantaneous_demand.id)
        if demand is not None and int(demand) < 0:
            raise MalformedFrame(f"gas value: instantaneous demand {int(demand)} is negative")
        scaling = self._scaling.setdefault(source.eui64, {})
        for attrid in _SCALING:
            if attrid in values:
                scaling[attrid] = values[attrid]
        if _M.unit_of_measure.id not in scaling:
            raise MalformedFrame("gas value: no unit of measure reported yet")
        if _M.instantaneous_demand.id not in values and _M.current_summ_delivered.id not in values:
            return  # a report of other Metering attributes only: not a gas value
        previous = self._open.pop(source.eui64, None)
        if previous is not None:  # its Time report never came
            if previous.timer is not None:
                previous.timer.cancel()
            self._classify(previous, self._time_status.get(source.eui64), None)
        push = _OpenPush(source, values, self.now(), None)
        self._open[source.eui64] = push
        loop = asyncio.get_running_loop()
        push.timer = loop.call_later(self.pair_window_s, self._time_report_missing, source.eui64, push)

    def _on_time(self, source: FrameSource, values: dict[int, Any]) -> None:
        if source.role is not Role.GSME:
            return
        status = values.get(_T.time_status.id)
        if status is not None:
            self._time_status[source.eui64] = bool(int(status) & Time.TimeStatus.Synchronized)
        push = self._open.pop(source.eui64, None)
        if push is None:
            return
        if push.timer is not None:
            push.timer.cancel()
        time_value = values.get(_T.time.id)
        clock = None if time_value is None else int(time_value)
        self._classify(push, self._time_status.get(source.eui64), clock)

    def _time_report_missing(self, eui64: str, push: _OpenPush) -> None:
        if self._open.get(eui64) is push:
            del self._open[eui64]
            self._classify(push, self._time_status.get(eui64), None)

    def _classify(self, push: _OpenPush, synchronised: bool | None, time_value: int | None) -> None:
        scaling = self._scaling[push.source.eui64]
        values = push.values
        snapshot = values.get(_M.reading_snapshot_time.id)
        timestamp = int(snapshot) if snapshot is not None else time_value
        if timestamp == ZCL_UTC_INVALID:
            timestamp = None  # ZCL's "no time": the GSME has no clock to stamp with
        demand = values.get(_M.instantaneous_demand.id)
        summation = values.get(_M.current_summ_delivered.id)
        raw = GsmePush(
            instantaneous=None if demand is None else int(demand),
            summation=None if summation is None else int(summation),
            unit=int(scaling[_M.unit_of_measure.id]),
            multiplier=int(scaling.get(_M.multiplier.id, 1)),
            divisor=int(scaling.get(_M.divisor.id, 1)),
            timestamp=timestamp,
            time_synchronised=synchronised,
        )
        try:
            reading = classify(raw, push.received_at, self.policy)
        except GpfError as exc:
            self._input.reject(push.source, Metering.cluster_id, f"gas value: {exc}", b"")
            return
        record = GasRecord(push.source.eui64, reading, raw)
        self.history.add(push.source.eui64, reading)
        self._records[push.source.eui64] = record
        for callback in list(self._subscribers):
            try:
                callback(record)
            except Exception:  # a subscriber's bug must not lose the record for the others
                LOGGER.exception("gas record subscriber %r failed", callback)
        for eui64, future in list(self._waiters):
            if (eui64 is None or eui64 == record.eui64) and not future.done():
                future.set_result(record)
