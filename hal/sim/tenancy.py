"""Change of Tenancy on a simulated device, and the history it then refuses: the meter's load profile.

A device takes Publish Change of Tenancy (Device Management 0x0708, server to client, command 0x00:
ProviderId, IssuerEventId, TariffType, ImplementationDateTime, ProposedTenancyChangeControl), stores it
and confirms with a Default Response. A publication whose Issuer Event ID is not newer than the last one
taken is refused (Default Response FAILURE): the SE rule that a newer event id supersedes an older one.

"History" is concrete: the Metering (0x0702) **Get Profile** command (client to server 0x00:
IntervalChannel, EndTime, NumberOfPeriods) answered by Get Profile Response (server to client 0x00:
EndTime, Status, ProfileIntervalPeriod, NumberOfPeriodsDelivered, Intervals as uint24), SE D.3.
The meter keeps 30-minute intervals of consumption delivered (channel 0) from ``HISTORY_DAYS`` before its
clock's epoch; values are a deterministic function of the device's seed and the interval index, so a
test can read the same interval twice. hanrig's rule (README): once a change of tenancy's
implementation time has been reached, every interval that *starts* before it is withheld; a request
whose every interval is withheld gets status 0x05 No Intervals Available. A change of tenancy dated in
the future hides nothing until its time comes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final

from zigpy.zcl.clusters.smartenergy import Metering

from hal.se_clusters import ProfileStatus, TenancyChangeControl

PROFILE_INTERVAL_S: Final = 1800
PROFILE_INTERVAL_PERIOD: Final = Metering.ProfileIntervalPeriod.Minutes_30
MAX_PERIODS: Final = 12  # intervals per response: 12 x uint24 keeps the frame within one APS payload
HISTORY_DAYS: Final = 30
CHANNEL_DELIVERED: Final = 0
CHANNEL_RECEIVED: Final = 1
ZCL_UTC_NOW: Final = 0
ZCL_UTC_INVALID: Final = 0xFFFFFFFF


@dataclass(frozen=True)
class TenancyChange:
    """A Change of Tenancy the device took."""

    provider_id: int
    issuer_event_id: int
    tariff_type: int
    implementation_utc: int  # ImplementationDateTime, 0 resolved to the time of receipt
    control: int  # ProposedTenancyChangeControl bitmap

    @property
    def control_flags(self) -> TenancyChangeControl:
        return TenancyChangeControl(self.control)


@dataclass(frozen=True)
class ProfileAnswer:
    """What Get Profile answers."""

    status: ProfileStatus
    end_time: int
    intervals: tuple[int, ...]  # most recent first


class TenancyStore:
    """The changes of tenancy a device took, and the history floor they impose."""

    def __init__(self) -> None:
        self.changes: list[TenancyChange] = []

    def publish(self, args: Any, now: int) -> TenancyChange | None:
        """Take a Publish Change of Tenancy; None when refused (issuer event id not newer)."""
        event_id = int(args.issuer_event_id)
        if self.changes and event_id <= self.changes[-1].issuer_event_id:
            return None
        implementation = int(args.implementation_date_time)
        change = TenancyChange(
            provider_id=int(args.provider_id), issuer_event_id=event_id,
            tariff_type=int(args.tariff_type),
            implementation_utc=now if implementation == ZCL_UTC_NOW else implementation,
            control=int(args.proposed_tenancy_change_control))
        self.changes.append(change)
        return change

    def history_floor(self, now: int) -> int | None:
        """The earliest time history may come from: the latest implementation time already reached."""
        reached = [c.implementation_utc for c in self.changes if c.implementation_utc <= now]
        return max(reached) if reached else None


class LoadProfile:
    """A meter's 30-minute consumption history and its Get Profile answers."""

    def __init__(self, seed: str, epoch_utc: int) -> None:
        self.seed = seed
        self.start_utc = epoch_utc - HISTORY_DAYS * 86400  # first interval's start

    def interval_value(self, index: int) -> int:
        """Wh delivered in interval ``index`` (a fixed function of the seed and the index)."""
        digest = hashlib.sha256(f"{self.seed}/profile/{index}".encode()).digest()
        return int.from_bytes(digest[:2], "big") % 2000

    def get_profile(self, channel: int, end_time: int, periods: int, now: int,
                    floor: int | None) -> ProfileAnswer:
        if channel == CHANNEL_RECEIVED:
            return ProfileAnswer(ProfileStatus.INTERVAL_CHANNEL_NOT_SUPPORTED, end_time, ())
        if channel != CHANNEL_DELIVERED:
            return ProfileAnswer(ProfileStatus.UNDEFINED_INTERVAL_CHANNEL, end_time, ())
        if end_time == ZCL_UTC_INVALID:
            return ProfileAnswer(ProfileStatus.INVALID_END_TIME, end_time, ())
        limit = now if end_time == ZCL_UTC_NOW else min(end_time, now)
        last = (limit - self.start_utc) // PROFILE_INTERVAL_S - 1  # last interval complete by ``limit``
        first_allowed = 0
        if floor is not None:
            first_allowed = max(0, -(-(floor - self.start_utc) // PROFILE_INTERVAL_S))
        count = min(periods, MAX_PERIODS)
        indices = [i for i in range(last, last - count, -1) if i >= first_allowed]
        if not indices:
            return ProfileAnswer(ProfileStatus.NO_INTERVALS_AVAILABLE, end_time, ())
        newest_end = self.start_utc + (indices[0] + 1) * PROFILE_INTERVAL_S
        values = tuple(self.interval_value(i) for i in indices)
        return ProfileAnswer(ProfileStatus.SUCCESS, newest_end, values)
