"""Change of tenancy across the HAN (``gw.tenancy``): publish it, then read the history a device still gives.

Publish Change of Tenancy is Device Management (0x0708) command 0x00, server to client: ProviderId,
IssuerEventId, TariffType, ImplementationDateTime (0 = now), ProposedTenancyChangeControl. The hub asks
for a Default Response so it knows the device took it (SUCCESS) or refused it.

"History" is the Metering (0x0702) Get Profile command (SE D.3): up to N intervals of consumption ending
at or before an end time, most recent first, answered by Get Profile Response. After a change of tenancy
the old tenant's data must not reach the new one: hanrig's rule is that a device withholds every interval
that starts before the implementation time once that time has come (status 0x05 No Intervals Available
when nothing is left). :meth:`Tenancy.check_history_hidden` reads across the date and says whether the
device kept to it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from zigpy.exceptions import ZigbeeException
from zigpy.zcl import foundation
from zigpy.zcl.clusters.smartenergy import Metering

from hal.se_clusters import DeviceManagement, ProfileStatus, TariffType, TenancyChangeControl
from hal.zigpy_fixes import radio_utc_now
from hanrig_errors import HanrigError

from .cbke import TENANCY
from .exceptions import DeviceNotFound, HistoryAnswerInvalid, TenancyError
from .loadcontrol import from_zcl_utc, zcl_utc

if TYPE_CHECKING:
    from .session import Gateway, HanDevice

LOGGER = logging.getLogger(__name__)

DEVICE_MANAGEMENT: Final = DeviceManagement.cluster_id
METERING: Final = Metering.cluster_id
MAX_PERIODS: Final = 255
# What a change of tenancy asks of a device by default (our rule): snapshots either side, and the old
# tenant's load profile blocked from the HAN.
DEFAULT_CONTROL: Final = (TenancyChangeControl.pre_snapshots | TenancyChangeControl.post_snapshots
                          | TenancyChangeControl.block_historical_load_profile)
DEFAULT_PROVIDER_ID: Final = 0x48414E52  # "HANR": the bench's provider id for a rig's cot step (our rule)
DEFAULT_BACKDATE: Final = timedelta(hours=3)  # a rig's cot step dates the change this far back (our rule)
INTERVAL_SECONDS: Final = {0: 86400, 1: 3600, 2: 1800, 3: 900, 4: 600, 5: 450, 6: 300, 7: 150, 8: 60}


@dataclass(frozen=True)
class Publication:
    """A change of tenancy as sent, and whether the device took it."""

    eui64: str
    provider_id: int
    issuer_event_id: int
    tariff_type: int
    implementation: datetime
    control: int
    accepted: bool
    status: str

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.eui64, "provider_id": f"0x{self.provider_id:08x}",
                "provider_id_int": self.provider_id, "issuer_event_id": f"0x{self.issuer_event_id:08x}",
                "issuer_event_id_int": self.issuer_event_id, "tariff_type": self.tariff_type,
                "implementation": self.implementation.isoformat(), "control": f"0x{self.control:08x}",
                "control_int": self.control, "accepted": self.accepted, "status": self.status}


@dataclass(frozen=True)
class Interval:
    """One interval of history: when it ran and what it holds (raw, in the meter's unit and divisor)."""

    start: datetime
    end: datetime
    value: int


@dataclass(frozen=True)
class HistoryRead:
    """One Get Profile answer, intervals oldest first."""

    eui64: str
    requested_end: datetime | None
    requested_periods: int
    status: ProfileStatus
    intervals: tuple[Interval, ...]

    @property
    def earliest(self) -> datetime | None:
        return self.intervals[0].start if self.intervals else None


@dataclass(frozen=True)
class HistoryCheck:
    """Reading history across a change of tenancy: what was read and what was wrong."""

    implementation: datetime
    before: HistoryRead  # ending at the implementation time: must all be withheld
    across: HistoryRead  # ending now: only intervals after the implementation time
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def leaked(self) -> int:
        """Intervals from before the change that came back (in either read)."""
        early = sum(1 for i in self.across.intervals if i.start < self.implementation)
        return len(self.before.intervals) + early


def history_dict(read: HistoryRead) -> dict[str, Any]:
    """A history read as the CLI's and the records' JSON."""
    return {"status": read.status.name, "status_int": int(read.status),
            "requested_end": read.requested_end.isoformat() if read.requested_end else None,
            "requested_periods": read.requested_periods,
            "intervals": [{"start": i.start.isoformat(), "end": i.end.isoformat(), "value": i.value}
                          for i in read.intervals]}


@dataclass(frozen=True)
class TenancyRun:
    """A change of tenancy published and checked (what a rig's ``cot`` step records)."""

    eui64: str
    meter_point: str | None
    publication: Publication
    check: HistoryCheck | None
    problems: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.problems

    def measurements(self) -> list[tuple[str, Any, Any]]:
        """(name, value, expected value) for each thing the run measured."""
        found: list[tuple[str, Any, Any]] = [("cot_accepted", self.publication.accepted, True)]
        if self.check is not None:
            found += [("history_leaked", self.check.leaked, 0),
                      ("history_after_change", len(self.check.across.intervals) > 0, True)]
        return found

    def to_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {"device": self.eui64, "meter_point": self.meter_point,
                                    "publication": self.publication.to_dict(), "passed": self.passed,
                                    "problems": list(self.problems)}
        if self.check is not None:
            document.update(implementation=self.check.implementation.isoformat(),
                            before=history_dict(self.check.before), across=history_dict(self.check.across))
        return document


class Tenancy:
    """The session's change-of-tenancy feature."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._last_event_id = 0

    async def publish(self, device: HanDevice, *, provider_id: int, implementation: datetime | None = None,
                      issuer_event_id: int | None = None, tariff_type: int = TariffType.Delivered,
                      control: int = DEFAULT_CONTROL) -> Publication:
        """Send Publish Change of Tenancy; ``implementation`` None means now (ImplementationDateTime 0)."""
        if not 0 <= provider_id <= 0xFFFFFFFF:
            raise TenancyError(f"change of tenancy: provider id {provider_id} outside 0..0xffffffff")
        if implementation is not None and implementation.tzinfo is None:
            raise TenancyError("change of tenancy: implementation time needs a time zone (UTC)")
        await self.gateway.cbke.admit(device.eui64, device.role, TENANCY)   # policies.require_cbke
        cluster = device.endpoint.out_clusters.get(DEVICE_MANAGEMENT)
        if cluster is None:
            raise DeviceNotFound(device.eui64, "has no Device Management client (0x0708): cannot take a "
                                               "change of tenancy")
        now = radio_utc_now(device.app)
        if issuer_event_id is None:
            self._last_event_id = max(self._last_event_id + 1, zcl_utc(now)) & 0xFFFFFFFF
            issuer_event_id = self._last_event_id
        definition = DeviceManagement.ClientCommandDefs.publish_change_of_tenancy
        try:
            reply = await cluster.request(
                False, definition.id, definition.schema, expect_reply=True, disable_default_response=False,
                provider_id=provider_id, issuer_event_id=issuer_event_id, tariff_type=tariff_type,
                implementation_date_time=zcl_utc(implementation) if implementation is not None else 0,
                proposed_tenancy_change_control=control)
        except (TimeoutError, ZigbeeException, HanrigError) as exc:
            raise DeviceNotFound(device.eui64, f"did not confirm Publish Change of Tenancy: {exc}") from None
        status = getattr(reply, "status", None)
        accepted = status == foundation.Status.SUCCESS
        return Publication(device.eui64, provider_id, issuer_event_id, int(tariff_type),
                           implementation or now, int(control), accepted,
                           status.name if isinstance(status, foundation.Status) else repr(reply))

    async def read_history(self, device: HanDevice, *, end: datetime | None = None, periods: int = 12,
                           channel: int = 0) -> HistoryRead:
        """Get Profile: up to ``periods`` intervals ending at or before ``end`` (None: the latest)."""
        if not 1 <= periods <= MAX_PERIODS:
            raise TenancyError(f"history: periods {periods} outside 1..{MAX_PERIODS}")
        await self.gateway.cbke.admit(device.eui64, device.role, TENANCY)
        cluster = device.endpoint.in_clusters.get(METERING)
        if cluster is None:
            raise DeviceNotFound(device.eui64, "has no Metering server (0x0702): no history to read")
        try:
            reply = await cluster.command(Metering.ServerCommandDefs.get_profile.id, interval_channel=channel,
                                          end_time=zcl_utc(end) if end is not None else 0,
                                          number_of_periods=periods)
        except (TimeoutError, ZigbeeException, HanrigError) as exc:
            raise DeviceNotFound(device.eui64, f"did not answer Get Profile: {exc}") from None
        return self._history(device, end, periods, reply)

    @staticmethod
    def _history(device: HanDevice, end: datetime | None, periods: int, reply: Any) -> HistoryRead:
        where = f"device {device.eui64}: Get Profile Response"
        if not hasattr(reply, "intervals"):
            raise HistoryAnswerInvalid(f"{where}: not a Get Profile Response ({reply!r})")
        try:
            status = ProfileStatus(int(reply.status))
        except ValueError:
            raise HistoryAnswerInvalid(f"{where}: status 0x{int(reply.status):02x} undefined") from None
        step = INTERVAL_SECONDS.get(int(reply.profile_interval_period))
        if step is None:
            period = int(reply.profile_interval_period)
            raise HistoryAnswerInvalid(f"{where}: profile interval period {period} undefined")
        values = [int(v) for v in reply.intervals]
        if len(values) > periods:
            raise HistoryAnswerInvalid(f"{where}: {len(values)} intervals for {periods} requested")
        if status is not ProfileStatus.SUCCESS and values:
            raise HistoryAnswerInvalid(f"{where}: status {status.name} with {len(values)} intervals")
        newest_end = from_zcl_utc(int(reply.end_time))
        if values and end is not None and newest_end > end:
            raise HistoryAnswerInvalid(f"{where}: newest interval ends {newest_end.isoformat()}, after the "
                                       f"requested end {end.isoformat()}")
        intervals = []
        for age, value in enumerate(values):  # most recent first on the wire
            finish = newest_end - timedelta(seconds=age * step)
            intervals.append(Interval(finish - timedelta(seconds=step), finish, value))
        return HistoryRead(device.eui64, end, periods, status, tuple(reversed(intervals)))

    async def run(self, device: HanDevice, *, meter_point: str | None = None,
                  provider_id: int = DEFAULT_PROVIDER_ID, backdate: timedelta = DEFAULT_BACKDATE,
                  periods: int = 12) -> TenancyRun:
        """Publish a change of tenancy dated ``backdate`` ago (so history exists on both sides of the date),
        then check nothing from before it comes back and that history after it still does."""
        implementation = radio_utc_now(device.app) - backdate
        publication = await self.publish(device, provider_id=provider_id, implementation=implementation)
        if not publication.accepted:
            return TenancyRun(device.eui64, meter_point, publication, None,
                              (f"device refused the change of tenancy ({publication.status})",))
        check = await self.check_history_hidden(device, publication.implementation, periods)
        problems = list(check.problems)
        if not check.across.intervals:
            problems.append(f"no history after the change of tenancy either ({check.across.status.name}), "
                            f"though it took effect {backdate} ago")
        return TenancyRun(device.eui64, meter_point, publication, check, tuple(problems))

    async def check_history_hidden(self, device: HanDevice, implementation: datetime,
                                   periods: int = 12) -> HistoryCheck:
        """Read history ending at ``implementation`` and ending now; nothing may start before it."""
        before = await self.read_history(device, end=implementation, periods=periods)
        across = await self.read_history(device, periods=periods)
        problems = []
        if before.intervals or before.status is not ProfileStatus.NO_INTERVALS_AVAILABLE:
            problems.append(f"history ending at the change of tenancy ({implementation.isoformat()}) gave "
                            f"{len(before.intervals)} interval(s), status {before.status.name}; expected "
                            "NO_INTERVALS_AVAILABLE")
        leaked = [i for i in across.intervals if i.start < implementation]
        if leaked:
            problems.append(f"{len(leaked)} interval(s) from before the change of tenancy returned, earliest "
                            f"starting {leaked[0].start.isoformat()}")
        return HistoryCheck(implementation, before, across, tuple(problems))
